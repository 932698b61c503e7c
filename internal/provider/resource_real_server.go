package provider

import (
	"context"
	"errors"
	"fmt"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"reflect"
	"slices"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
	"github.com/lvs-provider/terraform-provider-lvs/internal/resourceid"
)

var (
	_ resource.Resource                   = (*realServerResource)(nil)
	_ resource.ResourceWithConfigure      = (*realServerResource)(nil)
	_ resource.ResourceWithImportState    = (*realServerResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*realServerResource)(nil)
	_ resource.ResourceWithValidateConfig = (*realServerResource)(nil)
)

// NewRealServerResource is the lvs_real_server resource.
func NewRealServerResource() resource.Resource { return &realServerResource{} }

type realServerResource struct {
	hosts *remote.Hosts
}

type realServerModel struct {
	ID               types.String      `tfsdk:"id"`
	VirtualServerID  types.String      `tfsdk:"virtual_server_id"`
	Address          types.String      `tfsdk:"address"`
	Port             types.Int64       `tfsdk:"port"`
	Weight           types.Int64       `tfsdk:"weight"`
	ForwardingMethod types.String      `tfsdk:"forwarding_method"`
	HealthCheck      *healthCheckModel `tfsdk:"health_check"`
	OnFailure        types.String      `tfsdk:"on_failure"`
	Notify           *rsNotifyModel    `tfsdk:"notify"`
	Thresholds       *thresholdsModel  `tfsdk:"thresholds"`
	Host             *rsHostModel      `tfsdk:"host"`
	Status           types.List        `tfsdk:"status"`
	DrainTimeout     types.String      `tfsdk:"drain_timeout"`
	Timeouts         timeouts.Value    `tfsdk:"timeouts"`
}

// rsNotifyModel is the notify object: keepalived's notify_up and notify_down.
type rsNotifyModel struct {
	Up   types.String `tfsdk:"up"`
	Down types.String `tfsdk:"down"`
}

type thresholdsModel struct {
	Upper types.Int64 `tfsdk:"upper"`
	Lower types.Int64 `tfsdk:"lower"`
}

type rsHostModel struct {
	SSHAddress types.String `tfsdk:"ssh_address"`
	Status     types.String `tfsdk:"status"`
}

func (r *realServerResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_real_server"
}

