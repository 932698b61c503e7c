package provider

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
	"github.com/lvs-provider/terraform-provider-lvs/internal/resourceid"
)

var (
	_ resource.Resource                   = (*directorPairResource)(nil)
	_ resource.ResourceWithConfigure      = (*directorPairResource)(nil)
	_ resource.ResourceWithImportState    = (*directorPairResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*directorPairResource)(nil)
	_ resource.ResourceWithValidateConfig = (*directorPairResource)(nil)
)

// NewDirectorPairResource is the lvs_director_pair resource.
func NewDirectorPairResource() resource.Resource { return &directorPairResource{} }

type directorPairResource struct {
	hosts *remote.Hosts
}

type directorPairModel struct {
	ID              types.String       `tfsdk:"id"`
	Name            types.String       `tfsdk:"name"`
	PairUUID        types.String       `tfsdk:"pair_uuid"`
	Directors       []directorModel    `tfsdk:"directors"`
	SyncConnections types.Bool         `tfsdk:"sync_connections"`
	IPVSTimeouts    *ipvsTimeoutsModel `tfsdk:"ipvs_timeouts"`
	SyncDaemon      *syncDaemonModel   `tfsdk:"sync_daemon"`
	VRRPUnicast     types.Bool         `tfsdk:"vrrp_unicast"`
	Metrics         *metricsModel      `tfsdk:"metrics"`
	LogLevel        types.String       `tfsdk:"log_level"`
	KeepalivedStop  types.String       `tfsdk:"keepalived_stop_command"`
	Timeouts        timeouts.Value     `tfsdk:"timeouts"`
}

type directorModel struct {
	Host         types.String `tfsdk:"host"`
	Interface    types.String `tfsdk:"interface"`
	VRRPAddress  types.String `tfsdk:"vrrp_address"`
	RunBy        types.String `tfsdk:"run_by"`
	AgentVersion types.String `tfsdk:"agent_version"`
	Status       types.String `tfsdk:"status"`
}

type syncDaemonModel struct {
	Interface types.String `tfsdk:"interface"`
	ID        types.Int64  `tfsdk:"id"`
	Port      types.Int64  `tfsdk:"port"`
	TTL       types.Int64  `tfsdk:"ttl"`
	MaxLength types.Int64  `tfsdk:"max_length"`
	Group     types.String `tfsdk:"group"`
}

type metricsModel struct {
	Listen types.String `tfsdk:"listen"`
}

type ipvsTimeoutsModel struct {
	TCP    types.String `tfsdk:"tcp"`
	TCPFin types.String `tfsdk:"tcp_fin"`
	UDP    types.String `tfsdk:"udp"`
}

func (r *directorPairResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_director_pair"
}

