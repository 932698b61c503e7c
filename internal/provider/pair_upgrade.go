package provider

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
)

var _ resource.ResourceWithUpgradeState = (*directorPairResource)(nil)

// UpgradeState upgrades lvs_director_pair state of schema version 0, whose ipvs_timeouts were
// bare seconds (tcp = 900), to version 1, where they are durations (tcp = "900s"). The upgrade
// works on the raw JSON state, so it needs no copy of the old schema: only those three
// attributes change.
func (r *directorPairResource) UpgradeState(context.Context) map[int64]resource.StateUpgrader {
	return map[int64]resource.StateUpgrader{
		0: {StateUpgrader: func(_ context.Context, req resource.UpgradeStateRequest, resp *resource.UpgradeStateResponse) {
			if req.RawState == nil || req.RawState.JSON == nil {
				resp.Diagnostics.AddError("Upgrading Director Pair State", "The state of schema version 0 has no JSON to upgrade; this is a bug in Terraform or the provider.")
				return
			}
			out, err := upgradePairStateV0(req.RawState.JSON)
			if err != nil {
				resp.Diagnostics.AddError("Upgrading Director Pair State", fmt.Sprintf("The lvs_director_pair state of schema version 0 could not be upgraded: %v. "+
					"Remove it from the state (terraform state rm) and import the pair again (terraform import with its ID NAME@HOST1,HOST2).", err))
				return
			}
			resp.DynamicValue = &tfprotov6.DynamicValue{JSON: out}
		}},
	}
}

// upgradePairStateV0 rewrites the ipvs_timeouts of a version 0 state (seconds) as durations
// ("900s"); 0 stays a set value ("0s", the kernel's timeout), null stays null. log_level, new in
// version 1, gets its default.
func upgradePairStateV0(raw []byte) ([]byte, error) {
	var st map[string]json.RawMessage
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, err
	}
	if t, ok := st["ipvs_timeouts"]; ok && string(t) != "null" {
		var old map[string]*json.Number
		if err := json.Unmarshal(t, &old); err != nil {
			return nil, fmt.Errorf("ipvs_timeouts: %w", err)
		}
		upgraded := map[string]*string{}
		for k, v := range old {
			if v == nil {
				upgraded[k] = nil
				continue
			}
			n, err := v.Int64()
			if err != nil {
				return nil, fmt.Errorf("ipvs_timeouts.%s: %q is not a whole number of seconds", k, v.String())
			}
			s := fmt.Sprintf("%ds", n)
			upgraded[k] = &s
		}
		b, err := json.Marshal(upgraded)
		if err != nil {
			return nil, err
		}
		st["ipvs_timeouts"] = b
	}
	// log_level came with version 1: the agents of a version 0 state log at the default level.
	if l, ok := st["log_level"]; !ok || string(l) == "null" {
		st["log_level"] = json.RawMessage(`"info"`)
	}
	return json.Marshal(st)
}
