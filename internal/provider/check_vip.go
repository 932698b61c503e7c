package provider

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/resourceid"
)

// VRRP's limits on the advert interval (RFC 5798: 12 bits of centiseconds; RFC 3768: 8 bits of
// seconds) and the agent's on preempt_delay.
const (
	vrrp3MaxAdvert  = 4095 * 10 * time.Millisecond
	vrrp2MaxAdvert  = 255 * time.Second
	maxPreemptDelay = time.Hour
	maxVRRPPassword = 8
)

// checkVIP checks an lvs_vip configuration (see configcheck.go).
func checkVIP(c checks, root cfgVal) {
	if id := root.at("director_pair_id"); id.known() {
		if _, err := resourceid.ParsePair(id.str()); err != nil {
			c.failAs(id.p, summaryInvalidPairID, "%v", err)
		}
	}
	// vrrp_version unset is the default 3; ver is 0 when it is unknown.
	ver, verKnown := root.at("vrrp_version").intOr(3)
	verDefault := root.at("vrrp_version").null()
	verSaid := func() string {
		if verDefault {
			return "vrrp_version is the default 3"
		}
		return fmt.Sprintf("vrrp_version = %d", ver)
	}

	seen := map[netip.Addr]string{}
	for _, a := range knownStrings(root.at("addresses")) {
		p, err := agentapi.ParseVIPAddress(a.str())
		if err != nil {
			c.fail(a.p, "%v", err)
			continue
		}
		if p.Addr().Is6() && verKnown && ver == 2 {
			c.fail(a.p, "%s is IPv6, which needs vrrp_version 3 (VRRPv2 is IPv4 only)", a.str())
		}
		if prev, ok := seen[p.Addr()]; ok {
			c.fail(a.p, "%s is listed twice (as %q and %q)", p.Addr(), prev, a.str())
		}
		seen[p.Addr()] = a.str()
	}

	prios := root.at("priority").elems()
	for _, p := range prios {
		if p.known() && (p.int() < 1 || p.int() > 255) {
			c.fail(p.p, "%d is outside 1-255 (1-254, or 255 for the address owner)", p.int())
		}
	}
	if len(prios) == 2 && prios[0].known() && prios[1].known() && prios[0].int() == prios[1].int() {
		c.fail(prios[1].p, "equal priorities (%d and %d) leave the election to the higher IP address; give the directors different priorities", prios[0].int(), prios[1].int())
	}

	// "" is the default, as unset.
	if ai := root.at("advert_interval"); ai.known() && ai.str() != "" {
		if d, ok := c.duration(ai); ok {
			checkAdvertInterval(c, ai, d, ver, verKnown, verSaid)
		}
	}

	if auth := root.at("authentication"); auth.known() && auth.str() != "" {
		// The password is sensitive: the messages tell its length, never its text.
		if verKnown && ver != 2 {
			c.fail(auth.p, "authentication exists only in VRRPv2 (RFC 5798 removed it) and %s: set vrrp_version = 2 or drop authentication", verSaid())
		}
		if n := len(auth.str()); n > maxVRRPPassword {
			c.fail(auth.p, "the password is %d bytes; a VRRPv2 password is at most %d bytes", n, maxVRRPPassword)
		}
	}

	if pd := root.at("preempt_delay"); pd.known() && pd.str() != "" {
		if d, ok := c.duration(pd); ok && (d < 0 || d > maxPreemptDelay) {
			c.fail(pd.p, "%s is outside 0s-1h", pd.str())
		}
	}

	if ifc := root.at("interface"); ifc.known() {
		if err := agentapi.ValidateInterfaceName(ifc.str()); err != nil {
			c.fail(ifc.p, "%v (the interface the addresses are held on; leave it unset for the pair's)", err)
		}
	}

	checkGARP(c, root.at("gratuitous_arp"))
	if sg := root.at("sync_group"); sg.known() {
		if sg.str() == "" {
			c.fail(sg.p, "must not be empty: leave sync_group unset for a VIP of its own")
		} else if err := agentapi.ValidateSyncGroup(sg.str()); err != nil {
			c.fail(sg.p, "%v", err)
		}
	}

	names := map[string]bool{}
	for _, ts := range root.at("track_scripts").elems() {
		if n := ts.at("name"); n.known() {
			switch {
			case n.str() == "":
				c.fail(n.p, "must not be empty: it names the script in status and logs")
			case names[n.str()]:
				c.fail(n.p, "%q is used by another track script of this VIP; names must be unique", n.str())
			}
			names[n.str()] = true
		}
		if cmd := ts.at("command"); cmd.known() && cmd.str() == "" {
			c.fail(cmd.p, "must not be empty")
		}
		for _, name := range []string{"interval", "timeout"} {
			x := ts.at(name)
			if d, ok := c.duration(x); ok && d < 10*time.Millisecond {
				c.fail(x.p, "%s is shorter than 10ms", x.str())
			}
		}
	}
}

// checkAdvertInterval checks advert_interval d (spelled as ai) against the VRRP version.
func checkAdvertInterval(c checks, ai cfgVal, d time.Duration, ver int64, verKnown bool, verSaid func() string) {
	s := ai.str()
	switch {
	case d <= 0:
		c.fail(ai.p, "%s is not a positive duration", s)
	case verKnown && ver == 2:
		switch {
		case d%time.Second != 0:
			c.fail(ai.p, "%s is not a whole number of seconds: VRRPv2 adverts are whole seconds; use vrrp_version = 3 for sub-second adverts", s)
		case d > vrrp2MaxAdvert:
			c.fail(ai.p, "%s is longer than 255s, the longest VRRPv2 advert interval", s)
		}
	case d%(10*time.Millisecond) != 0:
		c.fail(ai.p, "%s is not a multiple of 10ms: VRRP adverts are timed in steps of 10ms (e.g. \"100ms\", \"1s\")", s)
	case d < 10*time.Millisecond:
		c.fail(ai.p, "%s is shorter than 10ms, the shortest VRRPv3 advert interval", s)
	case verKnown && d > vrrp3MaxAdvert:
		c.fail(ai.p, "%s is longer than 40.95s, the longest VRRPv3 advert interval (%s)", s, verSaid())
	case !verKnown && d > vrrp2MaxAdvert:
		c.fail(ai.p, "%s is longer than 255s, the longest VRRP advert interval", s)
	}
}

// checkGARP checks gratuitous_arp's durations (its counts have schema validators).
func checkGARP(c checks, g cfgVal) {
	if !g.known() {
		return
	}
	ms := func(x cfgVal, d time.Duration) bool {
		if d%time.Millisecond != 0 {
			c.fail(x.p, "%s is not a whole number of milliseconds", x.str())
			return false
		}
		return true
	}
	if x := g.at("delay"); x.known() {
		if d, ok := c.duration(x); ok && ms(x, d) && (d < 0 || d > time.Duration(agentapi.MaxGARPDelayMS)*time.Millisecond) {
			c.fail(x.p, "%s is outside 0s-1h: the second burst follows the first by at most an hour; \"0s\" sends none (keepalived garp_master_delay 0)", x.str())
		}
	}
	if x := g.at("refresh"); x.known() {
		if d, ok := c.duration(x); ok && ms(x, d) && d != 0 &&
			(d < time.Duration(agentapi.MinGARPRefreshMS)*time.Millisecond || d > time.Duration(agentapi.MaxGARPRefreshMS)*time.Millisecond) {
			c.fail(x.p, "%s is outside 1s-24h: a master refreshes its announcements at most once a second (keepalived's shortest garp_master_refresh); \"0s\" turns the refresh off", x.str())
		}
	}
}
