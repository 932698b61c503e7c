package agentapi

import (
	"fmt"
	"net/netip"
	"strings"
)

// PathVIPs is the collection of VIPs; one VIP is PathVIPs + "/" + VRID.
const PathVIPs = "/v1/vips"

// VIP is one VRRP instance on the pair: the unit of failover. Both directors hold the same VIP;
// each finds its own priority at Priorities[Pair.Self].
type VIP struct {
	VRID int `json:"vrid"` // 1-255, unique per pair and interface
	// Addresses are the virtual addresses, each "ADDR" or "ADDR/LEN" (IPv4 default /32, IPv6
	// /128). IPv4 and IPv6 may be mixed; with VRRPv3 the agent runs one instance per family.
	Addresses []string `json:"addresses"`
	// Interface is the link the addresses live on and are announced on (gratuitous ARP,
	// unsolicited NA), as keepalived's "dev" in virtual_ipaddress; empty means the pair's
	// interface. VRRP adverts always go over the pair's interface.
	Interface string `json:"interface,omitempty"`
	// Priorities per director index, 1-254 (255 = address owner), different from each other.
	Priorities [2]int `json:"priorities"`
	// AdvertIntervalCS is the advertisement interval in centiseconds (v3: 1-4095; v2: whole
	// seconds, so a multiple of 100).
	AdvertIntervalCS int    `json:"advert_interval_cs"`
	Version          int    `json:"version"` // 3 (default) or 2
	Preempt          bool   `json:"preempt"`
	PreemptDelayMS   int    `json:"preempt_delay_ms,omitempty"`
	AuthPass         string `json:"auth_pass,omitempty"` // v2 simple password, at most 8 bytes

	TrackInterfaces []TrackInterface `json:"track_interfaces,omitempty"`
	TrackScripts    []TrackScript    `json:"track_scripts,omitempty"`
	Notify          *Notify          `json:"notify,omitempty"`
	// GARP is how a new master announces the addresses; nil means DefaultGARP.
	GARP *GARP `json:"garp,omitempty"`
	// SyncGroup names the VIP's sync group (keepalived's vrrp_sync_group): the VIPs of one
	// pair with the same name fail over together. Empty: none.
	SyncGroup string `json:"sync_group,omitempty"`
}

// GARP is how a director that becomes master announces the VIP's addresses to the LAN, with
// gratuitous ARPs (IPv4) and unsolicited neighbour advertisements (IPv6), as keepalived's
// garp_master_* settings say: a burst of Repeat per address at once, another DelayMS later (for
// switches still learning when the first went out), and, while it stays master, a burst of
// RefreshRepeat every RefreshMS (for neighbours that forget entries). A change applies live:
// a master stays master.
type GARP struct {
	DelayMS       int `json:"delay_ms"`       // 0: no second burst (garp_master_delay)
	Repeat        int `json:"repeat"`         // per address and burst (garp_master_repeat)
	RefreshMS     int `json:"refresh_ms"`     // 0: no refresh (garp_master_refresh)
	RefreshRepeat int `json:"refresh_repeat"` // per address and refresh (garp_master_refresh_repeat)
}

// DefaultGARP is keepalived's defaults, which a VIP without GARP uses.
var DefaultGARP = GARP{DelayMS: 5000, Repeat: 5, RefreshMS: 0, RefreshRepeat: 1}

// Limits of GARP. keepalived takes larger counts, but more than 255 frames per address at once
// only floods the LAN; its shortest refresh is 1s.
const (
	MaxGARPRepeat    = 255
	MaxGARPDelayMS   = 3600_000
	MinGARPRefreshMS = 1000
	MaxGARPRefreshMS = 24 * 3600_000
)

// TrackInterface ties the VIP to a link: down means FAULT when Weight is 0, else the priority
// drops by Weight.
type TrackInterface struct {
	Name   string `json:"name"`
	Weight int    `json:"weight,omitempty"`
}

// TrackScript is a command run periodically; exit 0 is success. After Fall failures the VIP goes
// to FAULT (Weight 0) or its priority changes by Weight; after Rise successes it is restored.
type TrackScript struct {
	Name       string `json:"name"`
	Command    string `json:"command"`
	IntervalMS int    `json:"interval_ms"`
	TimeoutMS  int    `json:"timeout_ms"`
	Weight     int    `json:"weight,omitempty"`
	Rise       int    `json:"rise"`
	Fall       int    `json:"fall"`
}

