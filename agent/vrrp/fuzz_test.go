package vrrp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// FuzzParse: Parse never panics, and whatever it accepts survives a
// Marshal/Parse round trip — byte for byte when the packet used no reserved
// bits and the standard checksum. With fixSum the input's checksum is
// corrected first, so that the fuzzer also explores past the checksum check.
func FuzzParse(f *testing.F) {
	for _, c := range loadCaptures(f) {
		for _, fr := range c.frames {
			if fr.proto == IPProto {
				f.Add(fr.payload, fr.src.AsSlice(), fr.dst.AsSlice(), false)
				f.Add(fr.payload, fr.src.AsSlice(), fr.dst.AsSlice(), true)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b, src, dst []byte, fixSum bool) {
		s, _ := netip.AddrFromSlice(src)
		d, _ := netip.AddrFromSlice(dst)
		if fixSum && len(b) >= headerLen {
			b = fix(b[0]>>4, s.Unmap(), d.Unmap(), bytes.Clone(b))
		}
		a, err := Parse(b, s, d)
		if err != nil {
			return
		}
		out, err := a.Marshal(s, d)
		if err != nil {
			t.Fatalf("Marshal of a parsed advert %+v: %v", a, err)
		}
		if a.MulticastChecksum {
			if out, err = a.Marshal(s, MulticastIPv4); err != nil {
				t.Fatal(err)
			}
		}
		again, err := Parse(out, s, d)
		if err != nil {
			t.Fatalf("Parse of our own Marshal: %v\n% x", err, out)
		}
		again.Checksum, a.Checksum = 0, 0
		if !advertEqual(again, a) {
			t.Fatalf("round trip: %+v became %+v", a, again)
		}
		reserved := a.Version == 3 && b[4]&0xf0 != 0
		authIgnored := a.Version == 2 && a.AuthType == AuthNone && !bytes.Equal(b[len(b)-8:], make([]byte, 8))
		if !reserved && !authIgnored && !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs:\n in % x\nout % x", b, out)
		}
	})
}

// ipv4Packet is an IPv4 packet (header without options) carrying payload, as a raw socket
// delivers it.
func ipv4Packet(src, dst netip.Addr, ttl uint8, payload []byte) []byte {
	b := make([]byte, ipv4HeaderLen, ipv4HeaderLen+len(payload))
	b[0] = 4<<4 | ipv4HeaderLen/4
	b[1] = 0xc0
	binary.BigEndian.PutUint16(b[2:], uint16(ipv4HeaderLen+len(payload)))
	b[8], b[9] = ttl, IPProto
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[10:], fold(sumBytes(0, b)))
	return append(b, payload...)
}

// FuzzFrameIPv4 feeds whole IPv4 packets, as the raw socket delivers them, through the framing
// and Parse: the framing takes exactly the header the IHL says (never reading outside the
// packet), and an advert it and Parse accept survives Marshal, framing and Parse again.
func FuzzFrameIPv4(f *testing.F) {
	for _, c := range loadCaptures(f) {
		for _, fr := range c.frames {
			if fr.ethType == 0x0800 && fr.proto == IPProto {
				f.Add(fr.l3)
			}
		}
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		payload, ttl, src, dst, err := frameIPv4(pkt)
		hl := 0
		if len(pkt) > 0 {
			hl = int(pkt[0]&0x0f) * 4
		}
		if err != nil {
			if len(pkt) >= ipv4HeaderLen && hl >= ipv4HeaderLen && hl <= len(pkt) {
				t.Fatalf("rejected a well-framed packet: %v", err)
			}
			return
		}
		if len(pkt) < ipv4HeaderLen || hl < ipv4HeaderLen || hl > len(pkt) {
			t.Fatalf("accepted a packet of %d bytes with a header of %d", len(pkt), hl)
		}
		if !bytes.Equal(payload, pkt[hl:]) || ttl != int(pkt[8]) ||
			src != netip.AddrFrom4([4]byte(pkt[12:16])) || dst != netip.AddrFrom4([4]byte(pkt[16:20])) {
			t.Fatalf("framing: payload % x, ttl %d, %v > %v", payload, ttl, src, dst)
		}
		a, err := Parse(payload, src, dst)
		if err != nil {
			return
		}
		to := dst
		if a.MulticastChecksum {
			to = MulticastIPv4
		}
		out, err := a.Marshal(src, to)
		if err != nil {
			t.Fatalf("Marshal of a parsed advert %+v: %v", a, err)
		}
		payload2, ttl2, src2, dst2, err := frameIPv4(ipv4Packet(src, dst, uint8(ttl), out))
		if err != nil || ttl2 != ttl || src2 != src || dst2 != dst || !bytes.Equal(payload2, out) {
			t.Fatalf("reframing: %v", err)
		}
		again, err := Parse(payload2, src2, dst2)
		if err != nil {
			t.Fatalf("Parse of our own packet: %v", err)
		}
		again.Checksum, a.Checksum = 0, 0
		if !advertEqual(again, a) {
			t.Fatalf("round trip: %+v became %+v", a, again)
		}
	})
}

