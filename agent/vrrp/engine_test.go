package vrrp_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
)

// An in-memory LAN of Transports: what one port sends reaches every other port that is up
// (multicast) or the port owning the destination (unicast), with TTL 255.
type lan struct {
	mu    sync.Mutex
	ports []*port
	cut   bool // partitioned: nothing gets through
}

type port struct {
	lan  *lan
	addr netip.Addr

	mu        sync.Mutex
	handlers  map[uint8]func(vrrp.Packet)
	down      bool // a crashed host: sends nothing, receives nothing
	sent      []*vrrp.Advert
	announced int
}

func (l *lan) port(addr string) *port {
	p := &port{lan: l, addr: netip.MustParseAddr(addr), handlers: map[uint8]func(vrrp.Packet){}}
	l.mu.Lock()
	l.ports = append(l.ports, p)
	l.mu.Unlock()
	return p
}

func (p *port) Register(vrid uint8, f func(vrrp.Packet)) (func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.handlers[vrid] != nil {
		return nil, errors.New("duplicate")
	}
	p.handlers[vrid] = f
	return func() {
		p.mu.Lock()
		delete(p.handlers, vrid)
		p.mu.Unlock()
	}, nil
}

func (p *port) Send(b []byte, src, dst netip.Addr) error {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		return errors.New("down")
	}
	if a, err := vrrp.Parse(b, src, dst); err == nil {
		p.sent = append(p.sent, a)
	}
	p.mu.Unlock()
	p.lan.mu.Lock()
	ports := slices.Clone(p.lan.ports)
	cut := p.lan.cut
	p.lan.mu.Unlock()
	if cut {
		return nil
	}
	for _, q := range ports {
		if q != p && (dst.IsMulticast() || dst == q.addr) {
			q.inject(vrrp.Packet{Payload: slices.Clone(b), Src: src, Dst: dst, TTL: 255})
		}
	}
	return nil
}

func (p *port) inject(pkt vrrp.Packet) {
	p.mu.Lock()
	f := p.handlers[pkt.Payload[1]]
	down := p.down
	p.mu.Unlock()
	if f != nil && !down {
		f(pkt)
	}
}

func (p *port) Announce(addrs []netip.Addr, count int) error {
	p.mu.Lock()
	p.announced += len(addrs) * count
	p.mu.Unlock()
	return nil
}

func (p *port) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// lastSent returns the last advert sent with the given priority, or nil.
func (p *port) sentWith(prio uint8) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, a := range p.sent {
		if a.Priority == prio {
			n++
		}
	}
	return n
}

// addrs is an interface's address list.
type addrs struct {
	mu       sync.Mutex
	held     []netip.Prefix
	fail     error
	onRemove func() // called before each removal
}

func (a *addrs) AddAddress(_ string, p netip.Prefix) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	if !slices.ContainsFunc(a.held, func(q netip.Prefix) bool { return q.Addr() == p.Addr() }) {
		a.held = append(a.held, p)
	}
	return nil
}

func (a *addrs) RemoveAddress(_ string, p netip.Prefix) error {
	if a.onRemove != nil {
		a.onRemove()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held = slices.DeleteFunc(a.held, func(q netip.Prefix) bool { return q.Addr() == p.Addr() })
	return nil
}

func (a *addrs) Addresses(string) ([]netip.Prefix, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.held), nil
}

func (a *addrs) has(s string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.ContainsFunc(a.held, func(q netip.Prefix) bool { return q.Addr() == netip.MustParseAddr(s) })
}

// node is one router: an engine on a port with its interface's addresses and transitions.
type node struct {
	t     *testing.T
	name  string
	port  *port
	addrs *addrs
	eng   *vrrp.Engine

	mu    sync.Mutex
	trans []vrrp.Transition
}

func (n *node) onTransition(t vrrp.Transition) {
	n.mu.Lock()
	n.trans = append(n.trans, t)
	n.mu.Unlock()
}

func (n *node) transitions() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var s []string
	for _, t := range n.trans {
		s = append(s, t.From.String()+"->"+t.To.String())
	}
	return strings.Join(s, " ")
}

const (
	vip1 = "198.51.100.100"
	vip2 = "198.51.100.101"
)