func (r *realServerResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "A real server of a virtual server, on both directors (`ipvsadm -a`). With `host`, the provider also installs the agent on the real server in real-server role, " +
			"which keeps the VIP on loopback with ARP suppression (`dr`) or on an ipip tunnel interface (`tunnel`) — the `lo:0` script, as code.\n\n" +
			"Create returns once the real server is in both directors' kernel tables at its weight and, with `host`, the real server " +
			"already accepts traffic for the VIP (its binding is made first), so requests sent when `terraform apply` returns are served. " +
			"Health checks start then; with `health_check.start_down`, the server enters rotation after its first good check, which " +
			"the apply does not wait for.\n\n" +
			"The ID is `VIRTUAL_SERVER_ID/ADDR:PORT`, e.g. `…/vrid/91/tcp/198.51.100.100:80/198.51.100.21:80`.",
		Attributes: map[string]schema.Attribute{
			"id":                schema.StringAttribute{Computed: true, MarkdownDescription: "`VIRTUAL_SERVER_ID/ADDR:PORT`."},
			"virtual_server_id": schema.StringAttribute{Required: true, MarkdownDescription: "ID of the `lvs_virtual_server`."},
			"address": schema.StringAttribute{Required: true, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				MarkdownDescription: "Real server address."},
			"port": schema.Int64Attribute{Required: true, PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
				MarkdownDescription: "Real server port. With `dr` and `tunnel` it must equal the virtual port: only `nat` maps ports.",
				Validators:          []validatorInt64{int64validator.Between(0, 65535)}},
			"weight": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(1),
				MarkdownDescription: "Weight 0-65535. `0` drains: no new connections, existing ones finish. Default 1.",
				Validators:          []validatorInt64{int64validator.Between(0, 65535)}},
			"forwarding_method": schema.StringAttribute{Optional: true,
				MarkdownDescription: "`dr`, `nat` or `tunnel`; default the virtual server's.",
				Validators:          []validatorString{stringvalidator.OneOf(agentapi.ForwardingMethods...)}},
			"health_check": healthCheckSchema("Health check of this real server, replacing the virtual server's."),
			"on_failure": schema.StringAttribute{Optional: true,
				MarkdownDescription: "What a failed health check does to this real server, overriding the virtual server's `on_failure`: `quiesce` (weight 0: no new connections, existing ones finish) or `remove` (out of the table). Unset: the virtual server's. keepalived's `inhibit_on_failure` in a `real_server`.",
				Validators:          []validatorString{stringvalidator.OneOf(agentapi.OnFailureActions...)}},
			// An object rather than two top-level attributes: terraform marks a sensitive
			// top-level attribute on every instance, set or not, and carrying those marks cost 6 s
			// of terraform's CPU in an apply of 1,000 real servers (25 s -> 31 s); inside an
			// unset object there is nothing to mark.
			"notify": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "Commands the agent runs on each director when this real server's health-check verdict changes (keepalived's `notify_up` and `notify_down` in a `real_server`).",
				Attributes: map[string]schema.Attribute{
					"up":   notifySchema("up", "keepalived's `notify_up`"),
					"down": notifySchema("down", "keepalived's `notify_down`; also when an up real server leaves the configuration: this resource, its virtual server or its director pair destroyed"),
				}},
			"thresholds": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "Connection limits (`ipvsadm -x/-y`): above `upper` the server gets no new connections until it is below `lower`.",
				Attributes: map[string]schema.Attribute{
					"upper": schema.Int64Attribute{Optional: true, MarkdownDescription: "Upper limit; unset or 0 means none."},
					"lower": schema.Int64Attribute{Optional: true, MarkdownDescription: "Lower limit; unset or 0 means none."},
				}},
			"host": schema.SingleNestedAttribute{Optional: true,
				MarkdownDescription: "Manage the real server itself: install the agent there and keep the VIP on it as `dr` or `tunnel` forwarding needs, removed on destroy. SSH settings come from the provider.",
				Attributes: map[string]schema.Attribute{
					"ssh_address": schema.StringAttribute{Optional: true, MarkdownDescription: "Address to reach the real server at over SSH; default `address`."},
					"status":      schema.StringAttribute{Computed: true, MarkdownDescription: "`ready` when the real server holds the VIP binding; `missing` otherwise (a change apply repairs)."},
				}},
			"status": schema.ListAttribute{ElementType: types.StringType, Computed: true,
				MarkdownDescription: "Per director: `ready` when its agent holds this real server as configured, `missing` when it lost it, `unreachable` when the director could not be reached (see `lvs_director_pair`; the real server was read from, and changes applied to, the other director). `keepalived` on a director the pair has with `run_by = \"keepalived\"`, which is left to keepalived (not written, not read). The live weight and health are in `lvs_director_status`."},
			"drain_timeout": schema.StringAttribute{Optional: true,
				MarkdownDescription: "How long a destroy (or a replacement) drains this real server before removing it, e.g. `\"30s\"`, `\"5m\"`; `\"0\"` removes it at once. Default `\"5m\"`. " +
					"The destroy first sets the weight to 0 on both directors (no new connections; established ones go on and stay synced to the backup director), " +
					"then waits until the VRRP master's table shows no active connection to it (closing ones, in FIN_WAIT or TIME_WAIT, are not waited for), " +
					"then removes it. Connections still open when `drain_timeout` passes are reset at their next packet, and the destroy warns with their count. " +
					"It must leave a minute of `timeouts.delete` (default 10m) for the removal. The value in state is used: change it with an apply before the destroy."},
		},
		Blocks: map[string]schema.Block{"timeouts": timeoutsBlock(ctx)},
	}
}

