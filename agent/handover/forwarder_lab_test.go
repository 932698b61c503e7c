//go:build linux

package handover_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/lvs-provider/terraform-provider-lvs/agent/handover"
	"github.com/lvs-provider/terraform-provider-lvs/agent/ipvs"
	"github.com/lvs-provider/terraform-provider-lvs/agent/netconf/netnstest"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// windowState is what windows installed in a namespace: tc qdiscs and filters on eth0, fwmark
// services with their destinations, and the two sysctls.
type windowState struct {
	tc       []string
	services []string
	sloppy   string
	nodest   string
}

func stateOf(t *testing.T, h *netnstest.Host) windowState {
	t.Helper()
	var s windowState
	err := h.Net.Do(func() error {
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		qs, err := netlink.QdiscList(link)
		if err != nil {
			return err
		}
		for _, q := range qs {
			if q.Type() == "clsact" {
				s.tc = append(s.tc, "qdisc clsact")
			}
		}
		if fs, err := netlink.FilterList(link, netlink.HANDLE_MIN_INGRESS); err == nil {
			for _, f := range fs {
				if b, ok := f.(*netlink.BpfFilter); ok {
					s.tc = append(s.tc, "filter "+b.Name)
				}
			}
		}
		k, err := ipvs.Open(context.Background(), true)
		if err != nil {
			return err
		}
		defer k.Close()
		svcs, err := k.Services()
		if err != nil {
			return err
		}
		for _, sv := range svcs {
			if handover.IsWindowMark(sv.FWMark) {
				d := ""
				for _, x := range sv.Dests {
					d += " " + x.Key().String()
				}
				s.services = append(s.services, sv.String()+d)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.sloppy, err = h.Net.Sysctl("net.ipv4.vs.sloppy_tcp"); err != nil {
		t.Fatal(err)
	}
	if s.nodest, err = h.Net.Sysctl("net.ipv4.vs.expire_nodest_conn"); err != nil {
		t.Fatal(err)
	}
	slices.Sort(s.tc)
	slices.Sort(s.services)
	return s
}

func (s windowState) empty() bool {
	return len(s.tc) == 0 && len(s.services) == 0 && s.sloppy == "0" && s.nodest == "0"
}

// TestLabForwarder opens windows in a network namespace of the lab kernel — the kernel loads
// and verifies the classifier — and checks what they install and that nothing stays: after
// their stop, and after a crash (the next run's Cleanup).
func TestLabForwarder(t *testing.T) {
	lab.Required(t)
	// Host 0 opens the windows, towards hosts 1 and 2 (198.51.100.12 and .13), whose MAC
	// addresses it learns by ARP.
	h := netnstest.NewLAN(t, 3)[0]
	dir := t.TempDir()
	cfg := handover.Config{Do: h.Net.Do, Sysctls: h.Net, StateDir: dir}
	if s := stateOf(t, h); !s.empty() {
		t.Fatalf("not clean at first: %+v", s)
	}
	prev := netip.MustParseAddr("198.51.100.12")
	vips := []netip.Addr{netip.MustParseAddr("198.51.100.100"), netip.MustParseAddr("2001:db8::100"), netip.MustParseAddr("198.51.100.101")}

	f := handover.New(cfg)
	// A previous master that does not answer ARP gets no window (its MAC address keeps the
	// classifier from bouncing its packets back), and nothing is left.
	if _, err := f.Forward("eth0", netip.MustParseAddr("198.51.100.99"), vips); err == nil {
		t.Fatal("a window towards a host that does not exist")
	}
	if s := stateOf(t, h); !s.empty() {
		t.Fatalf("after a refused window: %+v", s)
	}
	stop1, err := f.Forward("eth0", prev, vips)
	if err != nil {
		t.Fatal(err)
	}
	stop2, err := f.Forward("eth0", netip.MustParseAddr("198.51.100.13"), vips[:1])
	if err != nil {
		t.Fatal(err)
	}
	s := stateOf(t, h)
	want := windowState{
		tc:       []string{"filter lvs_handover_1", "filter lvs_handover_2", "qdisc clsact"},
		services: []string{"fwmark/inet/1280704513 198.51.100.12:0", "fwmark/inet/1280704514 198.51.100.13:0"},
		sloppy:   "1", nodest: "1",
	}
	if !slices.Equal(s.tc, want.tc) || !slices.Equal(s.services, want.services) || s.sloppy != "1" || s.nodest != "1" {
		t.Fatalf("two windows open:\n got %+v\nwant %+v", s, want)
	}
	stop1()
	stop1() // idempotent
	s = stateOf(t, h)
	if !slices.Equal(s.tc, []string{"filter lvs_handover_2", "qdisc clsact"}) || !slices.Equal(s.services, want.services[1:]) || s.sloppy != "1" {
		t.Fatalf("one window left open: %+v", s)
	}
	stop2()
	if s := stateOf(t, h); !s.empty() {
		t.Fatalf("after both stopped: %+v", s)
	}

	// A crash: the window stays until the next run cleans up, sysctls included.
	crashed := handover.New(cfg)
	if _, err := crashed.Forward("eth0", prev, vips); err != nil {
		t.Fatal(err)
	}
	if s := stateOf(t, h); len(s.tc) != 2 || len(s.services) != 1 || s.sloppy != "1" {
		t.Fatalf("window not open: %+v", s)
	}
	if err := handover.New(cfg).Cleanup(); err != nil {
		t.Fatal(err)
	}
	if s := stateOf(t, h); !s.empty() {
		t.Fatalf("after cleanup: %+v", s)
	}
}

// resolves reports whether h resolves addr by ARP within wait, starting from an empty entry.
func resolves(t *testing.T, h *netnstest.Host, addr netip.Addr, wait time.Duration) bool {
	t.Helper()
	var ok bool
	err := h.Net.Do(func() error {
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		n := &netlink.Neigh{LinkIndex: link.Attrs().Index, Family: netlink.FAMILY_V4, IP: addr.AsSlice()}
		_ = netlink.NeighDel(n)
		n.Flags = netlink.NTF_USE
		if err := netlink.NeighSet(n); err != nil {
			return err
		}
		for deadline := time.Now().Add(wait); time.Now().Before(deadline) && !ok; time.Sleep(5 * time.Millisecond) {
			ns, err := netlink.NeighList(link.Attrs().Index, netlink.FAMILY_V4)
			if err != nil {
				return err
			}
			ok = slices.ContainsFunc(ns, func(n netlink.Neigh) bool {
				return n.IP.Equal(addr.AsSlice()) && len(n.HardwareAddr) == 6 && n.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY) != 0
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestLabARPSilencer silences ARP for a VIP a host holds, in a network namespace of the lab
// kernel: another host no longer resolves the VIP while its own address still resolves, and
// nothing stays after the stop, or after a crash (the next run's Cleanup).
func TestLabARPSilencer(t *testing.T) {
	lab.Required(t)
	hosts := netnstest.NewLAN(t, 2)
	h, peer := hosts[0], hosts[1]
	vip := netip.MustParseAddr("198.51.100.100")
	h.Exec(t, "ip", "addr", "add", vip.String()+"/32", "dev", "eth0")
	cfg := handover.Config{Do: h.Net.Do, Sysctls: h.Net, StateDir: t.TempDir()}
	if !resolves(t, peer, vip, 2*time.Second) {
		t.Fatal("the VIP does not resolve before the silence")
	}
	if s := stateOf(t, h); len(s.tc) != 0 {
		t.Fatalf("not clean at first: %+v", s)
	}
	f := handover.New(cfg)
	stop, err := f.SilenceARP("eth0", []netip.Addr{vip, netip.MustParseAddr("2001:db8::100")})
	if err != nil {
		t.Fatal(err)
	}
	if s := stateOf(t, h); !slices.Equal(s.tc, []string{"filter lvs_handover_arp_1", "qdisc clsact"}) {
		t.Fatalf("silenced: %+v", s)
	}
	if resolves(t, peer, vip, 500*time.Millisecond) {
		t.Error("the VIP resolves while silenced")
	}
	if !resolves(t, peer, h.IPv4, 2*time.Second) {
		t.Error("the host's own address does not resolve while the VIP is silenced")
	}
	stop()
	stop() // idempotent
	if s := stateOf(t, h); len(s.tc) != 0 {
		t.Fatalf("after the stop: %+v", s)
	}
	if !resolves(t, peer, vip, 2*time.Second) {
		t.Error("the VIP does not resolve after the silence")
	}

	// A crash: the silence stays until the next run cleans up.
	if _, err := handover.New(cfg).SilenceARP("eth0", []netip.Addr{vip}); err != nil {
		t.Fatal(err)
	}
	if s := stateOf(t, h); len(s.tc) != 2 {
		t.Fatalf("not silenced: %+v", s)
	}
	if err := handover.New(cfg).Cleanup(); err != nil {
		t.Fatal(err)
	}
	if s := stateOf(t, h); len(s.tc) != 0 {
		t.Fatalf("after cleanup: %+v", s)
	}
}
