package handover

import (
	"maps"
	"net/netip"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/agent/ipvs"
)

func TestMarks(t *testing.T) {
	if Mark(1) != 0x4c560001 || Mark(255) != 0x4c5600ff {
		t.Errorf("marks %#x %#x", Mark(1), Mark(255))
	}
	for _, m := range []uint32{Mark(1), Mark(maxWindows)} {
		if !IsWindowMark(m) {
			t.Errorf("%#x not a window mark", m)
		}
	}
	// The base itself, a user's small marks and neighbours of the range are not ours.
	for _, m := range []uint32{MarkBase, 1, 100, MarkBase - 1, MarkBase + 0x10000} {
		if IsWindowMark(m) {
			t.Errorf("%#x taken for a window mark", m)
		}
	}
	if Filter(7) != "lvs_handover_7" || FilterPriority(7) != 0x4c07 {
		t.Errorf("filter %q priority %#x", Filter(7), FilterPriority(7))
	}
}

func TestService(t *testing.T) {
	prev := netip.MustParseAddr("198.51.100.11")
	s := Service(Mark(3), prev)
	want := ipvs.ServiceKey{Family: ipvs.AFInet, FWMark: Mark(3)}
	if s.ServiceKey != want || s.Scheduler != "rr" || s.Flags != 0 {
		t.Errorf("service %+v", s)
	}
	if len(s.Dests) != 1 {
		t.Fatalf("dests %+v", s.Dests)
	}
	// Direct routing keeps the VIP as the packet's destination: the previous master holds it.
	if d := s.Dests[0]; d.Addr != prev || d.Port != 0 || d.FwdMethod != ipvs.FwdDroute || d.Weight != 1 {
		t.Errorf("dest %+v", d)
	}
	if got := s.String(); got != "fwmark/inet/1280704515" {
		t.Errorf("key %s", got)
	}
}

func TestForwardable(t *testing.T) {
	got := forwardable([]netip.Addr{
		netip.MustParseAddr("198.51.100.100"), netip.MustParseAddr("2001:db8::100"),
		netip.MustParseAddr("::ffff:198.51.100.101"),
	})
	if len(got) != 2 || got[0] != netip.MustParseAddr("198.51.100.100") || got[1] != netip.MustParseAddr("198.51.100.101") {
		t.Errorf("forwardable %v", got)
	}
}

func TestSysctlsWhileOpen(t *testing.T) {
	if sysctlsWanted(0) != nil {
		t.Error("sysctls held with no window open")
	}
	for _, n := range []int{1, 3} {
		if !maps.Equal(sysctlsWanted(n), map[string]string{"net.ipv4.vs.sloppy_tcp": "1", "net.ipv4.vs.expire_nodest_conn": "1"}) {
			t.Errorf("%d open: %v", n, sysctlsWanted(n))
		}
	}
}

func TestSlots(t *testing.T) {
	f := New(Config{})
	if s := freeSlot(f.open); s != 1 {
		t.Fatalf("first slot %d", s)
	}
	for s := 1; s <= maxWindows; s++ {
		f.open[s] = &window{slot: s}
	}
	if s := freeSlot(f.open); s != 0 {
		t.Errorf("slot %d with all taken", s)
	}
	delete(f.open, 42)
	if s := freeSlot(f.open); s != 42 {
		t.Errorf("slot %d, want the freed 42", s)
	}
}
