package provider

import (
	"context"
	"errors"
	"fmt"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"net/netip"
	"reflect"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
	"github.com/lvs-provider/terraform-provider-lvs/internal/resourceid"
)

var (
	_ resource.Resource                   = (*virtualServerResource)(nil)
	_ resource.ResourceWithConfigure      = (*virtualServerResource)(nil)
	_ resource.ResourceWithImportState    = (*virtualServerResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*virtualServerResource)(nil)
	_ resource.ResourceWithValidateConfig = (*virtualServerResource)(nil)
)

// NewVirtualServerResource is the lvs_virtual_server resource.
func NewVirtualServerResource() resource.Resource { return &virtualServerResource{} }

type virtualServerResource struct {
	hosts *remote.Hosts
}

type virtualServerModel struct {
	ID               types.String      `tfsdk:"id"`
	VIPID            types.String      `tfsdk:"vip_id"`
	Protocol         types.String      `tfsdk:"protocol"`
	Address          types.String      `tfsdk:"address"`
	Port             types.Int64       `tfsdk:"port"`
	FWMark           types.Int64       `tfsdk:"fwmark"`
	AddressFamily    types.String      `tfsdk:"address_family"`
	Scheduler        types.String      `tfsdk:"scheduler"`
	SchedulerFlags   []types.String    `tfsdk:"scheduler_flags"`
	OnePacket        types.Bool        `tfsdk:"one_packet_scheduling"`
	Persistence      *persistenceModel `tfsdk:"persistence"`
	ForwardingMethod types.String      `tfsdk:"forwarding_method"`
	HealthCheck      *healthCheckModel `tfsdk:"health_check"`
	OnFailure        types.String      `tfsdk:"on_failure"`
	SorryServer      *sorryServerModel `tfsdk:"sorry_server"`
	Quorum           *quorumModel      `tfsdk:"quorum"`
	Status           types.List        `tfsdk:"status"`
	Timeouts         timeouts.Value    `tfsdk:"timeouts"`
}

type persistenceModel struct {
	Timeout types.String `tfsdk:"timeout"`
	Netmask types.String `tfsdk:"netmask"`
}

type sorryServerModel struct {
	Address          types.String `tfsdk:"address"`
	Port             types.Int64  `tfsdk:"port"`
	ForwardingMethod types.String `tfsdk:"forwarding_method"`
}

type quorumModel struct {
	Min        types.Int64 `tfsdk:"min"`
	Hysteresis types.Int64 `tfsdk:"hysteresis"`
}

func (r *virtualServerResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_virtual_server"
}

