package provider

import (
	"context"
	"errors"
	"fmt"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"reflect"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
	"github.com/lvs-provider/terraform-provider-lvs/internal/resourceid"
)

var (
	_ resource.Resource                   = (*vipResource)(nil)
	_ resource.ResourceWithConfigure      = (*vipResource)(nil)
	_ resource.ResourceWithImportState    = (*vipResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*vipResource)(nil)
	_ resource.ResourceWithValidateConfig = (*vipResource)(nil)
)

// NewVIPResource is the lvs_vip resource.
func NewVIPResource() resource.Resource { return &vipResource{} }

type vipResource struct {
	hosts *remote.Hosts
}

type vipModel struct {
	ID              types.String          `tfsdk:"id"`
	DirectorPairID  types.String          `tfsdk:"director_pair_id"`
	Addresses       []types.String        `tfsdk:"addresses"`
	Interface       types.String          `tfsdk:"interface"`
	VirtualRouterID types.Int64           `tfsdk:"virtual_router_id"`
	Priority        []types.Int64         `tfsdk:"priority"`
	AdvertInterval  types.String          `tfsdk:"advert_interval"`
	VRRPVersion     types.Int64           `tfsdk:"vrrp_version"`
	Preempt         types.Bool            `tfsdk:"preempt"`
	PreemptDelay    types.String          `tfsdk:"preempt_delay"`
	Authentication  types.String          `tfsdk:"authentication"`
	TrackInterfaces []trackInterfaceModel `tfsdk:"track_interfaces"`
	TrackScripts    []trackScriptModel    `tfsdk:"track_scripts"`
	Notify          *notifyModel          `tfsdk:"notify"`
	GARP            *garpModel            `tfsdk:"gratuitous_arp"`
	SyncGroup       types.String          `tfsdk:"sync_group"`
	Status          types.List            `tfsdk:"status"`
	Timeouts        timeouts.Value        `tfsdk:"timeouts"`
}

type trackInterfaceModel struct {
	Name   types.String `tfsdk:"name"`
	Weight types.Int64  `tfsdk:"weight"`
}

type trackScriptModel struct {
	Name     types.String `tfsdk:"name"`
	Command  types.String `tfsdk:"command"`
	Interval types.String `tfsdk:"interval"`
	Timeout  types.String `tfsdk:"timeout"`
	Weight   types.Int64  `tfsdk:"weight"`
	Rise     types.Int64  `tfsdk:"rise"`
	Fall     types.Int64  `tfsdk:"fall"`
}

// garpModel is keepalived's garp_master_* settings of the VIP.
type garpModel struct {
	Delay         types.String `tfsdk:"delay"`
	Repeat        types.Int64  `tfsdk:"repeat"`
	Refresh       types.String `tfsdk:"refresh"`
	RefreshRepeat types.Int64  `tfsdk:"refresh_repeat"`
}

type notifyModel struct {
	Master types.String `tfsdk:"master"`
	Backup types.String `tfsdk:"backup"`
	Fault  types.String `tfsdk:"fault"`
}

func (r *vipResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_vip"
}

