package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// The sync daemon settings and vrrp_address go to the agents as configured (unset stays unset:
// an id of 0 is a setting), and a stored pair that differs in any of them is drift.
func TestWirePairSyncDaemonAndVRRPAddress(t *testing.T) {
	t.Parallel()
	m := directorPairModel{
		Name: types.StringValue("edge"), SyncConnections: types.BoolValue(true), LogLevel: types.StringValue("info"),
		Directors: []directorModel{
			{Host: types.StringValue("198.51.100.11"), Interface: types.StringValue("eth0"), VRRPAddress: types.StringValue("198.51.100.111")},
			{Host: types.StringValue("198.51.100.12"), Interface: types.StringValue("eth0"), VRRPAddress: types.StringNull()},
		},
		SyncDaemon: &syncDaemonModel{Interface: types.StringNull(), ID: types.Int64Value(0), Port: types.Int64Value(8850),
			TTL: types.Int64Null(), MaxLength: types.Int64Null(), Group: types.StringValue("239.1.2.3")},
	}
	p := wirePair(m, 0)
	if sd := p.SyncDaemon; sd == nil || sd.ID == nil || *sd.ID != 0 || sd.Port != 8850 || sd.TTL != 0 || sd.Group != "239.1.2.3" || sd.Interface != "" {
		t.Fatalf("sync daemon %+v", p.SyncDaemon)
	}
	if p.Directors[0].VRRPAddress != "198.51.100.111" || p.Directors[1].VRRPAddress != "" {
		t.Errorf("directors %+v", p.Directors)
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
	same := wirePair(m, 0)
	if !samePairSettings(p, same) {
		t.Error("a pair differs from itself")
	}
	for name, change := range map[string]func(*agentapi.Pair){
		"id unset":      func(q *agentapi.Pair) { q.SyncDaemon.ID = nil },
		"other id":      func(q *agentapi.Pair) { one := 1; q.SyncDaemon.ID = &one },
		"other port":    func(q *agentapi.Pair) { q.SyncDaemon.Port = 8848 },
		"no settings":   func(q *agentapi.Pair) { q.SyncDaemon = nil },
		"vrrp_address":  func(q *agentapi.Pair) { q.Directors[1].VRRPAddress = "198.51.100.112" },
		"other group":   func(q *agentapi.Pair) { q.SyncDaemon.Group = "239.1.2.4" },
		"set interface": func(q *agentapi.Pair) { q.SyncDaemon.Interface = "eth1" },
	} {
		q := wirePair(m, 0)
		change(q)
		if samePairSettings(p, q) || samePairSettings(q, p) {
			t.Errorf("%s: not seen as drift", name)
		}
	}
	m.SyncDaemon = nil
	if p := wirePair(m, 0); p.SyncDaemon != nil {
		t.Errorf("unset sync_daemon sent as %+v", p.SyncDaemon)
	}
}
