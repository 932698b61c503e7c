package ipvs

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// HealthView tells the reconciler what health checks decided about a real server. Weight returns
// the weight the kernel should have for the configured one, and whether the real server belongs
// in the table at all (false: on_failure = remove and it is down). The reconciler programs what
// it says, so a health-driven change is never taken for drift.
type HealthView interface {
	Weight(vsKey, rsKey string, configured int) (weight int, present bool)
}

// HealthStatuser is optionally implemented by a HealthView to report each real server's
// health and why, for the status.
type HealthStatuser interface {
	Health(vsKey, rsKey string) (state agentapi.HealthState, reason string)
}

// HealthPender is optionally implemented by a HealthView to report real servers whose check has
// not finished once since the agent started (their health is the assumed initial one), so that
// an upgrade waits for real verdicts before it moves the VIPs to a restarted director.
type HealthPender interface {
	HealthPending(vsKey, rsKey string) bool
}

// AllHealthy is the HealthView of a director without health checks: every real server is in
// the table with its configured weight.
type AllHealthy struct{}

// Weight implements HealthView.
func (AllHealthy) Weight(_, _ string, configured int) (int, bool) { return configured, true }

// destRole says why a destination is in the desired table.
type destRole int

const (
	roleReal destRole = iota
	roleSorry
)

// desiredService is a service the configuration asks for, with what the report needs.
type desiredService struct {
	svc    *Service
	vsKey  string
	vs     *agentapi.VirtualServer
	quorum agentapi.IPVSQuorum
	sorry  bool  // the sorry server is the table's one destination
	err    error // the configuration could not be turned into a service
}

// destIndex is what the report needs per destination key: its role, configured weight and real
// server key. It is built when a report asks, not on every apply: with thousands of real servers
// and a commit per write, building it each time was most of what an apply allocated.
type destIndex struct {
	roles      map[netip.AddrPort]destRole
	configured map[netip.AddrPort]int
	rsKeys     map[netip.AddrPort]string
}

func (d *desiredService) index() destIndex {
	n := len(d.vs.RealServers)
	ix := destIndex{roles: make(map[netip.AddrPort]destRole, n), configured: make(map[netip.AddrPort]int, n), rsKeys: make(map[netip.AddrPort]string, n)}
	for rk, rs := range d.vs.RealServers {
		if rs == nil {
			continue
		}
		if dst, err := destOf(d.vs, rs); err == nil {
			ix.configured[dst.Key()] = rs.Weight
			ix.rsKeys[dst.Key()] = rk
		}
	}
	if d.svc != nil {
		role := roleReal
		if d.sorry {
			role = roleSorry
		}
		for _, x := range d.svc.Dests {
			ix.roles[x.Key()] = role
		}
	}
	return ix
}

// buildDesired turns the virtual servers of st into kernel services. quorumUp holds each virtual
// server's quorum state from the previous run (hysteresis needs it) and is updated.
func buildDesired(st *agentapi.State, hv HealthView, quorumUp map[string]bool) []*desiredService {
	if st == nil || st.Pair == nil {
		return nil
	}
	keys := make([]string, 0, len(st.VirtualServers))
	for k := range st.VirtualServers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*desiredService, 0, len(keys))
	seen := map[string]bool{}
	for _, key := range keys {
		vs := st.VirtualServers[key]
		if vs == nil {
			continue
		}
		d := buildService(key, vs, hv, quorumUp)
		out = append(out, d)
		seen[key] = true
	}
	for k := range quorumUp {
		if !seen[k] {
			delete(quorumUp, k)
		}
	}
	return out
}

func buildService(key string, vs *agentapi.VirtualServer, hv HealthView, quorumUp map[string]bool) *desiredService {
	d := &desiredService{vsKey: key, vs: vs}
	k, err := serviceKeyOf(vs)
	if err != nil {
		d.err = fmt.Errorf("virtual server %s: %w", key, err)
		return d
	}
	s := &Service{ServiceKey: k, Scheduler: vs.Scheduler, Flags: schedFlags(vs.SchedulerFlags)}
	if vs.OnePacket {
		s.Flags |= FlagOnePacket
	}
	s.NetmaskBits = 32
	if k.Family == AFInet6 {
		s.NetmaskBits = 128
	}
	if p := vs.Persistence; p != nil {
		s.Flags |= FlagPersistent
		s.Timeout = uint32(p.TimeoutS)
		if p.Netmask != "" {
			if n, err := agentapi.ParseNetmask(p.Netmask, k.Family == AFInet6); err == nil {
				s.NetmaskBits = n
			}
		}
	}
	d.svc = s

	rsKeys := make([]string, 0, len(vs.RealServers))
	for rk := range vs.RealServers {
		rsKeys = append(rsKeys, rk)
	}
	sort.Strings(rsKeys)
	reals := make([]*Dest, 0, len(rsKeys))
	sum := 0
	for _, rk := range rsKeys {
		rs := vs.RealServers[rk]
		if rs == nil {
			continue
		}
		dst, err := destOf(vs, rs)
		if err != nil {
			d.err = fmt.Errorf("real server %s of %s: %w", rk, key, err)
			continue
		}
		w, present := hv.Weight(key, rk, rs.Weight)
		if !present {
			continue
		}
		if w < 0 {
			w = 0
		}
		dst.Weight = w
		sum += w
		reals = append(reals, dst)
	}

	// Quorum as keepalived has it: up while the live weight holds; it goes down below
	// min-hysteresis and comes back at min+hysteresis. Without a quorum block min is 1, so
	// "down" means every real server is out.
	q := agentapi.IPVSQuorum{Min: 1, WeightSum: sum}
	if vs.Quorum != nil {
		q.Min, q.Hysteresis = vs.Quorum.Min, vs.Quorum.Hysteresis
	}
	prev, ok := quorumUp[key]
	if !ok {
		prev = true
	}
	threshold := q.Min + q.Hysteresis
	if prev {
		threshold = q.Min - q.Hysteresis
	}
	q.Up = sum >= threshold && sum > 0
	quorumUp[key] = q.Up
	d.quorum = q

	if !q.Up && vs.SorryServer != nil {
		// The sorry server takes all new connections: keepalived also removes the real servers
		// still alive when quorum is lost, so that they do not share it with the sorry page.
		ss := vs.SorryServer
		dst, err := destOf(vs, &agentapi.RealServer{Address: ss.Address, Port: ss.Port, ForwardingMethod: ss.ForwardingMethod, Weight: 1})
		if err != nil {
			d.err = fmt.Errorf("sorry server of %s: %w", key, err)
		} else {
			reals = []*Dest{dst}
			d.sorry = true
		}
	}
	sortDests(reals)
	s.Dests = reals
	return d
}

// destOf converts a validated real server to a destination.
func destOf(vs *agentapi.VirtualServer, rs *agentapi.RealServer) (*Dest, error) {
	a, err := netip.ParseAddr(rs.Address)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", rs.Address, err)
	}
	if rs.Port < 0 || rs.Port > 65535 {
		return nil, fmt.Errorf("port %d", rs.Port)
	}
	d := &Dest{
		Addr:           a,
		Port:           uint16(rs.Port),
		FwdMethod:      fwdMethod(agentapi.Forwarding(vs.EffectiveForwardingMethod(rs))),
		Weight:         rs.Weight,
		UpperThreshold: uint32(rs.UpperThreshold),
		LowerThreshold: uint32(rs.LowerThreshold),
	}
	if d.FwdMethod == FwdTunnel {
		d.TunType = TunIPIP // the real-server role sets up ipip (tunl0 / ip6tnl0)
	}
	return d, nil
}
