package vrrp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestCaptures checks the codec against real keepalived 2.2.7 packets: every
// advert parses (checksums included) with the fields of its configuration,
// and Marshal rebuilds it byte for byte from that configuration.
func TestCaptures(t *testing.T) {
	for _, c := range loadCaptures(t) {
		t.Run(c.name, func(t *testing.T) {
			cf := c.conf
			var adverts, stops int
			var lastPrio = -1
			for i, f := range c.frames {
				if f.proto != IPProto {
					continue
				}
				adverts++
				if err := CheckTTL(f.ttl); err != nil {
					t.Errorf("packet %d: %v", i+1, err)
				}
				// Addressing: unicast_peer, else the multicast group.
				switch {
				case len(cf.unicastPeers) > 0:
					if f.src != cf.unicastSrc || !slices.Contains(cf.unicastPeers, f.dst) {
						t.Errorf("packet %d: %v -> %v, want %v -> %v", i+1, f.src, f.dst, cf.unicastSrc, cf.unicastPeers)
					}
				case f.dst.Is4():
					if f.dst != MulticastIPv4 {
						t.Errorf("packet %d: to %v", i+1, f.dst)
					}
				default:
					if f.dst != MulticastIPv6 || !f.src.IsLinkLocalUnicast() {
						t.Errorf("packet %d: %v -> %v, want link-local -> ff02::12", i+1, f.src, f.dst)
					}
				}

				a, err := Parse(f.payload, f.src, f.dst)
				if err != nil {
					t.Fatalf("packet %d: Parse: %v\n% x", i+1, err, f.payload)
				}
				if a.MulticastChecksum {
					t.Errorf("packet %d: needed the legacy checksum", i+1)
				}
				if a.Version != cf.version || a.VRID != cf.vrid || a.Interval() != cf.advertInt {
					t.Errorf("packet %d: v%d vrid %d interval %v, want v%d vrid %d interval %v",
						i+1, a.Version, a.VRID, a.Interval(), cf.version, cf.vrid, cf.advertInt)
				}
				if !slices.Equal(a.Addresses, cf.vips) {
					t.Errorf("packet %d: addresses %v, want %v", i+1, a.Addresses, cf.vips)
				}
				var pass [8]byte
				if cf.authType == AuthPass {
					pass, err = PassAuthData(cf.authPass)
					if err != nil {
						t.Fatal(err)
					}
				}
				if a.Version == 2 && (a.AuthType != cf.authType || a.AuthData != pass) {
					t.Errorf("packet %d: auth %v %q, want %v %q", i+1, a.AuthType, a.AuthData, cf.authType, pass)
				}
				if err := a.Authenticate(cf.authType, pass); err != nil {
					t.Errorf("packet %d: %v", i+1, err)
				}
				switch a.Priority {
				case cf.priority:
					if stops > 0 {
						t.Errorf("packet %d: advert after the priority 0 one", i+1)
					}
				case PriorityStop:
					stops++
				default:
					t.Errorf("packet %d: priority %d, want %d or 0", i+1, a.Priority, cf.priority)
				}
				lastPrio = int(a.Priority)

				// Our encoder, from the configuration rather than the parse.
				iv, err := IntervalField(cf.version, cf.advertInt)
				if err != nil {
					t.Fatal(err)
				}
				ours := &Advert{
					Version: cf.version, VRID: cf.vrid, Priority: a.Priority,
					AuthType: cf.authType, AuthData: pass,
					AdvertInterval: iv, Addresses: cf.vips,
				}
				b, err := ours.Marshal(f.src, f.dst)
				if err != nil {
					t.Fatalf("packet %d: Marshal: %v", i+1, err)
				}
				if !bytes.Equal(b, f.payload) {
					t.Errorf("packet %d: Marshal\n got % x\nwant % x", i+1, b, f.payload)
				}
			}
			if adverts < 2 || stops != 1 || lastPrio != PriorityStop {
				t.Errorf("%d adverts, %d with priority 0, last priority %d: want the shutdown advert last",
					adverts, stops, lastPrio)
			}
			t.Logf("%d adverts checked", adverts)
		})
	}
}

