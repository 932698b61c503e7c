package provider

import (
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx"
)

// The plan checks the VIPs of a sync group against each other: one pair, one preferred
// director.
func TestSyncGroupPlan(t *testing.T) {
	t.Parallel()
	hosts := remote.New(func(addr string) (sshx.Config, error) { return sshx.Config{Host: addr}, nil })
	const edge, core = "edge@198.51.100.11,198.51.100.12", "core@198.51.100.13,198.51.100.14"
	vip := func(pair string, vrid int64, group string, prio ...int64) vipModel {
		m := vipModel{DirectorPairID: types.StringValue(pair), VirtualRouterID: types.Int64Value(vrid), SyncGroup: types.StringNull()}
		if group != "" {
			m.SyncGroup = types.StringValue(group)
		}
		for _, p := range prio {
			m.Priority = append(m.Priority, types.Int64Value(p))
		}
		return m
	}
	check := func(m vipModel) string {
		var d diag.Diagnostics
		checkSyncGroupPlan(hosts, m, &d)
		var out []string
		for _, e := range d.Errors() {
			out = append(out, e.Summary()+": "+e.Detail())
		}
		return strings.Join(out, "\n")
	}
	for _, c := range []struct {
		m    vipModel
		want string
	}{
		{vip(edge, 91, "nat"), ""},
		{vip(edge, 91, "nat"), ""},           // planned again (apply)
		{vip(edge, 92, "nat", 200, 100), ""}, // the default prefers the first director too
		{vip(edge, 93, ""), ""},
		{vip(core, 91, "other", 100, 200), ""},
		{vip(core, 94, "nat"), `Sync Group Spans Pairs: sync_group "nat" is also the group of the lvs_vip with virtual_router_id 91 on director pair ` + edge},
		{vip(edge, 95, "nat", 100, 200), `Sync Group Members Disagree: This VIP prefers the second director of its pair (priority), and the lvs_vip with virtual_router_id 91 of the same sync_group "nat" prefers the first one`},
		{vip(core, 95, "other", 50, 200), ""},
	} {
		got := check(c.m)
		if c.want == "" && got != "" || !strings.HasPrefix(got, c.want) {
			t.Errorf("VIP %s/%d %s: got %q, want %q", c.m.DirectorPairID.ValueString(), c.m.VirtualRouterID.ValueInt64(), c.m.SyncGroup.ValueString(), got, c.want)
		}
	}
	// Another run (a new provider configuration) starts afresh.
	if got := check(vip(core, 94, "nat")); got == "" {
		t.Error("same run: no error")
	}
	other := remote.New(func(addr string) (sshx.Config, error) { return sshx.Config{Host: addr}, nil })
	var d diag.Diagnostics
	checkSyncGroupPlan(other, vip(core, 94, "nat"), &d)
	if d.HasError() {
		t.Errorf("another run: %v", d)
	}
}
