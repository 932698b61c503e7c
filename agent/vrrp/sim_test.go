package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// A discrete-event simulation of routers on one LAN: Machines wired by an
// in-memory link with a fixed latency, under a fake clock. Every advert goes
// through Marshal and Parse on its way, as it will on the wire.

type simNode struct {
	name string
	addr netip.Addr
	m    *Machine
	up   bool // running (false: crashed or not started)
	vips bool // holds the virtual addresses
	garp int  // announcements sent
	// transitions, for assertions.
	log []simTransition
}

type simTransition struct {
	at       time.Time
	from, to State
}

type simPacket struct {
	at       time.Time
	from, to *simNode
	b        []byte
}

type sim struct {
	t       *testing.T
	now     time.Time
	latency time.Duration
	nodes   []*simNode
	queue   []simPacket
	cut     bool // partition: the link drops everything
	trace   []string
}

func newSim(t *testing.T, cfgs ...Config) *sim {
	s := &sim{t: t, now: t0, latency: 200 * time.Microsecond}
	for i, c := range cfgs {
		m, err := NewMachine(c)
		if err != nil {
			t.Fatal(err)
		}
		s.nodes = append(s.nodes, &simNode{name: string(rune('A' + i)), addr: c.PrimaryAddr, m: m})
	}
	return s
}

func (s *sim) logf(format string, args ...any) {
	s.trace = append(s.trace, fmt.Sprintf("%9v ", s.now.Sub(t0))+fmt.Sprintf(format, args...))
}

// fail reports with the event trace, which is what one needs to debug.
func (s *sim) fail(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf(format+"\ntrace:\n%s", append(args, strings.Join(s.trace, "\n"))...)
}

func (s *sim) exec(n *simNode, acts []Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case SendAdvert:
			dst := MulticastIPv4
			if n.addr.Is6() {
				dst = MulticastIPv6
			}
			b, err := n.m.Advert(a.Priority).Marshal(n.addr, dst)
			if err != nil {
				s.fail("%s: Marshal: %v", n.name, err)
			}
			s.logf("%s sends priority %d", n.name, a.Priority)
			if s.cut {
				continue
			}
			for _, o := range s.nodes {
				if o != n {
					s.queue = append(s.queue, simPacket{at: s.now.Add(s.latency), from: n, to: o, b: b})
				}
			}
		case AddVIPs:
			n.vips = true
		case RemoveVIPs:
			n.vips = false
		case SendGratuitous:
			n.garp += a.Count
		case Notify:
			s.logf("%s %v -> %v", n.name, a.From, a.To)
			n.log = append(n.log, simTransition{s.now, a.From, a.To})
		default:
			s.fail("unknown action %T", a)
		}
	}
}

func (s *sim) start(n *simNode) {
	n.up = true
	s.exec(n, n.m.Start(s.now))
}

func (s *sim) shutdown(n *simNode) {
	s.exec(n, n.m.Shutdown(s.now))
	n.up = false
}

// crash: the node stops without a word, its VIPs vanish with it.
func (s *sim) crash(n *simNode) {
	s.logf("%s crashes", n.name)
	n.up, n.vips = false, false
}

// run processes events up to and including until.
func (s *sim) run(until time.Time) {
	for {
		next, ok := time.Time{}, false
		for _, p := range s.queue {
			if !ok || p.at.Before(next) {
				next, ok = p.at, true
			}
		}
		var timerNode *simNode
		for _, n := range s.nodes {
			if d, has := n.m.NextDeadline(); n.up && has && (!ok || d.Before(next)) {
				next, ok, timerNode = d, true, n
			}
		}
		if !ok || next.After(until) {
			s.now = until
			return
		}
		s.now = next
		if timerNode != nil {
			s.exec(timerNode, timerNode.m.Tick(s.now))
			continue
		}
		i := slices.IndexFunc(s.queue, func(p simPacket) bool { return p.at.Equal(next) })
		p := s.queue[i]
		s.queue = slices.Delete(s.queue, i, i+1)
		if !p.to.up {
			continue
		}
		a, err := Parse(p.b, p.from.addr, MulticastIPv4)
		if p.from.addr.Is6() {
			a, err = Parse(p.b, p.from.addr, MulticastIPv6)
		}
		if err == nil {
			err = CheckTTL(TTL)
		}
		if err != nil {
			s.fail("%s: Parse from %s: %v", p.to.name, p.from.name, err)
		}
		acts, err := p.to.m.HandleAdvert(s.now, a, p.from.addr)
		if err != nil {
			s.fail("%s: advert from %s dropped: %v", p.to.name, p.from.name, err)
		}
		s.exec(p.to, acts)
	}
}

func (s *sim) runFor(d time.Duration) { s.run(s.now.Add(d)) }

// masters returns the running masters; and checks the VIPs are held by
// exactly the masters.
func (s *sim) masters() []*simNode {
	s.t.Helper()
	var ms []*simNode
	for _, n := range s.nodes {
		isMaster := n.up && n.m.State() == StateMaster
		if isMaster {
			ms = append(ms, n)
		}
		if n.vips != isMaster {
			s.fail("%s: state %v but holds VIPs: %v", n.name, n.m.State(), n.vips)
		}
	}
	return ms
}