func (r *vipResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "One VRRP instance on a director pair: the unit of failover. Its addresses live on the master director and move to the other within " +
			"`3 × advert_interval + skew` when the master fails (priority 0 on a graceful stop: at once). It works without any virtual server, " +
			"for an nginx/haproxy pair whose VIP follows a healthy proxy (`track_scripts`).\n\n" +
			"Create and update return once the VIP is served: one director MASTER holding every address, the other BACKUP " +
			"hearing it (or in FAULT, or unreachable). A new VIP waits one Master_Down_Interval for the election, so this takes " +
			"about `3 × advert_interval`. The wait is bounded by `2 × (4 × advert_interval) + 5s` (13 s at the default 1 s); past it the " +
			"apply goes on with a warning that names each director's VRRP state.\n\n" +
			"A planned switchover (`lvs-agent stop`, an upgrade, a preemption) fails no request: the old master keeps its IPv4 addresses " +
			"for 2 s after the new master took over, without answering ARP for them, and meanwhile the new master sends the TCP packets " +
			"of connections it does not know back to it (an eBPF tc classifier and an IPVS fwmark service, both removed after the 2 s), " +
			"so the connections in flight on the old master keep being served there for those 2 s. IPv6 addresses are kept " +
			"while clients still send to them (at most 2 s), without forwarding.\n\n" +
			"**Trust model.** Each director takes VRRP adverts only from the other director of the pair, in every mode (multicast " +
			"and `vrrp_unicast`, VRRPv2 and v3, IPv4 and IPv6): from the address its `host` in the pair's `directors` resolves to " +
			"(which must be the address it has on the pair's `interface`, as the adverts come from it) and, for IPv6, whose adverts " +
			"come from link-local addresses, from the link-local address the agent pins as the peer's because it answers neighbour " +
			"discovery with the same MAC address as the peer's `host`. Adverts from anyone else — whatever their priority, version or " +
			"destination — are dropped before the state machine sees them and counted as `not_peer` in `lvs-agent status` (the first " +
			"from each source is logged); they cannot move the VIP, and only the peer can make a director open the handover window " +
			"described above. Every advert must also arrive with TTL (hop limit) 255, unicast ones included, so none comes from beyond " +
			"the link.\n\n" +
			"What this cannot do: VRRP has no real authentication (VRRPv3 none at all; the VRRPv2 `authentication` password travels " +
			"in clear text and is not security, only a guard against a misconfigured neighbour), so a host on the same link that " +
			"forges the peer's source address (and, for IPv6, answers neighbour discovery with or forges the peer's MAC address) can " +
			"still inject adverts and move the VIP or deny it. Keep such hosts off the directors' VRRP link: use a dedicated VLAN (or " +
			"link) for the directors' `interface`, with clients reaching the VIPs through a router, and consider `vrrp_unicast` on the " +
			"pair, which keeps the adverts off the multicast group every host on the LAN receives.\n\n" +
			"The ID is `PAIR_ID/vrid/N`, e.g. `edge@198.51.100.11,198.51.100.12/vrid/91`.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "`PAIR_ID/vrid/N`. Virtual servers refer to the VIP by it."},
			"director_pair_id": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "ID of the `lvs_director_pair` that runs this VIP.",
			},
			"addresses": schema.ListAttribute{
				ElementType:         types.StringType,
				Required:            true,
				MarkdownDescription: "Virtual addresses, `ADDR` or `ADDR/LEN` (default /32 and /128). IPv4 and IPv6 may be mixed with VRRPv3.",
				Validators:          []validatorList{listvalidator.SizeAtLeast(1)},
			},
			"virtual_router_id": schema.Int64Attribute{
				Required:            true,
				MarkdownDescription: "VRRP virtual router ID, 1-255, unique per pair and interface (and per LAN segment: keepalived peers on the same link must not reuse it). Changing it replaces the VIP.",
				Validators:          []validatorInt64{int64validator.Between(1, 255)},
				PlanModifiers:       []planmodifier.Int64{int64planmodifier.RequiresReplace()},
			},
			"priority": schema.ListAttribute{
				ElementType: types.Int64Type,
				Optional:    true,
				Computed:    true,
				Default:     listdefault.StaticValue(types.ListValueMust(types.Int64Type, []attr.Value{types.Int64Value(150), types.Int64Value(100)})),
				MarkdownDescription: "VRRP priority of each director, in the order of the pair's `directors`: 1-254, or 255 for the address owner; the two must differ. " +
					"Default `[150, 100]`: the first director is master while it is healthy.",
				Validators: []validatorList{listvalidator.SizeBetween(2, 2)},
			},
			"advert_interval": schema.StringAttribute{
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString("1s"),
				MarkdownDescription: "Advertisement interval as a duration: VRRPv3 10ms to 40.95s in steps of 10ms (e.g. `100ms`), VRRPv2 whole seconds. Default `1s`.",
			},
			"vrrp_version": schema.Int64Attribute{
				Optional:            true,
				Computed:            true,
				Default:             int64default.StaticInt64(3),
				MarkdownDescription: "VRRP version: `3` (RFC 5798/9568, IPv4 and IPv6, default) or `2` (RFC 3768, for keepalived peers configured with v2).",
				Validators:          []validatorInt64{int64validator.OneOf(2, 3)},
			},
			"preempt": schema.BoolAttribute{
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(true),
				MarkdownDescription: "A higher-priority director takes the VIP back from a lower-priority master. `false` keeps the current master until it fails. Default `true`.",
			},
			"preempt_delay": schema.StringAttribute{
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString("0s"),
				MarkdownDescription: "How long a director waits after start before preempting, as a duration. Default `0s`.",
			},
			"authentication": schema.StringAttribute{
				Optional:            true,
				Sensitive:           true,
				MarkdownDescription: "VRRPv2 simple password (`PASS`, at most 8 bytes), for keepalived peers that use `authentication { auth_type PASS }`. VRRPv3 has no authentication. It is sent in clear on the wire and kept (marked sensitive) in state.",
			},
			"track_interfaces": schema.ListNestedAttribute{
				Optional:            true,
				MarkdownDescription: "Links whose state the VIP follows. A link down puts the director in FAULT (weight unset or 0), or its priority changes by `weight` as keepalived's `track_interface` does: a negative weight is subtracted while the link is down, a positive one added while it is up.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"name":   schema.StringAttribute{Required: true, MarkdownDescription: "Interface name, e.g. `eth1` (not `all` or `default`).", Validators: []validatorString{interfaceName{}}},
					"weight": schema.Int64Attribute{Optional: true, MarkdownDescription: "-253 to 253. Negative: subtracted from the priority while the link is down. Positive: added while it is up. Unset or 0: FAULT while it is down.", Validators: []validatorInt64{int64validator.Between(-253, 253)}},
				}},
			},
			"track_scripts": schema.ListNestedAttribute{
				Optional:            true,
				MarkdownDescription: "Commands run on each director; exit status 0 is success. After `fall` failures the script is failing, after `rise` successes it is passing again; a failing script puts the director in FAULT (weight unset or 0), or its priority changes by `weight` as keepalived's `track_script` does: a negative weight is subtracted while it fails, a positive one added while it passes. This is how a VIP follows a healthy nginx or haproxy.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"name":     schema.StringAttribute{Required: true, MarkdownDescription: "Name, unique in this VIP (shown in status and logs)."},
					"command":  schema.StringAttribute{Required: true, Sensitive: true, MarkdownDescription: "Command line, run with `/bin/sh -c` as root on the director. Sensitive (it may carry credentials): hidden in plans and logs, kept in state."},
					"interval": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("2s"), MarkdownDescription: "Time between runs. Default `2s`."},
					"timeout":  schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("2s"), MarkdownDescription: "A run still going after this is killed and counts as a failure. Default `2s`."},
					"weight":   schema.Int64Attribute{Optional: true, MarkdownDescription: "-253 to 253. Negative: subtracted from the priority while the script fails. Positive: added while it passes. Unset or 0: FAULT while it fails.", Validators: []validatorInt64{int64validator.Between(-253, 253)}},
					"rise":     schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(1), MarkdownDescription: "Successes in a row that restore the director. Default 1.", Validators: []validatorInt64{int64validator.AtLeast(1)}},
					"fall":     schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(1), MarkdownDescription: "Failures in a row that count as failed. Default 1.", Validators: []validatorInt64{int64validator.AtLeast(1)}},
				}},
			},
			"notify": schema.SingleNestedAttribute{
				Optional: true,
				MarkdownDescription: "Commands run on a director when this VIP's state changes there, with the new state (`MASTER`, `BACKUP`, `FAULT`) as last argument and `LVS_VRRP_STATE`, `LVS_VRRP_VRID` in the environment. " +
					"They are sensitive (they may carry credentials): hidden in plans and logs, kept in state.",
				Attributes: map[string]schema.Attribute{
					"master": schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "Run on becoming master. Sensitive."},
					"backup": schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "Run on becoming backup. Sensitive."},
					"fault":  schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "Run on entering FAULT. Sensitive."},
				},
			},
			"gratuitous_arp": schema.SingleNestedAttribute{
				Optional: true,
				MarkdownDescription: "How the director that becomes master announces the addresses, so that switches and neighbours send to it at once: " +
					"gratuitous ARPs (IPv4) and unsolicited neighbour advertisements (IPv6), a burst of `repeat` per address on taking over, a second burst `delay` later, " +
					"and, while it stays master, a burst of `refresh_repeat` every `refresh`. These are keepalived's `garp_master_delay`, `garp_master_repeat`, " +
					"`garp_master_refresh` and `garp_master_refresh_repeat` (and the `vrrp_garp_master_*` defaults of `global_defs`). " +
					"Unset, the VIP uses keepalived's defaults (5 per address at once, 5 more after 5s, no refresh); an attribute left out of the object takes its default.\n\n" +
					"A change is an in-place update that the agents apply live: the master keeps the VIP (no election, no failover) and sends one burst " +
					"at once under the new settings, then follows them.",
				Attributes: map[string]schema.Attribute{
					"delay": schema.StringAttribute{
						Optional: true, Computed: true, Default: stringdefault.StaticString("5s"),
						MarkdownDescription: "When the second burst follows the first after a takeover, for switches that were still learning when the first went out: " +
							"a duration from `0s` (no second burst) to `1h`. keepalived `garp_master_delay`. Default `5s`.",
					},
					"repeat": schema.Int64Attribute{
						Optional: true, Computed: true, Default: int64default.StaticInt64(5),
						MarkdownDescription: "Frames per address in each of the two bursts of a takeover, 1-255. keepalived `garp_master_repeat`. Default `5`.",
						Validators:          []validatorInt64{int64validator.Between(1, agentapi.MaxGARPRepeat)},
					},
					"refresh": schema.StringAttribute{
						Optional: true, Computed: true, Default: stringdefault.StaticString("0s"),
						MarkdownDescription: "Period of the bursts the master sends for as long as it stays master, for neighbours and switches that forget entries: " +
							"`0s` (off) or a duration from `1s` to `24h`. keepalived `garp_master_refresh`. Default `0s`.",
					},
					"refresh_repeat": schema.Int64Attribute{
						Optional: true, Computed: true, Default: int64default.StaticInt64(1),
						MarkdownDescription: "Frames per address in each refresh burst, 1-255. keepalived `garp_master_refresh_repeat`. Default `1`.",
						Validators:          []validatorInt64{int64validator.Between(1, agentapi.MaxGARPRepeat)},
					},
				},
			},
			"interface": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "Interface the addresses are held on and announced on (gratuitous ARP, unsolicited NA, with `gratuitous_arp`'s settings), as keepalived's `dev` in `virtual_ipaddress`: e.g. the inside gateway address of a two-armed NAT director on `eth1` while VRRP runs on the pair's `eth0`. " +
					"Unset: the pair's interface. VRRP adverts always use the pair's interface. Both directors must have it: a director without it refuses the VIP with nothing changed on it, and a create is undone on the other director. " +
					"The director that gives the VIP up stops answering ARP for it on this interface during a planned handover; the handover's forwarding window (see the Operations guide) applies on the pair's interface only. " +
					"An address of this VIP found on the pair's interface (moved by hand) is removed and put back here by the agent within 2 s. " +
					"For addresses on two links, use one `lvs_vip` per link in one `sync_group`. " +
					"Changed in place: each director restarts the VIP's VRRP instance, so the VIP moves to the peer and back.",
			},
			"sync_group": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "Name of a sync group (keepalived's `vrrp_sync_group`): the VIPs of one pair with the same `sync_group` fail over together, so that, say, a NAT director's outside and inside VIPs are never split between the directors. " +
					"When a member leaves MASTER (the peer is better, or a tracked object fails) every member leaves; the members take over together once each of them would, and stay backup while one of them hears a better master. " +
					"Tracking is shared: a member's FAULT is every member's, and the weights of all members' tracked objects add up on each. " +
					"Letters, digits, `_`, `-` and `.`, at most 64; all members must be on one pair and prefer the same director (`priority`). " +
					"Changed in place: the agents regroup live, without restarting VRRP; a VIP that joins a group may move once so that the group is on one director, and one that leaves it (or is deleted) leaves the others where they are.",
			},
			"status": schema.ListAttribute{
				ElementType:         types.StringType,
				Computed:            true,
				MarkdownDescription: "Per director: `ready` when its agent holds this VIP as configured, `missing` when it lost it, `unreachable` when the director could not be reached (see `lvs_director_pair`; the VIP was read from, and changes applied to, the other director). `keepalived` on a director the pair has with `run_by = \"keepalived\"`, which is left to keepalived (not written, not read). Anything but `ready` shows as a change that apply repairs. The live VRRP role is in the `lvs_director_status` data source.",
			},
		},
		Blocks: map[string]schema.Block{"timeouts": timeoutsBlock(ctx)},
	}
}

