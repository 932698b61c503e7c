package vrrp_test

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
)

// The source filter (trust.go): with the peer director known, adverts from anyone else are
// dropped as not_peer before the Machine sees them — whatever their priority, version, family
// or destination — and so never move a router or open a handover window.

const forger = "198.51.100.66"

// forge returns a packet as a third host on the link sends it: valid in every other respect.
func forge(t *testing.T, version, prio uint8, src, dst string, vips ...string) vrrp.Packet {
	t.Helper()
	a := &vrrp.Advert{Version: version, VRID: 91, Priority: prio, AdvertInterval: 2}
	if version == 2 {
		a.AdvertInterval = 1
	}
	for _, v := range vips {
		a.Addresses = append(a.Addresses, netip.MustParseAddr(v))
	}
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	b, err := a.Marshal(s, d)
	if err != nil {
		t.Fatal(err)
	}
	return vrrp.Packet{Payload: b, Src: s, Dst: d, TTL: 255}
}

// trustedPair is a (priority 200, master) and b (100, backup, forwarding with f), each
// trusting only the other, in multicast or unicast.
func trustedPair(t *testing.T, unicast bool) (a, b *node, f *forwarder) {
	t.Helper()
	l := &lan{}
	ca := engineConfig("198.51.100.11", 200, vip1)
	ca.Trusted = []netip.Addr{netip.MustParseAddr("198.51.100.12")}
	cb := engineConfig("198.51.100.12", 100, vip1)
	cb.Trusted = []netip.Addr{netip.MustParseAddr("198.51.100.11"), netip.MustParseAddr("2001:db8::11")}
	if unicast {
		ca.Peer, cb.Peer = ca.Trusted[0], cb.Trusted[0]
	}
	// Long enough that a loaded machine (the race detector) does not fail the master over by
	// itself while the forger floods.
	ca.Router.AdvertInterval, cb.Router.AdvertInterval = 200*time.Millisecond, 200*time.Millisecond
	f = &forwarder{}
	cb.Forwarder = f
	a = newNode(t, l, "a", ca).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	b = newNode(t, l, "b", cb).start()
	waitFor(t, "b hears a", func() bool { return b.eng.Status().Master == a.port.addr })
	return a, b, f
}

func TestEngineDropsAdvertsNotFromThePeer(t *testing.T) {
	t.Parallel()
	for _, unicast := range []bool{false, true} {
		name := "multicast"
		if unicast {
			name = "unicast"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b, f := trustedPair(t, unicast)
			// The finding: priority 0 every 15 ms made the backup open a window towards the
			// forger and flip; priority 254 would make the master give way. Every version and
			// destination, for several of b's Skew_Times (122 ms).
			var pkts []vrrp.Packet
			for _, v := range []uint8{2, 3} {
				for _, prio := range []uint8{0, 254} {
					for _, dst := range []string{vrrp.MulticastIPv4.String(), "198.51.100.11", "198.51.100.12"} {
						pkts = append(pkts, forge(t, v, prio, forger, dst, vip1))
					}
				}
			}
			// The forger also claims to be ourselves' peer by family only: an IPv6 source.
			pkts = append(pkts, forge(t, 3, 0, "fe80::66", vrrp.MulticastIPv6.String(), "2001:db8::100"))
			before := [2]string{a.transitions(), b.transitions()}
			n := 0
			for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(15 * time.Millisecond) {
				for _, p := range pkts {
					a.port.inject(p)
					b.port.inject(p)
					n++
				}
			}
			waitFor(t, "every forged advert counted as not_peer", func() bool {
				return a.eng.Status().Dropped["not_peer"]+b.eng.Status().Dropped["not_peer"] == uint64(2*n)
			})
			if after := [2]string{a.transitions(), b.transitions()}; after != before {
				t.Errorf("forged adverts changed states: %q -> %q", before, after)
			}
			for _, x := range []*node{a, b} {
				st := x.eng.Status()
				if len(st.Dropped) != 1 || st.Master.String() == forger {
					t.Errorf("%s: %+v", x.name, st)
				}
			}
			if w := f.list(); len(w) != 0 {
				t.Errorf("forged adverts opened handover windows: %+v", w)
			}
			// The peer is still heard: its priority 0 hands over, and the window opens
			// towards it.
			if err := a.eng.Close(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "b master", b.is(vrrp.StateMaster))
			checkWindow(t, f, "198.51.100.11")
		})
	}
}

// RFC 5798 §5.1.1.3: TTL 255 for every advert, unicast ones too.
func TestEngineUnicastChecksTTL(t *testing.T) {
	t.Parallel()
	_, b, _ := trustedPair(t, true)
	p := forge(t, 3, 254, "198.51.100.11", "198.51.100.12", vip1)
	p.TTL = 64
	b.port.inject(p)
	waitFor(t, "ttl counted", func() bool { return b.eng.Status().Dropped["ttl"] == 1 })
	if st := b.eng.Status(); st.MasterPriority != 200 {
		t.Errorf("a TTL 64 advert counted: %+v", st)
	}
}