func (r *directorPairResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	timeout := func(what string) schema.StringAttribute {
		return schema.StringAttribute{
			Optional:            true,
			MarkdownDescription: fmt.Sprintf("Timeout of %s, a duration in whole seconds such as `\"900s\"` or `\"15m\"` (`ipvsadm --set`). Unset or `\"0s\"` keeps the kernel's value.", what),
		}
	}
	resp.Schema = schema.Schema{
		// Version 1: ipvs_timeouts are durations ("900s"); version 0 had bare seconds (900).
		Version: 1,
		MarkdownDescription: "Two LVS directors that share VIPs by VRRP. Create installs and starts `lvs-agent` on both hosts over SSH; destroy removes the pair with its VIPs and virtual servers, and uninstalls the agent from a host that then holds nothing else. " +
			"A director holds one pair: create fails, changing nothing, on a host that holds another pair (see `pair_uuid`), and destroy leaves a host that another pair holds as it is. " +
			"Replacing one director is an in-place update: the configuration moves to the new host and the old one is cleaned.\n\n" +
			"The ID is `NAME@HOST1,HOST2`, e.g. `edge@198.51.100.11,198.51.100.12`.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "`NAME@HOST1,HOST2`. Children refer to the pair by it.",
			},
			"pair_uuid": schema.StringAttribute{
				Computed: true,
				MarkdownDescription: "Identity of the pair, made at create and stored on both directors with the pair's name and the `user@machine:directory (workspace NAME)` that ran the create. " +
					"Create refuses a host that holds a pair with another `pair_uuid`, naming it; import (`NAME@HOST1,HOST2`) adopts the existing `pair_uuid`. " +
					"A pair made before pairs had one gets one on the next apply.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Name of the pair: " + resourceid.NamePattern + ".",
				Validators:          []validatorString{pairNameValidator},
			},
			"directors": schema.ListNestedAttribute{
				Required:            true,
				MarkdownDescription: "Exactly two directors. The order matters: per-director settings of VIPs refer to it.",
				Validators:          []validatorList{listvalidator.SizeBetween(2, 2)},
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"host": schema.StringAttribute{
						Required:            true,
						MarkdownDescription: "Address (or DNS name) the provider reaches the director at over SSH; SSH settings come from the provider's `ssh` block and its `hosts` overrides.",
						Validators:          []validatorString{hostValidator},
					},
					"interface": schema.StringAttribute{
						Required:            true,
						MarkdownDescription: "Network interface that carries the VIPs and VRRP on this director, e.g. `eth0`.",
						Validators:          []validatorString{interfaceName{}},
					},
					"vrrp_address": schema.StringAttribute{
						Optional: true,
						MarkdownDescription: "This director's IP address on the VRRP link, for a director whose `host` is not on that link (keepalived's `unicast_src_ip`, and `unicast_peer` on the other director). For VIP addresses of its family, the director's adverts are sent from it (IPv6 adverts too, instead of the link-local address) and, with `vrrp_unicast`, the other director sends its adverts to it; the other director takes adverts from it. " +
							"It must be an address of `interface` (the agent does not add it: a VIP that finds it missing reports the error), not a VIP, and of one family with the other director's. VIPs of the other family go on using `host`. Unset: `host`, and for IPv4 the interface's address the director is reached at or its first one.",
						Validators: []validatorString{vrrpAddressValidator},
					},
					"run_by": schema.StringAttribute{
						Optional: true,
						MarkdownDescription: "What runs this director: `agent` (unset: the default) or `keepalived`, for the live migration of a keepalived pair one director at a time (see the guide Migrating from keepalived). " +
							"A director run by keepalived is not installed, configured or read by any resource or data source: its `status` is `keepalived`, and the agent on the other director peers with its keepalived by VRRP, so the VIPs' settings must be the ones its keepalived.conf has (`convert-keepalived` writes them). At most one director may be run by keepalived. " +
							"Changing it from `keepalived` to `agent` switches that director in one apply, without an outage: the other director's agent, which must be ready, takes every VIP over (its priority raised for the moment; this director keeps the IPv4 VIPs on its loopback, answering no ARP for them, for the 3 s in which that agent sends back the packets of the connections keepalived was serving), keepalived is stopped and disabled there (see `keepalived_stop_command`), the agent is installed and gets the whole configuration, and once it is ready the priorities are restored (a preempting director takes its VIPs back). " +
							"Going back from `agent` to `keepalived` is refused: remove the pair instead.",
						Validators: []validatorString{stringvalidator.OneOf(runByAgent, runByKeepalived)},
					},
					"agent_version": schema.StringAttribute{
						Computed:            true,
						MarkdownDescription: "Version of the `lvs-agent` answering on the director; empty when none answers. A plan that changes it upgrades, reinstalls or restarts the agent; it is planned to change only when the bundled agent differs from the running one by content, and an apply that restarts agents does it one director at a time, the backup first (see Upgrading the provider and the agents on the provider's page).",
					},
					"status": schema.StringAttribute{
						Computed: true,
						MarkdownDescription: "What the provider found on the director: `ready`; `agent_missing` (no agent installed, e.g. a rebuilt host); `agent_stopped` (installed, not answering); " +
							"`unconfigured` (the agent lost this pair's configuration); `unreachable` (no SSH connection could be made: the host is down or cut off, see below); " +
							"`stale` (answering again after it was recorded `unreachable`: it may hold what was changed or deleted meanwhile, so apply replaces its whole configuration with the other director's). " +
							"Anything but `ready` shows as a change that apply repairs.\n\n" +
							"An `unreachable` director does not stop Terraform: the pair, its VIPs, virtual servers and real servers are read from and written to the other director, " +
							"with a warning naming the host; its `agent_version` is the last one seen. Apply repairs it if it answers again, and otherwise leaves it unreachable with a warning. " +
							"To replace a dead director, put the new host in its place in `directors` and apply: the new one gets the whole configuration of the other director, " +
							"and the dead one, which could not be cleaned, is named in a warning (run `lvs-agent uninstall` on it should it come back); destroy does the same with a dead director. " +
							"Only a host that cannot be reached degrades so (TCP connection refused or timed out, no route, a name that does not resolve, a bastion that cannot reach it, an SSH handshake that does not finish in `ssh.timeout`); " +
							"an authentication failure, an unknown or changed host key and a sudo refusal are errors, since they mean misconfiguration or an attack. " +
							"A host found unreachable is not dialled again during the same run, so a powered-off director costs one `ssh.timeout` per plan or apply, not one per resource.",
					},
				}},
			},
			"sync_connections": schema.BoolAttribute{
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(true),
				MarkdownDescription: "Run the IPVS connection sync daemon between the two directors so established connections survive a failover. Default `true`.",
			},
			"sync_daemon": schema.SingleNestedAttribute{
				Optional: true,
				MarkdownDescription: "Settings of the connection sync daemon that `sync_connections` runs, like keepalived's `lvs_sync_daemon` and `ipvsadm --start-daemon`; ignored when `sync_connections` is `false`. Both directors run a master and a backup daemon with them. " +
					"To sync with another director that runs keepalived's `lvs_sync_daemon`, give the same `id`, `port` and `group` as its configuration (keepalived's default `id` is the VRRP instance's `virtual_router_id`, ours is derived from the pair's `name`). " +
					"A change restarts the daemons: connections opened meanwhile are not synced. `ipvsadm -L --daemon` shows what the kernel runs; the agent puts back a daemon someone else changed.",
				Attributes: map[string]schema.Attribute{
					"interface": schema.StringAttribute{
						Optional:            true,
						MarkdownDescription: "Interface the daemons send and receive on, on both directors (`ipvsadm --mcast-interface`). Default: each director's `interface`.",
						Validators:          []validatorString{interfaceName{}},
					},
					"id": schema.Int64Attribute{
						Optional:            true,
						MarkdownDescription: "Sync id, 0-255 (`ipvsadm --syncid`): a backup daemon takes only the connections its master sends with the same id; one with id `0` takes every master's. Default: derived from the pair's `name` (1-255), so that two pairs on one link do not take each other's connections.",
						Validators:          []validatorInt64{int64validator.Between(0, 255)},
					},
					"port": schema.Int64Attribute{
						Optional:            true,
						MarkdownDescription: "UDP port of the sync messages, 1-65535 (`--mcast-port`). Default: the kernel's, 8848.",
						Validators:          []validatorInt64{int64validator.Between(1, 65535)},
					},
					"ttl": schema.Int64Attribute{
						Optional:            true,
						MarkdownDescription: "TTL (hop limit) of the sync messages, 1-255 (`--mcast-ttl`). Default: the kernel's, 1.",
						Validators:          []validatorInt64{int64validator.Between(1, 255)},
					},
					"max_length": schema.Int64Attribute{
						Optional:            true,
						MarkdownDescription: fmt.Sprintf("Longest sync message in bytes, 1-%d (`--sync-maxlen`); the kernel raises a backup's to at least 1024. Default: the kernel's, from the interface's MTU (1472 at MTU 1500).", agentapi.MaxSyncLength),
						Validators:          []validatorInt64{int64validator.Between(1, agentapi.MaxSyncLength)},
					},
					"group": schema.StringAttribute{
						Optional:            true,
						MarkdownDescription: "Multicast group of the sync messages, IPv4 or IPv6 (`--mcast-group`). Default: the kernel's, `224.0.0.81`.",
						Validators:          []validatorString{syncDaemonGroupValidator},
					},
				},
			},
			"ipvs_timeouts": schema.SingleNestedAttribute{
				Optional:            true,
				MarkdownDescription: "IPVS connection timeouts on both directors, like `ipvsadm --set TCP TCPFIN UDP`.",
				Attributes: map[string]schema.Attribute{
					"tcp":     timeout("established TCP connections"),
					"tcp_fin": timeout("TCP connections after a FIN"),
					"udp":     timeout("UDP flows"),
				},
			},
			"vrrp_unicast": schema.BoolAttribute{
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(false),
				MarkdownDescription: "Send VRRP adverts to the peer director's address instead of the multicast group 224.0.0.18 / ff02::12, for networks that filter multicast, and to keep them from every other host on the LAN. In either mode a director takes adverts only from the other director (see the trust model in `lvs_vip`); with `vrrp_unicast`, each director's `host` must resolve to an address of every family its VIPs use. Default `false`.",
			},
			"metrics": schema.SingleNestedAttribute{
				Optional: true,
				MarkdownDescription: "Serve Prometheus metrics from each director's agent (off when unset): VRRP state and counters per VIP, the kernel's IPVS counters, weights and the health verdict per real server, health-check latencies and failures, apply durations. " +
					"See the Monitoring guide for the list. A change restarts only the agents' metrics listener: VRRP, health checks and IPVS are not touched.",
				Attributes: map[string]schema.Attribute{
					"listen": schema.StringAttribute{
						Required: true,
						MarkdownDescription: fmt.Sprintf("`HOST:PORT` the agents serve `/metrics` on, over plain HTTP without authentication. Both directors take the same value, so HOST is empty (`\":%d\"`: every address of the director) or an address both have, such as `127.0.0.1` for a collector on each director. ", agentapi.DefaultMetricsPort) +
							"Scrape each director on its own, not through a VIP. Restrict who reaches the port (firewall): the metrics name every virtual and real server.",
						Validators: []validatorString{metricsListen{}},
					},
				},
			},
			"keepalived_stop_command": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "Shell command, run as root, that stops keepalived on a director that switches from `run_by = \"keepalived\"` to the agent, and on a director run by the agent while the other is run by keepalived (when the pair is created); the provider then waits up to 30 s until no `keepalived` process is left. " +
					"Unset: `systemctl disable --now keepalived.service` where that unit exists, else SIGTERM to the PID in `/run/keepalived.pid`. Ignored while no director is run by keepalived.",
				Validators: []validatorString{stringvalidator.LengthAtLeast(1)},
			},
			"log_level": schema.StringAttribute{
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString("info"),
				MarkdownDescription: "The agents' log level: `debug`, `info`, `warn` or `error`. It takes effect at once, without restarting the agents. Their log goes to the systemd journal (`journalctl -u lvs-agent`), or, on hosts without systemd, to `/var/log/lvs-agent.log` (rotated at 10 MB, 3 files kept). Default `info`.",
				Validators:          []validatorString{stringvalidator.OneOf(agentapi.LogLevels...)},
			},
		},
		Blocks: map[string]schema.Block{"timeouts": timeoutsBlock(ctx)},
	}
	// id changes only with name or directors; keep it known otherwise so children plan cleanly.
	idAttr := resp.Schema.Attributes["id"].(schema.StringAttribute)
	idAttr.PlanModifiers = []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema.Attributes["id"] = idAttr
}