func (r *vipResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.hosts = hostsFrom(req.ProviderData, &resp.Diagnostics)
}

// wireVIP builds the agent's VIP from a fully known model; errors name the attribute.
func wireVIP(m vipModel) (*agentapi.VIP, *agentapi.Error) {
	v := &agentapi.VIP{
		VRID:    int(m.VirtualRouterID.ValueInt64()),
		Version: int(m.VRRPVersion.ValueInt64()),
		Preempt: m.Preempt.ValueBool(),
	}
	if m.VRRPVersion.IsNull() || m.VRRPVersion.IsUnknown() {
		v.Version = 3
	}
	if m.Preempt.IsNull() {
		v.Preempt = true
	}
	for _, a := range m.Addresses {
		v.Addresses = append(v.Addresses, a.ValueString())
	}
	prio := m.Priority
	if len(prio) == 0 {
		prio = []types.Int64{types.Int64Value(150), types.Int64Value(100)}
	}
	for i := 0; i < 2 && i < len(prio); i++ {
		v.Priorities[i] = int(prio[i].ValueInt64())
	}
	interval := m.AdvertInterval.ValueString()
	if m.AdvertInterval.IsNull() || interval == "" {
		interval = "1s"
	}
	d, err := time.ParseDuration(interval)
	if err != nil || d <= 0 || d%(10*time.Millisecond) != 0 {
		return nil, agentapi.Invalid("advert_interval", fmt.Sprintf("%q is not a positive duration in steps of 10ms, such as \"1s\" or \"100ms\"", interval))
	}
	v.AdvertIntervalCS = int(d / (10 * time.Millisecond))
	if s := m.PreemptDelay.ValueString(); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return nil, agentapi.Invalid("preempt_delay", fmt.Sprintf("%q is not a duration such as \"30s\"", s))
		}
		v.PreemptDelayMS = int(d / time.Millisecond)
	}
	v.AuthPass = m.Authentication.ValueString()
	for _, t := range m.TrackInterfaces {
		v.TrackInterfaces = append(v.TrackInterfaces, agentapi.TrackInterface{Name: t.Name.ValueString(), Weight: int(t.Weight.ValueInt64())})
	}
	for i, t := range m.TrackScripts {
		ts := agentapi.TrackScript{Name: t.Name.ValueString(), Command: t.Command.ValueString(), Weight: int(t.Weight.ValueInt64()), Rise: int(t.Rise.ValueInt64()), Fall: int(t.Fall.ValueInt64())}
		if t.Rise.IsNull() {
			ts.Rise = 1
		}
		if t.Fall.IsNull() {
			ts.Fall = 1
		}
		for name, dst := range map[string]*int{"interval": &ts.IntervalMS, "timeout": &ts.TimeoutMS} {
			s := "2s"
			if name == "interval" && !t.Interval.IsNull() {
				s = t.Interval.ValueString()
			}
			if name == "timeout" && !t.Timeout.IsNull() {
				s = t.Timeout.ValueString()
			}
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return nil, agentapi.Invalid(fmt.Sprintf("track_scripts[%d].%s", i, name), fmt.Sprintf("%q is not a positive duration such as \"2s\"", s))
			}
			*dst = int(d / time.Millisecond)
		}
		v.TrackScripts = append(v.TrackScripts, ts)
	}
	if n := m.Notify; n != nil {
		v.Notify = &agentapi.Notify{Master: n.Master.ValueString(), Backup: n.Backup.ValueString(), Fault: n.Fault.ValueString()}
	}
	if g := m.GARP; g != nil {
		w, ae := wireGARP(g)
		if ae != nil {
			return nil, ae
		}
		v.GARP = w
	}
	v.SyncGroup = m.SyncGroup.ValueString()
	v.Interface = m.Interface.ValueString()
	if err := v.Validate(); err != nil {
		var ae *agentapi.Error
		if errors.As(err, &ae) {
			return nil, ae
		}
		return nil, agentapi.Invalid("virtual_router_id", err.Error())
	}
	return v, nil
}

