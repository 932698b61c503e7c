package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
	"github.com/lvs-provider/terraform-provider-lvs/internal/resourceid"
)

var (
	_ datasource.DataSource              = (*directorStatusDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*directorStatusDataSource)(nil)
)

// NewDirectorStatusDataSource is the lvs_director_status data source.
func NewDirectorStatusDataSource() datasource.DataSource { return &directorStatusDataSource{} }

type directorStatusDataSource struct {
	hosts *remote.Hosts
}

type directorStatusModel struct {
	DirectorPairID types.String          `tfsdk:"director_pair_id"`
	Directors      []directorStatusEntry `tfsdk:"directors"`
}

type directorStatusEntry struct {
	Host           types.String         `tfsdk:"host"`
	AgentVersion   types.String         `tfsdk:"agent_version"`
	AgentState     types.String         `tfsdk:"agent_state"`
	Reachable      types.Bool           `tfsdk:"reachable"`
	Error          types.String         `tfsdk:"error"`
	VIPs           []vipStatusEntry     `tfsdk:"vips"`
	VirtualServers []serviceStatusEntry `tfsdk:"virtual_servers"`
}

type vipStatusEntry struct {
	VirtualRouterID types.Int64    `tfsdk:"virtual_router_id"`
	State           types.String   `tfsdk:"state"`
	Priority        types.Int64    `tfsdk:"priority"`
	Master          types.String   `tfsdk:"master"`
	HeldAddresses   []types.String `tfsdk:"held_addresses"`
	Interface       types.String   `tfsdk:"interface"`
	SyncGroup       types.String   `tfsdk:"sync_group"`
}

type serviceStatusEntry struct {
	Key          types.String      `tfsdk:"key"`
	Scheduler    types.String      `tfsdk:"scheduler"`
	Connections  types.Int64       `tfsdk:"connections"`
	Destinations []destStatusEntry `tfsdk:"real_servers"`
}

type destStatusEntry struct {
	Key                 types.String `tfsdk:"key"`
	ForwardingMethod    types.String `tfsdk:"forwarding_method"`
	Weight              types.Int64  `tfsdk:"weight"`
	ConfiguredWeight    types.Int64  `tfsdk:"configured_weight"`
	ActiveConnections   types.Int64  `tfsdk:"active_connections"`
	InactiveConnections types.Int64  `tfsdk:"inactive_connections"`
	Connections         types.Int64  `tfsdk:"connections"`
	Health              types.String `tfsdk:"health"`
	HealthReason        types.String `tfsdk:"health_reason"`
}

func (d *directorStatusDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_director_status"
}

func (d *directorStatusDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	num := func(desc string) schema.Int64Attribute {
		return schema.Int64Attribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "What each director of a pair is doing right now, as its agent reports it: the agent's version, the VRRP role of every VIP, and the IPVS table as the kernel has it with connection counters and each real server's health.",
		Attributes: map[string]schema.Attribute{
			"director_pair_id": schema.StringAttribute{Required: true, MarkdownDescription: "ID of the `lvs_director_pair`."},
			"directors": schema.ListNestedAttribute{
				Computed:            true,
				MarkdownDescription: "One entry per director, in the pair's order.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"host":          str("Director address."),
					"agent_version": str("Version of the agent answering; empty when none does."),
					"agent_state":   str("`ready`, `agent_missing`, `agent_stopped`, or `unreachable` when the director could not be reached over SSH (down, or cut off: connection refused or timed out, no route, name not resolving); then `error` says why and the other fields are empty; `keepalived` for a director the pair has with `run_by = \"keepalived\"`, which is not read (the other fields are empty)."),
					"reachable":     schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the provider reached the director over SSH. `false` with `agent_state = \"unreachable\"`; authentication and host-key failures are errors, not `false`."},
					"error":         str("Why the director could not be reached; empty when it was."),
					"vips": schema.ListNestedAttribute{
						Computed:            true,
						MarkdownDescription: "VRRP instances on this director.",
						NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
							"virtual_router_id": num("VRID."),
							"state":             str("`MASTER`, `BACKUP`, `FAULT` or `INIT`."),
							"priority":          num("Effective priority, after tracking."),
							"master":            str("Address of the current master, when known."),
							"held_addresses":    schema.ListAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "VIPs on the interface now."},
							"interface":         str("The interface the VIP's addresses are held on: its `interface`, else the pair's."),
							"sync_group":        str("The VIP's `sync_group`, empty when it has none."),
						}},
					},
					"virtual_servers": schema.ListNestedAttribute{
						Computed:            true,
						MarkdownDescription: "The kernel's IPVS services, like `ipvsadm -Ln --stats`.",
						NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
							"key":         str("`PROTO/ADDR:PORT` or `fwmark/FAMILY/MARK`."),
							"scheduler":   str("Scheduler in the kernel."),
							"connections": num("Connections scheduled since the service was created."),
							"real_servers": schema.ListNestedAttribute{
								Computed: true,
								NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
									"key":                  str("`ADDR:PORT`."),
									"forwarding_method":    str("`dr`, `nat` or `tunnel`."),
									"weight":               num("Weight in the kernel now (0 while a health check holds it out; set by the exit status of an exec check with `dynamic_weight`)."),
									"configured_weight":    num("Weight as configured."),
									"active_connections":   num("Active connections."),
									"inactive_connections": num("Inactive connections."),
									"connections":          num("Connections scheduled to it."),
									"health":               str("`up`, `down`, `unchecked` or `sorry`."),
									"health_reason":        str("Why, from the last check (status code, timeout, refused, exit code)."),
								}},
							},
						}},
					},
				}},
			},
		},
	}
}

