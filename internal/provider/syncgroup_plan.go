package provider

import (
	"fmt"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
)

// A sync group spans lvs_vip resources, which Terraform validates one at a time; so the plan
// checks them against each other: every VIP planned by one configured provider (one plan or
// apply) records its group, and a VIP that disagrees with one recorded before fails its plan.
// Only VIPs of the same run are compared (a -target plan sees fewer), and only once their pair
// and priorities are known.

type syncGroupMember struct {
	pair   string
	vrid   int64
	first  bool // prefers the pair's first director
	pinned bool // priority known
}

type syncGroupPlans struct {
	mu     sync.Mutex
	groups map[string]syncGroupMember // name → the first member planned
}

// planGroups holds the plans of each configured provider instance (its *remote.Hosts).
var planGroups sync.Map

func checkSyncGroupPlan(hosts *remote.Hosts, plan vipModel, diags *diag.Diagnostics) {
	if hosts == nil || plan.SyncGroup.IsNull() || plan.SyncGroup.IsUnknown() || plan.DirectorPairID.IsUnknown() || plan.VirtualRouterID.IsUnknown() {
		return
	}
	name := plan.SyncGroup.ValueString()
	me := syncGroupMember{pair: plan.DirectorPairID.ValueString(), vrid: plan.VirtualRouterID.ValueInt64(), first: true, pinned: true}
	switch p := plan.Priority; {
	case len(p) == 0: // the default 150, 100
	case len(p) == 2 && !p[0].IsUnknown() && !p[1].IsUnknown():
		me.first = p[0].ValueInt64() > p[1].ValueInt64()
	default:
		me.pinned = false
	}
	v, _ := planGroups.LoadOrStore(hosts, &syncGroupPlans{groups: map[string]syncGroupMember{}})
	sp := v.(*syncGroupPlans)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	o, ok := sp.groups[name]
	if !ok || (o.pair == me.pair && o.vrid == me.vrid) {
		if !ok || !o.pinned {
			sp.groups[name] = me
		}
		return
	}
	switch {
	case o.pair != me.pair:
		diags.AddAttributeError(path.Root("sync_group"), "Sync Group Spans Pairs", fmt.Sprintf(
			"sync_group %q is also the group of the lvs_vip with virtual_router_id %d on director pair %s, and this VIP is on %s. "+
				"A sync group's VIPs fail over together between the two directors of one pair: give the VIPs of each pair a group name of their own.",
			name, o.vrid, o.pair, me.pair))
	case o.pinned && me.pinned && o.first != me.first:
		diags.AddAttributeError(path.Root("priority"), "Sync Group Members Disagree", fmt.Sprintf(
			"This VIP prefers the %s director of its pair (priority), and the lvs_vip with virtual_router_id %d of the same sync_group %q prefers the %s one. "+
				"Members of a sync group fail over together, so they must prefer the same director: order the priorities of all of them the same way.",
			ordinal(me.first), o.vrid, name, ordinal(o.first)))
	case !o.pinned && me.pinned:
		sp.groups[name] = me
	}
}

func ordinal(first bool) string {
	if first {
		return "first"
	}
	return "second"
}
