//go:build linux

package ha

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/netconf/netnstest"
	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Managers on real sockets in two network namespaces of this kernel, driven through Apply as
// the agent's server drives them.

type director struct {
	t    *testing.T
	host *netnstest.Host
	m    *Manager
	self int
}

func newDirectors(t *testing.T) (a, b *director, hosts []*netnstest.Host) {
	t.Helper()
	hosts = netnstest.NewLAN(t, 3)
	mk := func(i int) *director {
		m := New(Config{Net: hosts[i].Net, RepairInterval: 100 * time.Millisecond})
		t.Cleanup(func() { _ = m.Stop(context.Background()) })
		return &director{t: t, host: hosts[i], m: m, self: i}
	}
	return mk(0), mk(1), hosts
}

func (d *director) apply(vips ...*agentapi.VIP) {
	d.t.Helper()
	st := &agentapi.State{Pair: &agentapi.Pair{Name: "edge", Self: d.self, Directors: []agentapi.Director{
		{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"},
	}}, VIPs: map[int]*agentapi.VIP{}}
	for _, v := range vips {
		st.VIPs[v.VRID] = v
	}
	if err := d.m.Apply(context.Background(), st.Clone(), reconcile.Resync); err != nil {
		d.t.Fatal(err)
	}
}

func (d *director) status(vrid int) agentapi.VIPStatus {
	for _, s := range d.m.Status() {
		if s.VRID == vrid {
			return s
		}
	}
	return agentapi.VIPStatus{}
}

func (d *director) state(vrid int, want string) func() bool {
	return func() bool { return d.status(vrid).State == want }
}

func (d *director) holds(addr string) bool {
	ps, err := d.host.Net.Addresses("eth0")
	if err != nil {
		d.t.Fatal(err)
	}
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Addr() == netip.MustParseAddr(addr) })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func vip(vrid int, prioA, prioB int, addrs ...string) *agentapi.VIP {
	return &agentapi.VIP{VRID: vrid, Addresses: addrs, Priorities: [2]int{prioA, prioB}, AdvertIntervalCS: 5, Version: 3, Preempt: true}
}

func TestNetnsManagerLifecycle(t *testing.T) {
	a, b, _ := newDirectors(t)
	v := vip(91, 200, 100, "198.51.100.100", "2001:db8::100")
	a.apply(v)
	b.apply(v)
	waitUntil(t, "a master", a.state(91, "MASTER"))
	waitUntil(t, "b backup", b.state(91, "BACKUP"))
	st := a.status(91)
	if len(st.HeldAddresses) != 2 || st.Priority != 200 || !strings.Contains(st.Master, "198.51.100.11") {
		t.Errorf("a status %+v", st)
	}
	if b.holds("198.51.100.100") || b.holds("2001:db8::100") {
		t.Error("backup holds the VIP")
	}

	// A new priority and interval on the master does not move the VIP.
	v2 := vip(91, 150, 100, "198.51.100.100", "2001:db8::100")
	v2.AdvertIntervalCS = 7
	a.apply(v2)
	b.apply(v2)
	time.Sleep(500 * time.Millisecond)
	if s := a.status(91); s.State != "MASTER" || s.Priority != 150 {
		t.Fatalf("a after reconfiguration: %+v", s)
	}
	if s := b.status(91); s.State != "BACKUP" || !strings.Contains(s.Master, "priority 150") {
		t.Fatalf("b after reconfiguration: %+v", s)
	}

	// Swapping the priorities hands the VIP to b (preemption).
	v3 := vip(91, 100, 200, "198.51.100.100", "2001:db8::100")
	a.apply(v3)
	b.apply(v3)
	waitUntil(t, "b master", b.state(91, "MASTER"))
	waitUntil(t, "a backup", a.state(91, "BACKUP"))
	waitUntil(t, "a released", func() bool { return !a.holds("198.51.100.100") && !a.holds("2001:db8::100") })

	// Deleting the VIP on the master releases it at once.
	b.apply()
	if b.holds("198.51.100.100") || b.holds("2001:db8::100") {
		t.Error("b kept a deleted VIP")
	}
	waitUntil(t, "a takes over after b's priority 0", a.state(91, "MASTER"))

	// Graceful stop: a releases, nothing left.
	if err := a.m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.holds("198.51.100.100") || a.holds("2001:db8::100") {
		t.Error("a kept the VIP after Stop")
	}
	if err := a.m.Apply(context.Background(), &agentapi.State{}, reconcile.Resync); err == nil {
		t.Error("Apply after Stop succeeded")
	}
}