func (r *directorPairResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.hosts = hostsFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *directorPairResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	root, ok := configRoot(ctx, req.Config, &resp.Diagnostics)
	if !ok {
		return
	}
	checkPair(checks{diags: &resp.Diagnostics, summary: summaryInvalidPair}, root)
}

// maxIPVSTimeout is the longest IPVS connection timeout: the kernel keeps it in jiffies (at
// HZ=1000) in a signed 32-bit int.
const maxIPVSTimeout = 2147483 * time.Second

// checkPair checks an lvs_director_pair configuration (see configcheck.go).
func checkPair(c checks, root cfgVal) {
	if ds := root.at("directors").elems(); len(ds) == 2 {
		a, b := ds[0].at("host"), ds[1].at("host")
		if a.known() && b.known() && a.str() == b.str() {
			c.failAs(b.p, "Duplicate Director", "Both directors are %q. A pair needs two different hosts, so that one takes over when the other fails.", a.str())
		}
		va, vb := ds[0].at("vrrp_address"), ds[1].at("vrrp_address")
		if va.known() && vb.known() && agentapi.ValidateVRRPAddress(va.str()) == nil && agentapi.ValidateVRRPAddress(vb.str()) == nil {
			if err := agentapi.VRRPAddressPair(va.str(), vb.str()); err != nil {
				c.failAs(vb.p, "Invalid VRRP Address", "%v.", err)
			}
		}
		if ra, rb := ds[0].at("run_by"), ds[1].at("run_by"); ra.known() && rb.known() && ra.str() == runByKeepalived && rb.str() == runByKeepalived {
			c.failAs(rb.p, "Both Directors Run By keepalived", "At most one director may be run by keepalived: the migration moves one director at a time to the agent, and the other one must run it. Set `run_by = \"agent\"` (or leave it unset) on one of them.")
		}
		for i, v := range []cfgVal{va, vb} {
			if other := ds[1-i].at("host"); v.known() && other.known() && v.str() == other.str() {
				c.failAs(v.p, "Invalid VRRP Address", "%s is the other director's host (directors[%d].host): give this director's own address on the VRRP link.", v.str(), 1-i)
			}
		}
	}
	for _, name := range []string{"tcp", "tcp_fin", "udp"} {
		x := root.at("ipvs_timeouts").at(name)
		d, ok := c.duration(x)
		switch {
		case !ok:
		case d%time.Second != 0:
			c.fail(x.p, "%s is not a whole number of seconds: IPVS keeps its connection timeouts in seconds (e.g. \"900s\", \"15m\")", x.str())
		case d < 0 || d > maxIPVSTimeout:
			c.fail(x.p, "%s is outside 0s-%s (\"0s\" keeps the kernel's value)", x.str(), maxIPVSTimeout)
		}
	}
}