// wireGARP is the agent's form of gratuitous_arp; an attribute left unset (in a configuration
// being validated) is its default.
func wireGARP(g *garpModel) (*agentapi.GARP, *agentapi.Error) {
	w := agentapi.DefaultGARP
	if !g.Repeat.IsNull() {
		w.Repeat = int(g.Repeat.ValueInt64())
	}
	if !g.RefreshRepeat.IsNull() {
		w.RefreshRepeat = int(g.RefreshRepeat.ValueInt64())
	}
	for _, f := range []struct {
		name string
		v    types.String
		dst  *int
	}{{"delay", g.Delay, &w.DelayMS}, {"refresh", g.Refresh, &w.RefreshMS}} {
		if f.v.IsNull() {
			continue
		}
		d, err := time.ParseDuration(f.v.ValueString())
		if err != nil || d < 0 || d%time.Millisecond != 0 {
			return nil, agentapi.Invalid("gratuitous_arp."+f.name, fmt.Sprintf("%q is not a duration in whole milliseconds such as \"5s\"", f.v.ValueString()))
		}
		*f.dst = int(d / time.Millisecond)
	}
	return &w, nil
}

func (r *vipResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	root, ok := configRoot(ctx, req.Config, &resp.Diagnostics)
	if !ok {
		return
	}
	n := resp.Diagnostics.ErrorsCount()
	checkVIP(checks{diags: &resp.Diagnostics, summary: summaryInvalidVIP}, root)
	if resp.Diagnostics.ErrorsCount() > n || !fullyKnown(req.Config) {
		return
	}
	// The agent's own rules, the last word at apply, when everything is known.
	var m vipModel
	if resp.Diagnostics.Append(req.Config.Get(ctx, &m)...); resp.Diagnostics.HasError() {
		return
	}
	if _, ae := wireVIP(m); ae != nil {
		addFieldError(&resp.Diagnostics, summaryInvalidVIP, ae)
	}
}

