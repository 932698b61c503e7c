package vrrp_test

import (
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
)

// Engines of a sync group on two hosts, over the in-memory LAN: one member's FAULT moves the
// whole group, its end brings it back, and a member that leaves the group is on its own.
func TestEngineSyncGroup(t *testing.T) {
	t.Parallel()
	l := &lan{}
	ports := map[string]*port{}
	member := func(host string, prio, vrid uint8, addr string) *node {
		cfg := engineConfig(host, prio, addr)
		cfg.Router.VRID = vrid
		p := ports[host]
		if p == nil {
			p = l.port(host) // one port per host, shared by its engines
			ports[host] = p
		}
		n := &node{t: t, name: host + "/" + addr, port: p, addrs: &addrs{}}
		cfg.OnTransition = n.onTransition
		e, err := vrrp.NewEngine(cfg, p, n.addrs)
		if err != nil {
			t.Fatal(err)
		}
		n.eng = e
		t.Cleanup(func() { _ = e.Close() })
		return n
	}
	a1 := member("198.51.100.11", 200, 91, vip1)
	a2 := member("198.51.100.11", 200, 92, vip2)
	b1 := member("198.51.100.12", 100, 91, vip1)
	b2 := member("198.51.100.12", 100, 92, vip2)
	ga, gb := vrrp.NewSyncGroup("nat", nil), vrrp.NewSyncGroup("nat", nil)
	for _, g := range []struct {
		g *vrrp.SyncGroup
		n []*node
	}{{ga, []*node{a1, a2}}, {gb, []*node{b1, b2}}} {
		for _, n := range g.n {
			g.g.Join(n.eng)
			n.start()
		}
	}
	both := func(what string, m1, m2, o1, o2 *node, other vrrp.State) {
		t.Helper()
		start := time.Now()
		waitFor(t, what, func() bool {
			return m1.is(vrrp.StateMaster)() && m2.is(vrrp.StateMaster)() && o1.is(other)() && o2.is(other)()
		})
		t.Logf("%s after %v", what, time.Since(start))
	}
	both("a holds the group", a1, a2, b1, b2, vrrp.StateBackup)
	if g := a2.eng.SyncGroupName(); g != "nat" {
		t.Errorf("group name %q", g)
	}

	// Only member 91 faults (agent/ha would fault both; this is the engines' coupling alone).
	a1.eng.SetTracking(0, true, "link down")
	both("b takes the whole group", b1, b2, a2, a2, vrrp.StateBackup)
	waitFor(t, "a1 in FAULT", a1.is(vrrp.StateFault))
	a1.eng.SetTracking(0, false, "link up")
	both("a preempts the whole group back", a1, a2, b1, b2, vrrp.StateBackup)

	// Out of the group, b2 is a router of its own again; a2 alone wins it over.
	gb.Leave(b2.eng)
	if gb.Len() != 1 || b2.eng.SyncGroupName() != "" {
		t.Errorf("after leaving: %d members, group %q", gb.Len(), b2.eng.SyncGroupName())
	}
	a2.eng.SetTracking(-150, false, "weight")
	waitFor(t, "b2 master on its own", b2.is(vrrp.StateMaster))
	// a2 gave way: a's group steps a1 down, and b1, still in b's group, takes over.
	both("the rest of the group follows", b1, b2, a1, a2, vrrp.StateBackup)
}