func engineConfig(primary string, prio uint8, vips ...string) vrrp.EngineConfig {
	c := vrrp.EngineConfig{
		Interface: "eth0",
		Router: vrrp.Config{
			Version: 3, VRID: 91, Priority: prio, AdvertInterval: 20 * time.Millisecond,
			PrimaryAddr: netip.MustParseAddr(primary),
			GARP:        vrrp.GARPPolicy{Delay: -1},
		},
		RepairInterval: 50 * time.Millisecond,
	}
	for _, v := range vips {
		a := netip.MustParseAddr(v)
		c.Addresses = append(c.Addresses, netip.PrefixFrom(a, a.BitLen()))
	}
	return c
}

func newNode(t *testing.T, l *lan, name string, cfg vrrp.EngineConfig, held ...string) *node {
	t.Helper()
	n := &node{t: t, name: name, port: l.port(cfg.Router.PrimaryAddr.String()), addrs: &addrs{}}
	for _, h := range held {
		a := netip.MustParseAddr(h)
		n.addrs.held = append(n.addrs.held, netip.PrefixFrom(a, a.BitLen()))
	}
	cfg.OnTransition = n.onTransition
	e, err := vrrp.NewEngine(cfg, n.port, n.addrs)
	if err != nil {
		t.Fatal(err)
	}
	n.eng = e
	t.Cleanup(func() { _ = e.Close() })
	return n
}

func (n *node) start() *node {
	n.t.Helper()
	if err := n.eng.Start(); err != nil {
		n.t.Fatal(err)
	}
	return n
}

// waitFor polls cond for up to 5s (generous: a loaded machine runs the race detector).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (n *node) is(s vrrp.State) func() bool {
	return func() bool { return n.eng.Status().State == s }
}

func TestEngineElectionAndFailover(t *testing.T) {
	t.Parallel()
	l := &lan{}
	a := newNode(t, l, "a", engineConfig("198.51.100.11", 200, vip1)).start()
	b := newNode(t, l, "b", engineConfig("198.51.100.12", 100, vip1)).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	waitFor(t, "b backup hearing a", func() bool {
		st := b.eng.Status()
		return st.State == vrrp.StateBackup && st.Master == a.port.addr && st.MasterPriority == 200
	})
	if !a.addrs.has(vip1) || b.addrs.has(vip1) {
		t.Fatalf("addresses: a %v, b %v", a.addrs.held, b.addrs.held)
	}
	// Crash a: it goes silent with its address still configured.
	a.port.setDown(true)
	waitFor(t, "b master", b.is(vrrp.StateMaster))
	if !b.addrs.has(vip1) {
		t.Fatal("b master without the VIP")
	}
	if b.port.announced == 0 {
		t.Error("b did not announce the VIP")
	}
	st := b.eng.Status()
	if !strings.Contains(st.Reason, "silent") {
		t.Errorf("reason %q", st.Reason)
	}
	// a comes back with preemption: it takes over again and b steps down.
	a.port.setDown(false)
	waitFor(t, "b backup again", b.is(vrrp.StateBackup))
	waitFor(t, "b released the VIP", func() bool { return !b.addrs.has(vip1) })
	if got := b.transitions(); got != "INIT->BACKUP BACKUP->MASTER MASTER->BACKUP" {
		t.Errorf("b transitions %q", got)
	}
}

func TestEngineGracefulStop(t *testing.T) {
	t.Parallel()
	l := &lan{}
	cfgA := engineConfig("198.51.100.11", 200, vip1)
	cfgA.Router.AdvertInterval = 500 * time.Millisecond // so only priority 0 explains a fast takeover
	cfgB := engineConfig("198.51.100.12", 100, vip1)
	cfgB.Router.AdvertInterval = cfgA.Router.AdvertInterval
	a := newNode(t, l, "a", cfgA).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	b := newNode(t, l, "b", cfgB).start()
	waitFor(t, "b hears a", func() bool { return b.eng.Status().Master == a.port.addr })
	// a keeps serving until b has taken over: its addresses go only after b's first advert.
	var successorFirst bool
	a.addrs.onRemove = func() { successorFirst = b.port.sentWith(100) > 0 }
	t0 := time.Now()
	if err := a.eng.Close(); err != nil {
		t.Fatal(err)
	}
	if a.port.sentWith(0) != 1 {
		t.Error("no priority 0 advert on stop")
	}
	if a.addrs.has(vip1) {
		t.Error("a kept the VIP after stopping")
	}
	if !successorFirst {
		t.Error("a released the VIP before b advertised as master")
	}
	waitFor(t, "b master", b.is(vrrp.StateMaster))
	// Skew_Time for priority 100 at 500ms is 305ms; Master_Down_Interval would be 1.8s.
	if gap := time.Since(t0); gap > 1500*time.Millisecond {
		t.Errorf("takeover after priority 0 took %v", gap)
	}
	if r := b.eng.Status().Reason; !strings.Contains(r, "priority 0") {
		t.Errorf("reason %q", r)
	}
	if a.eng.Status().State != vrrp.StateInit {
		t.Error("a not in INIT after Close")
	}
}

