package vrrp_test

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
)

// ifAddrs is a host's addresses per interface.
type ifAddrs struct {
	mu   sync.Mutex
	held map[string][]netip.Prefix
}

func (a *ifAddrs) AddAddress(ifname string, p netip.Prefix) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !slices.ContainsFunc(a.held[ifname], func(q netip.Prefix) bool { return q.Addr() == p.Addr() }) {
		a.held[ifname] = append(a.held[ifname], p)
	}
	return nil
}

func (a *ifAddrs) RemoveAddress(ifname string, p netip.Prefix) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held[ifname] = slices.DeleteFunc(a.held[ifname], func(q netip.Prefix) bool { return q.Addr() == p.Addr() })
	return nil
}

func (a *ifAddrs) Addresses(ifname string) ([]netip.Prefix, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.held[ifname]), nil
}

func (a *ifAddrs) has(ifname, s string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.ContainsFunc(a.held[ifname], func(q netip.Prefix) bool { return q.Addr() == netip.MustParseAddr(s) })
}

// countingAnnouncer counts the frames announced through it.
type countingAnnouncer struct{ n atomic.Int64 }

func (c *countingAnnouncer) Announce(addrs []netip.Addr, count int) error {
	c.n.Add(int64(len(addrs) * count))
	return nil
}

// ifForwarder records the interfaces of the handover's windows and silences.
type ifForwarder struct {
	mu       sync.Mutex
	forwards []string
	silences []string
}

func (f *ifForwarder) Forward(ifname string, _ netip.Addr, _ []netip.Addr) (func(), error) {
	f.mu.Lock()
	f.forwards = append(f.forwards, ifname)
	f.mu.Unlock()
	return func() {}, nil
}

func (f *ifForwarder) SilenceARP(ifname string, _ []netip.Addr) (func(), error) {
	f.mu.Lock()
	f.silences = append(f.silences, ifname)
	f.mu.Unlock()
	return func() {}, nil
}

func (f *ifForwarder) calls() (forwards, silences []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.forwards), slices.Clone(f.silences)
}

// A router whose addresses live on eth1 (keepalived's "dev eth1"): adverts on the transport
// (eth0), the addresses added, removed and announced on eth1; an address found on eth0 is
// removed; a planned handover silences ARP on eth1 and opens no forwarding window.
func TestEngineAddressesOnAnotherInterface(t *testing.T) {
	t.Parallel()
	l := &lan{}
	type router struct {
		eng   *vrrp.Engine
		port  *port
		addrs *ifAddrs
		ann   *countingAnnouncer
		fwd   *ifForwarder
	}
	mk := func(primary string, prio uint8, stray bool) *router {
		r := &router{port: l.port(primary), addrs: &ifAddrs{held: map[string][]netip.Prefix{}}, ann: &countingAnnouncer{}, fwd: &ifForwarder{}}
		if stray {
			r.addrs.held["eth0"] = []netip.Prefix{netip.MustParsePrefix(vip1 + "/32")}
		}
		cfg := engineConfig(primary, prio, vip1)
		cfg.AddrInterface, cfg.Announcer, cfg.Forwarder = "eth1", r.ann, r.fwd
		e, err := vrrp.NewEngine(cfg, r.port, r.addrs)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close() })
		r.eng = e
		if err := e.Start(); err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := mk("198.51.100.11", 200, true)
	waitFor(t, "a master", func() bool { return a.eng.Status().State == vrrp.StateMaster })
	b := mk("198.51.100.12", 100, false)
	waitFor(t, "b hears a", func() bool { return b.eng.Status().Master == a.port.addr })
	waitFor(t, "a holds the VIP on eth1 only", func() bool { return a.addrs.has("eth1", vip1) && !a.addrs.has("eth0", vip1) })
	if a.ann.n.Load() == 0 || a.port.announcements() != 0 {
		t.Errorf("announced %d frames through eth1's announcer and %d through the VRRP transport; want some and none", a.ann.n.Load(), a.port.announcements())
	}
	if b.addrs.has("eth1", vip1) || b.addrs.has("eth0", vip1) {
		t.Error("the backup holds the VIP")
	}

	// Moved to eth0 by hand: the repair puts it back.
	_ = a.addrs.RemoveAddress("eth1", netip.MustParsePrefix(vip1+"/32"))
	_ = a.addrs.AddAddress("eth0", netip.MustParsePrefix(vip1+"/32"))
	waitFor(t, "repaired", func() bool { return a.addrs.has("eth1", vip1) && !a.addrs.has("eth0", vip1) })

	// Planned stop: b takes over on eth1, a silenced ARP there; no window is opened.
	start := time.Now()
	if err := a.eng.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b master", func() bool { return b.eng.Status().State == vrrp.StateMaster })
	waitFor(t, "b holds the VIP on eth1", func() bool { return b.addrs.has("eth1", vip1) && !b.addrs.has("eth0", vip1) })
	if a.addrs.has("eth1", vip1) {
		t.Error("a kept the VIP after Close")
	}
	if b.ann.n.Load() == 0 {
		t.Error("b did not announce the VIP on eth1")
	}
	fa, sa := a.fwd.calls()
	fb, sb := b.fwd.calls()
	if !slices.Equal(sa, []string{"eth1"}) || len(fa) != 0 || len(fb) != 0 || len(sb) != 0 {
		t.Errorf("a: forwards %v, silences %v; b: forwards %v, silences %v; want only a silence on eth1 by a", fa, sa, fb, sb)
	}
	t.Logf("planned handover took %v", time.Since(start).Round(time.Millisecond))
}

// An AddrInterface without an Announcer is refused, and Reconfigure cannot move the addresses.
func TestEngineAddrInterfaceConfig(t *testing.T) {
	t.Parallel()
	l := &lan{}
	cfg := engineConfig("198.51.100.11", 200, vip1)
	cfg.AddrInterface = "eth1"
	if _, err := vrrp.NewEngine(cfg, l.port("198.51.100.11"), &addrs{}); err == nil {
		t.Fatal("an engine with addresses on eth1 and no announcer was made")
	}
	cfg.Announcer = &countingAnnouncer{}
	e, err := vrrp.NewEngine(cfg, l.port("198.51.100.11"), &addrs{})
	if err != nil {
		t.Fatal(err)
	}
	moved := cfg
	moved.AddrInterface = "eth2"
	if err := e.Reconfigure(moved); err == nil {
		t.Error("Reconfigure moved the addresses to another interface")
	}
	same := cfg
	same.AddrInterface = "eth1"
	if c := e.Config(); !c.Equal(&same) || c.Equal(&moved) {
		t.Error("Equal does not compare the addresses' interface")
	}
}