func TestNetnsManagerStaleVIP(t *testing.T) {
	a, b, _ := newDirectors(t)
	v := vip(91, 200, 100, "198.51.100.100")
	a.apply(v)
	waitUntil(t, "a master", a.state(91, "MASTER"))
	// b crashed as master earlier: the VIP is still on its interface.
	if err := b.host.Net.AddAddress("eth0", netip.MustParsePrefix("198.51.100.100/32")); err != nil {
		t.Fatal(err)
	}
	b.apply(v)
	if b.holds("198.51.100.100") {
		t.Error("stale VIP still there once Apply returned")
	}
	waitUntil(t, "b backup", b.state(91, "BACKUP"))
}

func TestNetnsManagerTracking(t *testing.T) {
	a, b, _ := newDirectors(t)
	a.host.Exec(t, "ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1")
	a.host.Exec(t, "ip", "link", "set", "trk1", "up")
	a.host.Exec(t, "ip", "link", "set", "trk0", "up")
	flag := filepath.Join(t.TempDir(), "healthy")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	notes := filepath.Join(t.TempDir(), "notes")
	va := vip(91, 200, 100, "198.51.100.100")
	va.TrackInterfaces = []agentapi.TrackInterface{{Name: "trk0"}}
	va.TrackScripts = []agentapi.TrackScript{{Name: "chk", Command: "test -f " + flag, IntervalMS: 20, TimeoutMS: 1000, Rise: 2, Fall: 2}}
	va.Notify = &agentapi.Notify{Master: "echo >> " + notes, Backup: "echo >> " + notes, Fault: "echo >> " + notes}
	a.apply(va)
	b.apply(vip(91, 200, 100, "198.51.100.100"))
	waitUntil(t, "a master", a.state(91, "MASTER"))

	// The script fails twice in a row: FAULT, b takes over.
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a fault", a.state(91, "FAULT"))
	waitUntil(t, "b master", b.state(91, "MASTER"))
	if s := a.status(91); !strings.Contains(s.Reason, "script chk down") {
		t.Errorf("reason %q", s.Reason)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a master again", a.state(91, "MASTER"))

	// The tracked link goes down: FAULT again.
	a.host.Exec(t, "ip", "link", "set", "trk0", "down")
	waitUntil(t, "a fault on link down", a.state(91, "FAULT"))
	if s := a.status(91); !strings.Contains(s.Reason, "interface trk0 down") {
		t.Errorf("reason %q", s.Reason)
	}
	a.host.Exec(t, "ip", "link", "set", "trk0", "up")
	waitUntil(t, "a master after link up", a.state(91, "MASTER"))

	want := "BACKUP\nMASTER\nFAULT\nBACKUP\nMASTER\nFAULT\nBACKUP\nMASTER\n"
	waitUntil(t, "notifications", func() bool {
		got, _ := os.ReadFile(notes)
		return string(got) == want
	})
}

func TestNetnsManagerErrorsReported(t *testing.T) {
	a, _, _ := newDirectors(t)
	st := &agentapi.State{Pair: &agentapi.Pair{Name: "edge", Self: 0, Directors: []agentapi.Director{
		{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"},
	}}, VIPs: map[int]*agentapi.VIP{
		1: vip(1, 200, 100, "198.51.100.100"),
		2: vip(2, 200, 100, "198.51.100.100"),
	}}
	err := a.m.Apply(context.Background(), st, reconcile.Resync)
	if err == nil || !strings.Contains(err.Error(), "already a VIP") {
		t.Fatalf("err %v", err)
	}
	waitUntil(t, "VIP 1 runs", a.state(1, "MASTER"))
	if s := a.status(2); s.State != "INIT" || !strings.Contains(s.Reason, "not running") {
		t.Errorf("VIP 2 status %+v", s)
	}
}
