package rshost

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

type fakeNet struct {
	addrs map[string][]netip.Prefix
	up    map[string]bool
}

func (f *fakeNet) Addresses(l string) ([]netip.Prefix, error) { return slices.Clone(f.addrs[l]), nil }
func (f *fakeNet) AddAddress(l string, p netip.Prefix) error {
	f.addrs[l] = append(f.addrs[l], p)
	return nil
}
func (f *fakeNet) RemoveAddress(l string, p netip.Prefix) error {
	f.addrs[l] = slices.DeleteFunc(f.addrs[l], func(x netip.Prefix) bool { return x.Addr() == p.Addr() })
	return nil
}
func (f *fakeNet) EnsureTunnelUp(l string) (bool, error) {
	if f.up[l] {
		return false, nil
	}
	f.up[l] = true
	return true, nil
}
func (f *fakeNet) SetLinkDown(l string) error { f.up[l] = false; return nil }

type fakeSys map[string]string

func (s fakeSys) Sysctl(n string) (string, error) {
	v, ok := s[n]
	if !ok {
		return "", fmt.Errorf("no %s", n)
	}
	return v, nil
}
func (s fakeSys) SetSysctl(n, v string) error { s[n] = v; return nil }

func has(f *fakeNet, link, addr string) bool {
	return slices.ContainsFunc(f.addrs[link], func(p netip.Prefix) bool { return p.Addr().String() == addr })
}

func TestBindingsRefCountRepairAndTeardown(t *testing.T) {
	t.Parallel()
	n := &fakeNet{addrs: map[string][]netip.Prefix{"lo": {netip.MustParsePrefix("127.0.0.1/8")}}, up: map[string]bool{}}
	sys := fakeSys{}
	for _, k := range []string{"all", "lo", "tunl0"} {
		sys["net.ipv4.conf."+k+".arp_ignore"] = "0"
		sys["net.ipv4.conf."+k+".arp_announce"] = "0"
		sys["net.ipv4.conf."+k+".rp_filter"] = "2"
	}
	orig := map[string]string{}
	for k, v := range sys {
		orig[k] = v
	}
	var logs bytes.Buffer
	dir := t.TempDir()
	mk := func() *Reconciler {
		return New(Config{Net: n, Sysctls: sys, StateDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	}
	r := mk()
	apply := func(bs map[string]*agentapi.RealServerBinding) {
		t.Helper()
		if err := r.Apply(context.Background(), &agentapi.State{RealServerBindings: bs}, reconcile.Resync); err != nil {
			t.Fatal(err)
		}
	}
	dr := &agentapi.RealServerBinding{VIP: "198.51.100.100", ForwardingMethod: "dr"}
	bs := map[string]*agentapi.RealServerBinding{
		"a": dr, "b": {VIP: "198.51.100.100", ForwardingMethod: "dr"},
		"c": {VIP: "2001:db8::100", ForwardingMethod: "dr"},
		"d": {VIP: "198.51.100.101", ForwardingMethod: "tunnel"},
		"e": {VIP: "2001:db8::101", ForwardingMethod: "tunnel"},
	}
	apply(bs)
	if !has(n, "lo", "198.51.100.100") || !has(n, "lo", "2001:db8::100") || !has(n, "tunl0", "198.51.100.101") || !has(n, "ip6tnl0", "2001:db8::101") {
		t.Fatalf("addresses %v", n.addrs)
	}
	if !n.up["tunl0"] || !n.up["ip6tnl0"] {
		t.Errorf("tunnels %v", n.up)
	}
	if sys["net.ipv4.conf.all.arp_ignore"] != "1" || sys["net.ipv4.conf.lo.arp_announce"] != "2" || sys["net.ipv4.conf.tunl0.rp_filter"] != "0" || sys["net.ipv4.conf.all.rp_filter"] != "0" {
		t.Errorf("sysctls %v", sys)
	}
	if len(n.addrs["lo"]) != 3 {
		t.Errorf("lo %v: one VIP shared by two bindings must be there once", n.addrs["lo"])
	}

	// Two bindings share the VIP: removing one keeps it.
	delete(bs, "a")
	apply(bs)
	if !has(n, "lo", "198.51.100.100") {
		t.Error("VIP removed while binding b still needs it")
	}
	// Removed by hand: back at the next Apply, counted.
	_ = n.RemoveAddress("lo", netip.MustParsePrefix("198.51.100.100/32"))
	sys["net.ipv4.conf.all.arp_ignore"] = "0"
	apply(bs)
	if !has(n, "lo", "198.51.100.100") || sys["net.ipv4.conf.all.arp_ignore"] != "1" || r.Repairs() != 2 {
		t.Errorf("not repaired: %v %v repairs %d", n.addrs["lo"], sys["net.ipv4.conf.all.arp_ignore"], r.Repairs())
	}
	if !strings.Contains(logs.String(), "real-server drift repaired: VIP was missing") {
		t.Errorf("repair not logged:\n%s", logs.String())
	}
	// A restarted agent with everything gone removes exactly what the role added.
	r = mk()
	apply(nil)
	if len(n.addrs["lo"]) != 1 || len(n.addrs["tunl0"]) != 0 || len(n.addrs["ip6tnl0"]) != 0 || n.up["tunl0"] {
		t.Errorf("after teardown: %v %v", n.addrs, n.up)
	}
	for k, v := range orig {
		if sys[k] != v {
			t.Errorf("after teardown %s = %s, want %s", k, sys[k], v)
		}
	}
}

func TestBindingLeavesForeignVIP(t *testing.T) {
	t.Parallel()
	// An old lo:0 script put the VIP there: it is used, and left there on delete.
	n := &fakeNet{addrs: map[string][]netip.Prefix{"lo": {netip.MustParsePrefix("198.51.100.100/32")}}, up: map[string]bool{}}
	sys := fakeSys{"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2", "net.ipv4.conf.lo.arp_ignore": "1", "net.ipv4.conf.lo.arp_announce": "2"}
	r := New(Config{Net: n, Sysctls: sys})
	st := &agentapi.State{RealServerBindings: map[string]*agentapi.RealServerBinding{"a": {VIP: "198.51.100.100", ForwardingMethod: "dr"}}}
	if err := r.Apply(context.Background(), st, reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(context.Background(), &agentapi.State{}, reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	if !has(n, "lo", "198.51.100.100") || sys["net.ipv4.conf.all.arp_ignore"] != "1" {
		t.Errorf("foreign VIP or sysctl removed: %v %v", n.addrs, sys)
	}
}