func (r *virtualServerResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "An IPVS virtual service on both directors of a pair (`ipvsadm -A`), on one of a VIP's addresses. The agents keep it in the kernel: " +
			"a change made with `ipvsadm` is repaired within seconds (up to a minute in a table of many thousand destinations, which the agent reads back less often so that checking it stays under 0.25% of a CPU) and shows in `terraform plan` until then; updates are made in place, so established connections survive.\n\n" +
			"Destroying it does not drain, and it has no `drain_timeout`: its real servers are `lvs_real_server` resources, which Terraform destroys before it, " +
			"each draining as its own `drain_timeout` says (in parallel, as many at once as terraform's `-parallelism`, default 10), so the service is empty when it goes. " +
			"Only its `sorry_server`, if any, may still hold connections then, and those are reset.\n\n" +
			"The ID is `VIP_ID/PROTO/ADDR:PORT` (`…/vrid/91/tcp/198.51.100.100:80`, IPv6 `…/tcp/[2001:db8::100]:80`) or `VIP_ID/fwmark/FAMILY/MARK`.",
		Attributes: map[string]schema.Attribute{
			"id":     schema.StringAttribute{Computed: true, MarkdownDescription: "`VIP_ID/PROTO/ADDR:PORT` or `VIP_ID/fwmark/FAMILY/MARK`."},
			"vip_id": schema.StringAttribute{Required: true, MarkdownDescription: "ID of the `lvs_vip` whose address this service is on; it fails over with that VIP."},
			"protocol": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				MarkdownDescription: "`tcp` (default), `udp` or `sctp`. Not with `fwmark`.",
				Validators:          []validatorString{stringvalidator.OneOf(agentapi.Protocols...)}},
			"address": schema.StringAttribute{Optional: true, PlanModifiers: replace, MarkdownDescription: "Virtual address: one of the VIP's addresses. Required unless `fwmark` is set."},
			"port": schema.Int64Attribute{Optional: true, PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
				MarkdownDescription: "Virtual port; `0` means every port and needs `persistence`, as in ipvsadm."},
			"fwmark": schema.Int64Attribute{Optional: true, PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
				Validators:          []validatorInt64{fwmarkRange{}},
				MarkdownDescription: "Firewall mark (1-4294967295) selecting the packets of this service instead of protocol, address and port (`ipvsadm -f`). The marks `0x4c560000`-`0x4c56ffff` (1280704512-1280770047) are reserved: lvs-agent uses them for its handover services after a planned takeover."},
			"address_family": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				MarkdownDescription: "With `fwmark`: `inet` (default) or `inet6`.", Validators: []validatorString{stringvalidator.OneOf(agentapi.FamilyInet, agentapi.FamilyInet6)}},
			"scheduler": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(defaultScheduler),
				MarkdownDescription: "IPVS scheduler: `rr`, `wrr`, `lc`, `wlc` (default), `lblc`, `lblcr`, `dh`, `sh`, `sed`, `nq`, `mh`, `fo`, `ovf`, `twos`.",
				Validators:          []validatorString{stringvalidator.OneOf(agentapi.Schedulers...)}},
			"scheduler_flags": schema.ListAttribute{ElementType: types.StringType, Optional: true,
				MarkdownDescription: "Scheduler flags: `sh-fallback`, `sh-port` (with `sh`), `mh-fallback`, `mh-port` (with `mh`)."},
			"one_packet_scheduling": schema.BoolAttribute{Optional: true,
				MarkdownDescription: "UDP only: schedule every datagram on its own, instead of sending a client's datagrams to one real server until the UDP timeout passes (`ipvsadm -o`, keepalived's `ops`). For request/response protocols such as DNS or RADIUS, where one client would otherwise load one server. Default `false`."},
			"persistence": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "Keep a client on one real server (`ipvsadm -p`).",
				Attributes: map[string]schema.Attribute{
					"timeout": schema.StringAttribute{Required: true, MarkdownDescription: "How long a client stays with its real server after its last connection, e.g. `300s`."},
					"netmask": schema.StringAttribute{Optional: true, MarkdownDescription: "Clients in one network of this mask count as one (`ipvsadm -M`): a dotted IPv4 mask or an IPv6 prefix length."},
				}},
			"forwarding_method": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(string(defaultForwardingMethod)),
				MarkdownDescription: "Default forwarding of its real servers: `dr` (direct routing, default), `nat` (masquerading) or `tunnel` (ipip).",
				Validators:          []validatorString{stringvalidator.OneOf(agentapi.ForwardingMethods...)}},
			"health_check": healthCheckSchema("Default health check of its real servers; unset means none."),
			"on_failure": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(defaultOnFailure),
				MarkdownDescription: "What a failed check does to a real server: `quiesce` (weight 0: no new connections, existing ones finish; default) or `remove` (out of the table).",
				Validators:          []validatorString{stringvalidator.OneOf(agentapi.OnFailureActions...)}},
			"sorry_server": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "Takes the traffic only while every real server is down.",
				Attributes: map[string]schema.Attribute{
					"address":           schema.StringAttribute{Required: true, MarkdownDescription: "Address."},
					"port":              schema.Int64Attribute{Required: true, MarkdownDescription: "Port."},
					"forwarding_method": schema.StringAttribute{Optional: true, MarkdownDescription: "Forwarding; default the service's.", Validators: []validatorString{stringvalidator.OneOf(agentapi.ForwardingMethods...)}},
				}},
			"quorum": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "The service counts as up while the summed weight of healthy real servers is at least `min` (down below `min - hysteresis`, up again at `min + hysteresis`).",
				Attributes: map[string]schema.Attribute{
					"min":        schema.Int64Attribute{Required: true, MarkdownDescription: "Minimum summed weight."},
					"hysteresis": schema.Int64Attribute{Optional: true, MarkdownDescription: "Hysteresis around `min`. Default 0."},
				}},
			"status": schema.ListAttribute{ElementType: types.StringType, Computed: true,
				MarkdownDescription: "Per director: `ready` when its agent holds the service as configured, `missing` when it lost it, `unreachable` when the director could not be reached (see `lvs_director_pair`; the service was read from, and changes applied to, the other director). `keepalived` on a director the pair has with `run_by = \"keepalived\"`, which is left to keepalived (not written, not read). Anything but `ready` shows as a change that apply repairs."},
		},
		Blocks: map[string]schema.Block{"timeouts": timeoutsBlock(ctx)},
	}
}