func (l *lan) setCut(cut bool) {
	l.mu.Lock()
	l.cut = cut
	l.mu.Unlock()
}

func (p *port) announcements() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.announced
}

// After a partition both are master. At the heal the loser steps down and says so with
// priority 0, and the winner re-announces the addresses the loser's announcements had taken.
func TestEngineHealReannounces(t *testing.T) {
	t.Parallel()
	l := &lan{}
	a := newNode(t, l, "a", engineConfig("198.51.100.11", 200, vip1)).start()
	b := newNode(t, l, "b", engineConfig("198.51.100.12", 100, vip1)).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	waitFor(t, "b backup", b.is(vrrp.StateBackup))
	l.setCut(true)
	waitFor(t, "b master in the partition", b.is(vrrp.StateMaster))
	before := a.port.announcements()
	l.setCut(false)
	waitFor(t, "b backup after the heal", b.is(vrrp.StateBackup))
	waitFor(t, "a re-announced", func() bool { return a.port.announcements() > before })
	if b.port.sentWith(0) == 0 {
		t.Error("b gave way without a priority 0 advert")
	}
	// b keeps the VIP for a moment (the clients are moving to a), then releases it.
	waitFor(t, "b released the VIP", func() bool { return !b.addrs.has(vip1) })
	if a.eng.Status().State != vrrp.StateMaster || !a.addrs.has(vip1) {
		t.Error("a is not the master holding the VIP")
	}
}

// A backup that took over from a live master by mistake (it ran too late to read the master's
// adverts) advertises, then announces the addresses; the master answers its advert with
// announcements of its own, which the backup's then follow, so the clients stay with the
// backup. When the backup gives way (priority 0) the master must announce again, even though
// it announced a moment ago: else the clients' connections in flight go to the backup, which
// resets them, and once it releases the addresses its new ones go nowhere until ARP gives up.
func TestEngineReannouncesWhenMistakenBackupGivesWay(t *testing.T) {
	t.Parallel()
	l := &lan{}
	cfg := engineConfig("198.51.100.11", 200, vip1)
	cfg.Router.AdvertInterval = 100 * time.Millisecond
	a := newNode(t, l, "a", cfg).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	src, dst := netip.MustParseAddr("198.51.100.12"), vrrp.MulticastIPv4
	inject := func(prio uint8) {
		adv := &vrrp.Advert{Version: 3, VRID: 91, Priority: prio, AdvertInterval: 10,
			Addresses: []netip.Addr{netip.MustParseAddr(vip1)}}
		b, err := adv.Marshal(src, dst)
		if err != nil {
			t.Fatal(err)
		}
		a.port.inject(vrrp.Packet{Payload: b, Src: src, Dst: dst, TTL: 255})
	}
	before := a.port.announcements()
	inject(100) // the backup's advert as master
	waitFor(t, "a re-announced at the lower-priority advert", func() bool { return a.port.announcements() > before })
	// Its own announcements go out now, after ours; a few ms later it gives way.
	time.Sleep(5 * time.Millisecond)
	mid := a.port.announcements()
	inject(0)
	waitFor(t, "a re-announced at the priority 0 advert", func() bool { return a.port.announcements() > mid })
	if a.eng.Status().State != vrrp.StateMaster {
		t.Error("a is not master")
	}
}

// A preempted master keeps the VIP until the new master holds it (and a moment more).
func TestEnginePreemptedMasterReleasesAfterSuccessor(t *testing.T) {
	t.Parallel()
	l := &lan{}
	b := newNode(t, l, "b", engineConfig("198.51.100.12", 100, vip1)).start()
	waitFor(t, "b master alone", b.is(vrrp.StateMaster))
	a := newNode(t, l, "a", engineConfig("198.51.100.11", 200, vip1))
	var mu sync.Mutex
	var removals, whileSuccessorHeld int
	b.addrs.onRemove = func() {
		mu.Lock()
		defer mu.Unlock()
		removals++
		if a.addrs.has(vip1) {
			whileSuccessorHeld++
		}
	}
	a.start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	waitFor(t, "b released", func() bool { return !b.addrs.has(vip1) })
	mu.Lock()
	defer mu.Unlock()
	if removals == 0 || whileSuccessorHeld != removals {
		t.Errorf("b removed the VIP %d times, %d of them while a held it", removals, whileSuccessorHeld)
	}
}