func (r *vipResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var plan vipModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var prior vipModel
	if !req.State.Raw.IsNull() {
		resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	}
	checkSyncGroupPlan(r.hosts, plan, &resp.Diagnostics)
	pairHosts, _ := vipHosts(plan)
	learnRunBy(r.hosts, pairHosts, prior.Status)
	plan.Status = plannedStatus(r.hosts, prior.Status, pairHosts)
	plan.ID = types.StringUnknown()
	if !plan.DirectorPairID.IsUnknown() && !plan.VirtualRouterID.IsUnknown() {
		if p, err := resourceid.ParsePair(plan.DirectorPairID.ValueString()); err == nil {
			plan.ID = types.StringValue(resourceid.VIP{Pair: p, VRID: int(plan.VirtualRouterID.ValueInt64())}.String())
		}
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func vipHosts(m vipModel) ([]string, error) {
	p, err := resourceid.ParsePair(m.DirectorPairID.ValueString())
	if err != nil {
		return nil, err
	}
	return p.Hosts[:], nil
}

func (r *vipResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan vipModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, plan.Timeouts, opCreate, &resp.Diagnostics)
	defer cancel()
	v, ae := wireVIP(plan)
	if ae != nil {
		addFieldError(&resp.Diagnostics, summaryInvalidVIP, ae)
		return
	}
	hosts, err := vipHosts(plan)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("director_pair_id"), summaryInvalidPairID, err.Error())
		return
	}
	// Create-only writes, one director after the other in the pair's order: a VRID another VIP
	// holds is refused with nothing changed, and of two creates of one VRID (two lvs_vip with
	// the same virtual_router_id) the one that takes the first director takes both. A director
	// that cannot be reached is warned about; the other serves the VIP.
	id := resourceid.VIP{Pair: mustPair(plan.DirectorPairID.ValueString()), VRID: v.VRID}
	planned := plan.Status
	put := make([]bool, len(hosts))
	diags, _ := onDirectorsInOrder(hosts, path.Root("director_pair_id"), fmt.Sprintf("VIP %d was created on the other director only, which serves it.", v.VRID), func(i int, h string) error {
		a := r.hosts.Agent(h)
		_, err := a.CreateVIP(ctx, v)
		if errors.Is(err, agentapi.ErrExists) {
			return &diagError{at: path.Root("virtual_router_id"), summary: "VIP Already Exists", detail: vipExistsDetail(ctx, a, id, err)}
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
				if err := r.hosts.Agent(h).DeleteVIP(ctx, v.VRID); err != nil {
					summary, detail := remote.Describe(h, err)
					resp.Diagnostics.AddWarning(summaryCleanupFailedCreate+summary, detail)
				}
			}
		}
		return
	}
	resp.Diagnostics.Append(diags...)
	r.waitVIPServed(ctx, hosts, v, &resp.Diagnostics)
	if r.readInto(ctx, &plan, &resp.Diagnostics, "") {
		becameUnreachable(planned, plan.Status, hosts, path.Root("director_pair_id"), &resp.Diagnostics)
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	}
}