// ModifyPlan plans every director as ready with the bundled agent, so that a stopped, missing,
// outdated or wiped agent shows as a change; an agent that already runs the bundled binary keeps
// its version (see plannedAgentVersion).
func (r *directorPairResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var plan directorPairModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var state *directorPairModel
	if !req.State.Raw.IsNull() {
		state = &directorPairModel{}
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
		if resp.Diagnostics.HasError() {
			return
		}
	}
	notePlannedRunBy(r.hosts, plan)
	for i := range plan.Directors {
		d := plan.Directors[i]
		var prior *directorModel
		if state != nil && i < len(state.Directors) && state.Directors[i].Host.Equal(d.Host) {
			prior = &state.Directors[i]
		}
		if d.keepalived() {
			if prior != nil && !prior.keepalived() {
				resp.Diagnostics.AddAttributeError(path.Root("directors").AtListIndex(i).AtName("run_by"), "Director Cannot Go Back To keepalived",
					fmt.Sprintf("%s runs the agent; run_by = \"keepalived\" is only for a director that still runs keepalived when it joins the pair. To hand the director back to keepalived, destroy the pair (or remove the director from it) first.", d.Host.ValueString()))
			}
			plan.Directors[i].AgentVersion = types.StringValue("")
			plan.Directors[i].Status = statusKeepalived.value()
			continue
		}
		if prior != nil && prior.keepalived() {
			resp.Diagnostics.AddAttributeWarning(path.Root("directors").AtListIndex(i).AtName("run_by"), "Director Switches From keepalived To The Agent",
				fmt.Sprintf("Apply switches %s to the agent without an outage: the other director's agent takes every VIP over (its priority raised for the moment), keepalived is stopped and disabled on %s, the agent is installed there with the whole configuration, and once it is ready the configured priorities are restored. "+
					"The other director's agent must be ready, or the apply changes nothing and fails.", d.Host.ValueString(), d.Host.ValueString()))
		}
		plan.Directors[i].AgentVersion = r.plannedAgentVersion(ctx, state, plan, i, &resp.Diagnostics)
		plan.Directors[i].Status = statusReady.value()
		if state != nil && i < len(state.Directors) && state.Directors[i].Host.Equal(plan.Directors[i].Host) && statusUnreachable.is(state.Directors[i].Status) {
			// Repaired if it answers when apply runs, else still unreachable: the apply tells.
			plan.Directors[i].AgentVersion = types.StringUnknown()
			plan.Directors[i].Status = types.StringUnknown()
		}
	}
	if !req.State.Raw.IsNull() && plan.PairUUID.ValueString() == "" {
		// A pair stored before pairs had a UUID: the next apply gives it one.
		plan.PairUUID = types.StringUnknown()
	}
	plan.ID = types.StringUnknown()
	if id, ok := pairID(plan); ok {
		plan.ID = types.StringValue(id.String())
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func pairID(m directorPairModel) (resourceid.Pair, bool) {
	if m.Name.IsUnknown() || len(m.Directors) != 2 || m.Directors[0].Host.IsUnknown() || m.Directors[1].Host.IsUnknown() {
		return resourceid.Pair{}, false
	}
	return resourceid.Pair{Name: m.Name.ValueString(), Hosts: [2]string{m.Directors[0].Host.ValueString(), m.Directors[1].Host.ValueString()}}, true
}

// wirePair is the pair as the agent at index self stores it.
func wirePair(m directorPairModel, self int) *agentapi.Pair {
	p := &agentapi.Pair{
		Name:            m.Name.ValueString(),
		UUID:            m.PairUUID.ValueString(),
		CreatedBy:       creator(),
		Self:            self,
		SyncConnections: m.SyncConnections.ValueBool(),
		VRRPUnicast:     m.VRRPUnicast.ValueBool(),
	}
	// The default is sent as nothing, so that a pair at the default still goes to an agent
	// older than log_level (which refuses fields it does not know) during a rolling upgrade.
	if l := m.LogLevel.ValueString(); l != "info" {
		p.LogLevel = l
	}
	if m.Metrics != nil {
		p.MetricsListen = m.Metrics.Listen.ValueString()
	}
	for _, d := range m.Directors {
		p.Directors = append(p.Directors, agentapi.Director{Host: d.Host.ValueString(), Interface: d.Interface.ValueString(), VRRPAddress: d.VRRPAddress.ValueString()})
	}
	if s := m.SyncDaemon; s != nil {
		p.SyncDaemon = &agentapi.SyncDaemon{Interface: s.Interface.ValueString(), Port: int(s.Port.ValueInt64()), TTL: int(s.TTL.ValueInt64()),
			MaxLength: int(s.MaxLength.ValueInt64()), Group: s.Group.ValueString()}
		if !s.ID.IsNull() && !s.ID.IsUnknown() {
			id := int(s.ID.ValueInt64())
			p.SyncDaemon.ID = &id
		}
	}
	if t := m.IPVSTimeouts; t != nil {
		p.IPVSTimeouts = &agentapi.IPVSTimeouts{TCP: ipvsSeconds(t.TCP), TCPFin: ipvsSeconds(t.TCPFin), UDP: ipvsSeconds(t.UDP)}
	}
	return p
}

// forEachDirector runs fn for both directors at once and collects diagnostics against each.
func forEachDirector(hosts []string, fn func(i int, host string) error) diag.Diagnostics {
	var diags diag.Diagnostics
	for i, err := range runOnHosts(hosts, fn) {
		if err != nil {
			summary, detail := describe(hosts[i], err)
			diags.AddAttributeError(path.Root("directors").AtListIndex(i).AtName("host"), summary, detail)
		}
	}
	return diags
}

func hostsOf(m directorPairModel) []string {
	out := make([]string, len(m.Directors))
	for i, d := range m.Directors {
		out[i] = d.Host.ValueString()
	}
	return out
}

func (r *directorPairResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan directorPairModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, plan.Timeouts, opCreate, &resp.Diagnostics)
	defer cancel()
	uuid := newPairUUID()
	plan.PairUUID = types.StringValue(uuid)
	noteRunBy(r.hosts, plan)
	// A director run by keepalived is left alone (its agent calls fail with
	// remote.ErrRunByKeepalived, which forEachDirector skips); keepalived goes from the other
	// one, where the agent comes (the first step of a live migration: keepalived there should
	// be the BACKUP).
	migrating := slices.ContainsFunc(plan.Directors, directorModel.keepalived)
	hosts := hostsOf(plan)
	// Check both hosts before changing either: a host held by another pair fails the create
	// with nothing changed anywhere. (The create-only writes below decide a race.)
	before := make([]remote.AgentState, len(hosts))
	resp.Diagnostics.Append(forEachDirector(hosts, func(i int, h string) error {
		if plan.Directors[i].keepalived() {
			return nil
		}
		if installed, err := r.hosts.Installed(ctx, h); err != nil || !installed {
			before[i] = remote.AgentMissing
			return err
		}
		state, _, err := r.hosts.Probe(ctx, h)
		if err != nil {
			return err
		}
		before[i] = state
		if state != remote.AgentReady {
			return nil
		}
		held, err := r.hosts.Agent(h).Pair(ctx)
		switch {
		case err == nil:
			return &heldError{host: h, held: held}
		case errors.Is(err, agentapi.ErrNotFound), errors.Is(err, agentapi.ErrVersionSkew):
			// Free, or an agent of another API version: the install below upgrades it and
			// its create-only write refuses a held host.
			return nil
		}
		return err
	})...)
	if resp.Diagnostics.HasError() {
		return
	}
	created := make([]bool, len(hosts))
	diags := forEachDirector(hosts, func(i int, h string) error {
		if plan.Directors[i].keepalived() {
			return nil
		}
		if migrating {
			if err := r.hosts.StopKeepalived(ctx, h, plan.KeepalivedStop.ValueString()); err != nil {
				return err
			}
		}
		_, err := r.hosts.Install(ctx, h)
		return err
	})
	if !diags.HasError() {
		// One host after the other, in address order: of two creates racing for the same
		// hosts, the one that takes the first host takes both, and the other changes nothing.
		order := []int{0, 1}
		if hosts[1] < hosts[0] {
			order = []int{1, 0}
		}
		for _, i := range order {
			h := hosts[i]
			if plan.Directors[i].keepalived() {
				continue
			}
			a := r.hosts.Agent(h)
			_, err := a.CreatePair(ctx, wirePair(plan, i))
			if errors.Is(err, agentapi.ErrExists) {
				if held, gerr := a.Pair(ctx); gerr == nil {
					err = &heldError{host: h, held: held}
				}
			}
			if err != nil {
				summary, detail := describe(h, err)
				diags.AddAttributeError(path.Root("directors").AtListIndex(i).AtName("host"), summary, detail)
				break
			}
			created[i] = true
		}
	}
	if diags.HasError() {
		// The resource is not recorded: take back what this create added, and only that.
		resp.Diagnostics.Append(diags...)
		for i, h := range hosts {
			if plan.Directors[i].keepalived() {
				continue
			}
			if err := r.undoCreate(ctx, h, before[i], created[i], uuid); err != nil {
				summary, detail := remote.Describe(h, err)
				resp.Diagnostics.AddWarning(summaryCleanupFailedCreate+summary, detail)
			}
		}
		return
	}
	r.readInto(ctx, &plan, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// readInto refreshes m from both agents. It reports false when neither director holds the pair.
func (r *directorPairResource) readInto(ctx context.Context, m *directorPairModel, diags *diag.Diagnostics) bool {
	hosts := hostsOf(*m)
	pairs := make([]*agentapi.Pair, len(hosts))
	down := make([]error, len(hosts))
	noteRunBy(r.hosts, *m)
	d := forEachDirector(hosts, func(i int, h string) error {
		if m.Directors[i].keepalived() {
			m.Directors[i].Status = statusKeepalived.value()
			m.Directors[i].AgentVersion = types.StringValue("")
			return nil
		}
		prior := m.Directors[i].Status.ValueString()
		state, info, err := r.hosts.Probe(ctx, h)
		if err != nil && remote.Unreachable(err) != nil {
			// Down or cut off: not drift to stop on. The other director is read; this one
			// shows as unreachable (its agent_version the last one seen) and plans its repair.
			down[i] = err
			m.Directors[i].Status = statusUnreachable.value()
			if m.Directors[i].AgentVersion.IsUnknown() || m.Directors[i].AgentVersion.IsNull() {
				m.Directors[i].AgentVersion = types.StringValue("")
			}
			return nil
		}
		if err != nil {
			return err
		}
		m.Directors[i].AgentVersion = types.StringValue("")
		m.Directors[i].Status = types.StringValue(string(state))
		// Back after an apply went on without it: it may hold what was changed or deleted
		// meanwhile, so its repair copies the other director's whole state (see Update).
		back := prior == string(statusUnreachable) || prior == string(statusStale)
		if state != remote.AgentReady {
			if back && state == remote.AgentStopped {
				m.Directors[i].Status = statusStale.value()
			}
			return nil
		}
		m.Directors[i].AgentVersion = types.StringValue(info.Version)
		p, err := r.hosts.Agent(h).Pair(ctx)
		if errors.Is(err, agentapi.ErrNotFound) {
			m.Directors[i].Status = statusUnconfigured.value()
			return nil
		}
		if err != nil {
			return err
		}
		pairs[i] = p
		if back {
			m.Directors[i].Status = statusStale.value()
		}
		return nil
	})
	diags.Append(d...)
	if d.HasError() {
		return true
	}
	if unreachableDirectors(hosts, down, diags) {
		if !slices.ContainsFunc(pairs, func(p *agentapi.Pair) bool { return p != nil }) {
			// Nothing was read: keep what the state says until a director answers.
			return true
		}
	}
	var found *agentapi.Pair
	for i, p := range pairs {
		if p == nil {
			continue
		}
		if (p.Name != m.Name.ValueString() && !m.Name.IsNull()) || (p.UUID != "" && m.PairUUID.ValueString() != "" && p.UUID != m.PairUUID.ValueString()) {
			// The host holds another pair: for this resource it is unconfigured.
			m.Directors[i].Status = statusUnconfigured.value()
			continue
		}
		// Prefer the director whose settings differ from what we knew, so drift shows.
		if found == nil || !samePairSettings(p, wirePair(*m, i)) {
			found = p
		}
	}
	if found == nil {
		return false
	}
	m.Name = types.StringValue(found.Name)
	m.PairUUID = types.StringNull() // a legacy pair: the next apply gives it one
	if found.UUID != "" {
		m.PairUUID = types.StringValue(found.UUID)
	}
	for i := range m.Directors {
		if i < len(found.Directors) && found.Directors[i].Host == m.Directors[i].Host.ValueString() {
			m.Directors[i].Interface = types.StringValue(found.Directors[i].Interface)
			m.Directors[i].VRRPAddress = optString(found.Directors[i].VRRPAddress)
		}
	}
	m.SyncConnections = types.BoolValue(found.SyncConnections)
	m.VRRPUnicast = types.BoolValue(found.VRRPUnicast)
	m.LogLevel = types.StringValue(cmp.Or(found.LogLevel, "info"))
	m.Metrics = nil
	if found.MetricsListen != "" {
		m.Metrics = &metricsModel{Listen: types.StringValue(found.MetricsListen)}
	}
	m.SyncDaemon = nil
	if s := found.SyncDaemon; s != nil {
		m.SyncDaemon = &syncDaemonModel{Interface: optString(s.Interface), ID: types.Int64Null(), Port: optInt(s.Port), TTL: optInt(s.TTL),
			MaxLength: optInt(s.MaxLength), Group: optString(s.Group)}
		if s.ID != nil {
			m.SyncDaemon.ID = types.Int64Value(int64(*s.ID))
		}
	}
	m.IPVSTimeouts = nil
	if t := found.IPVSTimeouts; t != nil {
		var prev ipvsTimeoutsModel
		if m.IPVSTimeouts != nil {
			prev = *m.IPVSTimeouts
		}
		m.IPVSTimeouts = &ipvsTimeoutsModel{TCP: optSeconds(prev.TCP, t.TCP), TCPFin: optSeconds(prev.TCPFin, t.TCPFin), UDP: optSeconds(prev.UDP, t.UDP)}
	}
	if id, ok := pairID(*m); ok {
		m.ID = types.StringValue(id.String())
	}
	return true
}

// unreachableDirectors warns about each director in down (the error that made it unreachable)
// and reports whether there was one; when both were, that is an error: nothing can be read.
func unreachableDirectors(hosts []string, down []error, diags *diag.Diagnostics) bool {
	n := 0
	for _, err := range down {
		if err != nil {
			n++
		}
	}
	for i, err := range down {
		if err == nil {
			continue
		}
		at := path.Root("directors").AtListIndex(i).AtName("host")
		if n == len(hosts) {
			summary, detail := remote.Describe(hosts[i], err)
			diags.AddAttributeError(at, summary, detail+" Neither director of the pair answers.")
			continue
		}
		diags.AddAttributeWarning(at, "Director Unreachable: "+hosts[i], unreachableDetail(hosts[i], err,
			"The pair, its VIPs and services were read from the other director, which serves them."))
	}
	return n > 0
}

func samePairSettings(a, b *agentapi.Pair) bool {
	if a.SyncConnections != b.SyncConnections || a.VRRPUnicast != b.VRRPUnicast || len(a.Directors) != len(b.Directors) ||
		a.MetricsListen != b.MetricsListen || cmp.Or(a.LogLevel, "info") != cmp.Or(b.LogLevel, "info") {
		return false
	}
	for i := range a.Directors {
		if a.Directors[i] != b.Directors[i] {
			return false
		}
	}
	if !sameSyncDaemon(a.SyncDaemon, b.SyncDaemon) {
		return false
	}
	ta, tb := a.IPVSTimeouts, b.IPVSTimeouts
	if ta == nil || tb == nil {
		return (ta == nil || *ta == agentapi.IPVSTimeouts{}) && (tb == nil || *tb == agentapi.IPVSTimeouts{})
	}
	return *ta == *tb
}

// optSeconds maps the agent's seconds back to a duration, keeping prev's spelling of an equal
// one; 0 (the kernel's value) is unset unless prev spells it.
func optSeconds(prev types.String, v int) types.String {
	d := time.Duration(v) * time.Second
	if v == 0 {
		if p, err := time.ParseDuration(prev.ValueString()); err == nil && !prev.IsNull() && !prev.IsUnknown() && p == 0 {
			return prev
		}
		return types.StringNull()
	}
	if !prev.IsNull() && !prev.IsUnknown() {
		if p, err := time.ParseDuration(prev.ValueString()); err == nil && p == d {
			return prev
		}
	}
	return types.StringValue(fmt.Sprintf("%ds", v))
}

// optInt maps the agent's 0 (none) back to an unset attribute.
func optInt(v int) types.Int64 {
	if v == 0 {
		return types.Int64Null()
	}
	return types.Int64Value(int64(v))
}

// ipvsSeconds is an ipvs_timeouts duration in seconds (0 when unset), as checkPair checked it.
func ipvsSeconds(s types.String) int {
	d, err := time.ParseDuration(s.ValueString())
	if s.IsNull() || s.IsUnknown() || err != nil {
		return 0
	}
	return int(d / time.Second)
}

func (r *directorPairResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state directorPairModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, state.Timeouts, opRead, &resp.Diagnostics)
	defer cancel()
	if !r.readInto(ctx, &state, &resp.Diagnostics) {
		if resp.Diagnostics.HasError() {
			return
		}
		if allGone(state) {
			// Neither director has an agent or the pair any more: the pair is gone.
			resp.State.RemoveResource(ctx)
			return
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func allGone(m directorPairModel) bool {
	for _, d := range m.Directors {
		if statusReady.is(d.Status) {
			return false
		}
	}
	return true
}

func (r *directorPairResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state directorPairModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, plan.Timeouts, opUpdate, &resp.Diagnostics)
	defer cancel()
	plan.PairUUID = types.StringValue(pairUUIDOf(plan, state))
	noteRunBy(r.hosts, state)
	newHosts, oldHosts := hostsOf(plan), hostsOf(state)
	replaced := map[string]bool{}
	for i, h := range oldHosts {
		if !state.Directors[i].keepalived() {
			replaced[h] = true
		}
	}
	for _, h := range newHosts {
		delete(replaced, h)
	}
	// Everything the pair holds comes along to a replacement director, and to one that is back
	// after changes were applied without it (stale): copy the whole state of a director that
	// stays and was not out of reach.
	resync := func(h string) bool { return !contains(oldHosts, h) || priorStatus(state, h) == string(statusStale) }
	var carried *agentapi.State
	for _, h := range newHosts {
		if contains(oldHosts, h) && !resync(h) && priorStatus(state, h) != string(statusUnreachable) {
			if st, err := r.hosts.Agent(h).State(ctx); err == nil && st.Pair != nil {
				carried = st
				break
			}
		}
	}
	// A director that stays in the pair but cannot be reached is left out: the read below warns
	// and keeps it unreachable, and the plan keeps showing its repair.
	var downMu sync.Mutex
	down := map[string]bool{}
	isDown := func(h string) bool { downMu.Lock(); defer downMu.Unlock(); return down[h] }
	skipDown := func(h string, err error) error {
		if err != nil && contains(oldHosts, h) && remote.Unreachable(err) != nil {
			downMu.Lock()
			down[h] = true
			downMu.Unlock()
			return nil
		}
		return err
	}
	configure := func(ctx context.Context, i int, h string) error {
		if isDown(h) {
			return nil
		}
		a := r.hosts.Agent(h)
		if resync(h) && carried != nil {
			st := carried.Clone()
			st.Pair = wirePair(plan, i)
			return a.PutState(ctx, st)
		}
		_, err := a.PutPair(ctx, wirePair(plan, i))
		return err
	}
	// An update that restarts an agent goes one director at a time (rolling.go); the others
	// reach both directors at once.
	// A director that is down restarts nothing, so with one down no agent is restarted (the
	// rolling upgrade needs the peer ready before it stops an agent).
	ops := hostsRollingOps(r.hosts)
	ops.configure = configure
	check, upgrade := ops.check, ops.upgrade
	ops.check = func(ctx context.Context, h string) (remote.Upgrade, error) {
		u, err := check(ctx, h)
		if err = skipDown(h, err); err == nil && isDown(h) {
			return remote.Upgrade{}, nil
		}
		return u, err
	}
	ops.upgrade = func(ctx context.Context, h string) error {
		if isDown(h) {
			return nil
		}
		return upgrade(ctx, h)
	}
	// With a director run by keepalived, or switching from it, the other one is updated alone;
	// then the switch (migrate.go).
	sw, migrating := -1, false
	for i, d := range plan.Directors {
		migrating = migrating || d.keepalived()
		if !d.keepalived() && priorRunBy(state, d.Host.ValueString()) == runByKeepalived {
			sw, migrating = i, true
		}
	}
	rolled := false
	if !migrating {
		var err error
		rolled, err = rollingUpdate(ctx, ops, newHosts, plan.SyncConnections.ValueBool())
		if err != nil {
			resp.Diagnostics.Append(rollingDiags(err)...)
			return
		}
	}
	// installAll installs and configures every director that is up and not skipped.
	installAll := func(skip func(i int) bool) diag.Diagnostics {
		return forEachDirector(newHosts, func(i int, h string) error {
			if isDown(h) || skip(i) {
				return nil
			}
			if _, err := r.hosts.Install(ctx, h); err != nil {
				return skipDown(h, err)
			}
			return configure(ctx, i, h)
		})
	}
	if migrating {
		resp.Diagnostics.Append(installAll(func(i int) bool { return i == sw || plan.Directors[i].keepalived() })...)
		if resp.Diagnostics.HasError() {
			return
		}
		if sw >= 0 {
			r.hosts.SetRunByKeepalived(newHosts[sw], false)
			sops := switchOps{rollingOps: hostsRollingOps(r.hosts),
				putVIP: func(ctx context.Context, h string, v *agentapi.VIP) error {
					_, err := r.hosts.Agent(h).PutVIP(ctx, v)
					return err
				},
				putState: func(ctx context.Context, i int, h string, st *agentapi.State) error {
					c := st.Clone()
					c.Pair = wirePair(plan, i)
					return r.hosts.Agent(h).PutState(ctx, c)
				},
				heldAddresses: r.hosts.HeldAddresses,
				holdAddresses: r.hosts.HoldAddresses,
				release:       r.hosts.ReleaseAddresses,
				hold:          handoverHold,
				stopKeepalived: func(ctx context.Context, h string) error {
					return r.hosts.StopKeepalived(ctx, h, plan.KeepalivedStop.ValueString())
				},
			}
			if isDown(newHosts[1-sw]) {
				resp.Diagnostics.AddAttributeError(path.Root("directors").AtListIndex(1-sw).AtName("host"), "Cannot Switch From keepalived",
					fmt.Sprintf("%s cannot be reached, and the switch of %s from keepalived to the agent needs its agent to take the VIPs over. Nothing was changed on %s.", newHosts[1-sw], newHosts[sw], newHosts[sw]))
				return
			}
			if err := switchFromKeepalived(ctx, sops, newHosts, sw, plan.SyncConnections.ValueBool()); err != nil {
				// The state keeps run_by = "keepalived": apply again resumes the switch, each
				// step of which finds its work done if it was.
				resp.Diagnostics.Append(directorDiagsOf(err, "Switch From keepalived")...)
				return
			}
		}
		rolled = true
	}
	if !rolled {
		resp.Diagnostics.Append(installAll(func(int) bool { return false })...)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	for h := range replaced {
		warning, err := r.release(ctx, h, state.Name.ValueString(), state.PairUUID.ValueString())
		if err != nil {
			summary, detail := remote.Describe(h, err)
			if remote.Unreachable(err) != nil {
				// Usually why it was replaced: the new director has its configuration already.
				resp.Diagnostics.AddWarning("Replaced Director Not Cleaned: "+h, replacedNotCleaned(h, detail))
				continue
			}
			resp.Diagnostics.AddError("Cleaning The Replaced Director: "+summary, detail)
		}
		if warning != "" {
			resp.Diagnostics.AddWarning("Replaced Director Left As It Is", warning)
		}
	}
	planned := make([]types.String, len(plan.Directors))
	for i, d := range plan.Directors {
		planned[i] = d.Status
	}
	var read diag.Diagnostics
	r.readInto(ctx, &plan, &read)
	resp.Diagnostics.Append(read...)
	if read.HasError() {
		return
	}
	for i, d := range plan.Directors {
		if statusUnreachable.is(d.Status) && !planned[i].IsUnknown() {
			// Planned as reachable: it went down during this run. Its state is recorded as it is.
			resp.Diagnostics.AddAttributeError(path.Root("directors").AtListIndex(i).AtName("host"), "Director Became Unreachable During Apply",
				fmt.Sprintf("%s answered when the plan was made but not during this apply, so it was not updated. Run terraform apply again: "+
					"the plan then shows it as unreachable and goes on with the other director.", d.Host.ValueString()))
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// priorRunBy is the recorded run_by of the director host in m ("agent" when unset), "" if it
// is not one.
func priorRunBy(m directorPairModel, host string) string {
	for _, d := range m.Directors {
		if d.Host.ValueString() == host {
			if d.keepalived() {
				return runByKeepalived
			}
			return runByAgent
		}
	}
	return ""
}

// priorStatus is the recorded status of the director host in m, "" if it is not one.
func priorStatus(m directorPairModel, host string) string {
	for _, d := range m.Directors {
		if d.Host.ValueString() == host {
			return d.Status.ValueString()
		}
	}
	return ""
}

// replacedNotCleaned tells what a replaced director that could not be reached may still hold,
// and how to clean it should it come back.
func replacedNotCleaned(host, detail string) string {
	return fmt.Sprintf("%s\n\n%s is no longer managed by this configuration, but it could not be reached to remove the agent and what it programmed. "+
		"If it comes back as it was, it still runs lvs-agent with this pair's VIPs and virtual servers, and would claim the VIPs "+
		"(VRRP) and answer for them: keep it off the network until cleaned, then run `lvs-agent uninstall` on it as root "+
		"(it removes the VIPs, IPVS services and everything else the agent set up, and the agent itself). "+
		"A rebuilt host needs nothing.", detail, host)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// pairUUIDOf is the pair_uuid an update keeps: the state's, or a new one for a pair stored
// before pairs had one (the agents adopt it, as the pair keeps its name).
func pairUUIDOf(plan, state directorPairModel) string {
	for _, v := range []types.String{plan.PairUUID, state.PairUUID} {
		if v.ValueString() != "" {
			return v.ValueString()
		}
	}
	return newPairUUID()
}

// Delete removes this pair from both directors (see release): a director that another pair
// holds is left as it is, with a warning.
func (r *directorPairResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state directorPairModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := bounded(ctx, state.Timeouts, opDelete, &resp.Diagnostics)
	defer cancel()
	hosts := hostsOf(state)
	warnings := make([]string, len(hosts))
	down := make([]error, len(hosts))
	noteRunBy(r.hosts, state)
	resp.Diagnostics.Append(forEachDirector(hosts, func(i int, h string) error {
		if state.Directors[i].keepalived() {
			return nil
		}
		var err error
		warnings[i], err = r.release(ctx, h, state.Name.ValueString(), state.PairUUID.ValueString())
		if remote.Unreachable(err) != nil {
			down[i] = err
			return nil
		}
		return err
	})...)
	for i, w := range warnings {
		if w != "" {
			resp.Diagnostics.AddAttributeWarning(path.Root("directors").AtListIndex(i).AtName("host"), "Director Held By Another Pair", w)
		}
	}
	// A dead director does not keep the pair alive: it is named in a warning, unless neither
	// director could be reached (nothing was removed anywhere).
	all := !slices.Contains(down, nil)
	for i, err := range down {
		if err == nil {
			continue
		}
		summary, detail := remote.Describe(hosts[i], err)
		if all {
			resp.Diagnostics.AddAttributeError(path.Root("directors").AtListIndex(i).AtName("host"), summary, detail)
			continue
		}
		resp.Diagnostics.AddWarning("Destroyed Director Not Cleaned: "+hosts[i], replacedNotCleaned(hosts[i], detail))
	}
}

func (r *directorPairResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	id, err := resourceid.ParsePair(req.ID)
	if err != nil {
		resp.Diagnostics.AddError(summaryInvalidImportID, err.Error())
		return
	}
	m := directorPairModel{ID: types.StringValue(id.String()), Name: types.StringValue(id.Name)}
	m.Timeouts = nullTimeouts()
	for _, h := range id.Hosts {
		m.Directors = append(m.Directors, directorModel{Host: types.StringValue(h), Interface: types.StringNull(), AgentVersion: types.StringNull(), Status: types.StringNull()})
	}
	m.SyncConnections = types.BoolNull()
	m.VRRPUnicast = types.BoolNull()
	m.LogLevel = types.StringNull()
	if !r.readInto(ctx, &m, &resp.Diagnostics) {
		if !resp.Diagnostics.HasError() {
			resp.Diagnostics.AddError("Director Pair Not Found", fmt.Sprintf("Neither %s nor %s holds a director pair named %q; check the ID (%s).", id.Hosts[0], id.Hosts[1], id.Name, req.ID))
		}
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// sameSyncDaemon compares two pairs' sync daemon settings; nil is no setting.
func sameSyncDaemon(a, b *agentapi.SyncDaemon) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.ID, y.ID = nil, nil
	return x == y && (a.ID == nil) == (b.ID == nil) && (a.ID == nil || *a.ID == *b.ID)
}