func TestEngineStaleVIPRemovedOnStart(t *testing.T) {
	t.Parallel()
	l := &lan{}
	a := newNode(t, l, "a", engineConfig("198.51.100.11", 200, vip1)).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	// b restarts after a crash that left the VIP on its interface.
	b := newNode(t, l, "b", engineConfig("198.51.100.12", 100, vip1), vip1, "198.51.100.12")
	if !b.addrs.has(vip1) {
		t.Fatal("setup")
	}
	b.start()
	waitFor(t, "stale VIP removed", func() bool { return !b.addrs.has(vip1) })
	if !b.addrs.has("198.51.100.12") {
		t.Error("removed an address that is not a VIP")
	}
}

func TestEngineReconfigureKeepsMaster(t *testing.T) {
	t.Parallel()
	l := &lan{}
	a := newNode(t, l, "a", engineConfig("198.51.100.11", 200, vip1)).start()
	b := newNode(t, l, "b", engineConfig("198.51.100.12", 100, vip1)).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	waitFor(t, "b backup", func() bool { return b.eng.Status().Master == a.port.addr })

	// New priority, interval and address list on both, a first: a must stay master
	// throughout, b must never take over.
	na := engineConfig("198.51.100.11", 150, vip2)
	na.Router.AdvertInterval = 30 * time.Millisecond
	nb := engineConfig("198.51.100.12", 100, vip2)
	nb.Router.AdvertInterval = 30 * time.Millisecond
	na.OnTransition, nb.OnTransition = a.onTransition, b.onTransition
	if err := a.eng.Reconfigure(na); err != nil {
		t.Fatal(err)
	}
	if err := b.eng.Reconfigure(nb); err != nil {
		t.Fatal(err)
	}
	if a.eng.Status().State != vrrp.StateMaster {
		t.Fatalf("a left MASTER on reconfiguration: %s", a.transitions())
	}
	if !a.addrs.has(vip2) || a.addrs.has(vip1) {
		t.Fatalf("a holds %v after reconfiguration", a.addrs.held)
	}
	waitFor(t, "b hears a's new priority", func() bool { return b.eng.Status().MasterPriority == 150 })
	time.Sleep(300 * time.Millisecond) // several Master_Down_Intervals
	if got := a.transitions(); got != "INIT->BACKUP BACKUP->MASTER" {
		t.Errorf("a transitions %q", got)
	}
	if got := b.transitions(); got != "INIT->BACKUP" {
		t.Errorf("b transitions %q", got)
	}
	if b.addrs.has(vip2) || b.addrs.has(vip1) {
		t.Errorf("b holds %v", b.addrs.held)
	}
	// Lowering a's priority below b's hands over (b preempts).
	na.Router.Priority = 50
	if err := a.eng.Reconfigure(na); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b master", b.is(vrrp.StateMaster))
	waitFor(t, "a backup", a.is(vrrp.StateBackup))
	waitFor(t, "a released", func() bool { return !a.addrs.has(vip2) })
}

func TestEngineTrackingFault(t *testing.T) {
	t.Parallel()
	l := &lan{}
	a := newNode(t, l, "a", engineConfig("198.51.100.11", 200, vip1)).start()
	b := newNode(t, l, "b", engineConfig("198.51.100.12", 100, vip1)).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	a.eng.SetTracking(0, true, "script chk failed")
	waitFor(t, "a fault", a.is(vrrp.StateFault))
	waitFor(t, "b master", b.is(vrrp.StateMaster))
	if a.addrs.has(vip1) {
		t.Error("a kept the VIP in FAULT")
	}
	if r := a.eng.Status().Reason; r != "tracking: script chk failed" {
		t.Errorf("reason %q", r)
	}
	// A weight that keeps a above b: back to master when the fault clears.
	a.eng.SetTracking(-50, false, "script chk ok")
	waitFor(t, "a master again", a.is(vrrp.StateMaster))
	if p := a.eng.Status().Priority; p != 150 {
		t.Errorf("priority %d, want 150", p)
	}
	// A weight that puts a below b: b preempts.
	a.eng.SetTracking(-150, false, "weights")
	waitFor(t, "b master by preemption", b.is(vrrp.StateMaster))
	waitFor(t, "a backup", a.is(vrrp.StateBackup))
}