// vipExistsDetail explains a create refused because the director holds a VIP with the VRID.
func vipExistsDetail(ctx context.Context, a *agentclient.Client, id resourceid.VIP, err error) string {
	held := ""
	if got, gerr := a.VIP(ctx, id.VRID); gerr == nil {
		held = fmt.Sprintf(" (addresses %s)", strings.Join(got.Addresses, ", "))
	}
	return fmt.Sprintf("%s already has a VIP with virtual_router_id %d%s: another lvs_vip resource made it, in this configuration (two lvs_vip with the same virtual_router_id) or in another one. "+
		"Nothing of it was changed.\n\nGive this VIP another virtual_router_id (1-255, unique per pair and per LAN), or manage the existing VIP from this resource by importing it:\n\n"+
		"  terraform import lvs_vip.<resource name> %s\n\n(%s: %v)", id.Pair, id.VRID, held, id, a.Host(), err)
}

func mustPair(id string) resourceid.Pair {
	p, _ := resourceid.ParsePair(id)
	return p
}

// readInto refreshes m from both directors; false when neither holds the VIP. A director that
// cannot be reached is unreachable in the status; skipped says what that meant for it in a
// warning ("" when the caller warned already).
func (r *vipResource) readInto(ctx context.Context, m *vipModel, diags *diag.Diagnostics, skipped string) bool {
	hosts, err := vipHosts(*m)
	if err != nil {
		diags.AddAttributeError(path.Root("director_pair_id"), summaryInvalidPairID, err.Error())
		return false
	}
	learnRunBy(r.hosts, hosts, m.Status)
	vrid := int(m.VirtualRouterID.ValueInt64())
	got := make([]*agentapi.VIP, len(hosts))
	d, down := onDirectors(hosts, path.Root("director_pair_id"), skipped, func(i int, h string) error {
		v, err := r.hosts.Agent(h).VIP(ctx, vrid)
		if errors.Is(err, agentapi.ErrNotFound) {
			return nil
		}
		if errors.Is(err, remoteUnreachable) && remote.SSHFailure(err) == nil {
			// The host answers but its agent does not: the pair shows and repairs that; for
			// this VIP it means missing.
			return nil
		}
		if err != nil {
			return err
		}
		got[i] = v
		return nil
	})
	if skipped == "" {
		d = d.Errors()
	}
	diags.Append(d...)
	if d.HasError() {
		return false
	}
	want, _ := wireVIP(*m)
	var found *agentapi.VIP
	status := make([]string, len(hosts))
	defer func() { m.Status = stringList(status) }()
	for i, v := range got {
		status[i] = string(statusAt(r.hosts, hosts[i], v != nil, down[i]))
		if v == nil {
			continue
		}
		if found == nil || want == nil || !reflect.DeepEqual(v, want) {
			found = v
		}
	}
	if found == nil {
		// Not on the director that answers: gone, even if the other one may still hold it.
		return false
	}
	setVIPModel(m, found)
	if p, err := resourceid.ParsePair(m.DirectorPairID.ValueString()); err == nil {
		m.ID = types.StringValue(resourceid.VIP{Pair: p, VRID: found.VRID}.String())
	}
	return true
}

