package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/resourceid"
)

type (
	validatorString = validator.String
	validatorInt64  = validator.Int64
	validatorList   = validator.List
)

// idPart checks a string that goes into resource IDs (a pair's name, a director's host) with
// the rule resourceid parses IDs by, so that every ID the provider makes can be imported.
type idPart struct {
	valid func(string) bool
	what  string
}

var (
	pairNameValidator = idPart{valid: resourceid.ValidName, what: resourceid.NamePattern}
	hostValidator     = idPart{valid: resourceid.ValidHost, what: "an IPv4 or IPv6 address or a DNS name"}
)

func (v idPart) Description(context.Context) string { return "must be " + v.what }

func (v idPart) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v idPart) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() || v.valid(req.ConfigValue.ValueString()) {
		return
	}
	resp.Diagnostics.AddAttributeError(req.Path, "Invalid Attribute Value", fmt.Sprintf("Attribute %s must be %s, got: %q", req.Path, v.what, req.ConfigValue.ValueString()))
}

// remoteUnreachable matches errors of an agent that did not answer at all.
var remoteUnreachable = agentclient.ErrUnreachable

// interfaceName checks a Linux interface name with the agent's own rule
// (agentapi.ValidateInterfaceName), so that "all" or "default", which stand for every interface
// of the host in its sysctls, fail at plan time.
type interfaceName struct{}

func (interfaceName) Description(context.Context) string {
	return fmt.Sprintf("a Linux interface name: 1-%d bytes of printable ASCII, no '/', ':' or white space, not '.', '..', 'all' or 'default'", agentapi.MaxInterfaceNameLen)
}

func (v interfaceName) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (interfaceName) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := agentapi.ValidateInterfaceName(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Interface Name", "Attribute "+req.Path.String()+" must be a Linux interface name: "+err.Error())
	}
}

// notifyCommand checks a real server's notify.up / notify.down with the agent's own rule
// (agentapi.ValidateNotifyCommand), at plan time.
type notifyCommandValidator struct{}

func (notifyCommandValidator) Description(context.Context) string {
	return fmt.Sprintf("one command line: not blank, no line break, at most %d bytes", agentapi.MaxNotifyCommand)
}

func (v notifyCommandValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (notifyCommandValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := agentapi.ValidateNotifyCommand(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Notify Command", "Attribute "+req.Path.String()+" "+err.Error()+".")
	}
}

// metricsListen checks the agent's metrics address with the agent's own rule
// (agentapi.ValidateMetricsListen), at plan time.
type metricsListen struct{}

func (metricsListen) Description(context.Context) string {
	return "HOST:PORT with HOST an IP address or empty (every address) and PORT 1-65535"
}

func (v metricsListen) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (metricsListen) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := agentapi.ValidateMetricsListen(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Metrics Address", "Attribute "+req.Path.String()+" must be HOST:PORT: "+err.Error())
	}
}

// fwmarkRange checks a virtual server's firewall mark: 1-4294967295 and outside the range the
// agent keeps for its handover services (agentapi.IsReservedFWMark).
type fwmarkRange struct{}

func (fwmarkRange) Description(context.Context) string {
	return fmt.Sprintf("1-4294967295, outside %#x-%#x (reserved by lvs-agent)", agentapi.ReservedFWMarkBase, agentapi.ReservedFWMarkBase|^agentapi.ReservedFWMarkMask)
}

func (v fwmarkRange) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (fwmarkRange) ValidateInt64(_ context.Context, req validator.Int64Request, resp *validator.Int64Response) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	m := req.ConfigValue.ValueInt64()
	switch {
	case m < 1 || m > 4294967295:
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Firewall Mark", fmt.Sprintf("Attribute %s must be from 1 to 4294967295, got %d", req.Path, m))
	case agentapi.IsReservedFWMark(uint32(m)):
		resp.Diagnostics.AddAttributeError(req.Path, "Reserved Firewall Mark", fmt.Sprintf(
			"Attribute %s: %d (%#x) is in %#x-%#x, the marks lvs-agent keeps for its own handover services after a planned takeover (the agent removes any IPVS service with such a mark); choose a mark outside that range",
			req.Path, m, m, agentapi.ReservedFWMarkBase, agentapi.ReservedFWMarkBase|^agentapi.ReservedFWMarkMask))
	}
}

// funcString checks a string attribute with one of the agent's own rules, at plan time.
type funcString struct {
	what, summary string
	check         func(string) error
}

var (
	syncDaemonGroupValidator = funcString{"a multicast IP address", "Invalid Sync Daemon Group", agentapi.ValidateSyncDaemonGroup}
	vrrpAddressValidator     = funcString{"an IP address of the director on the VRRP link", "Invalid VRRP Address", agentapi.ValidateVRRPAddress}
)

func (v funcString) Description(context.Context) string { return "must be " + v.what }

func (v funcString) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v funcString) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, v.summary, fmt.Sprintf("Attribute %s must be %s: %v", req.Path, v.what, err))
	}
}