// neighbours is the neighbour table of the IPv6 tests: address to MAC; an address missing
// does not answer resolution.
type neighbours struct {
	mu     sync.Mutex
	macs   map[netip.Addr]string
	checks []netip.Addr
	delay  time.Duration
}

func (n *neighbours) sameLink(known []netip.Addr, cand netip.Addr) (bool, error) {
	time.Sleep(n.delay)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.checks = append(n.checks, cand)
	mac, ok := n.macs[cand]
	if !ok {
		return false, errors.New("no answer")
	}
	for _, k := range known {
		if n.macs[k] == mac {
			return true, nil
		}
	}
	return false, nil
}

func (n *neighbours) checked() []netip.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]netip.Addr(nil), n.checks...)
}

// An IPv6 peer sends from its link-local address, which the pair does not name: it is pinned
// by the link-layer address of the peer's configured one; a forger's link-local (or global)
// source is not.
func TestEngineIPv6PinsThePeersLinkLocal(t *testing.T) {
	t.Parallel()
	const vip6 = "2001:db8::100"
	l := &lan{}
	nb := &neighbours{delay: 20 * time.Millisecond, macs: map[netip.Addr]string{
		netip.MustParseAddr("fe80::11"):      "a",
		netip.MustParseAddr("198.51.100.11"): "a", // the pair names director a by its IPv4 address
		netip.MustParseAddr("fe80::66"):      "forger",
	}}
	ca := engineConfig("fe80::11", 200, vip6)
	ca.Router.AdvertInterval = 200 * time.Millisecond
	a := newNode(t, l, "a", ca).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	cb := engineConfig("fe80::12", 100, vip6)
	cb.Router.AdvertInterval = 200 * time.Millisecond
	cb.Trusted = []netip.Addr{netip.MustParseAddr("198.51.100.11")}
	b := &node{t: t, name: "b", port: l.port("fe80::12"), addrs: &addrs{}}
	cb.OnTransition = b.onTransition
	eng, err := vrrp.NewEngine(cb, vrrp.WithLinkVerifier(b.port, nb.sameLink), b.addrs)
	if err != nil {
		t.Fatal(err)
	}
	b.eng = eng
	t.Cleanup(func() { _ = eng.Close() })
	b.start()
	waitFor(t, "b pinned a's link-local address and hears it", func() bool {
		st := b.eng.Status()
		return st.State == vrrp.StateBackup && st.Master == a.port.addr && st.MasterPriority == 200
	})
	// One check, however many adverts came meanwhile; none of them counted as a drop.
	if c := nb.checked(); len(c) != 1 || c[0] != a.port.addr {
		t.Errorf("checks %v", c)
	}
	if st := b.eng.Status(); len(st.Dropped) != 0 {
		t.Errorf("the peer's held adverts counted as drops: %v", st.Dropped)
	}
	before := b.transitions()
	// A forger with a link-local address of its own (checked once, refused), one that does
	// not answer neighbour discovery (the same), and a global address (checked too, since the
	// pair names no IPv6 address of a's; refused the same).
	var n uint64
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(15 * time.Millisecond) {
		for _, src := range []string{"fe80::66", "fe80::67", "2001:db8::66"} {
			for _, prio := range []uint8{0, 254} {
				b.port.inject(forge(t, 3, prio, src, vrrp.MulticastIPv6.String(), vip6))
				b.port.inject(forge(t, 3, prio, src, "fe80::12", vip6))
				n += 2
			}
		}
	}
	waitFor(t, "every forged advert counted as not_peer", func() bool { return b.eng.Status().Dropped["not_peer"] == n })
	if b.transitions() != before {
		t.Errorf("forged adverts changed b's state: %q -> %q", before, b.transitions())
	}
	if c := nb.checked(); len(c) != 4 {
		t.Errorf("checks %v: want a's, then each forged source once", c)
	}
	if st := b.eng.Status(); st.Master != a.port.addr {
		t.Errorf("b's master %v", st.Master)
	}
	// a stops: its priority 0, from the pinned address, hands over at once.
	if err := a.eng.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b master", b.is(vrrp.StateMaster))
	if st := b.eng.Status(); st.Reason == "" || st.Dropped["not_peer"] != n {
		t.Errorf("b %+v", st)
	}
}

// A burst of forged adverts far beyond the engine's queue is dropped on arrival, as not_peer:
// none is queued, so the peer's adverts are never dropped as overflow behind them.
func TestEngineForgedBurstDoesNotCrowdOutThePeer(t *testing.T) {
	t.Parallel()
	_, b, _ := trustedPair(t, false)
	p := forge(t, 3, 254, forger, vrrp.MulticastIPv4.String(), vip1)
	for range 5000 {
		b.port.inject(p)
	}
	st := b.eng.Status()
	if st.Dropped["not_peer"] != 5000 || len(st.Dropped) != 1 {
		t.Errorf("dropped %v, want not_peer 5000 and nothing else", st.Dropped)
	}
	if st.State != vrrp.StateBackup || st.MasterPriority != 200 {
		t.Errorf("b %+v", st)
	}
}