func (d *directorStatusDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.hosts = hostsFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *directorStatusDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m directorStatusModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	pair, err := resourceid.ParsePair(m.DirectorPairID.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("director_pair_id"), summaryInvalidPairID, err.Error())
		return
	}
	entries := make([]directorStatusEntry, len(pair.Hosts))
	resp.Diagnostics.Append(forEachHost(pair.Hosts[:], path.Root("director_pair_id"), func(i int, h string) error {
		e := directorStatusEntry{Host: types.StringValue(h), AgentVersion: types.StringValue(""), Reachable: types.BoolValue(true), Error: types.StringValue(""),
			VIPs: []vipStatusEntry{}, VirtualServers: []serviceStatusEntry{}}
		if d.hosts.RunByKeepalived(h) {
			// Not the provider's to read (run_by = "keepalived").
			e.AgentState = statusKeepalived.value()
			entries[i] = e
			return nil
		}
		state, _, err := d.hosts.Probe(ctx, h)
		if u := remote.Unreachable(err); u != nil {
			// Reported, not failed on: telling a dead director is what this data source is for.
			e.AgentState, e.Reachable, e.Error = statusUnreachable.value(), types.BoolValue(false), types.StringValue(u.Error())
			entries[i] = e
			return nil
		}
		if err != nil {
			return err
		}
		e.AgentState = types.StringValue(string(state))
		if state == remote.AgentReady {
			st, err := d.hosts.Agent(h).Status(ctx)
			if u := remote.Unreachable(err); u != nil {
				e.AgentState, e.Reachable, e.Error = statusUnreachable.value(), types.BoolValue(false), types.StringValue(u.Error())
				entries[i] = e
				return nil
			}
			if err != nil {
				return err
			}
			fillStatus(&e, st)
		}
		entries[i] = e
		return nil
	})...)
	if resp.Diagnostics.HasError() {
		return
	}
	m.Directors = entries
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func fillStatus(e *directorStatusEntry, st *agentapi.Status) {
	e.AgentVersion = types.StringValue(st.Version.Version)
	for _, v := range st.VIPs {
		held := []types.String{}
		for _, a := range v.HeldAddresses {
			held = append(held, types.StringValue(a))
		}
		e.VIPs = append(e.VIPs, vipStatusEntry{
			VirtualRouterID: types.Int64Value(int64(v.VRID)), State: types.StringValue(v.State),
			Priority: types.Int64Value(int64(v.Priority)), Master: types.StringValue(v.Master), HeldAddresses: held,
			Interface: types.StringValue(v.Interface), SyncGroup: types.StringValue(v.SyncGroup),
		})
	}
	for _, s := range st.IPVS {
		se := serviceStatusEntry{Key: types.StringValue(s.Key), Scheduler: types.StringValue(s.Scheduler), Connections: types.Int64Value(int64(s.Stats.Connections)), Destinations: []destStatusEntry{}}
		for _, dst := range s.Destinations {
			se.Destinations = append(se.Destinations, destStatusEntry{
				Key: types.StringValue(dst.Key), ForwardingMethod: types.StringValue(dst.ForwardingMethod),
				Weight: types.Int64Value(int64(dst.Weight)), ConfiguredWeight: types.Int64Value(int64(dst.ConfiguredWeight)),
				ActiveConnections: types.Int64Value(int64(dst.ActiveConns)), InactiveConnections: types.Int64Value(int64(dst.InactiveConns)),
				Connections: types.Int64Value(int64(dst.Stats.Connections)),
				Health:      types.StringValue(dst.Health), HealthReason: types.StringValue(dst.HealthReason),
			})
		}
		e.VirtualServers = append(e.VirtualServers, se)
	}
}
