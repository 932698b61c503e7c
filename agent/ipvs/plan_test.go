package ipvs

import (
	"fmt"
	"strings"
	"testing"
)

func svc(key string, sched string, dests ...*Dest) *Service {
	k := ServiceKey{Family: AFInet, Protocol: ProtoTCP, Addr: mustAddr("198.51.100.100"), Port: 80}
	switch key {
	case "b":
		k.Port = 443
	case "v6":
		k = ServiceKey{Family: AFInet6, Protocol: ProtoUDP, Addr: mustAddr("2001:db8::100"), Port: 53}
	case "fw":
		k = ServiceKey{Family: AFInet, FWMark: 7}
	}
	return &Service{ServiceKey: k, Scheduler: sched, NetmaskBits: 32, Dests: dests}
}

func dst(addr string, w int) *Dest {
	return &Dest{Addr: mustAddr(addr), Port: 80, FwdMethod: FwdDroute, Weight: w}
}

func with(s *Service, f func(*Service)) *Service {
	c := cloneSvc(s)
	f(c)
	return c
}

func opsString(ops []Op) string {
	var b []string
	for _, o := range ops {
		b = append(b, o.String())
	}
	return strings.Join(b, "\n")
}

// assertInPlace fails if a plan deletes and re-adds the same service or destination: updates
// must be edits, or established connections would lose their destination.
func assertInPlace(t *testing.T, ops []Op) {
	t.Helper()
	deleted := map[string]bool{}
	for _, o := range ops {
		id := o.Service.String()
		if o.Dest != nil {
			id += " " + o.Dest.Key().String()
		}
		switch o.Kind {
		case DelService, DelDest:
			deleted[id] = true
		case AddService, AddDest:
			if deleted[id] {
				t.Errorf("plan deletes and re-adds %s:\n%s", id, opsString(ops))
			}
		}
	}
}