// Notify commands run on state changes, with the new state as their last argument
// (MASTER, BACKUP or FAULT) and LVS_VRRP_STATE, LVS_VRRP_VRID in the environment.
type Notify struct {
	Master string `json:"master,omitempty"`
	Backup string `json:"backup,omitempty"`
	Fault  string `json:"fault,omitempty"`
}

// VIPStatus is what the agent reports of one VIP.
type VIPStatus struct {
	VRID          int      `json:"vrid"`
	State         string   `json:"state"` // INIT, BACKUP, MASTER or FAULT
	Priority      int      `json:"priority"`
	Master        string   `json:"master,omitempty"` // address of the current master, if known
	Addresses     []string `json:"addresses"`
	HeldAddresses []string `json:"held_addresses,omitempty"` // VIPs on the interface now
	// Interface is the link the addresses are held on (the VIP's interface, else the pair's).
	Interface string `json:"interface,omitempty"`
	// StrayAddresses are the VIP's addresses found on another interface of the host (put
	// there by hand): drift, which the agent removes.
	StrayAddresses []string `json:"stray_addresses,omitempty"`
	LastTransition string   `json:"last_transition,omitempty"`
	Reason         string   `json:"reason,omitempty"` // why the last transition happened
	// Counters of received adverts dropped, by reason (checksum, ttl, auth, vrid, ...).
	Dropped    map[string]uint64 `json:"dropped,omitempty"`
	AdvertsIn  uint64            `json:"adverts_in"`
	AdvertsOut uint64            `json:"adverts_out"`
	// Transitions counts the VRRP state changes of the VIP's instances since the agent started.
	Transitions uint64 `json:"transitions,omitempty"`
	// MasterDownFired counts the master-down timers that fired (a backup taking over), and
	// MasterDownLateSeconds sums how late they fired, for the metrics.
	MasterDownFired       uint64  `json:"master_down_fired,omitempty"`
	MasterDownLateSeconds float64 `json:"master_down_late_seconds,omitempty"`
	// GARP is the announcement policy the VIP's VRRP instances run, defaults filled in.
	GARP *GARP `json:"garp,omitempty"`
	// SyncGroup is the VIP's sync group, if any.
	SyncGroup string `json:"sync_group,omitempty"`
}