// setVIPModel writes what an agent holds into m, keeping m's spelling of equal values (a
// duration written "1000ms" stays so when it still means 1s).
func setVIPModel(m *vipModel, v *agentapi.VIP) {
	m.VirtualRouterID = types.Int64Value(int64(v.VRID))
	m.VRRPVersion = types.Int64Value(int64(v.Version))
	m.Preempt = types.BoolValue(v.Preempt)
	m.Addresses = nil
	for _, a := range v.Addresses {
		m.Addresses = append(m.Addresses, types.StringValue(a))
	}
	m.Priority = []types.Int64{types.Int64Value(int64(v.Priorities[0])), types.Int64Value(int64(v.Priorities[1]))}
	m.AdvertInterval = keepDuration(m.AdvertInterval, time.Duration(v.AdvertIntervalCS)*10*time.Millisecond)
	m.PreemptDelay = keepDuration(m.PreemptDelay, time.Duration(v.PreemptDelayMS)*time.Millisecond)
	if v.AuthPass != "" || !m.Authentication.IsNull() {
		m.Authentication = types.StringValue(v.AuthPass)
		if v.AuthPass == "" {
			m.Authentication = types.StringNull()
		}
	}
	var tis []trackInterfaceModel
	for _, t := range v.TrackInterfaces {
		w := types.Int64Null()
		if t.Weight != 0 {
			w = types.Int64Value(int64(t.Weight))
		}
		tis = append(tis, trackInterfaceModel{Name: types.StringValue(t.Name), Weight: w})
	}
	m.TrackInterfaces = tis
	m.Interface = optString(v.Interface)
	m.SyncGroup = types.StringNull()
	if v.SyncGroup != "" {
		m.SyncGroup = types.StringValue(v.SyncGroup)
	}
	old := map[string]trackScriptModel{}
	for _, t := range m.TrackScripts {
		old[t.Name.ValueString()] = t
	}
	var tss []trackScriptModel
	for _, t := range v.TrackScripts {
		o := old[t.Name]
		w := types.Int64Null()
		if t.Weight != 0 {
			w = types.Int64Value(int64(t.Weight))
		}
		tss = append(tss, trackScriptModel{
			Name: types.StringValue(t.Name), Command: types.StringValue(t.Command),
			Interval: keepDuration(o.Interval, time.Duration(t.IntervalMS)*time.Millisecond),
			Timeout:  keepDuration(o.Timeout, time.Duration(t.TimeoutMS)*time.Millisecond),
			Weight:   w, Rise: types.Int64Value(int64(t.Rise)), Fall: types.Int64Value(int64(t.Fall)),
		})
	}
	m.TrackScripts = tss
	if g := v.GARP; g != nil {
		var old garpModel
		if m.GARP != nil {
			old = *m.GARP
		}
		m.GARP = &garpModel{
			Delay:         keepDuration(old.Delay, time.Duration(g.DelayMS)*time.Millisecond),
			Repeat:        types.Int64Value(int64(g.Repeat)),
			Refresh:       keepDuration(old.Refresh, time.Duration(g.RefreshMS)*time.Millisecond),
			RefreshRepeat: types.Int64Value(int64(g.RefreshRepeat)),
		}
	} else {
		m.GARP = nil
	}
	if n := v.Notify; n != nil && (n.Master != "" || n.Backup != "" || n.Fault != "") {
		m.Notify = &notifyModel{Master: optString(n.Master), Backup: optString(n.Backup), Fault: optString(n.Fault)}
	} else {
		m.Notify = nil
	}
}

