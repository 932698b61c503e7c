package netconf_test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/netconf"
	"github.com/lvs-provider/terraform-provider-lvs/agent/netconf/netnstest"
)

func has(ps []netip.Prefix, p string) bool { return slices.Contains(ps, netip.MustParsePrefix(p)) }

func TestNetnsAddresses(t *testing.T) {
	h := netnstest.NewLAN(t, 1)[0]
	n := h.Net
	for _, p := range []string{"198.51.100.100/32", "198.51.100.101/24", "2001:db8::100/128"} {
		pr := netip.MustParsePrefix(p)
		if err := n.AddAddress("eth0", pr); err != nil {
			t.Fatal(err)
		}
		if err := n.AddAddress("eth0", pr); err != nil {
			t.Fatalf("adding %s twice: %v", p, err)
		}
	}
	ps, err := n.Addresses("eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"198.51.100.11/24", "198.51.100.100/32", "198.51.100.101/24", "2001:db8::100/128"} {
		if !has(ps, p) {
			t.Errorf("%s missing from %v", p, ps)
		}
	}
	// IPv6 VIPs are usable at once: not tentative.
	if out := h.Exec(t, "ip", "-6", "addr", "show", "dev", "eth0"); strings.Contains(out, "tentative") || !strings.Contains(out, "nodad") {
		t.Errorf("IPv6 VIP not NODAD:\n%s", out)
	}
	// Removing ignores the prefix length and absent addresses.
	for _, p := range []string{"198.51.100.100/24", "198.51.100.101/32", "2001:db8::100/64", "198.51.100.199/32"} {
		if err := n.RemoveAddress("eth0", netip.MustParsePrefix(p)); err != nil {
			t.Fatal(err)
		}
	}
	ps, _ = n.Addresses("eth0")
	if len(ps) != 3 || !has(ps, "198.51.100.11/24") || !has(ps, "2001:db8::11/64") {
		t.Errorf("after removal: %v", ps)
	}
	if err := n.RemoveAddress("nosuch0", netip.MustParsePrefix("198.51.100.100/32")); err != nil {
		t.Errorf("remove from a missing link: %v", err)
	}
	if err := n.AddAddress("nosuch0", netip.MustParsePrefix("198.51.100.100/32")); err == nil {
		t.Error("add to a missing link succeeded")
	}
}

func TestNetnsPrimaryAndSysctl(t *testing.T) {
	h := netnstest.NewLAN(t, 1)[0]
	n := h.Net
	if err := n.AddAddress("eth0", netip.MustParsePrefix("198.51.100.100/32")); err != nil {
		t.Fatal(err)
	}
	a, err := n.PrimaryAddress("eth0", netconf.IPv4, func(a netip.Addr) bool { return a == netip.MustParseAddr("198.51.100.11") })
	if err != nil || a != netip.MustParseAddr("198.51.100.100") {
		t.Errorf("primary skipping .11: %v %v", a, err)
	}
	ll, err := n.PrimaryAddress("eth0", netconf.IPv6, nil)
	if err != nil || !ll.IsLinkLocalUnicast() || ll.Zone() != "eth0" {
		t.Errorf("IPv6 primary: %v %v", ll, err)
	}
	if err := n.PrepareVIPInterface("eth0"); err != nil {
		t.Fatal(err)
	}
	if v, err := n.Sysctl("net.ipv4.conf.eth0.promote_secondaries"); err != nil || v != "1" {
		t.Errorf("promote_secondaries = %q, %v", v, err)
	}
	if v, err := n.Sysctl("net.ipv4.conf.eth0.arp_announce"); err != nil || v != "2" {
		t.Errorf("arp_announce = %q, %v", v, err)
	}
	// The value is the test namespace's, not the machine's.
	if got := strings.TrimSpace(h.Exec(t, "cat", "/proc/sys/net/ipv4/conf/eth0/promote_secondaries")); got != "1" {
		t.Errorf("in the namespace: %q", got)
	}
	if n.IPv6Forwarding("eth0") {
		t.Error("forwarding on")
	}
}

func TestNetnsWatchLinks(t *testing.T) {
	h := netnstest.NewLAN(t, 1)[0]
	l, err := h.Net.Link("eth0")
	if err != nil || !l.Up || len(l.MAC) != 6 || l.Index == 0 {
		t.Fatalf("link %+v %v", l, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var seen []string
	done := make(chan error, 1)
	go func() {
		done <- h.Net.WatchLinks(ctx, func(l netconf.Link) {
			mu.Lock()
			seen = append(seen, l.Name+map[bool]string{true: " up", false: " down"}[l.Up])
			mu.Unlock()
		})
	}()
	wait := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			ok := slices.Contains(seen, want)
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q in %v", want, seen)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait("eth0 up") // the existing links come first
	h.Exec(t, "ip", "link", "set", "eth0", "down")
	wait("eth0 down")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WatchLinks did not return")
	}
}