// Validate reports the first field that cannot be applied, named as in the lvs_vip resource.
func (v *VIP) Validate() error {
	if v.VRID < 1 || v.VRID > 255 {
		return Invalid("virtual_router_id", fmt.Sprintf("%d is outside 1-255", v.VRID))
	}
	if v.Version != 2 && v.Version != 3 {
		return Invalid("vrrp_version", fmt.Sprintf("%d is not 2 or 3", v.Version))
	}
	if len(v.Addresses) == 0 {
		return Invalid("addresses", "needs at least one address")
	}
	if v.Interface != "" {
		if err := ValidateInterfaceName(v.Interface); err != nil {
			return Invalid("interface", err.Error())
		}
	}
	seen := map[netip.Addr]bool{}
	for i, a := range v.Addresses {
		p, err := ParseVIPAddress(a)
		if err != nil {
			return Invalid(fmt.Sprintf("addresses[%d]", i), err.Error())
		}
		if p.Addr().Is6() && v.Version == 2 {
			return Invalid(fmt.Sprintf("addresses[%d]", i), "IPv6 needs vrrp_version 3 (VRRPv2 is IPv4 only)")
		}
		if seen[p.Addr()] {
			return Invalid(fmt.Sprintf("addresses[%d]", i), fmt.Sprintf("%s is listed twice", p.Addr()))
		}
		seen[p.Addr()] = true
	}
	for i, p := range v.Priorities {
		if p < 1 || p > 255 {
			return Invalid(fmt.Sprintf("priority[%d]", i), fmt.Sprintf("%d is outside 1-255 (255 = address owner)", p))
		}
	}
	if v.Priorities[0] == v.Priorities[1] {
		return Invalid("priority[1]", "equal priorities leave the election to the higher IP address; give the directors different priorities")
	}
	switch v.Version {
	case 3:
		if v.AdvertIntervalCS < 1 || v.AdvertIntervalCS > 4095 {
			return Invalid("advert_interval", fmt.Sprintf("%d cs is outside VRRPv3's 10ms-40.95s", v.AdvertIntervalCS))
		}
	case 2:
		if v.AdvertIntervalCS < 100 || v.AdvertIntervalCS > 25500 || v.AdvertIntervalCS%100 != 0 {
			return Invalid("advert_interval", fmt.Sprintf("%d cs: VRRPv2 needs whole seconds from 1s to 255s", v.AdvertIntervalCS))
		}
	}
	if v.AuthPass != "" {
		if v.Version != 2 {
			return Invalid("authentication", "authentication exists only in VRRPv2 (RFC 5798 removed it); set vrrp_version = 2 or drop it")
		}
		if len(v.AuthPass) > 8 {
			return Invalid("authentication", "a VRRPv2 password is at most 8 bytes")
		}
	}
	if v.PreemptDelayMS < 0 || v.PreemptDelayMS > 3600_000 {
		return Invalid("preempt_delay", "must be between 0 and 1h")
	}
	if g := v.GARP; g != nil {
		switch {
		case g.DelayMS < 0 || g.DelayMS > MaxGARPDelayMS:
			return Invalid("gratuitous_arp.delay", "must be from 0s (no second burst) to 1h")
		case g.Repeat < 1 || g.Repeat > MaxGARPRepeat:
			return Invalid("gratuitous_arp.repeat", "must be 1-255 (frames per address in each burst)")
		case g.RefreshMS != 0 && (g.RefreshMS < MinGARPRefreshMS || g.RefreshMS > MaxGARPRefreshMS):
			return Invalid("gratuitous_arp.refresh", "must be 0s (off) or from 1s to 24h")
		case g.RefreshRepeat < 1 || g.RefreshRepeat > MaxGARPRepeat:
			return Invalid("gratuitous_arp.refresh_repeat", "must be 1-255 (frames per address in each refresh)")
		}
	}
	for i, t := range v.TrackInterfaces {
		if err := ValidateInterfaceName(t.Name); err != nil {
			return Invalid(fmt.Sprintf("track_interfaces[%d].name", i), err.Error())
		}
		if t.Weight < -253 || t.Weight > 253 {
			return Invalid(fmt.Sprintf("track_interfaces[%d].weight", i), "must be between -253 and 253")
		}
	}
	names := map[string]bool{}
	for i, t := range v.TrackScripts {
		f := func(n string) string { return fmt.Sprintf("track_scripts[%d].%s", i, n) }
		switch {
		case t.Name == "":
			return Invalid(f("name"), "must not be empty")
		case names[t.Name]:
			return Invalid(f("name"), fmt.Sprintf("%q is used twice", t.Name))
		case t.Command == "":
			return Invalid(f("command"), "must not be empty")
		case t.IntervalMS < 10:
			return Invalid(f("interval"), "must be at least 10ms")
		case t.TimeoutMS < 10:
			return Invalid(f("timeout"), "must be at least 10ms")
		case t.Rise < 1:
			return Invalid(f("rise"), "must be at least 1")
		case t.Fall < 1:
			return Invalid(f("fall"), "must be at least 1")
		case t.Weight < -253 || t.Weight > 253:
			return Invalid(f("weight"), "must be between -253 and 253")
		}
		names[t.Name] = true
	}
	if err := ValidateSyncGroup(v.SyncGroup); err != nil {
		return Invalid("sync_group", err.Error())
	}
	return nil
}

// ValidateSyncGroup reports why name cannot name a sync group: 1-64 letters, digits, '_', '-'
// or '.' ("" means none).
func ValidateSyncGroup(name string) error {
	if len(name) > 64 {
		return fmt.Errorf("%q is longer than 64 characters", name)
	}
	for _, r := range name {
		if !syncGroupRune(r) {
			return fmt.Errorf("%q: use letters, digits, '_', '-' and '.' only", name)
		}
	}
	return nil
}

func syncGroupRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.'
}

// ParseVIPAddress parses "ADDR" or "ADDR/LEN" into a prefix that keeps the address (IPv4
// defaults to /32, IPv6 to /128). Only unicast addresses can be VIPs.
func ParseVIPAddress(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("%q is not an address or ADDR/LEN", s)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p, fmt.Errorf("%q is not an IPv4 or IPv6 address", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	a := p.Addr()
	if a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return p, fmt.Errorf("%s cannot be a VIP: use a global unicast address", a)
	}
	return p, nil
}