// notifySchema is notify.up or notify.down: a command run on each director when the health
// check's verdict on this real server turns to state.
func notifySchema(state, keepalived string) schema.StringAttribute {
	return schema.StringAttribute{Optional: true, Sensitive: true,
		Validators: []validatorString{notifyCommandValidator{}},
		MarkdownDescription: fmt.Sprintf("Command line run with `/bin/sh -c` by the agent on each director when this real server's health check finds it %s (%s). ", state, keepalived) +
			"It sees the virtual server in `LVS_VS` (and `LVS_VS_PROTOCOL`, `LVS_VS_ADDRESS`, `LVS_VS_PORT`, `LVS_VS_FWMARK`), the real server in `LVS_RS_ADDRESS` and `LVS_RS_PORT`, " +
			"the new state (`up` or `down`) in `LVS_RS_STATE` and why in `LVS_RS_REASON`. " +
			"It runs on verdict changes only, never for the state a real server starts with (nor at agent restarts); a real server without a health check never notifies. " +
			"One real server's commands run one at a time in order; each is killed after 30s; a failure is logged and counted (`lvs_real_server_notify_total`), and never changes the verdict. " +
			"Sensitive (it may carry credentials): hidden in plans and logs, kept in state."}
}

func (r *realServerResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.hosts = hostsFrom(req.ProviderData, &resp.Diagnostics)
}

func wireRealServer(m realServerModel) (*agentapi.RealServer, resourceid.VirtualServer, *agentapi.Error) {
	vsID, err := resourceid.ParseVirtualServer(m.VirtualServerID.ValueString())
	if err == nil {
		vsID.Key, err = agentapi.CanonicalVirtualServerKey(vsID.Key)
	}
	if err != nil {
		return nil, vsID, agentapi.Invalid("virtual_server_id", err.Error())
	}
	rs := &agentapi.RealServer{Address: m.Address.ValueString(), Port: int(m.Port.ValueInt64()), Weight: int(m.Weight.ValueInt64()), ForwardingMethod: m.ForwardingMethod.ValueString(),
		OnFailure: m.OnFailure.ValueString()}
	if m.Notify != nil {
		rs.NotifyUp, rs.NotifyDown = m.Notify.Up.ValueString(), m.Notify.Down.ValueString()
	}
	if m.Weight.IsNull() {
		rs.Weight = 1
	}
	if t := m.Thresholds; t != nil {
		rs.UpperThreshold, rs.LowerThreshold = int(t.Upper.ValueInt64()), int(t.Lower.ValueInt64())
	}
	hc, e := wireHealthCheck(m.HealthCheck, "health_check")
	if e != nil {
		return nil, vsID, e
	}
	rs.HealthCheck = hc
	// checkRealServer has checked the fields at validate time, with the rules of the service
	// that its ID tells; the agent checks them against the service itself on apply.
	return rs, vsID, nil
}

func (m realServerModel) known() bool {
	vals := []attr.Value{m.VirtualServerID, m.Address, m.Port, m.Weight, m.ForwardingMethod, m.OnFailure}
	if n := m.Notify; n != nil {
		vals = append(vals, n.Up, n.Down)
	}
	if t := m.Thresholds; t != nil {
		vals = append(vals, t.Upper, t.Lower)
	}
	if h := m.HealthCheck; h != nil {
		vals = append(vals, h.Type, h.Interval, h.Timeout, h.Retries, h.RetryDelay, h.Rise, h.Fall, h.ConnectAddress, h.ConnectPort, h.Path, h.Command, h.QueryName, h.QueryType, h.ExpectedBody)
	}
	for _, v := range vals {
		if v.IsUnknown() {
			return false
		}
	}
	return true
}

func (r *realServerResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	root, ok := configRoot(ctx, req.Config, &resp.Diagnostics)
	if !ok {
		return
	}
	n := resp.Diagnostics.ErrorsCount()
	checkRealServer(checks{diags: &resp.Diagnostics, summary: summaryInvalidRealServer}, root)
	var dt types.String
	var to timeouts.Value
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("drain_timeout"), &dt)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("timeouts"), &to)...)
	if !resp.Diagnostics.HasError() {
		validateDrainTimeout(ctx, dt, to, &resp.Diagnostics)
	}
	if resp.Diagnostics.ErrorsCount() > n || !fullyKnown(req.Config) {
		return
	}
	// The agent's own rules, the last word at apply, when everything is known.
	var m realServerModel
	if resp.Diagnostics.Append(req.Config.Get(ctx, &m)...); resp.Diagnostics.HasError() {
		return
	}
	if _, _, ae := wireRealServer(m); ae != nil {
		addFieldError(&resp.Diagnostics, summaryInvalidRealServer, ae)
	}
}