func (r *virtualServerResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.hosts = hostsFrom(req.ProviderData, &resp.Diagnostics)
}

// wireVirtualServer builds the agent's service (without real servers) from a known model.
func wireVirtualServer(m virtualServerModel) (*agentapi.VirtualServer, resourceid.VIP, *agentapi.Error) {
	vip, err := resourceid.ParseVIP(m.VIPID.ValueString())
	if err != nil {
		return nil, vip, agentapi.Invalid("vip_id", err.Error())
	}
	vs := &agentapi.VirtualServer{
		VRID: vip.VRID, Protocol: m.Protocol.ValueString(), Address: m.Address.ValueString(), Port: int(m.Port.ValueInt64()),
		FWMark: uint32(m.FWMark.ValueInt64()), Family: m.AddressFamily.ValueString(),
		Scheduler: m.Scheduler.ValueString(), ForwardingMethod: m.ForwardingMethod.ValueString(), OnFailure: m.OnFailure.ValueString(),
	}
	if m.FWMark.ValueInt64() < 0 || m.FWMark.ValueInt64() > 4294967295 {
		return nil, vip, agentapi.Invalid("fwmark", "must be from 1 to 4294967295")
	}
	if vs.FWMark == 0 && m.Protocol.IsNull() {
		vs.Protocol = defaultProtocol
	}
	if vs.FWMark != 0 && vs.Family == "" {
		vs.Family = agentapi.FamilyInet
	}
	if vs.Scheduler == "" {
		vs.Scheduler = defaultScheduler
	}
	if vs.ForwardingMethod == "" {
		vs.ForwardingMethod = string(defaultForwardingMethod)
	}
	if vs.OnFailure == "" {
		vs.OnFailure = defaultOnFailure
	}
	for _, f := range m.SchedulerFlags {
		vs.SchedulerFlags = append(vs.SchedulerFlags, f.ValueString())
	}
	vs.OnePacket = m.OnePacket.ValueBool()
	if p := m.Persistence; p != nil {
		d, err := time.ParseDuration(p.Timeout.ValueString())
		if err != nil || d < time.Second || d%time.Second != 0 {
			return nil, vip, agentapi.Invalid("persistence.timeout", fmt.Sprintf("%q is not a whole number of seconds such as \"300s\"", p.Timeout.ValueString()))
		}
		vs.Persistence = &agentapi.Persistence{TimeoutS: int(d / time.Second), Netmask: p.Netmask.ValueString()}
	}
	hc, e := wireHealthCheck(m.HealthCheck, "health_check")
	if e != nil {
		return nil, vip, e
	}
	vs.HealthCheck = hc
	if s := m.SorryServer; s != nil {
		vs.SorryServer = &agentapi.SorryServer{Address: s.Address.ValueString(), Port: int(s.Port.ValueInt64()), ForwardingMethod: s.ForwardingMethod.ValueString()}
	}
	if q := m.Quorum; q != nil {
		vs.Quorum = &agentapi.Quorum{Min: int(q.Min.ValueInt64()), Hysteresis: int(q.Hysteresis.ValueInt64())}
	}
	if err := vs.Validate(); err != nil {
		var ae *agentapi.Error
		if errors.As(err, &ae) {
			return nil, vip, ae
		}
		return nil, vip, agentapi.Invalid("address", err.Error())
	}
	return vs, vip, nil
}

func (m virtualServerModel) known() bool {
	vals := []attr.Value{m.VIPID, m.Protocol, m.Address, m.Port, m.FWMark, m.AddressFamily, m.Scheduler, m.ForwardingMethod, m.OnFailure, m.OnePacket}
	for _, f := range m.SchedulerFlags {
		vals = append(vals, f)
	}
	if p := m.Persistence; p != nil {
		vals = append(vals, p.Timeout, p.Netmask)
	}
	if h := m.HealthCheck; h != nil {
		vals = append(vals, h.Type, h.Interval, h.Timeout, h.Retries, h.RetryDelay, h.Rise, h.Fall, h.ConnectAddress, h.ConnectPort, h.Path, h.Command, h.QueryName, h.QueryType, h.ExpectedBody)
	}
	if s := m.SorryServer; s != nil {
		vals = append(vals, s.Address, s.Port, s.ForwardingMethod)
	}
	if q := m.Quorum; q != nil {
		vals = append(vals, q.Min, q.Hysteresis)
	}
	for _, v := range vals {
		if v.IsUnknown() {
			return false
		}
	}
	return true
}