func (s *sim) wantMaster(n *simNode) {
	s.t.Helper()
	ms := s.masters()
	if len(ms) != 1 || ms[0] != n {
		names := []string{}
		for _, m := range ms {
			names = append(names, m.name)
		}
		s.fail("at %v masters %v, want exactly %s", s.now.Sub(t0), names, n.name)
	}
}

// becameMaster returns when n last became master.
func (n *simNode) becameMaster() (time.Time, bool) {
	for i := len(n.log) - 1; i >= 0; i-- {
		if n.log[i].to == StateMaster {
			return n.log[i].at, true
		}
	}
	return time.Time{}, false
}

func (n *simNode) everMaster() bool { _, ok := n.becameMaster(); return ok }

// The simulations run for each protocol flavour.
var flavours = []struct {
	name     string
	version  uint8
	interval time.Duration
	six      bool
}{
	{"v3-1s", 3, time.Second, false},
	{"v3-100ms", 3, 100 * time.Millisecond, false},
	{"v3-ipv6", 3, time.Second, true},
	{"v2-1s", 2, time.Second, false},
}

func simConfig(version uint8, interval time.Duration, six bool, prio uint8, host byte) Config {
	c := Config{
		Version: version, VRID: 52, Priority: prio, AdvertInterval: interval,
		Addresses:   []netip.Addr{netip.MustParseAddr("198.51.100.100")},
		PrimaryAddr: netip.AddrFrom4([4]byte{198, 51, 100, host}),
	}
	if six {
		c.Addresses = []netip.Addr{netip.MustParseAddr("2001:db8::100")}
		c.PrimaryAddr = netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: host})
	}
	if version == 2 {
		c.AuthType, c.AuthData = AuthPass, [8]byte{'1', '1', '1', '1'}
	}
	return c
}

