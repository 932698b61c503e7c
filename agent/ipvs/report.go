package ipvs

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Reporting: the kernel's table merged with the configuration, for the status and the IPVS
// report.

// Report implements reconcile.StatusReporter: the kernel's table merged with the configuration.
func (r *Reconciler) Report(st *agentapi.Status) {
	st.IPVS = r.tableReport()
}

// IPVSReport returns the full IPVS report of the director.
func (r *Reconciler) IPVSReport() *agentapi.IPVSReport {
	rep := &agentapi.IPVSReport{Services: r.tableReport()}
	r.kmu.Lock()
	k := r.kernel
	r.kmu.Unlock()
	if k != nil {
		if t, err := k.Timeouts(); err == nil {
			rep.Timeouts = &agentapi.IPVSTimeouts{TCP: int(t.TCP), TCPFin: int(t.TCPFin), UDP: int(t.UDP)}
		}
		if ds, err := k.Daemons(); err == nil {
			for _, d := range ds {
				sd := agentapi.IPVSSyncDaemon{State: daemonStateName(d.State), Interface: d.Interface, SyncID: int(d.SyncID),
					Port: int(d.Port), TTL: int(d.TTL), MaxLength: int(d.MaxLen)}
				if d.Group.IsValid() {
					sd.Group = d.Group.String()
				}
				rep.SyncDaemons = append(rep.SyncDaemons, sd)
			}
		}
	}
	if held := r.keeper.Held(); len(held) > 0 {
		rep.Sysctls = map[string]string{}
		for name := range held {
			if v, err := r.sys.Sysctl(name); err == nil {
				rep.Sysctls[name] = v
			}
		}
	}
	r.rmu.Lock()
	rep.Repairs = r.repairs
	rep.RecentRepairs = slices.Clone(r.recent)
	rep.LastError = r.lastErr
	if r.lastRun != nil {
		x := *r.lastRun
		rep.LastReconcile = &x
	}
	r.rmu.Unlock()
	return rep
}

func (r *Reconciler) tableReport() []agentapi.IPVSService {
	r.rmu.Lock()
	desired := r.desired
	svcErrs := r.svcErrs
	r.rmu.Unlock()
	r.kmu.Lock()
	k := r.kernel
	r.kmu.Unlock()
	var have []*Service
	if k != nil {
		have, _ = k.Services()
	}
	byKey := map[ServiceKey]*desiredService{}
	for _, d := range desired {
		if d.svc != nil {
			byKey[d.svc.ServiceKey] = d
		}
	}
	hs, _ := r.health.(HealthStatuser)
	hp, _ := r.health.(HealthPender)
	out := []agentapi.IPVSService{}
	seen := map[ServiceKey]bool{}
	for _, s := range have {
		d := byKey[s.ServiceKey]
		seen[s.ServiceKey] = true
		is := agentapi.IPVSService{
			Key: s.String(), Scheduler: s.Scheduler, Flags: flagNames(s.Scheduler, s.Flags),
			Stats: stats(s.Stats), Managed: d != nil, Destinations: []agentapi.IPVSDestination{},
		}
		if s.Flags&FlagPersistent != 0 {
			is.Persistence = &agentapi.Persistence{TimeoutS: int(s.Timeout), Netmask: netmaskString(s.Family, s.NetmaskBits)}
		}
		inKernel := map[netip.AddrPort]bool{}
		var ix destIndex
		if d != nil {
			ix = d.index()
		}
		for _, x := range s.Dests {
			inKernel[x.Key()] = true
			id := agentapi.IPVSDestination{
				Key: x.Key().String(), ForwardingMethod: fwdName(x.FwdMethod), Weight: x.Weight, ConfiguredWeight: x.Weight,
				ActiveConns: int(x.ActiveConns), InactiveConns: int(x.InactiveConns), PersistentConns: int(x.PersistConns),
				UpperThreshold: int(x.UpperThreshold), LowerThreshold: int(x.LowerThreshold), Stats: stats(x.Stats),
				Health: string(agentapi.HealthUnchecked),
			}
			if d != nil {
				role, ok := ix.roles[x.Key()]
				id.Managed = ok
				if w, ok := ix.configured[x.Key()]; ok {
					id.ConfiguredWeight = w
				}
				switch {
				case ok && role == roleSorry:
					id.Health, id.HealthReason = string(agentapi.HealthSorry), "every real server is out (quorum lost)"
					id.ConfiguredWeight = 1
				case hs != nil && ix.rsKeys[x.Key()] != "":
					st, why := hs.Health(d.vsKey, ix.rsKeys[x.Key()])
					id.Health, id.HealthReason = string(st), why
				}
				if hp != nil && ix.rsKeys[x.Key()] != "" {
					id.HealthPending = hp.HealthPending(d.vsKey, ix.rsKeys[x.Key()])
				}
				if !ok {
					id.HealthReason = "not configured: the next repair removes it"
				}
			}
			is.Destinations = append(is.Destinations, id)
		}
		if d != nil {
			q := d.quorum
			is.Quorum = &q
			is.Error = svcErrs[is.Key]
			// Configured real servers the table lacks: out by health, or behind the sorry
			// server.
			for ap, rk := range ix.rsKeys {
				if inKernel[ap] {
					continue
				}
				id := agentapi.IPVSDestination{Key: ap.String(), ForwardingMethod: fwdName(fwdMethod(agentapi.Forwarding(d.vs.EffectiveForwardingMethod(d.vs.RealServers[rk])))),
					ConfiguredWeight: ix.configured[ap], Health: string(agentapi.HealthDown), HealthReason: "not in the table"}
				if hs != nil {
					st, why := hs.Health(d.vsKey, rk)
					id.Health, id.HealthReason = string(st), why
				}
				if hp != nil {
					id.HealthPending = hp.HealthPending(d.vsKey, rk)
				}
				if _, want := ix.roles[ap]; want {
					id.HealthReason = "missing from the kernel: the next repair adds it"
				} else if !q.Up && d.vs.SorryServer != nil {
					id.HealthReason = "quorum lost: the sorry server has the traffic"
				}
				id.Managed = true
				is.Destinations = append(is.Destinations, id)
			}
			sort.Slice(is.Destinations, func(i, j int) bool { return is.Destinations[i].Key < is.Destinations[j].Key })
		}
		out = append(out, is)
	}
	for _, d := range desired {
		if d.svc == nil || seen[d.svc.ServiceKey] {
			continue
		}
		q := d.quorum
		out = append(out, agentapi.IPVSService{Key: d.vsKey, Scheduler: d.svc.Scheduler, Managed: true, Missing: true,
			Error: svcErrs[d.svc.String()], Quorum: &q, Destinations: []agentapi.IPVSDestination{}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func stats(s Stats) agentapi.IPVSStats {
	return agentapi.IPVSStats{Connections: s.Conns, PacketsIn: s.InPkts, PacketsOut: s.OutPkts, BytesIn: s.InBytes, BytesOut: s.OutBytes}
}

func netmaskString(family uint16, bits int) string {
	if family == AFInet6 {
		return fmt.Sprint(bits)
	}
	var m uint32
	if bits > 0 {
		m = ^uint32(0) << (32 - bits)
	}
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}