func optString(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

// keepDuration returns prev when it spells d, else d in Go's duration syntax.
func keepDuration(prev types.String, d time.Duration) types.String {
	if !prev.IsNull() && !prev.IsUnknown() {
		if p, err := time.ParseDuration(prev.ValueString()); err == nil && p == d {
			return prev
		}
	}
	return types.StringValue(d.String())
}

func (r *vipResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state vipModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, state.Timeouts, opRead, &resp.Diagnostics)
	defer cancel()
	if !r.readInto(ctx, &state, &resp.Diagnostics, fmt.Sprintf("%s was read from the other director.", state.ID.ValueString())) {
		if !resp.Diagnostics.HasError() {
			resp.State.RemoveResource(ctx)
		}
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *vipResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state vipModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, plan.Timeouts, opUpdate, &resp.Diagnostics)
	defer cancel()
	v, ae := wireVIP(plan)
	if ae != nil {
		addFieldError(&resp.Diagnostics, summaryInvalidVIP, ae)
		return
	}
	hosts, err := vipHosts(plan)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("director_pair_id"), summaryInvalidPairID, err.Error())
		return
	}
	planned := plan.Status
	learnRunBy(r.hosts, hosts, planned)
	put, _ := onDirectors(hosts, path.Root("director_pair_id"), fmt.Sprintf("The change to VIP %d was applied to the other director only.", v.VRID), func(_ int, h string) error {
		_, err := r.hosts.Agent(h).PutVIP(ctx, v)
		return err
	})
	resp.Diagnostics.Append(put...)
	if resp.Diagnostics.HasError() {
		return
	}
	// A director replaced in the pair was cleaned by the pair's update; a host that is gone
	// from the pair but still answers loses the VIP here.
	if oldHosts, err := vipHosts(state); err == nil {
		for _, h := range oldHosts {
			if contains(hosts, h) {
				continue
			}
			if err := r.hosts.Agent(h).DeleteVIP(ctx, v.VRID); err != nil && !errors.Is(err, agentapi.ErrNotFound) && !errors.Is(err, remoteUnreachable) {
				summary, detail := remote.Describe(h, err)
				resp.Diagnostics.AddWarning("Removing The VIP From A Former Director: "+summary, detail)
			}
		}
	}
	r.waitVIPServed(ctx, hosts, v, &resp.Diagnostics)
	if r.readInto(ctx, &plan, &resp.Diagnostics, "") {
		becameUnreachable(planned, plan.Status, hosts, path.Root("director_pair_id"), &resp.Diagnostics)
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	}
}

func (r *vipResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state vipModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, state.Timeouts, opDelete, &resp.Diagnostics)
	defer cancel()
	hosts, err := vipHosts(state)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("director_pair_id"), summaryInvalidPairID, err.Error())
		return
	}
	vrid := int(state.VirtualRouterID.ValueInt64())
	learnRunBy(r.hosts, hosts, state.Status)
	d, _ := onDirectors(hosts, path.Root("director_pair_id"), fmt.Sprintf("VIP %d was deleted from the other director only. %s", vrid, staleOnReturn), func(_ int, h string) error {
		err := r.hosts.Agent(h).DeleteVIP(ctx, vrid)
		if errors.Is(err, agentapi.ErrNotFound) {
			return nil
		}
		return err
	})
	resp.Diagnostics.Append(d...)
}

func (r *vipResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	id, err := resourceid.ParseVIP(req.ID)
	if err != nil {
		resp.Diagnostics.AddError(summaryInvalidImportID, err.Error())
		return
	}
	m := vipModel{
		ID: types.StringValue(id.String()), DirectorPairID: types.StringValue(id.Pair.String()),
		VirtualRouterID: types.Int64Value(int64(id.VRID)),
		AdvertInterval:  types.StringNull(), PreemptDelay: types.StringNull(), Authentication: types.StringNull(),
		VRRPVersion: types.Int64Null(), Preempt: types.BoolNull(),
	}
	m.Timeouts = nullTimeouts()
	if !r.readInto(ctx, &m, &resp.Diagnostics, "It was imported from the other director.") {
		if !resp.Diagnostics.HasError() {
			resp.Diagnostics.AddError("VIP Not Found", fmt.Sprintf("Neither director of %s holds a VIP with virtual_router_id %d.", id.Pair, id.VRID))
		}
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
