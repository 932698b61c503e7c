// Package rshost is the real-server role of the agent: it keeps the host ready to answer for
// the VIPs of the virtual servers it serves, as the classic `lo:0` scripts did, from the
// RealServerBindings of agentapi.State.
//
// Direct routing: the VIP on loopback as a host address (VIP/32, VIP/128; plain scope global,
// as `ip addr add VIP/32 dev lo` makes it: the replies leave from the VIP), plus
// arp_ignore=1 and arp_announce=2 (on "all" and on lo, as the tutorials set them; the kernel
// takes the higher of "all" and the interface's own) so that the host never answers ARP for the
// VIP, which belongs to the director on the shared segment. IPv6 needs no such setting: Linux
// answers neighbour solicitations only for addresses on the interface asked.
//
// Tunnel: the VIP on the fallback tunnel device (tunl0 for IPv4 in ipip, ip6tnl0 for IPv6),
// which is brought up, with rp_filter=0 on it and "all" (the decapsulated packets come from
// clients that are routed via another interface, which strict reverse-path filtering drops),
// and the same ARP settings for IPv4.
//
// Bindings are reference counted by construction: the desired addresses are the union over
// every binding, so a VIP stays while any binding needs it. Every Apply re-checks the host, so a
// VIP removed by hand comes back within one resync. Only what the role added is removed: an
// address that was already there (an old lo:0 script) is used but left in place, and sysctls
// get their original values back. What it added is recorded on disk, so a restarted agent still
// knows.
package rshost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/lvs-provider/terraform-provider-lvs/agent/netconf"
	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Loopback is the interface direct-routing VIPs go on.
const Loopback = "lo"

// Net is what the role changes on the host; *netconf.Handle implements it.
type Net interface {
	Addresses(ifname string) ([]netip.Prefix, error)
	AddAddress(ifname string, p netip.Prefix) error
	RemoveAddress(ifname string, p netip.Prefix) error
	EnsureTunnelUp(name string) (broughtUp bool, err error)
	SetLinkDown(name string) error
}

// Config configures a Reconciler.
type Config struct {
	Logger *slog.Logger
	// StateDir is where the role records what it added (rshost.json, rshost-sysctls.json);
	// empty keeps it in memory.
	StateDir string
	// Net changes the host; nil opens the agent's own network namespace on first need.
	Net Net
	// Sysctls reads and writes sysctls; nil means /proc/sys of the agent's namespace.
	Sysctls netconf.SysctlIO
}

// Reconciler keeps the real-server role's addresses, tunnel devices and sysctls. It implements
// reconcile.Reconciler and reconcile.StatusReporter.
type Reconciler struct {
	log    *slog.Logger
	ledger string
	keeper *netconf.SysctlKeeper

	mu      sync.Mutex // serialises Apply; guards the following
	net     Net
	loaded  bool
	led     added
	repairs uint64
	active  []agentapi.RealServerBinding
}

// added is what the role changed, recorded across restarts.
type added struct {
	// Addresses it added, as "LINK PREFIX".
	Addresses []string `json:"addresses,omitempty"`
	// Links it brought up.
	Links []string `json:"links,omitempty"`
}

// New returns a Reconciler.
func New(cfg Config) *Reconciler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Sysctls == nil {
		cfg.Sysctls = netconf.ProcSys{}
	}
	r := &Reconciler{log: cfg.Logger.With("part", "rshost"), net: cfg.Net}
	sysPath := ""
	if cfg.StateDir != "" {
		r.ledger = filepath.Join(cfg.StateDir, "rshost.json")
		sysPath = filepath.Join(cfg.StateDir, "rshost-sysctls.json")
	}
	r.keeper = netconf.NewSysctlKeeper(cfg.Sysctls, sysPath)
	return r
}

// addrOn is one address on one link.
type addrOn struct {
	link   string
	prefix netip.Prefix
}

func (a addrOn) String() string { return a.link + " " + a.prefix.String() }

func parseAddrOn(s string) (addrOn, bool) {
	var link, p string
	if _, err := fmt.Sscan(s, &link, &p); err != nil {
		return addrOn{}, false
	}
	pp, err := netip.ParsePrefix(p)
	return addrOn{link, pp}, err == nil
}

// desired is what the bindings ask of the host.
type desired struct {
	addrs   []addrOn
	links   []string
	sysctls map[string]string
}

func want(bs map[string]*agentapi.RealServerBinding) desired {
	d := desired{sysctls: map[string]string{}}
	seen := map[addrOn]bool{}
	links := map[string]bool{}
	for _, b := range bs {
		if b == nil {
			continue
		}
		a, err := netip.ParseAddr(b.VIP)
		if err != nil {
			continue // validated on the way in
		}
		p := netip.PrefixFrom(a, a.BitLen())
		link := Loopback
		if agentapi.Forwarding(b.ForwardingMethod) == agentapi.ForwardTunnel {
			link = netconf.TunnelIPIP
			if a.Is6() {
				link = netconf.TunnelIP6IP6
			}
			links[link] = true
		}
		if x := (addrOn{link, p}); !seen[x] {
			seen[x] = true
			d.addrs = append(d.addrs, x)
		}
		if a.Is4() {
			for _, dev := range []string{"all", Loopback} {
				d.sysctls["net.ipv4.conf."+dev+".arp_ignore"] = "1"
				d.sysctls["net.ipv4.conf."+dev+".arp_announce"] = "2"
			}
			if link == netconf.TunnelIPIP {
				d.sysctls["net.ipv4.conf.all.rp_filter"] = "0"
				d.sysctls["net.ipv4.conf."+netconf.TunnelIPIP+".rp_filter"] = "0"
			}
		}
	}
	sort.Slice(d.addrs, func(i, j int) bool { return d.addrs[i].String() < d.addrs[j].String() })
	for l := range links {
		d.links = append(d.links, l)
	}
	sort.Strings(d.links)
	return d
}