func TestEngineInitialFault(t *testing.T) {
	t.Parallel()
	l := &lan{}
	a := newNode(t, l, "a", engineConfig("198.51.100.11", 200, vip1))
	a.eng.SetTracking(0, true, "link eth1 down")
	a.start()
	time.Sleep(100 * time.Millisecond)
	if s := a.eng.Status().State; s != vrrp.StateFault {
		t.Fatalf("state %v, want FAULT", s)
	}
	if a.addrs.has(vip1) {
		t.Error("VIP held in FAULT")
	}
}

func TestEngineRepairsAddresses(t *testing.T) {
	t.Parallel()
	l := &lan{}
	a := newNode(t, l, "a", engineConfig("198.51.100.11", 200, vip1)).start()
	b := newNode(t, l, "b", engineConfig("198.51.100.12", 100, vip1)).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	waitFor(t, "b backup", b.is(vrrp.StateBackup))
	// An operator deletes the VIP on the master and adds it on the backup.
	_ = a.addrs.RemoveAddress("eth0", netip.MustParsePrefix(vip1+"/32"))
	_ = b.addrs.AddAddress("eth0", netip.MustParsePrefix(vip1+"/32"))
	waitFor(t, "repaired", func() bool { return a.addrs.has(vip1) && !b.addrs.has(vip1) })
}