func (r *virtualServerResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	root, ok := configRoot(ctx, req.Config, &resp.Diagnostics)
	if !ok {
		return
	}
	n := resp.Diagnostics.ErrorsCount()
	checkVirtualServer(checks{diags: &resp.Diagnostics, summary: summaryInvalidVirtualServer}, root)
	if resp.Diagnostics.ErrorsCount() > n || !fullyKnown(req.Config) {
		return
	}
	// The agent's own rules, the last word at apply, when everything is known.
	var m virtualServerModel
	if resp.Diagnostics.Append(req.Config.Get(ctx, &m)...); resp.Diagnostics.HasError() {
		return
	}
	if _, _, ae := wireVirtualServer(m); ae != nil {
		addFieldError(&resp.Diagnostics, summaryInvalidVirtualServer, ae)
	}
}

func (r *virtualServerResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var plan virtualServerModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var prior virtualServerModel
	if !req.State.Raw.IsNull() {
		resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	}
	var pairHosts []string
	if vip, err := resourceid.ParseVIP(plan.VIPID.ValueString()); err == nil && !plan.VIPID.IsUnknown() {
		pairHosts = vip.Pair.Hosts[:]
	}
	learnRunBy(r.hosts, pairHosts, prior.Status)
	plan.Status = plannedStatus(r.hosts, prior.Status, pairHosts)
	plan.ID = types.StringUnknown()
	if plan.known() {
		if vs, vip, ae := wireVirtualServer(plan); ae == nil {
			plan.ID = types.StringValue(resourceid.VirtualServer{VIP: vip, Key: agentapi.VirtualServerKey(vs)}.String())
		}
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func (r *virtualServerResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan virtualServerModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, plan.Timeouts, opCreate, &resp.Diagnostics)
	defer cancel()
	vs, vip, ae := wireVirtualServer(plan)
	if ae != nil {
		addFieldError(&resp.Diagnostics, summaryInvalidVirtualServer, ae)
		return
	}
	key := agentapi.VirtualServerKey(vs)
	hosts := vip.Pair.Hosts[:]
	learnRunBy(r.hosts, hosts, plan.Status)
	id := resourceid.VirtualServer{VIP: vip, Key: key}
	// Create-only writes, one director after the other in the pair's order: an existing virtual
	// server is refused with nothing changed, and of two creates of one service the one that
	// takes the first director takes both. A director that cannot be reached is warned about.
	planned := plan.Status
	put := make([]bool, len(hosts))
	diags, _ := onDirectorsInOrder(hosts, path.Root("vip_id"), fmt.Sprintf("Virtual server %s was created on the other director only, which serves it.", key), func(i int, h string) error {
		_, err := r.hosts.Agent(h).CreateVirtualServer(ctx, vs)
		if errors.Is(err, agentapi.ErrExists) {
			return &diagError{at: path.Root("address"), summary: "Virtual Server Already Exists", detail: fmt.Sprintf(
				"%s already holds virtual server %s: another lvs_virtual_server resource made it, in this configuration or in another one. Nothing of it was changed.\n\n"+
					"Change this one's address, port or protocol, or manage the existing one from this resource by importing it:\n\n"+
					"  terraform import lvs_virtual_server.<resource name> %s\n\n(%v)", h, key, id, err)}
		}
		if err != nil {
			return err
		}
		put[i] = true
		return nil
	})
	if diags.HasError() {
		resp.Diagnostics.Append(diags...)
		for i, h := range hosts {
			if put[i] {
				if err := r.hosts.Agent(h).DeleteVirtualServer(ctx, key); err != nil {
					summary, detail := remote.Describe(h, err)
					resp.Diagnostics.AddWarning(summaryCleanupFailedCreate+summary, detail)
				}
			}
		}
		return
	}
	resp.Diagnostics.Append(diags...)
	if r.readInto(ctx, &plan, id, &resp.Diagnostics, "") {
		becameUnreachable(planned, plan.Status, hosts, path.Root("vip_id"), &resp.Diagnostics)
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	}
}

// sameService compares two services' settings, not their real servers.
func sameService(a, b *agentapi.VirtualServer) bool {
	x, y := *a, *b
	x.RealServers, y.RealServers = nil, nil
	return reflect.DeepEqual(x, y)
}

// readInto refreshes m from both directors; false when none that answers holds the service. A
// director that cannot be reached is unreachable in the status; skipped says what that meant
// for it in a warning ("" when the caller warned already).
func (r *virtualServerResource) readInto(ctx context.Context, m *virtualServerModel, id resourceid.VirtualServer, diags *diag.Diagnostics, skipped string) bool {
	hosts := id.VIP.Pair.Hosts[:]
	learnRunBy(r.hosts, hosts, m.Status)
	got := make([]*agentapi.VirtualServer, len(hosts))
	d, down := onDirectors(hosts, path.Root("vip_id"), skipped, func(i int, h string) error {
		vs, err := r.hosts.Agent(h).GetVirtualServer(ctx, id.Key)
		switch {
		case errors.Is(err, agentapi.ErrNotFound), errors.Is(err, remoteUnreachable) && remote.SSHFailure(err) == nil:
			return nil
		case err != nil:
			return err
		}
		got[i] = vs
		return nil
	})
	if skipped == "" {
		d = d.Errors()
	}
	diags.Append(d...)
	if d.HasError() {
		return false
	}
	want, _, _ := wireVirtualServer(*m)
	var found *agentapi.VirtualServer
	status := make([]string, len(hosts))
	defer func() { m.Status = stringList(status) }()
	for i, vs := range got {
		status[i] = string(statusAt(r.hosts, hosts[i], vs != nil, down[i]))
		if vs == nil {
			continue
		}
		if found == nil || want == nil || !sameService(vs, want) {
			found = vs
		}
	}
	if found == nil {
		return false
	}
	setVirtualServerModel(m, found)
	m.VIPID = types.StringValue(id.VIP.String())
	m.ID = types.StringValue(id.String())
	return true
}

func setVirtualServerModel(m *virtualServerModel, vs *agentapi.VirtualServer) {
	if vs.FWMark != 0 {
		m.FWMark = types.Int64Value(int64(vs.FWMark))
		m.AddressFamily = optDefault(m.AddressFamily, vs.Family, agentapi.FamilyInet)
		m.Protocol, m.Address, m.Port = types.StringNull(), types.StringNull(), types.Int64Null()
	} else {
		m.Protocol = optDefault(m.Protocol, vs.Protocol, defaultProtocol)
		m.Address = keepAddress(m.Address, vs.Address)
		m.Port = types.Int64Value(int64(vs.Port))
		m.FWMark, m.AddressFamily = types.Int64Null(), types.StringNull()
	}
	m.Scheduler = types.StringValue(vs.Scheduler)
	m.ForwardingMethod = types.StringValue(vs.ForwardingMethod)
	m.OnFailure = types.StringValue(vs.OnFailure)
	m.SchedulerFlags = nil
	for _, f := range vs.SchedulerFlags {
		m.SchedulerFlags = append(m.SchedulerFlags, types.StringValue(f))
	}
	// Unwritten reads back as unwritten: the attribute has no default, so that state written
	// before it existed plans no change.
	if vs.OnePacket || !m.OnePacket.IsNull() {
		m.OnePacket = types.BoolValue(vs.OnePacket)
	}
	if p := vs.Persistence; p != nil {
		prev := types.StringNull()
		if m.Persistence != nil {
			prev = m.Persistence.Timeout
		}
		m.Persistence = &persistenceModel{Timeout: keepDuration(prev, time.Duration(p.TimeoutS)*time.Second), Netmask: optString(p.Netmask)}
	} else {
		m.Persistence = nil
	}
	m.HealthCheck = healthCheckFrom(vs.HealthCheck, m.HealthCheck)
	if s := vs.SorryServer; s != nil {
		m.SorryServer = &sorryServerModel{Address: types.StringValue(s.Address), Port: types.Int64Value(int64(s.Port)), ForwardingMethod: optString(s.ForwardingMethod)}
	} else {
		m.SorryServer = nil
	}
	if q := vs.Quorum; q != nil {
		h := types.Int64Null()
		if q.Hysteresis != 0 || (m.Quorum != nil && !m.Quorum.Hysteresis.IsNull()) {
			h = types.Int64Value(int64(q.Hysteresis))
		}
		m.Quorum = &quorumModel{Min: types.Int64Value(int64(q.Min)), Hysteresis: h}
	} else {
		m.Quorum = nil
	}
}

// optDefault keeps an unset attribute unset when the value is its default.
func optDefault(prev types.String, v, def string) types.String {
	if prev.IsNull() && v == def {
		return types.StringNull()
	}
	return types.StringValue(v)
}

func (r *virtualServerResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state virtualServerModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, state.Timeouts, opRead, &resp.Diagnostics)
	defer cancel()
	id, err := resourceid.ParseVirtualServer(state.ID.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Invalid Virtual Server ID In State", err.Error())
		return
	}
	if !r.readInto(ctx, &state, id, &resp.Diagnostics, fmt.Sprintf("%s was read from the other director.", id)) {
		if !resp.Diagnostics.HasError() {
			resp.State.RemoveResource(ctx)
		}
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *virtualServerResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state virtualServerModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, plan.Timeouts, opUpdate, &resp.Diagnostics)
	defer cancel()
	vs, vip, ae := wireVirtualServer(plan)
	if ae != nil {
		addFieldError(&resp.Diagnostics, summaryInvalidVirtualServer, ae)
		return
	}
	key := agentapi.VirtualServerKey(vs)
	planned := plan.Status
	learnRunBy(r.hosts, vip.Pair.Hosts[:], planned)
	put, _ := onDirectors(vip.Pair.Hosts[:], path.Root("vip_id"), fmt.Sprintf("The change to virtual server %s was applied to the other director only.", key), func(_ int, h string) error {
		_, err := r.hosts.Agent(h).PutVirtualServer(ctx, vs)
		return err
	})
	resp.Diagnostics.Append(put...)
	if resp.Diagnostics.HasError() {
		return
	}
	if old, err := resourceid.ParseVirtualServer(state.ID.ValueString()); err == nil {
		for _, h := range old.VIP.Pair.Hosts {
			if contains(vip.Pair.Hosts[:], h) {
				continue
			}
			if err := r.hosts.Agent(h).DeleteVirtualServer(ctx, old.Key); err != nil && !errors.Is(err, agentapi.ErrNotFound) && !errors.Is(err, remoteUnreachable) {
				summary, detail := remote.Describe(h, err)
				resp.Diagnostics.AddWarning("Removing The Service From A Former Director: "+summary, detail)
			}
		}
	}
	if r.readInto(ctx, &plan, resourceid.VirtualServer{VIP: vip, Key: key}, &resp.Diagnostics, "") {
		becameUnreachable(planned, plan.Status, vip.Pair.Hosts[:], path.Root("vip_id"), &resp.Diagnostics)
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	}
}