// TestCaptureAnnouncements checks GratuitousARP and UnsolicitedNA against the
// frames keepalived sent on becoming master, and that it sent
// garp_master_repeat (5) of them per virtual address, as GARPPolicy defaults.
func TestCaptureAnnouncements(t *testing.T) {
	for _, c := range loadCaptures(t) {
		t.Run(c.name, func(t *testing.T) {
			per := map[netip.Addr]int{}
			for i, f := range c.frames {
				switch {
				case f.ethType == 0x0806:
					arp := f.l3
					spa, tpa := netip.AddrFrom4([4]byte(arp[14:18])), netip.AddrFrom4([4]byte(arp[24:28]))
					if spa != tpa {
						continue // ordinary resolution of the unicast peer
					}
					if want := GratuitousARP(f.srcMAC, tpa); !bytes.Equal(f.raw, want) {
						t.Errorf("packet %d: GARP\n got % x\nwant % x", i+1, f.raw, want)
					}
					per[tpa]++
				case f.proto == 58 && f.payload[0] == 136:
					target := netip.AddrFrom16([16]byte(f.payload[8:24]))
					if want := UnsolicitedNAFrame(f.srcMAC, target, false); !bytes.Equal(f.raw, want) {
						t.Errorf("packet %d: NA frame\n got % x\nwant % x", i+1, f.raw, want)
					}
					if want := UnsolicitedNA(f.srcMAC, target); !bytes.Equal(f.payload, want) {
						t.Errorf("packet %d: NA\n got % x\nwant % x", i+1, f.payload, want)
					}
					// And the checksum is right for the addresses it went out with.
					if fold(sumBytes(pseudoHeaderSum(f.src, f.dst, 58, len(f.payload)), f.payload)) != 0 {
						t.Errorf("packet %d: NA checksum", i+1)
					}
					per[target]++
				}
			}
			for _, v := range c.conf.vips {
				if per[v] != DefaultGARPRepeat {
					t.Errorf("%v announced %d times, want %d", v, per[v], DefaultGARPRepeat)
				}
			}
			if len(per) != len(c.conf.vips) {
				t.Errorf("announced %v, want %v", per, c.conf.vips)
			}
		})
	}
}

func TestAnnouncementsRejectBadInput(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	if GratuitousARP(mac, v6) != nil || GratuitousARP(mac[:4], v4) != nil || GratuitousARP(mac, netip.Addr{}) != nil {
		t.Error("GratuitousARP accepted bad input")
	}
	if UnsolicitedNA(mac, v4) != nil || UnsolicitedNA(mac[:4], v6) != nil ||
		UnsolicitedNAFrame(mac, netip.MustParseAddr("::ffff:192.0.2.1"), false) != nil {
		t.Error("UnsolicitedNA accepted bad input")
	}
	if b := GratuitousARP(mac, netip.MustParseAddr("::ffff:192.0.2.1")); len(b) != GratuitousARPLen {
		t.Error("GratuitousARP refused a 4in6 address")
	}
	f := UnsolicitedNAFrame(mac, v6, true)
	if len(f) != NAFrameLen || f[54+4] != 0xa0 {
		t.Errorf("router flag not set: % x", f)
	}
}

var (
	src4 = netip.MustParseAddr("198.51.100.11")
	dst4 = MulticastIPv4
	src6 = netip.MustParseAddr("fe80::1")
	dst6 = MulticastIPv6
)