// fuzzBytes hands out a fuzzer's bytes; past the end it gives zeros.
type fuzzBytes []byte

func (b *fuzzBytes) next() byte {
	if len(*b) == 0 {
		return 0
	}
	c := (*b)[0]
	*b = (*b)[1:]
	return c
}

// FuzzMachine drives one Machine with a configuration and a sequence of events (adverts from
// peers, the passing of time with its timer events, tracking changes, stop and start) that the
// fuzzer chooses, as the engine does: timers are fired at their deadlines, in time order. After
// every event it checks what one router can know of the protocol's rules:
//   - the state is one of the four, it changed only with a Notify from the old to the new, and the
//     virtual addresses are held (AddVIPs/RemoveVIPs) exactly while MASTER;
//   - adverts are sent only by a master, with its effective priority (0 on leaving);
//   - a router that hears an advert that beats it (higher priority, or equal from a higher
//     address) is BACKUP afterwards, with its Master_Down_Timer restarted; a master that hears a
//     lower one stays master: never two masters as far as this router can tell;
//   - the owner (priority 255) keeps priority 255, and becomes MASTER as soon as it starts or its
//     fault clears; the others' effective priority is base + weight clamped to 1-254;
//   - timers run only in BACKUP and MASTER, are never in the past, and never further than one
//     Master_Down_Interval (backup) or advert interval (master) ahead.
func FuzzMachine(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		b := fuzzBytes(in)
		c := b.next()
		cfg := Config{Version: 3, VRID: 7}
		if c&1 != 0 {
			cfg.Version = 2
		}
		six := cfg.Version == 3 && c&2 != 0
		cfg.NoPreempt = c&4 != 0
		cfg.LowerPrioNoAdvert = c&8 != 0
		cfg.SkipCheckAddresses = c&16 != 0
		if p := b.next(); p%4 == 0 {
			cfg.Priority = PriorityOwner
		} else {
			cfg.Priority = 1 + p%254
		}
		iv := b.next()
		if cfg.Version == 2 {
			cfg.AdvertInterval = time.Duration(1+iv%3) * time.Second
		} else {
			cfg.AdvertInterval = time.Duration(1+int(iv)) * 10 * time.Millisecond
		}
		addr := func(host byte) netip.Addr {
			if six {
				return netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: host})
			}
			return netip.AddrFrom4([4]byte{198, 51, 100, host})
		}
		cfg.PrimaryAddr = addr(11)
		vip := func(host byte) netip.Addr {
			if six {
				return netip.AddrFrom16([16]byte{0: 0x20, 1: 0x01, 2: 0x0d, 3: 0xb8, 15: host})
			}
			return netip.AddrFrom4([4]byte{198, 51, 100, host})
		}
		cfg.Addresses = []netip.Addr{vip(100)}
		g := b.next()
		if g&1 != 0 {
			cfg.Addresses = append(cfg.Addresses, vip(101))
		}
		if cfg.Version == 2 && g&2 != 0 {
			cfg.AuthType, cfg.AuthData = AuthPass, [8]byte{'s', 'e', 'c', 'r', 'e', 't'}
		}
		cfg.PreemptDelay = time.Duration(g>>2&3) * 700 * time.Millisecond
		cfg.GARP = GARPPolicy{Repeat: int(g >> 4 & 3), Delay: []time.Duration{0, -1, 2 * time.Second, 30 * time.Second}[g>>6]}
		if g := b.next(); g&1 != 0 {
			cfg.GARP.Refresh, cfg.GARP.RefreshRepeat = time.Duration(1+g>>1&7)*time.Second, int(g>>4&3)
		}
		m, err := NewMachine(cfg)
		if err != nil {
			t.Fatalf("config %+v: %v", cfg, err)
		}
		owner := cfg.Priority == PriorityOwner

		now := t0
		held := false
		weight := 0
		fault := false
		// check verifies the invariants after an event at now that left acts, from state prev.
		check := func(what string, prev State, acts []Action) {
			st := m.State()
			if st > StateFault {
				t.Fatalf("%s: state %v", what, st)
			}
			var notes []Notify
			for _, a := range acts {
				switch a := a.(type) {
				case AddVIPs:
					held = true
				case RemoveVIPs:
					held = false
				case SendAdvert:
					if a.Priority != PriorityStop && (a.Priority != m.Priority() || st != StateMaster) {
						t.Fatalf("%s: %v in %v with priority %d (%v)", what, a, st, m.Priority(), acts)
					}
					if a.Priority == PriorityStop && prev != StateMaster {
						t.Fatalf("%s: %v from %v (%v)", what, a, prev, acts)
					}
				case SendGratuitous:
					if !held || st != StateMaster || a.Count < 1 {
						t.Fatalf("%s: %v in %v, addresses held %v (%v)", what, a, st, held, acts)
					}
				case Notify:
					notes = append(notes, a)
				}
			}
			switch {
			case len(notes) > 1:
				t.Fatalf("%s: several notifications %v", what, acts)
			case len(notes) == 1 && (notes[0].From != prev || notes[0].To != st || prev == st):
				t.Fatalf("%s: %v for %v -> %v", what, notes[0], prev, st)
			case len(notes) == 0 && prev != st:
				t.Fatalf("%s: %v -> %v without a notification (%v)", what, prev, st, acts)
			}
			if held != (st == StateMaster) {
				t.Fatalf("%s: addresses held %v in %v (%v)", what, held, st, acts)
			}
			want := PriorityOwner
			if !owner {
				want = min(max(int(cfg.Priority)+weight, 1), PriorityOwner-1)
			}
			if int(m.Priority()) != want {
				t.Fatalf("%s: priority %d, want %d (base %d, weight %d)", what, m.Priority(), want, cfg.Priority, weight)
			}
			if m.MasterAdverInterval() <= 0 || (cfg.Version == 2 && m.MasterAdverInterval() != cfg.AdvertInterval) {
				t.Fatalf("%s: Master_Adver_Interval %v", what, m.MasterAdverInterval())
			}
			d, ok := m.NextDeadline()
			if ok != (st == StateBackup || st == StateMaster) {
				t.Fatalf("%s: timer running %v in %v", what, ok, st)
			}
			if ok && d.Before(now) {
				t.Fatalf("%s: next deadline %v before now %v", what, d.Sub(t0), now.Sub(t0))
			}
			switch st {
			case StateBackup:
				if m.masterDownAt.IsZero() || m.masterDownAt.Sub(now) > MasterDownInterval(cfg.Version, m.Priority(), m.masterAdverInt) {
					t.Fatalf("%s: Master_Down_Timer in %v", what, m.masterDownAt.Sub(now))
				}
			case StateMaster:
				if m.adverAt.IsZero() || m.adverAt.Sub(now) > cfg.AdvertInterval {
					t.Fatalf("%s: Adver_Timer in %v", what, m.adverAt.Sub(now))
				}
			}
		}
		// advance moves the clock to to, firing every timer due on the way at its deadline; a
		// run ends after maxTicks timer events, so that a 10 ms master kept for minutes does not
		// make one input take seconds.
		const maxTicks = 2000
		ticks := 0
		advance := func(to time.Time) {
			for {
				d, ok := m.NextDeadline()
				if !ok || d.After(to) {
					break
				}
				if ticks++; ticks > maxTicks {
					t.SkipNow()
				}
				if d.After(now) {
					now = d
				}
				prev := m.State()
				check("tick", prev, m.Tick(now))
				if prev == StateBackup && m.State() != StateMaster {
					t.Fatalf("a backup whose Master_Down_Timer ran out is %v", m.State())
				}
			}
			if to.After(now) {
				now = to
			}
		}

		check("start", StateInit, m.Start(now))
		if owner && m.State() != StateMaster {
			t.Fatalf("the owner started as %v", m.State())
		}
		for range 120 {
			if len(b) == 0 {
				break
			}
			op := b.next()
			switch op % 8 {
			case 0: // time passes
				advance(now.Add(time.Duration(b.next()) * time.Duration(1+op>>3) * 10 * time.Millisecond))
			case 1, 2, 3: // an advert arrives
				advance(now.Add(time.Duration(b.next()) * time.Millisecond))
				x, y := b.next(), b.next()
				var prio uint8
				switch x % 4 {
				case 0:
					prio = PriorityStop
				case 1:
					prio = m.Priority()
				case 2:
					prio = PriorityOwner
				default:
					prio = y
				}
				from := addr([]byte{10, 12, 11, 200}[x>>2&3])
				if x>>4&1 != 0 {
					from = netip.AddrFrom4([4]byte{192, 0, 2, 1})
					if !six {
						from = netip.MustParseAddr("2001:db8::1")
					}
				}
				a := &Advert{Version: cfg.Version, VRID: cfg.VRID, Priority: prio, AuthType: cfg.AuthType, AuthData: cfg.AuthData,
					AdvertInterval: m.interval, Addresses: slices.Clone(cfg.Addresses)}
				if cfg.Version == 3 && x>>5&1 != 0 {
					a.AdvertInterval = 1 + uint16(y)<<4&0x0fff
				}
				switch x >> 6 {
				case 1:
					a.Addresses = []netip.Addr{vip(150)}
				case 2:
					a.VRID = 8
				case 3:
					if cfg.Version == 2 {
						a.AuthType, a.AuthData = AuthPass, [8]byte{'w', 'r', 'o', 'n', 'g'}
					} else {
						slices.Reverse(a.Addresses)
					}
				}
				prev, myPrio := m.State(), m.Priority()
				acts, err := m.HandleAdvert(now, a, from)
				if err != nil && acts != nil {
					t.Fatalf("dropped advert (%v) with actions %v", err, acts)
				}
				check(fmt.Sprintf("advert %+v from %v", a, from), prev, acts)
				if err != nil || prio == PriorityStop || (prev != StateBackup && prev != StateMaster) {
					break
				}
				beats := prio > myPrio || (prio == myPrio && from.Compare(cfg.PrimaryAddr) > 0)
				if beats && (m.State() != StateBackup || !m.masterDownAt.After(now)) {
					t.Fatalf("heard %d from %v beating our %d as %v: now %v", prio, from, myPrio, prev, m.State())
				}
				if !beats && prev == StateMaster && m.State() != StateMaster {
					t.Fatalf("a master yielded to a lower advert (%d from %v, ours %d)", prio, from, myPrio)
				}
			case 4: // tracking changes
				w, fl := b.next(), b.next()
				weight, fault = int(int8(w))*(1+int(op>>3)), fl&1 != 0
				prev := m.State()
				check(fmt.Sprintf("tracking %d %v", weight, fault), prev, m.UpdateTracking(now, weight, fault))
				if owner && prev == StateFault && !fault && m.State() != StateMaster {
					t.Fatalf("the owner's fault cleared and it is %v", m.State())
				}
			case 5:
				check("shutdown", m.State(), m.Shutdown(now))
				if m.State() != StateInit {
					t.Fatalf("shut down and %v", m.State())
				}
			case 6:
				prev := m.State()
				check("start", prev, m.Start(now))
				if prev == StateInit && owner && !fault && m.State() != StateMaster {
					t.Fatalf("the owner started as %v", m.State())
				}
			case 7: // a late timer: the engine's goroutine was not scheduled on time
				if d, ok := m.NextDeadline(); ok {
					late := d.Add(time.Duration(b.next()) * time.Millisecond)
					if late.After(now) {
						now = late
					}
					check("late tick", m.State(), m.Tick(now))
				}
			}
		}
	})
}