func TestEngineDropsCounted(t *testing.T) {
	t.Parallel()
	l := &lan{}
	cfg := engineConfig("198.51.100.11", 200, vip1)
	cfg.Router.Version, cfg.Router.AdvertInterval = 2, time.Second
	cfg.Router.AuthType, cfg.Router.AuthData = vrrp.AuthPass, [8]byte{'s', 'e', 'c', 'r', 'e', 't'}
	a := newNode(t, l, "a", cfg).start()
	waitFor(t, "a backup", a.is(vrrp.StateBackup))

	src, dst := netip.MustParseAddr("198.51.100.66"), vrrp.MulticastIPv4
	good := &vrrp.Advert{Version: 2, VRID: 91, Priority: 250, AuthType: vrrp.AuthPass, AuthData: cfg.Router.AuthData,
		AdvertInterval: 1, Addresses: []netip.Addr{netip.MustParseAddr(vip1)}}
	marshal := func(a *vrrp.Advert) []byte {
		b, err := a.Marshal(src, dst)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wrongPass := *good
	wrongPass.AuthData = [8]byte{'x'}
	noAuth := *good
	noAuth.AuthType, noAuth.AuthData = vrrp.AuthNone, [8]byte{}
	wrongInterval := *good
	wrongInterval.AdvertInterval = 3
	wrongAddrs := *good
	wrongAddrs.Addresses = []netip.Addr{netip.MustParseAddr(vip2)}
	badSum := marshal(good)
	badSum[6] ^= 0xff
	for _, p := range []vrrp.Packet{
		{Payload: marshal(good), TTL: 64},
		{Payload: marshal(&wrongPass), TTL: 255},
		{Payload: marshal(&noAuth), TTL: 255},
		{Payload: marshal(&wrongInterval), TTL: 255},
		{Payload: marshal(&wrongAddrs), TTL: 255},
		{Payload: badSum, TTL: 255},
		{Payload: marshal(good)[:9], TTL: 255},
	} {
		p.Src, p.Dst = src, dst
		a.port.inject(p)
	}
	want := map[string]uint64{"ttl": 1, "auth": 2, "interval": 1, "addresses": 1, "checksum": 1, "truncated": 1}
	waitFor(t, "drops counted", func() bool {
		st := a.eng.Status()
		return fmt.Sprint(st.Dropped) == fmt.Sprint(want) && st.AdvertsIn == 7
	})
	// None of them made a step down from a priority 250 "master": a is still backup with no
	// master, and takes over when the Master_Down_Interval (3.2s) ends.
	if st := a.eng.Status(); st.Master.IsValid() {
		t.Errorf("a dropped packet was taken for a master: %v", st.Master)
	}
}

func TestEngineUnicast(t *testing.T) {
	t.Parallel()
	l := &lan{}
	ca := engineConfig("198.51.100.11", 200, vip1)
	ca.Peer = netip.MustParseAddr("198.51.100.12")
	cb := engineConfig("198.51.100.12", 100, vip1)
	cb.Peer = netip.MustParseAddr("198.51.100.11")
	a := newNode(t, l, "a", ca).start()
	b := newNode(t, l, "b", cb).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	waitFor(t, "b hears a", func() bool { return b.eng.Status().Master == a.port.addr })
	// A third router's adverts are not the peer's (the source is checked first, before the TTL).
	adv := &vrrp.Advert{Version: 3, VRID: 91, Priority: 254, AdvertInterval: 2, Addresses: []netip.Addr{netip.MustParseAddr(vip1)}}
	src, dst := netip.MustParseAddr("198.51.100.66"), b.port.addr
	pl, err := adv.Marshal(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	b.port.inject(vrrp.Packet{Payload: pl, Src: src, Dst: dst, TTL: 64})
	waitFor(t, "not_peer counted", func() bool { return b.eng.Status().Dropped["not_peer"] == 1 })
	a.port.setDown(true)
	waitFor(t, "b master", b.is(vrrp.StateMaster))
}

func TestEngineNoPreempt(t *testing.T) {
	t.Parallel()
	l := &lan{}
	cb := engineConfig("198.51.100.12", 100, vip1)
	b := newNode(t, l, "b", cb).start()
	waitFor(t, "b master alone", b.is(vrrp.StateMaster))
	ca := engineConfig("198.51.100.11", 200, vip1)
	ca.Router.NoPreempt = true
	a := newNode(t, l, "a", ca).start()
	time.Sleep(300 * time.Millisecond)
	if a.eng.Status().State != vrrp.StateBackup || b.eng.Status().State != vrrp.StateMaster {
		t.Fatalf("nopreempt: a %v, b %v", a.eng.Status().State, b.eng.Status().State)
	}
}

// Stopping with nobody to take over waits a bounded time, then releases.
func TestEngineStopAlone(t *testing.T) {
	t.Parallel()
	l := &lan{}
	a := newNode(t, l, "a", engineConfig("198.51.100.11", 200, vip1)).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	t0 := time.Now()
	_ = a.eng.Close()
	// Master_Down_Interval for priority 1 at 20ms: 60ms + 19.9ms.
	if d := time.Since(t0); d < 70*time.Millisecond || d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	if a.addrs.has(vip1) {
		t.Error("VIP kept")
	}
}

func TestEngineCloseBeforeStart(t *testing.T) {
	t.Parallel()
	l := &lan{}
	n := newNode(t, l, "a", engineConfig("198.51.100.11", 200, vip1))
	if err := n.eng.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.eng.Start(); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}

func TestEngineConfigEqual(t *testing.T) {
	t.Parallel()
	a, b := engineConfig("198.51.100.11", 200, vip1), engineConfig("198.51.100.11", 200, vip1)
	if !a.Equal(&b) {
		t.Fatal("equal configs differ")
	}
	for name, change := range map[string]func(c *vrrp.EngineConfig){
		"priority":  func(c *vrrp.EngineConfig) { c.Router.Priority = 1 },
		"interval":  func(c *vrrp.EngineConfig) { c.Router.AdvertInterval = time.Second },
		"addresses": func(c *vrrp.EngineConfig) { c.Addresses = c.Addresses[:0] },
		"prefix":    func(c *vrrp.EngineConfig) { c.Addresses[0] = netip.MustParsePrefix(vip1 + "/24") },
		"peer":      func(c *vrrp.EngineConfig) { c.Peer = netip.MustParseAddr("198.51.100.12") },
		"preempt":   func(c *vrrp.EngineConfig) { c.Router.NoPreempt = true },
		"auth":      func(c *vrrp.EngineConfig) { c.Router.AuthData[0] = 1 },
	} {
		c := engineConfig("198.51.100.11", 200, vip1)
		change(&c)
		if a.Equal(&c) {
			t.Errorf("%s: change not seen", name)
		}
	}
}

func TestDropReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{vrrp.ErrTTL, "ttl"},
		{fmt.Errorf("wrapped: %w", vrrp.ErrChecksum), "checksum"},
		{vrrp.ErrAuth, "auth"},
		{vrrp.ErrAuthType, "auth_type"},
		{vrrp.ErrAddressList, "addresses"},
		{vrrp.ErrOwnAddress, "own_address"},
		{vrrp.ErrInterval, "interval"},
		{vrrp.ErrVersion, "version"},
		{errors.New("?"), "other"},
	} {
		if got := vrrp.DropReason(tc.err); got != tc.want {
			t.Errorf("DropReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