func mustMarshal(t testing.TB, a *Advert, src, dst netip.Addr) []byte {
	t.Helper()
	b, err := a.Marshal(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func v2pass() *Advert {
	return &Advert{Version: 2, VRID: 51, Priority: 100, AuthType: AuthPass,
		AuthData: [8]byte{'1', '1', '1', '1'}, AdvertInterval: 1,
		Addresses: []netip.Addr{netip.MustParseAddr("198.51.100.100")}}
}

func v3four() *Advert {
	return &Advert{Version: 3, VRID: 52, Priority: 100, AdvertInterval: 10,
		Addresses: []netip.Addr{netip.MustParseAddr("198.51.100.101"), netip.MustParseAddr("198.51.100.102")}}
}

func v3six() *Advert {
	return &Advert{Version: 3, VRID: 53, Priority: 100, AdvertInterval: 100,
		Addresses: []netip.Addr{netip.MustParseAddr("2001:db8::100")}}
}

// fix recomputes the checksum of a hand-mutated message.
func fix(version uint8, src, dst netip.Addr, b []byte) []byte {
	b[6], b[7] = 0, 0
	binary.BigEndian.PutUint16(b[6:], checksum(version, src, dst, b))
	return b
}

func TestParseErrors(t *testing.T) {
	p2 := mustMarshal(t, v2pass(), src4, dst4)
	p3 := mustMarshal(t, v3four(), src4, dst4)
	p6 := mustMarshal(t, v3six(), src6, dst6)
	mut := func(b []byte, f func([]byte) []byte) []byte { return f(slices.Clone(b)) }

	for _, tc := range []struct {
		name     string
		b        []byte
		src, dst netip.Addr
		want     error
	}{
		{"empty", nil, src4, dst4, ErrTruncated},
		{"header only", p3[:7], src4, dst4, ErrTruncated},
		{"short addresses", p3[:len(p3)-1], src4, dst4, ErrTruncated},
		{"v2 without auth data", p2[:len(p2)-8], src4, dst4, ErrTruncated},
		{"trailing byte", append(slices.Clone(p3), 0), src4, dst4, ErrLength},
		{"count too low", mut(p3, func(b []byte) []byte { b[3] = 1; return fix(3, src4, dst4, b) }), src4, dst4, ErrLength},
		{"version 1", mut(p3, func(b []byte) []byte { b[0] = 1<<4 | 1; return b }), src4, dst4, ErrVersion},
		{"version 4", mut(p3, func(b []byte) []byte { b[0] = 4<<4 | 1; return b }), src4, dst4, ErrVersion},
		{"type 2", mut(p3, func(b []byte) []byte { b[0] = 3<<4 | 2; return b }), src4, dst4, ErrType},
		{"checksum", mut(p3, func(b []byte) []byte { b[7]++; return b }), src4, dst4, ErrChecksum},
		{"v2 checksum", mut(p2, func(b []byte) []byte { b[len(b)-1] = 1; return b }), src4, dst4, ErrChecksum},
		{"v3 wrong pseudo source", p3, netip.MustParseAddr("198.51.100.12"), dst4, ErrChecksum},
		{"v6 wrong pseudo destination", p6, src6, netip.MustParseAddr("ff02::1"), ErrChecksum},
		{"v2 over IPv6", p2, src6, dst6, ErrFamily},
		{"mixed families", p3, src4, dst6, ErrFamily},
		{"no source", p3, netip.Addr{}, dst4, ErrFamily},
		{"v4 advert read as v6", p3, src6, dst6, ErrTruncated},
		{"AH", mut(p2, func(b []byte) []byte { b[4] = 2; return fix(2, src4, dst4, b) }), src4, dst4, ErrAuthType},
		{"auth type 3", mut(p2, func(b []byte) []byte { b[4] = 3; return fix(2, src4, dst4, b) }), src4, dst4, ErrAuthType},
		{"v2 interval 0", mut(p2, func(b []byte) []byte { b[5] = 0; return fix(2, src4, dst4, b) }), src4, dst4, ErrInterval},
		{"v3 interval 0", mut(p3, func(b []byte) []byte { b[4], b[5] = 0xf0, 0; return fix(3, src4, dst4, b) }), src4, dst4, ErrInterval},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Parse(tc.b, tc.src, tc.dst)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse = %+v, %v; want %v", a, err, tc.want)
			}
		})
	}
}

