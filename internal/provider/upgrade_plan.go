package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/bundle"
	"github.com/lvs-provider/terraform-provider-lvs/internal/version"
)

// plannedAgentVersion is the agent_version planned for director i, which decides whether apply
// reinstalls (and so restarts) its agent:
//   - no agent answered at the last refresh, or the director is new: the bundled version;
//   - the running agent is outside the compatibility window (version.Compatible): an error that
//     names both versions and what to do;
//   - the running binary is the bundled one (same SHA-256): its version, unchanged, so nothing
//     restarts, whatever the provider's own version;
//   - otherwise the bundled version, or unknown when the version strings are the same but the
//     binaries are not (a development build), so that the plan still shows the reinstall.
//
// Agents that do not report their checksum (older than this rule) are compared by version.
func (r *directorPairResource) plannedAgentVersion(ctx context.Context, state *directorPairModel, plan directorPairModel, i int, diags *diag.Diagnostics) types.String {
	bundled := bundle.Version()
	want := types.StringValue(bundled)
	host := plan.Directors[i].Host
	if state == nil || i >= len(state.Directors) || host.IsUnknown() || state.Directors[i].Host.ValueString() != host.ValueString() {
		return want
	}
	cur := state.Directors[i]
	running := cur.AgentVersion.ValueString()
	if !statusReady.is(cur.Status) || running == "" {
		return want
	}
	// The agent as it answers now: with -refresh=false the state can be older than the agent.
	var live *agentapi.VersionInfo
	if r.hosts != nil {
		vctx, cancel := context.WithTimeout(ctx, defaultReadTimeout)
		defer cancel()
		if v, err := r.hosts.Agent(host.ValueString()).Version(vctx); err == nil {
			live, running = v, v.Version
		}
	}
	if err := version.Compatible(version.Version, running); err != nil {
		diags.AddAttributeError(path.Root("directors").AtListIndex(i).AtName("agent_version"), "Agent Outside The Compatibility Window",
			fmt.Sprintf("The lvs-agent on %s is %s and this provider is %s: %v. A provider manages, and upgrades without an outage, only agents within %d minor version of its own. "+
				"Apply with a provider release within %d minor version of %s first (it upgrades the agents one director at a time), then with this one; "+
				"or, accepting that this director's VIPs move to its peer meanwhile, stop the agent on %s (`lvs-agent stop`) and apply, which installs this provider's agent there.",
				host.ValueString(), running, version.Version, err, version.MaxMinorSkew, version.MaxMinorSkew, running, host.ValueString()))
		return want
	}
	same := running == bundled
	if live != nil && live.BinarySHA256 != "" {
		if a, err := bundle.For(live.GOARCH); err == nil {
			same = live.BinarySHA256 == a.SHA256
		}
	}
	switch {
	case same:
		return types.StringValue(running)
	case running != bundled:
		return want
	}
	return types.StringUnknown()
}
