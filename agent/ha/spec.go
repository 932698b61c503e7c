package ha

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// instKey names one VRRP instance: a VIP's addresses of one family. VRRPv3 runs one instance
// per family for a VIP that mixes them (RFC 5798 §5.1: one address family per router).
type instKey struct {
	vrid int
	v6   bool
}

func (k instKey) String() string {
	if k.v6 {
		return fmt.Sprintf("%d/IPv6", k.vrid)
	}
	return fmt.Sprintf("%d/IPv4", k.vrid)
}

// hostEnv is what building engine configurations needs from the host: the addresses adverts
// are sent from and the peer's address for unicast. An interface so that the mapping from the
// API to engines is tested without a network.
type hostEnv interface {
	// primary returns the address to send adverts of the family from on ifname, skipping the
	// given virtual addresses (IPv4: the director's own address if it is on the interface,
	// else the first other address; IPv6: the link-local address).
	primary(ifname string, v6 bool, self string, vips []netip.Addr) (netip.Addr, error)
	// resolve returns host's address of the family (the peer for vrrp_unicast).
	resolve(host string, v6 bool) (netip.Addr, error)
	// holds reports whether ifname has the address a.
	holds(ifname string, a netip.Addr) (bool, error)
}

// vrrpAddress is the director's vrrp_address when it is of the family, else invalid.
func vrrpAddress(d agentapi.Director, v6 bool) netip.Addr {
	a, err := netip.ParseAddr(d.VRRPAddress)
	if err != nil || a.Unmap().Is4() == v6 {
		return netip.Addr{}
	}
	return a.Unmap()
}

// instanceSpecs turns the pair and its VIPs into engine configurations keyed by instance, and
// an error per VRID for VIPs that cannot run (they are left out; the others go on).
func instanceSpecs(p *agentapi.Pair, vips map[int]*agentapi.VIP, env hostEnv) (map[instKey]vrrp.EngineConfig, map[int]error) {
	specs := map[instKey]vrrp.EngineConfig{}
	errs := map[int]error{}
	if p == nil || len(p.Directors) != 2 || p.Self < 0 || p.Self > 1 {
		return specs, errs
	}
	self, other := p.Directors[p.Self], p.Directors[1-p.Self]
	vrids := make([]int, 0, len(vips))
	for vrid := range vips {
		vrids = append(vrids, vrid)
	}
	slices.Sort(vrids)

	// Every VIP address, to refuse one listed by two VIPs (their engines would take it from
	// each other) and to skip them all when looking for the interface's own address.
	owner := map[netip.Addr]int{}
	var all []netip.Addr
	for _, vrid := range vrids {
		for _, s := range vips[vrid].Addresses {
			if pr, err := agentapi.ParseVIPAddress(s); err == nil {
				all = append(all, pr.Addr())
			}
		}
	}
	for _, vrid := range vrids {
		v := vips[vrid]
		if err := v.Validate(); err != nil {
			errs[vrid] = err
			continue
		}
		var fams [2][]netip.Prefix
		var bad error
		for _, s := range v.Addresses {
			pr, _ := agentapi.ParseVIPAddress(s) // validated above
			a := pr.Addr()
			switch {
			case owner[a] != 0:
				bad = fmt.Errorf("address %s is already a VIP of virtual_router_id %d", a, owner[a])
			case a.String() == self.Host || a.String() == other.Host || a.String() == self.VRRPAddress || a.String() == other.VRRPAddress:
				bad = fmt.Errorf("address %s is a director's own address and cannot be a VIP", a)
			}
			if bad != nil {
				break
			}
			owner[a] = vrid
			fam := 0
			if a.Is6() {
				fam = 1
			}
			fams[fam] = append(fams[fam], pr)
		}
		if bad != nil {
			errs[vrid] = bad
			continue
		}
		for fam, prefixes := range fams {
			if len(prefixes) == 0 {
				continue
			}
			k := instKey{vrid: vrid, v6: fam == 1}
			cfg, err := engineConfig(v, p, k, prefixes, all, env)
			if err != nil {
				errs[vrid] = fmt.Errorf("%s: %w", k, err)
				continue
			}
			specs[k] = cfg
		}
	}
	return specs, errs
}

