package provider

import (
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

func TestVIPServed(t *testing.T) {
	t.Parallel()
	hosts := []string{"198.51.100.11", "198.51.100.12"}
	addrs := []string{"198.51.100.100/24", "2001:db8::100/64"}
	master := &agentapi.VIPStatus{VRID: 9, State: "MASTER", HeldAddresses: addrs}
	partial := &agentapi.VIPStatus{VRID: 9, State: "MASTER", HeldAddresses: addrs[:1]}
	backup := &agentapi.VIPStatus{VRID: 9, State: "BACKUP", Master: "198.51.100.11 (priority 150)"}
	lonely := &agentapi.VIPStatus{VRID: 9, State: "BACKUP"}
	fault := &agentapi.VIPStatus{VRID: 9, State: "FAULT"}
	initial := &agentapi.VIPStatus{VRID: 9, State: "INIT"}
	for _, tc := range []struct {
		name   string
		states []*agentapi.VIPStatus
		want   bool
		why    string
	}{
		{"master and backup", []*agentapi.VIPStatus{master, backup}, true, ""},
		{"backup and master", []*agentapi.VIPStatus{backup, master}, true, ""},
		{"master and a faulty peer", []*agentapi.VIPStatus{master, fault}, true, ""},
		{"election running", []*agentapi.VIPStatus{lonely, lonely}, false,
			"198.51.100.11: BACKUP, no master heard yet; 198.51.100.12: BACKUP, no master heard yet; 0 directors MASTER"},
		{"split brain", []*agentapi.VIPStatus{master, master}, false, "2 directors MASTER"},
		{"addresses not all held", []*agentapi.VIPStatus{partial, backup}, false, "198.51.100.11: MASTER holding 1 of 2 addresses"},
		{"a director unreachable", []*agentapi.VIPStatus{master, nil}, true, ""},
		{"both unreachable", []*agentapi.VIPStatus{nil, nil}, false, "0 directors MASTER"},
		{"starting", []*agentapi.VIPStatus{initial, backup}, false, "198.51.100.11: INIT; 0 directors MASTER"},
		{"both faulty", []*agentapi.VIPStatus{fault, fault}, false, "0 directors MASTER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, why := vipServed(hosts, addrs, tc.states)
			if got != tc.want || why != tc.why {
				t.Errorf("vipServed = %v, %q; want %v, %q", got, why, tc.want, tc.why)
			}
		})
	}
	if b := vipServeBound(100); b != 13*time.Second {
		t.Errorf("bound at 1s adverts = %s, want 2 × (3 × 1s + 1s) + 5s = 13s", b)
	}
}