func (r *virtualServerResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state virtualServerModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, state.Timeouts, opDelete, &resp.Diagnostics)
	defer cancel()
	id, err := resourceid.ParseVirtualServer(state.ID.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Invalid Virtual Server ID In State", err.Error())
		return
	}
	learnRunBy(r.hosts, id.VIP.Pair.Hosts[:], state.Status)
	d, _ := onDirectors(id.VIP.Pair.Hosts[:], path.Root("vip_id"), fmt.Sprintf("Virtual server %s was deleted from the other director only. %s", id.Key, staleOnReturn), func(_ int, h string) error {
		err := r.hosts.Agent(h).DeleteVirtualServer(ctx, id.Key)
		if errors.Is(err, agentapi.ErrNotFound) {
			return nil
		}
		return err
	})
	resp.Diagnostics.Append(d...)
}

func (r *virtualServerResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	id, err := resourceid.ParseVirtualServer(req.ID)
	if err == nil {
		id.Key, err = agentapi.CanonicalVirtualServerKey(id.Key)
	}
	if err != nil {
		resp.Diagnostics.AddError(summaryInvalidImportID, err.Error())
		return
	}
	m := virtualServerModel{
		ID: types.StringValue(id.String()), VIPID: types.StringValue(id.VIP.String()),
		Protocol: types.StringNull(), Address: types.StringNull(), Port: types.Int64Null(), FWMark: types.Int64Null(), AddressFamily: types.StringNull(),
		Scheduler: types.StringNull(), ForwardingMethod: types.StringNull(), OnFailure: types.StringNull(),
	}
	m.Timeouts = nullTimeouts()
	if !r.readInto(ctx, &m, id, &resp.Diagnostics, "It was imported from the other director.") {
		if !resp.Diagnostics.HasError() {
			resp.Diagnostics.AddError("Virtual Server Not Found", fmt.Sprintf("Neither director of %s holds virtual server %s.", id.VIP.Pair, id.Key))
		}
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// keepAddress returns prev when it spells the same address as v (the agent stores canonical
// forms), else v.
func keepAddress(prev types.String, v string) types.String {
	if !prev.IsNull() && !prev.IsUnknown() {
		a, err1 := netip.ParseAddr(prev.ValueString())
		b, err2 := netip.ParseAddr(v)
		if err1 == nil && err2 == nil && a == b {
			return prev
		}
	}
	return types.StringValue(v)
}