func (r *realServerResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var plan realServerModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var prior realServerModel
	if !req.State.Raw.IsNull() {
		resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	}
	var pairHosts []string
	if vs, err := resourceid.ParseVirtualServer(plan.VirtualServerID.ValueString()); err == nil && !plan.VirtualServerID.IsUnknown() {
		pairHosts = vs.VIP.Pair.Hosts[:]
	}
	learnRunBy(r.hosts, pairHosts, prior.Status)
	plan.Status = plannedStatus(r.hosts, prior.Status, pairHosts)
	if plan.Host != nil {
		plan.Host.Status = statusReady.value()
	}
	plan.ID = types.StringUnknown()
	if plan.known() {
		if rs, vsID, ae := wireRealServer(plan); ae == nil {
			plan.ID = types.StringValue(resourceid.RealServer{VirtualServer: vsID, Key: agentapi.RealServerKey(rs)}.String())
		}
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func (m realServerModel) sshAddress() string {
	if m.Host == nil {
		return ""
	}
	if s := m.Host.SSHAddress.ValueString(); s != "" {
		return s
	}
	return m.Address.ValueString()
}

// binding is what the real server host keeps for this real server. The virtual server is read
// from the first director that answers.
func (r *realServerResource) binding(ctx context.Context, vsID resourceid.VirtualServer, rs *agentapi.RealServer) (*agentapi.RealServerBinding, error) {
	var (
		vs  *agentapi.VirtualServer
		err error
	)
	for _, h := range vsID.VIP.Pair.Hosts {
		if vs, err = r.hosts.Agent(h).GetVirtualServer(ctx, vsID.Key); remote.Unreachable(err) == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read virtual server %s: %w", vsID.Key, err)
	}
	if vs.FWMark != 0 {
		return nil, agentapi.Invalid("host", "a real server of a fwmark service has no single VIP to bind; leave host unset and bind the VIPs yourself")
	}
	return &agentapi.RealServerBinding{VIP: vs.Address, ForwardingMethod: vs.EffectiveForwardingMethod(rs)}, nil
}

func (r *realServerResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan realServerModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, plan.Timeouts, opCreate, &resp.Diagnostics)
	defer cancel()
	rs, vsID, ae := wireRealServer(plan)
	if ae != nil {
		addFieldError(&resp.Diagnostics, summaryInvalidRealServer, ae)
		return
	}
	key := agentapi.RealServerKey(rs)
	id := resourceid.RealServer{VirtualServer: vsID, Key: key}
	hosts := vsID.VIP.Pair.Hosts[:]
	learnRunBy(r.hosts, hosts, plan.Status)
	// The real server host first: it must accept VIP traffic before directors send it any.
	if plan.Host != nil {
		if !r.bind(ctx, plan, vsID, rs, id, true, &resp.Diagnostics) {
			return
		}
	}
	// One create-only write per director, whose answer is the state read back: a thousand
	// creates cost a thousand requests per director, not three thousand.
	got := make([]*agentapi.RealServer, len(hosts))
	existed := make([]bool, len(hosts))
	planned := plan.Status
	diags, down := onDirectors(hosts, path.Root("virtual_server_id"), fmt.Sprintf("Real server %s of %s was created on the other director only, which serves it.", key, vsID.Key), func(i int, h string) error {
		out, err := r.hosts.Agent(h).CreateRealServer(ctx, vsID.Key, rs)
		if errors.Is(err, agentapi.ErrExists) {
			existed[i] = true
			return nil
		}
		if err != nil {
			return err
		}
		got[i] = out
		return nil
	})
	for i, h := range hosts {
		if existed[i] {
			diags.AddAttributeError(path.Root("address"), "Real Server Already Exists", fmt.Sprintf(
				"%s already holds real server %s of %s: another lvs_real_server resource made it, in this configuration or in another one. Nothing of it was changed.\n\n"+
					"Manage the existing real server from this resource by importing it:\n\n  terraform import lvs_real_server.<resource name> %s", h, key, vsID.Key, id))
		}
	}
	if diags.HasError() {
		resp.Diagnostics.Append(diags...)
		for i, h := range hosts {
			if got[i] != nil {
				_ = r.hosts.Agent(h).DeleteRealServer(ctx, vsID.Key, key)
			}
		}
		// The binding carries this real server's ID: when a director already holds the real
		// server, the binding belongs to the resource that made it and must stay.
		if plan.Host != nil && !slices.Contains(existed, true) {
			r.unbind(ctx, plan.sshAddress(), id, &resp.Diagnostics)
		}
		return
	}
	resp.Diagnostics.Append(diags...)
	if r.fill(ctx, &plan, id, got, down, &resp.Diagnostics) {
		becameUnreachable(planned, plan.Status, hosts, path.Root("virtual_server_id"), &resp.Diagnostics)
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	}
}

// bind puts this real server's binding on its host; create makes it create-only, so that a
// binding another resource made is refused, not overwritten.
func (r *realServerResource) bind(ctx context.Context, m realServerModel, vsID resourceid.VirtualServer, rs *agentapi.RealServer, id resourceid.RealServer, create bool, diags *diag.Diagnostics) bool {
	host := m.sshAddress()
	b, err := r.binding(ctx, vsID, rs)
	if err == nil {
		_, err = r.hosts.Install(ctx, host)
	}
	if err == nil && create {
		_, err = r.hosts.Agent(host).CreateBinding(ctx, id.String(), b)
		if errors.Is(err, agentapi.ErrExists) {
			diags.AddAttributeError(path.Root("host"), "Real Server Already Exists", fmt.Sprintf(
				"%s already holds the binding of real server %s: another lvs_real_server resource made it, in this configuration or in another one. Nothing of it was changed.\n\n"+
					"Manage the existing real server from this resource by importing it:\n\n  terraform import lvs_real_server.<resource name> %s\n\n(%v)", host, id.Key, id, err))
			return false
		}
	} else if err == nil {
		_, err = r.hosts.Agent(host).PutBinding(ctx, id.String(), b)
	}
	if err != nil {
		var ae *agentapi.Error
		if errors.As(err, &ae) && ae.Code == agentapi.CodeValidation {
			addFieldError(diags, "Invalid Real Server Host", ae)
			return false
		}
		summary, detail := remote.Describe(host, err)
		diags.AddAttributeError(path.Root("host"), summary, detail)
		return false
	}
	return true
}

// unbind removes this real server's binding from its host, and the agent itself once the host
// keeps nothing else.
func (r *realServerResource) unbind(ctx context.Context, host string, id resourceid.RealServer, diags *diag.Diagnostics) {
	a := r.hosts.Agent(host)
	err := a.DeleteBinding(ctx, id.String())
	if err != nil && !errors.Is(err, agentapi.ErrNotFound) {
		summary, detail := remote.Describe(host, err)
		diags.AddAttributeError(path.Root("host"), summary, detail)
		return
	}
	st, err := a.State(ctx)
	if err != nil {
		summary, detail := remote.Describe(host, err)
		diags.AddAttributeWarning(path.Root("host"), "Could Not Check Whether The Agent Is Still Needed: "+summary, detail)
		return
	}
	if st.Pair == nil && len(st.RealServerBindings) == 0 && len(st.VirtualServers) == 0 && len(st.VIPs) == 0 {
		if err := r.hosts.Uninstall(ctx, host); err != nil {
			summary, detail := remote.Describe(host, err)
			diags.AddAttributeError(path.Root("host"), "Uninstalling The Agent: "+summary, detail)
		}
	}
}

// readInto refreshes m from both directors (see fill); skipped says in a warning what a
// director that cannot be reached meant for this real server.
func (r *realServerResource) readInto(ctx context.Context, m *realServerModel, id resourceid.RealServer, diags *diag.Diagnostics, skipped string) bool {
	hosts := id.VirtualServer.VIP.Pair.Hosts[:]
	learnRunBy(r.hosts, hosts, m.Status)
	got := make([]*agentapi.RealServer, len(hosts))
	d, down := onDirectors(hosts, path.Root("virtual_server_id"), skipped, func(i int, h string) error {
		rs, err := r.hosts.Agent(h).GetRealServer(ctx, id.VirtualServer.Key, id.Key)
		switch {
		case errors.Is(err, agentapi.ErrNotFound), errors.Is(err, remoteUnreachable) && remote.SSHFailure(err) == nil:
			return nil
		case err != nil:
			return err
		}
		got[i] = rs
		return nil
	})
	diags.Append(d...)
	if d.HasError() {
		return false
	}
	return r.fill(ctx, m, id, got, down, diags)
}

// fill sets m from what each director holds (nil: not there; down: not reachable) and from the
// real server host's binding; it returns false when no director that answers holds the real
// server.
func (r *realServerResource) fill(ctx context.Context, m *realServerModel, id resourceid.RealServer, got []*agentapi.RealServer, down []bool, diags *diag.Diagnostics) bool {
	hosts := id.VirtualServer.VIP.Pair.Hosts[:]
	want, _, _ := wireRealServer(*m)
	var found *agentapi.RealServer
	status := make([]string, len(hosts))
	defer func() { m.Status = stringList(status) }()
	for i, rs := range got {
		status[i] = string(statusAt(r.hosts, hosts[i], rs != nil, down[i]))
		if rs == nil {
			continue
		}
		if found == nil || want == nil || !reflect.DeepEqual(rs, want) {
			found = rs
		}
	}
	if found == nil {
		return false
	}
	m.Address = keepAddress(m.Address, found.Address)
	m.Port = types.Int64Value(int64(found.Port))
	m.Weight = types.Int64Value(int64(found.Weight))
	m.ForwardingMethod = optString(found.ForwardingMethod)
	m.HealthCheck = healthCheckFrom(found.HealthCheck, m.HealthCheck)
	m.OnFailure = optString(found.OnFailure)
	switch {
	case found.NotifyUp != "" || found.NotifyDown != "":
		m.Notify = &rsNotifyModel{Up: optString(found.NotifyUp), Down: optString(found.NotifyDown)}
	case m.Notify != nil && m.Notify.Up.IsNull() && m.Notify.Down.IsNull():
		// `notify = {}` configured: the same as none, kept as written.
	default:
		m.Notify = nil
	}
	if found.UpperThreshold != 0 || found.LowerThreshold != 0 {
		m.Thresholds = &thresholdsModel{Upper: optInt(found.UpperThreshold), Lower: optInt(found.LowerThreshold)}
	} else {
		m.Thresholds = nil
	}
	if m.Host != nil {
		m.Host.Status = statusMissing.value()
		b, err := r.hosts.Agent(m.sshAddress()).GetBinding(ctx, id.String())
		switch {
		case err == nil && b != nil:
			m.Host.Status = statusReady.value()
		case errors.Is(err, agentapi.ErrNotFound), errors.Is(err, remoteUnreachable) && remote.SSHFailure(err) == nil:
		default:
			summary, detail := remote.Describe(m.sshAddress(), err)
			diags.AddAttributeError(path.Root("host"), summary, detail)
			return false
		}
	}
	m.VirtualServerID = types.StringValue(id.VirtualServer.String())
	m.ID = types.StringValue(id.String())
	return true
}

func (r *realServerResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state realServerModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, state.Timeouts, opRead, &resp.Diagnostics)
	defer cancel()
	id, err := resourceid.ParseRealServer(state.ID.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Invalid Real Server ID In State", err.Error())
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

func (r *realServerResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state realServerModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, plan.Timeouts, opUpdate, &resp.Diagnostics)
	defer cancel()
	rs, vsID, ae := wireRealServer(plan)
	if ae != nil {
		addFieldError(&resp.Diagnostics, summaryInvalidRealServer, ae)
		return
	}
	id := resourceid.RealServer{VirtualServer: vsID, Key: agentapi.RealServerKey(rs)}
	if plan.Host != nil && !r.bind(ctx, plan, vsID, rs, id, false, &resp.Diagnostics) {
		return
	}
	got := make([]*agentapi.RealServer, len(vsID.VIP.Pair.Hosts))
	planned := plan.Status
	learnRunBy(r.hosts, vsID.VIP.Pair.Hosts[:], planned)
	put, down := onDirectors(vsID.VIP.Pair.Hosts[:], path.Root("virtual_server_id"), fmt.Sprintf("The change to real server %s of %s was applied to the other director only.", id.Key, vsID.Key), func(i int, h string) error {
		out, err := r.hosts.Agent(h).PutRealServer(ctx, vsID.Key, rs)
		if err != nil {
			return err
		}
		got[i] = out
		return nil
	})
	resp.Diagnostics.Append(put...)
	if resp.Diagnostics.HasError() {
		return
	}
	oldID, _ := resourceid.ParseRealServer(state.ID.ValueString())
	if state.Host != nil && (plan.Host == nil || state.sshAddress() != plan.sshAddress() || oldID != id) {
		r.unbind(ctx, state.sshAddress(), oldID, &resp.Diagnostics)
	}
	for _, h := range oldID.VirtualServer.VIP.Pair.Hosts {
		if contains(vsID.VIP.Pair.Hosts[:], h) {
			continue
		}
		if err := r.hosts.Agent(h).DeleteRealServer(ctx, oldID.VirtualServer.Key, oldID.Key); err != nil && !errors.Is(err, agentapi.ErrNotFound) && !errors.Is(err, remoteUnreachable) {
			summary, detail := remote.Describe(h, err)
			resp.Diagnostics.AddWarning("Removing The Real Server From A Former Director: "+summary, detail)
		}
	}
	// The writes' answers are what the directors hold now.
	if r.fill(ctx, &plan, id, got, down, &resp.Diagnostics) {
		becameUnreachable(planned, plan.Status, vsID.VIP.Pair.Hosts[:], path.Root("virtual_server_id"), &resp.Diagnostics)
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	}
}

func (r *realServerResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state realServerModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, state.Timeouts, opDelete, &resp.Diagnostics)
	defer cancel()
	id, err := resourceid.ParseRealServer(state.ID.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Invalid Real Server ID In State", err.Error())
		return
	}
	// Drain first, so that the removal resets no connection that could have finished.
	learnRunBy(r.hosts, id.VirtualServer.VIP.Pair.Hosts[:], state.Status)
	drain, ae := parseDrainTimeout(state.DrainTimeout.ValueString())
	if ae != nil {
		drain = defaultDrainTimeout // validated at plan time; a state edited by hand still drains
	}
	if drain > 0 && !r.drain(ctx, id, drain, &resp.Diagnostics) {
		return
	}
	// Directors first: no traffic may reach the host once it stops accepting the VIP.
	d, _ := onDirectors(id.VirtualServer.VIP.Pair.Hosts[:], path.Root("virtual_server_id"), fmt.Sprintf("Real server %s of %s was deleted from the other director only. %s", id.Key, id.VirtualServer.Key, staleOnReturn), func(_ int, h string) error {
		err := r.hosts.Agent(h).DeleteRealServer(ctx, id.VirtualServer.Key, id.Key)
		if errors.Is(err, agentapi.ErrNotFound) {
			return nil
		}
		return err
	})
	resp.Diagnostics.Append(d...)
	if resp.Diagnostics.HasError() || state.Host == nil {
		return
	}
	r.unbind(ctx, state.sshAddress(), id, &resp.Diagnostics)
}

func (r *realServerResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	id, err := resourceid.ParseRealServer(req.ID)
	if err == nil {
		id.VirtualServer.Key, err = agentapi.CanonicalVirtualServerKey(id.VirtualServer.Key)
	}
	if err == nil {
		id.Key, err = agentapi.CanonicalRealServerKey(id.Key)
	}
	if err != nil {
		resp.Diagnostics.AddError(summaryInvalidImportID, err.Error())
		return
	}
	m := realServerModel{ID: types.StringValue(id.String()), VirtualServerID: types.StringValue(id.VirtualServer.String()),
		Address: types.StringNull(), Port: types.Int64Null(), Weight: types.Int64Null(), ForwardingMethod: types.StringNull(),
		OnFailure: types.StringNull()}
	m.Timeouts = nullTimeouts()
	if !r.readInto(ctx, &m, id, &resp.Diagnostics, "It was imported from the other director.") {
		if !resp.Diagnostics.HasError() {
			resp.Diagnostics.AddError("Real Server Not Found", fmt.Sprintf("Neither director of %s holds real server %s of %s.", id.VirtualServer.VIP.Pair, id.Key, id.VirtualServer.Key))
		}
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