func TestParseDetails(t *testing.T) {
	// v3: the reserved nibble is ignored.
	b := mustMarshal(t, v3four(), src4, dst4)
	b[4] |= 0xf0
	a, err := Parse(fix(3, src4, dst4, b), src4, dst4)
	if err != nil || a.AdvertInterval != 10 || a.Interval() != 100*time.Millisecond {
		t.Fatalf("reserved bits: %+v, %v", a, err)
	}
	// v2 AuthNone: auth data ignored on receipt, zero on transmission.
	n := v2pass()
	n.AuthType = AuthNone
	b = mustMarshal(t, n, src4, dst4)
	if !bytes.Equal(b[len(b)-8:], make([]byte, 8)) {
		t.Fatalf("AuthNone sent data % x", b[len(b)-8:])
	}
	b[len(b)-1] = 7
	a, err = Parse(fix(2, src4, dst4, b), src4, dst4)
	if err != nil || a.AuthData != [8]byte{} || a.AuthType != AuthNone {
		t.Fatalf("AuthNone: %+v, %v", a, err)
	}
	// 4in6-mapped addresses are the IPv4 ones.
	m4 := netip.AddrFrom16(src4.As16())
	if _, err := Parse(mustMarshal(t, v3four(), m4, dst4), src4, netip.AddrFrom16(dst4.As16())); err != nil {
		t.Fatal(err)
	}
	// Parse does not alias its input.
	b = mustMarshal(t, v3six(), src6, dst6)
	a, _ = Parse(b, src6, dst6)
	clear(b)
	if a.Addresses[0] != v3six().Addresses[0] {
		t.Fatal("aliasing")
	}
	// Zero addresses are legal on the wire.
	z := v3four()
	z.Addresses = nil
	if a, err := Parse(mustMarshal(t, z, src4, dst4), src4, dst4); err != nil || len(a.Addresses) != 0 {
		t.Fatalf("no addresses: %+v, %v", a, err)
	}
}

// TestUnicastChecksum: VRRPv3/IPv4 unicast adverts are checksummed with the
// peer's address, as keepalived ≥ 1.3.6 does; those of older keepalived (the
// multicast group in the pseudo-header) are accepted and flagged.
func TestUnicastChecksum(t *testing.T) {
	peer := netip.MustParseAddr("198.51.100.12")
	modern := mustMarshal(t, v3four(), src4, peer)
	legacy := mustMarshal(t, v3four(), src4, MulticastIPv4)
	if bytes.Equal(modern, legacy) {
		t.Fatal("destination not in the checksum")
	}
	a, err := Parse(modern, src4, peer)
	if err != nil || a.MulticastChecksum {
		t.Fatalf("modern: %+v, %v", a, err)
	}
	a, err = Parse(legacy, src4, peer)
	if err != nil || !a.MulticastChecksum {
		t.Fatalf("legacy: %+v, %v", a, err)
	}
	// Not for multicast itself, nor for VRRPv2, nor for IPv6.
	if _, err := Parse(modern, src4, MulticastIPv4); !errors.Is(err, ErrChecksum) {
		t.Fatalf("modern to group: %v", err)
	}
	peer6 := netip.MustParseAddr("fe80::2")
	if _, err := Parse(mustMarshal(t, v3six(), src6, dst6), src6, peer6); !errors.Is(err, ErrChecksum) {
		t.Fatalf("v6: %v", err)
	}
}

func TestMarshalErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		edit     func(*Advert)
		src, dst netip.Addr
		want     error
	}{
		{"version", func(a *Advert) { a.Version = 4 }, src4, dst4, ErrVersion},
		{"v2 over v6", func(a *Advert) { a.Version = 2 }, src6, dst6, ErrFamily},
		{"mixed", func(a *Advert) {}, src4, dst6, ErrFamily},
		{"v6 vip in v4 advert", func(a *Advert) { a.Addresses = append(a.Addresses, src6) }, src4, dst4, ErrFamily},
		{"invalid vip", func(a *Advert) { a.Addresses = append(a.Addresses, netip.Addr{}) }, src4, dst4, ErrFamily},
		{"interval 0", func(a *Advert) { a.AdvertInterval = 0 }, src4, dst4, ErrInterval},
		{"interval 4096", func(a *Advert) { a.AdvertInterval = 4096 }, src4, dst4, ErrInterval},
		{"v2 interval 256", func(a *Advert) { a.Version = 2; a.AdvertInterval = 256 }, src4, dst4, ErrInterval},
		{"v2 AH", func(a *Advert) { a.Version = 2; a.AuthType = AuthAH }, src4, dst4, ErrAuthType},
		{"256 addresses", func(a *Advert) { a.Addresses = make([]netip.Addr, 256) }, src4, dst4, ErrTooMany},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := v3four()
			tc.edit(a)
			if _, err := a.Marshal(tc.src, tc.dst); !errors.Is(err, tc.want) {
				t.Fatalf("Marshal: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		a        *Advert
		src, dst netip.Addr
	}{
		{v2pass(), src4, dst4},
		{v3four(), src4, dst4},
		{v3four(), src4, netip.MustParseAddr("198.51.100.12")},
		{v3six(), src6, dst6},
		{v3six(), netip.MustParseAddr("2001:db8::11"), netip.MustParseAddr("2001:db8::12")},
	} {
		b := mustMarshal(t, tc.a, tc.src, tc.dst)
		got, err := Parse(b, tc.src, tc.dst)
		if err != nil {
			t.Fatal(err)
		}
		got.Checksum = 0
		if !advertEqual(got, tc.a) {
			t.Errorf("round trip: got %+v, want %+v", got, tc.a)
		}
	}
}

func advertEqual(a, b *Advert) bool {
	return a.Version == b.Version && a.VRID == b.VRID && a.Priority == b.Priority &&
		a.AuthType == b.AuthType && a.AuthData == b.AuthData && a.AdvertInterval == b.AdvertInterval &&
		slices.Equal(a.Addresses, b.Addresses) && a.MulticastChecksum == b.MulticastChecksum
}

func TestIntervalField(t *testing.T) {
	for _, tc := range []struct {
		v    uint8
		d    time.Duration
		want uint16
		ok   bool
	}{
		{2, time.Second, 1, true},
		{2, 255 * time.Second, 255, true},
		{2, 256 * time.Second, 0, false},
		{2, 1500 * time.Millisecond, 0, false},
		{2, 0, 0, false},
		{3, 10 * time.Millisecond, 1, true},
		{3, time.Second, 100, true},
		{3, 40950 * time.Millisecond, 4095, true},
		{3, 40960 * time.Millisecond, 0, false},
		{3, 15 * time.Millisecond, 0, false},
		{4, time.Second, 0, false},
	} {
		got, err := IntervalField(tc.v, tc.d)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("IntervalField(%d, %v) = %d, %v", tc.v, tc.d, got, err)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	pass, err := PassAuthData("1111")
	if err != nil || pass != [8]byte{'1', '1', '1', '1'} {
		t.Fatalf("PassAuthData: %q, %v", pass, err)
	}
	if _, err := PassAuthData("123456789"); err == nil {
		t.Error("9-byte password accepted")
	}
	if _, err := PassAuthData(""); err == nil {
		t.Error("empty password accepted")
	}
	a := v2pass()
	if err := a.Authenticate(AuthPass, pass); err != nil {
		t.Error(err)
	}
	other, _ := PassAuthData("2222")
	if err := a.Authenticate(AuthPass, other); !errors.Is(err, ErrAuth) {
		t.Errorf("wrong password: %v", err)
	}
	if err := a.Authenticate(AuthNone, [8]byte{}); !errors.Is(err, ErrAuth) {
		t.Errorf("type mismatch: %v", err)
	}
	if err := v3four().Authenticate(AuthPass, pass); err != nil {
		t.Errorf("v3: %v", err)
	}
}

func TestCheckTTL(t *testing.T) {
	if err := CheckTTL(255); err != nil {
		t.Error(err)
	}
	for _, ttl := range []int{0, 1, 64, 254, 256} {
		if err := CheckTTL(ttl); !errors.Is(err, ErrTTL) {
			t.Errorf("CheckTTL(%d) = %v", ttl, err)
		}
	}
}