func TestPlan(t *testing.T) {
	t.Parallel()
	base := svc("a", "wrr", dst("198.51.100.21", 1), dst("198.51.100.22", 2))
	tests := []struct {
		name    string
		kernel  []*Service
		desired []*Service
		owned   []*Service
		want    []string // op strings
		diffs   []string // substrings of the diffs, in order
	}{
		{name: "empty kernel: service then destinations", desired: []*Service{base},
			want:  []string{"add service tcp/198.51.100.100:80", "add destination 198.51.100.21:80 in tcp/198.51.100.100:80", "add destination 198.51.100.22:80 in tcp/198.51.100.100:80"},
			diffs: []string{"missing"}},
		{name: "identical: nothing", kernel: []*Service{base}, desired: []*Service{base}},
		{name: "weight: one in-place edit", kernel: []*Service{base},
			desired: []*Service{with(base, func(s *Service) { s.Dests[1].Weight = 5 })},
			want:    []string{"update destination 198.51.100.22:80 in tcp/198.51.100.100:80"}, diffs: []string{"weight 2, want 5"}},
		{name: "scheduler: service edit, destinations untouched", kernel: []*Service{base},
			desired: []*Service{with(base, func(s *Service) { s.Scheduler = "rr" })},
			want:    []string{"update service tcp/198.51.100.100:80"}, diffs: []string{"scheduler wrr, want rr"}},
		{name: "persistence on", kernel: []*Service{base},
			desired: []*Service{with(base, func(s *Service) { s.Flags |= FlagPersistent; s.Timeout = 300; s.NetmaskBits = 24 })},
			want:    []string{"update service tcp/198.51.100.100:80"}, diffs: []string{"flags 0x0, want 0x1; persistence timeout 0s, want 300s; persistence netmask /32, want /24"}},
		{name: "timeout ignored without persistence", kernel: []*Service{with(base, func(s *Service) { s.Timeout = 99; s.NetmaskBits = 8 })}, desired: []*Service{base}},
		{name: "scheduler flags", kernel: []*Service{with(base, func(s *Service) { s.Scheduler = "sh" })},
			desired: []*Service{with(base, func(s *Service) { s.Scheduler = "sh"; s.Flags = FlagSched1 | FlagSched2 })},
			want:    []string{"update service tcp/198.51.100.100:80"}, diffs: []string{"flags 0x0, want 0x18"}},
		{name: "forwarding method and thresholds: edits", kernel: []*Service{base},
			desired: []*Service{with(base, func(s *Service) { s.Dests[0].FwdMethod = FwdMasq; s.Dests[1].UpperThreshold = 100 })},
			want:    []string{"update destination 198.51.100.21:80 in tcp/198.51.100.100:80", "update destination 198.51.100.22:80 in tcp/198.51.100.100:80"},
			diffs:   []string{"forwarding dr, want nat", "thresholds 0/0, want 100/0"}},
		{name: "tunnel type", kernel: []*Service{with(base, func(s *Service) { s.Dests[0].FwdMethod = FwdTunnel; s.Dests[0].TunType = TunGUE })},
			desired: []*Service{with(base, func(s *Service) { s.Dests[0].FwdMethod = FwdTunnel })},
			want:    []string{"update destination 198.51.100.21:80 in tcp/198.51.100.100:80"}, diffs: []string{"tunnel type 1"}},
		{name: "destination added by hand goes, before additions", kernel: []*Service{with(base, func(s *Service) { s.Dests = append(s.Dests, dst("198.51.100.99", 1)) })},
			desired: []*Service{with(base, func(s *Service) { s.Dests = append(s.Dests, dst("198.51.100.23", 1)) })},
			want:    []string{"delete destination 198.51.100.99:80 in tcp/198.51.100.100:80", "add destination 198.51.100.23:80 in tcp/198.51.100.100:80"},
			diffs:   []string{"not configured", "missing"}},
		{name: "service someone else made is left alone", kernel: []*Service{base, svc("b", "rr")}, desired: []*Service{base}},
		{name: "owned service no longer desired is deleted", kernel: []*Service{base, svc("b", "rr")}, desired: []*Service{base}, owned: []*Service{svc("b", "rr")},
			want: []string{"delete service tcp/198.51.100.100:443"}, diffs: []string{"not configured"}},
		{name: "owned and gone: nothing", desired: nil, owned: []*Service{svc("b", "rr")}},
		{name: "ipv6 and fwmark", desired: []*Service{svc("v6", "rr"), svc("fw", "lc")},
			want: []string{"add service udp/[2001:db8::100]:53", "add service fwmark/inet/7"}, diffs: []string{"missing", "missing"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			owned := map[ServiceKey]bool{}
			for _, s := range tc.owned {
				owned[s.ServiceKey] = true
			}
			ops, diffs := Plan(tc.kernel, tc.desired, owned)
			if got, want := opsString(ops), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("ops:\n%s\nwant:\n%s", got, want)
			}
			if len(diffs) != len(tc.diffs) {
				t.Fatalf("diffs %v, want %d matching %q", diffs, len(tc.diffs), tc.diffs)
			}
			for i, d := range diffs {
				if !strings.Contains(d.What, tc.diffs[i]) {
					t.Errorf("diff %d = %q, want it to contain %q", i, d.What, tc.diffs[i])
				}
				// The kind agrees with the words: isDrift decides on the kind.
				want := DiffChanged
				switch d.What {
				case "missing":
					want = DiffMissing
				case "not configured":
					want = DiffUnwanted
				}
				if d.Kind != want {
					t.Errorf("diff %d %q has kind %d, want %d", i, d.What, d.Kind, want)
				}
			}
			assertInPlace(t, ops)
		})
	}
}

func TestSyncID(t *testing.T) {
	t.Parallel()
	seen := map[uint32]string{}
	for i := range 200 {
		name := fmt.Sprintf("pair-%d", i)
		id := SyncID(name)
		if id < 1 || id > 255 {
			t.Fatalf("SyncID(%q) = %d, outside 1-255", name, id)
		}
		if SyncID(name) != id {
			t.Fatalf("SyncID(%q) is not stable", name)
		}
		seen[id] = name
	}
	if len(seen) < 100 {
		t.Errorf("200 names map to only %d sync ids", len(seen))
	}
	if first, again := SyncID("edge"), SyncID("edge"); first != again || SyncID("edge") == SyncID("edge2") && SyncID("a") == SyncID("b") {
		t.Error("sync ids do not tell pairs apart")
	}
}