func TestSimulation(t *testing.T) {
	for _, fl := range flavours {
		cfg := func(prio uint8, host byte, edit ...func(*Config)) Config {
			c := simConfig(fl.version, fl.interval, fl.six, prio, host)
			for _, e := range edit {
				e(&c)
			}
			return c
		}
		iv := fl.interval
		md := func(prio uint8) time.Duration { return MasterDownInterval(fl.version, prio, iv) }
		skew := func(prio uint8) time.Duration { return SkewTime(fl.version, prio, iv) }

		t.Run(fl.name+"/election by priority", func(t *testing.T) {
			s := newSim(t, cfg(100, 11), cfg(200, 12))
			a, b := s.nodes[0], s.nodes[1]
			s.start(a)
			s.start(b)
			s.runFor(10 * iv)
			s.wantMaster(b)
			if at, _ := b.becameMaster(); at != t0.Add(md(200)) {
				s.fail("B master at %v, want Master_Down_Interval %v", at.Sub(t0), md(200))
			}
			if a.everMaster() {
				s.fail("A was master")
			}
			for _, n := range s.nodes {
				if addr, prio := n.m.Master(); addr != b.addr || prio != 200 {
					s.fail("%s: Master() = %v, %d", n.name, addr, prio)
				}
			}
		})

		t.Run(fl.name+"/election at equal priority: higher address", func(t *testing.T) {
			s := newSim(t, cfg(100, 11), cfg(100, 12))
			a, b := s.nodes[0], s.nodes[1]
			s.start(a)
			s.start(b)
			s.runFor(10 * iv)
			// Both timers expire together, both become master, and the
			// exchange of adverts leaves the higher address.
			s.wantMaster(b)
		})

		t.Run(fl.name+"/three routers", func(t *testing.T) {
			s := newSim(t, cfg(50, 11), cfg(150, 12), cfg(100, 13))
			for _, n := range s.nodes {
				s.start(n)
			}
			s.runFor(10 * iv)
			s.wantMaster(s.nodes[1])
			s.crash(s.nodes[1])
			s.runFor(10 * iv)
			s.wantMaster(s.nodes[2])
		})

		t.Run(fl.name+"/failover after master silence", func(t *testing.T) {
			s := newSim(t, cfg(100, 11), cfg(200, 12))
			a, b := s.nodes[0], s.nodes[1]
			s.start(a)
			s.start(b)
			s.runFor(10*iv + iv/3)
			s.wantMaster(b)
			crashed := s.now
			s.crash(b)
			s.runFor(10 * iv)
			s.wantMaster(a)
			at, _ := a.becameMaster()
			// A heard B's last advert less than an interval before the
			// crash, and waits exactly Master_Down_Interval after it.
			if took := at.Sub(crashed); took > md(100) || took < md(100)-iv {
				s.fail("failover took %v, want within (%v, %v]", took, md(100)-iv, md(100))
			}
		})

		t.Run(fl.name+"/priority 0 handover within Skew_Time", func(t *testing.T) {
			s := newSim(t, cfg(100, 11), cfg(200, 12))
			a, b := s.nodes[0], s.nodes[1]
			s.start(a)
			s.start(b)
			s.runFor(10*iv + iv/3)
			stopped := s.now
			s.shutdown(b)
			s.runFor(10 * iv)
			s.wantMaster(a)
			at, _ := a.becameMaster()
			if took := at.Sub(stopped); took != s.latency+skew(100) {
				s.fail("handover took %v, want latency + Skew_Time = %v", took, s.latency+skew(100))
			}
		})

		t.Run(fl.name+"/preempt", func(t *testing.T) {
			s := newSim(t, cfg(100, 11), cfg(200, 12))
			a, b := s.nodes[0], s.nodes[1]
			s.start(a)
			s.runFor(10 * iv)
			s.wantMaster(a)
			joined := s.now
			s.start(b)
			s.runFor(10 * iv)
			s.wantMaster(b)
			// B discards A's lower adverts and takes over when its own
			// Master_Down_Timer runs out.
			if at, _ := b.becameMaster(); at.Sub(joined) != md(200) {
				s.fail("preempted after %v, want %v", at.Sub(joined), md(200))
			}
			if n := len(b.log); n != 2 {
				s.fail("B transitions %v", b.log)
			}
		})

		t.Run(fl.name+"/nopreempt", func(t *testing.T) {
			s := newSim(t, cfg(100, 11), cfg(200, 12, func(c *Config) { c.NoPreempt = true }))
			a, b := s.nodes[0], s.nodes[1]
			s.start(a)
			s.runFor(10 * iv)
			s.start(b)
			s.runFor(30 * iv)
			s.wantMaster(a)
			// B still stands by: it takes over when A fails.
			s.crash(a)
			s.runFor(10 * iv)
			s.wantMaster(b)
		})

		t.Run(fl.name+"/preempt_delay", func(t *testing.T) {
			delay := 5 * time.Second
			s := newSim(t, cfg(100, 11), cfg(200, 12, func(c *Config) { c.PreemptDelay = delay }))
			a, b := s.nodes[0], s.nodes[1]
			s.start(a)
			s.runFor(10 * iv)
			joined := s.now
			s.start(b)
			s.run(joined.Add(delay - time.Millisecond))
			s.wantMaster(a)
			s.run(joined.Add(delay + md(200) + iv))
			s.wantMaster(b)
			at, _ := b.becameMaster()
			if took := at.Sub(joined); took < delay || took > delay+md(200) {
				s.fail("preempted after %v, want within [%v, %v]", took, delay, delay+md(200))
			}
		})

		t.Run(fl.name+"/split brain heals", func(t *testing.T) {
			s := newSim(t, cfg(100, 11), cfg(200, 12))
			a, b := s.nodes[0], s.nodes[1]
			s.start(a)
			s.start(b)
			s.runFor(10 * iv)
			s.wantMaster(b)
			s.cut = true
			s.runFor(10 * iv)
			if ms := s.masters(); len(ms) != 2 {
				s.fail("partitioned: %d masters, want 2", len(ms))
			}
			s.cut = false
			healed := s.now
			s.runFor(10 * iv)
			s.wantMaster(b)
			// A stood down at the first advert it heard from B.
			if last := a.log[len(a.log)-1]; last.to != StateBackup || last.at.Sub(healed) > iv+s.latency {
				s.fail("A: %+v after heal at %v", last, healed.Sub(t0))
			}
		})

		t.Run(fl.name+"/split brain heals at equal priority", func(t *testing.T) {
			s := newSim(t, cfg(100, 11), cfg(100, 12))
			a, b := s.nodes[0], s.nodes[1]
			s.start(a)
			s.start(b)
			s.runFor(10 * iv)
			s.cut = true
			s.runFor(10 * iv)
			if ms := s.masters(); len(ms) != 2 {
				s.fail("partitioned: %d masters, want 2", len(ms))
			}
			s.cut = false
			s.runFor(10 * iv)
			s.wantMaster(b)
			_ = a
		})

		t.Run(fl.name+"/tracking fault hands over and back", func(t *testing.T) {
			s := newSim(t, cfg(200, 11), cfg(100, 12))
			a, b := s.nodes[0], s.nodes[1]
			s.start(a)
			s.start(b)
			s.runFor(10*iv + iv/3)
			s.wantMaster(a)
			faulted := s.now
			s.exec(a, a.m.UpdateTracking(s.now, 0, true))
			s.runFor(10 * iv)
			s.wantMaster(b)
			if at, _ := b.becameMaster(); at.Sub(faulted) != s.latency+skew(100) {
				s.fail("fault handover took %v", at.Sub(faulted))
			}
			s.exec(a, a.m.UpdateTracking(s.now, 0, false))
			s.runFor(10 * iv)
			s.wantMaster(a) // preempts back
			// A weight that drops A below B hands over again.
			s.exec(a, a.m.UpdateTracking(s.now, -150, false))
			s.runFor(10 * iv)
			s.wantMaster(b)
		})
	}
}