// Repairs counts the changes by someone else that the role undid.
func (r *Reconciler) Repairs() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.repairs
}

func (r *Reconciler) repaired(what string, args ...any) {
	r.repairs++
	r.log.Warn("real-server drift repaired: "+what, args...)
}

// Apply makes the host hold what st's bindings need, and nothing the role added that they no
// longer need.
func (r *Reconciler) Apply(_ context.Context, st *agentapi.State, _ reconcile.Trigger) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.loaded {
		if err := netconf.LoadLedger(r.ledger, &r.led); err != nil {
			return err
		}
		r.loaded = true
	}
	var bs map[string]*agentapi.RealServerBinding
	if st != nil {
		bs = st.RealServerBindings
	}
	d := want(bs)
	r.active = r.active[:0]
	for _, id := range sortedKeys(bs) {
		if bs[id] != nil {
			r.active = append(r.active, *bs[id])
		}
	}
	if len(d.addrs) == 0 && len(r.led.Addresses) == 0 && len(r.led.Links) == 0 {
		_, err := r.keeper.Hold(nil) // restores sysctls left from before a restart, if any
		return err
	}
	if r.net == nil {
		h, err := netconf.Open()
		if err != nil {
			return err
		}
		r.net = h
	}
	var errs []error
	before := added{Addresses: slices.Clone(r.led.Addresses), Links: slices.Clone(r.led.Links)}

	// Links first: a tunnel VIP needs its device.
	for _, l := range d.links {
		up, err := r.net.EnsureTunnelUp(l)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ours := slices.Contains(r.led.Links, l)
		switch {
		case up && ours:
			r.repaired(l+" was down, set up", "link", l)
		case up:
			r.log.Info("tunnel device set up", "link", l)
			r.led.Links = append(r.led.Links, l)
		}
	}
	for _, l := range slices.Clone(r.led.Links) {
		if slices.Contains(d.links, l) {
			continue
		}
		if err := r.net.SetLinkDown(l); err != nil {
			errs = append(errs, err)
			continue
		}
		r.log.Info("tunnel device set down", "link", l)
		r.led.Links = slices.DeleteFunc(r.led.Links, func(x string) bool { return x == l })
	}

	have := map[string][]netip.Prefix{}
	addrs := func(link string) []netip.Prefix {
		if ps, ok := have[link]; ok {
			return ps
		}
		ps, err := r.net.Addresses(link)
		if err != nil {
			errs = append(errs, err)
		}
		have[link] = ps
		return ps
	}
	for _, a := range d.addrs {
		present := slices.ContainsFunc(addrs(a.link), func(p netip.Prefix) bool { return p.Addr() == a.prefix.Addr() })
		if present {
			continue
		}
		if err := r.net.AddAddress(a.link, a.prefix); err != nil {
			errs = append(errs, err)
			continue
		}
		if slices.Contains(r.led.Addresses, a.String()) {
			r.repaired("VIP was missing, added back", "link", a.link, "vip", a.prefix.String())
		} else {
			r.log.Info("VIP added", "link", a.link, "vip", a.prefix.String())
			r.led.Addresses = append(r.led.Addresses, a.String())
		}
	}
	for _, s := range slices.Clone(r.led.Addresses) {
		a, ok := parseAddrOn(s)
		if ok && slices.Contains(d.addrs, a) {
			continue
		}
		if ok {
			if err := r.net.RemoveAddress(a.link, a.prefix); err != nil {
				errs = append(errs, err)
				continue
			}
			r.log.Info("VIP removed", "link", a.link, "vip", a.prefix.String())
		}
		r.led.Addresses = slices.DeleteFunc(r.led.Addresses, func(x string) bool { return x == s })
	}

	changes, err := r.keeper.Hold(d.sysctls)
	errs = append(errs, err)
	for _, c := range changes {
		if c.Drift {
			r.repaired(c.String(), "sysctl", c.Name)
		} else {
			r.log.Info("real-server sysctl: " + c.String())
		}
	}

	sort.Strings(r.led.Addresses)
	sort.Strings(r.led.Links)
	if !slices.Equal(before.Addresses, r.led.Addresses) || !slices.Equal(before.Links, r.led.Links) {
		if len(r.led.Addresses) == 0 && len(r.led.Links) == 0 {
			errs = append(errs, netconf.RemoveLedger(r.ledger))
		} else {
			errs = append(errs, netconf.SaveLedger(r.ledger, &r.led))
		}
	}
	return errors.Join(errs...)
}

// Report implements reconcile.StatusReporter: the bindings in effect.
func (r *Reconciler) Report(st *agentapi.Status) {
	r.mu.Lock()
	bs := slices.Clone(r.active)
	r.mu.Unlock()
	if len(bs) > 0 {
		st.Bindings = bs
	}
}

func sortedKeys(m map[string]*agentapi.RealServerBinding) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
