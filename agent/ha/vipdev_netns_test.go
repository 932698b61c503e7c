//go:build linux

package ha

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvs-provider/terraform-provider-lvs/agent/netconf/netnstest"
	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// A VIP on another interface than the pair's (keepalived's "dev eth1"): adverts on eth0, the
// addresses and their announcements on eth1 of the master only; a failover moves them there,
// an address moved to eth0 by hand goes back, a missing interface is an error naming it.
func TestNetnsManagerVIPInterface(t *testing.T) {
	a, b, hosts := newDirectors(t)
	netnstest.AddLink(t, hosts)
	onLink := func(d *director, ifname, addr string) bool {
		ps, err := d.host.Net.Addresses(ifname)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Addr() == netip.MustParseAddr(addr) })
	}
	// The third host listens for gratuitous ARPs on both links.
	arp1, arp0 := arpListener(t, hosts[2], "eth1"), arpListener(t, hosts[2], "eth0")

	v := vip(92, 200, 100, "198.51.100.200", "2001:db8:1::200")
	v.Interface = "eth1"
	a.apply(v)
	b.apply(v)
	waitUntil(t, "a master", a.state(92, "MASTER"))
	waitUntil(t, "b backup", b.state(92, "BACKUP"))
	if !onLink(a, "eth1", "198.51.100.200") || !onLink(a, "eth1", "2001:db8:1::200") {
		t.Fatal("the master does not hold the VIP on eth1")
	}
	if onLink(a, "eth0", "198.51.100.200") || onLink(b, "eth1", "198.51.100.200") || onLink(b, "eth0", "198.51.100.200") {
		t.Fatal("the VIP is on eth0, or on the backup")
	}
	if s := a.status(92); s.Interface != "eth1" || len(s.HeldAddresses) != 2 || len(s.StrayAddresses) != 0 {
		t.Fatalf("a status %+v", s)
	}
	if n := arpsFor(arp1, "198.51.100.200", time.Second); n == 0 {
		t.Fatal("no gratuitous ARP for the VIP on eth1")
	}
	if n := arpsFor(arp0, "198.51.100.200", 100*time.Millisecond); n != 0 {
		t.Fatalf("%d gratuitous ARPs for the VIP on eth0", n)
	}

	// Moved by hand to eth0: drift, repaired (back on eth1, gone from eth0).
	p := netip.MustParsePrefix("198.51.100.200/32")
	if err := a.host.Net.RemoveAddress("eth1", p); err != nil {
		t.Fatal(err)
	}
	if err := a.host.Net.AddAddress("eth0", p); err != nil {
		t.Fatal(err)
	}
	// (Unless the repair, every 100 ms, came between the move and this status.)
	if s := a.status(92); !slices.Contains(s.StrayAddresses, "198.51.100.200/32 on eth0") && onLink(a, "eth0", "198.51.100.200") {
		t.Errorf("status right after the move does not report the stray address: %+v", s)
	}
	waitUntil(t, "repaired", func() bool { return onLink(a, "eth1", "198.51.100.200") && !onLink(a, "eth0", "198.51.100.200") })

	// Failover (preemption): b takes the eth1 addresses, a lets them go.
	drain(arp1)
	v2 := vip(92, 100, 200, "198.51.100.200", "2001:db8:1::200")
	v2.Interface = "eth1"
	a.apply(v2)
	b.apply(v2)
	waitUntil(t, "b master", b.state(92, "MASTER"))
	waitUntil(t, "b holds on eth1", func() bool { return onLink(b, "eth1", "198.51.100.200") && onLink(b, "eth1", "2001:db8:1::200") })
	waitUntil(t, "a released", func() bool { return !onLink(a, "eth1", "198.51.100.200") && !onLink(a, "eth1", "2001:db8:1::200") })
	if n := arpsFor(arp1, "198.51.100.200", time.Second); n == 0 {
		t.Fatal("no gratuitous ARP on eth1 from the new master")
	}

	// Back to the pair's interface: the engine restarts with its addresses on eth0.
	v3 := vip(92, 100, 200, "198.51.100.200", "2001:db8:1::200")
	a.apply(v3)
	b.apply(v3)
	waitUntil(t, "b holds on eth0", func() bool {
		return b.status(92).State == "MASTER" && onLink(b, "eth0", "198.51.100.200") && !onLink(b, "eth1", "198.51.100.200")
	})

	// A missing interface: an error naming the VIP and the interface; the other VIPs run.
	bad := vip(93, 200, 100, "198.51.100.201")
	bad.Interface = "eth9"
	st := &agentapi.State{Pair: &agentapi.Pair{Name: "edge", Self: 1, Directors: []agentapi.Director{
		{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"},
	}}, VIPs: map[int]*agentapi.VIP{92: v3, 93: bad}}
	err := b.m.Apply(context.Background(), st, reconcile.Resync)
	if err == nil || !strings.Contains(err.Error(), "vip 93") || !strings.Contains(err.Error(), "eth9") {
		t.Fatalf("Apply with a missing interface: %v", err)
	}
	if s := b.status(93); s.State != "INIT" || !strings.Contains(s.Reason, "eth9") {
		t.Errorf("VIP 93 status %+v", s)
	}
	if s := b.status(92); s.State != "MASTER" {
		t.Errorf("VIP 92 status %+v", s)
	}
}

// arpListener opens a packet socket for ARP on the host's interface.
func arpListener(t *testing.T, h *netnstest.Host, ifname string) int {
	t.Helper()
	var fd int
	if err := h.Net.Do(func() (err error) {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		proto := int(binary.NativeEndian.Uint16([]byte{0x08, 0x06})) // ETH_P_ARP, network order
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifi.Index})
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	return fd
}

// arpsFor counts the gratuitous ARPs for addr read within d (at most 1000 frames).
func arpsFor(fd int, addr string, d time.Duration) int {
	want := netip.MustParseAddr(addr)
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50_000})
	deadline := time.Now().Add(d)
	buf := make([]byte, 128)
	n := 0
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		k, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil || k < vrrp.GratuitousARPLen {
			continue
		}
		sender, _ := netip.AddrFromSlice(buf[28:32])
		target, _ := netip.AddrFromSlice(buf[38:42])
		if sender == want && target == want {
			n++
		}
	}
	return n
}

// drain discards what the socket holds.
func drain(fd int) {
	buf := make([]byte, 128)
	for i := 0; i < 10000; i++ {
		if _, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != nil {
			return
		}
	}
}