func engineConfig(v *agentapi.VIP, p *agentapi.Pair, k instKey, prefixes []netip.Prefix, all []netip.Addr, env hostEnv) (vrrp.EngineConfig, error) {
	self, other := p.Directors[p.Self], p.Directors[1-p.Self]
	var primary netip.Addr
	if a := vrrpAddress(self, k.v6); a.IsValid() {
		// The address the peer knows this director by on the VRRP link: adverts come from it,
		// also in IPv6 (as keepalived's unicast_src_ip), whose peer checks the source.
		if ok, err := env.holds(self.Interface, a); err != nil {
			return vrrp.EngineConfig{}, err
		} else if !ok {
			return vrrp.EngineConfig{}, fmt.Errorf("vrrp_address %s is not an address of %s: add it to the interface, or change directors[%d].vrrp_address", a, self.Interface, p.Self)
		}
		primary = a
	} else {
		var err error
		if primary, err = env.primary(self.Interface, k.v6, self.Host, all); err != nil {
			return vrrp.EngineConfig{}, err
		}
	}
	cfg := vrrp.EngineConfig{
		Interface:     self.Interface,
		AddrInterface: vipInterface(v, self),
		Addresses:     prefixes,
		Router: vrrp.Config{
			Version:        uint8(v.Version),
			VRID:           uint8(v.VRID),
			Priority:       uint8(v.Priorities[p.Self]),
			AdvertInterval: time.Duration(v.AdvertIntervalCS) * 10 * time.Millisecond,
			PrimaryAddr:    primary.WithZone(""),
			NoPreempt:      !v.Preempt,
			PreemptDelay:   time.Duration(v.PreemptDelayMS) * time.Millisecond,
		},
	}
	if v.GARP != nil {
		cfg.Router.GARP = garpPolicy(*v.GARP)
	}
	if v.AuthPass != "" {
		d, err := vrrp.PassAuthData(v.AuthPass)
		if err != nil {
			return cfg, err
		}
		cfg.Router.AuthType, cfg.Router.AuthData = vrrp.AuthPass, d
	}
	if p.VRRPUnicast {
		peer := vrrpAddress(other, k.v6)
		if !peer.IsValid() {
			a, err := env.resolve(other.Host, k.v6)
			if err != nil {
				return cfg, fmt.Errorf("vrrp_unicast: peer %s: %w", other.Host, err)
			}
			peer = a
		}
		cfg.Peer = peer.WithZone("")
	}
	// Only the other director's adverts count (agent/vrrp/trust.go): its addresses, those of
	// the engine's family first. IPv6 adverts come from its link-local address, which the
	// engine pins by the link-layer address of these, so an IPv6 engine can do with the
	// peer's IPv4 address alone; an IPv4 engine without one pins the peer's IPv4 source the
	// same way.
	if a, err := netip.ParseAddr(other.VRRPAddress); err == nil {
		cfg.Trusted = append(cfg.Trusted, a.Unmap())
	}
	for _, v6 := range []bool{k.v6, !k.v6} {
		if a, err := env.resolve(other.Host, v6); err == nil && !slices.Contains(cfg.Trusted, a.Unmap().WithZone("")) {
			cfg.Trusted = append(cfg.Trusted, a.Unmap().WithZone(""))
		}
	}
	if len(cfg.Trusted) == 0 {
		return cfg, fmt.Errorf("cannot resolve the peer director %s: only its adverts are accepted", other.Host)
	}
	return cfg, nil
}

// vipInterface is the interface a VIP's addresses live on: its own, else the pair's.
func vipInterface(v *agentapi.VIP, self agentapi.Director) string {
	if v.Interface != "" {
		return v.Interface
	}
	return self.Interface
}

// garpPolicy is the engine's form of a VIP's announcement policy: keepalived's delay 0 (no second
// burst) is the engine's negative delay, as the engine's 0 means its default.
func garpPolicy(g agentapi.GARP) vrrp.GARPPolicy {
	p := vrrp.GARPPolicy{
		Repeat:        g.Repeat,
		Delay:         time.Duration(g.DelayMS) * time.Millisecond,
		Refresh:       time.Duration(g.RefreshMS) * time.Millisecond,
		RefreshRepeat: g.RefreshRepeat,
	}
	if p.Delay == 0 {
		p.Delay = -1
	}
	return p
}

// garpOf is the announcement policy an engine runs, in the API's terms.
func garpOf(p vrrp.GARPPolicy) *agentapi.GARP {
	p = p.Effective()
	return &agentapi.GARP{
		DelayMS:       int(max(p.Delay, 0) / time.Millisecond),
		Repeat:        p.Repeat,
		RefreshMS:     int(p.Refresh / time.Millisecond),
		RefreshRepeat: p.RefreshRepeat,
	}
}
