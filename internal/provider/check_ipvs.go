package provider

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/resourceid"
)

const (
	defaultScheduler        = "wlc"
	defaultForwardingMethod = agentapi.ForwardDR
	defaultProtocol         = "tcp"
	defaultOnFailure        = "quiesce"
	maxThreshold            = 1<<32 - 1
)

// checkUnicast reports an address that cannot carry a service (not an address, multicast,
// loopback, link-local...).
func checkUnicast(c checks, x cfgVal) (netip.Addr, bool) {
	if !x.known() {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(x.str())
	if err != nil {
		c.fail(x.p, "%q is not an IPv4 or IPv6 address", x.str())
		return a, false
	}
	if a.Zone() != "" || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() || a.IsLinkLocalUnicast() || a.IsLoopback() {
		c.fail(x.p, "%s cannot be used here: give a global unicast address (IPv4 without ::ffff:)", x.str())
		return a, false
	}
	return a, true
}

func checkPort(c checks, x cfgVal) {
	if x.known() && (x.int() < 0 || x.int() > 65535) {
		c.fail(x.p, "%d is outside 0-65535", x.int())
	}
}

// checkVirtualServer checks an lvs_virtual_server configuration (see configcheck.go).
func checkVirtualServer(c checks, root cfgVal) {
	if id := root.at("vip_id"); id.known() {
		if _, err := resourceid.ParseVIP(id.str()); err != nil {
			c.failAs(id.p, summaryInvalidVIPID, "%v", err)
		}
	}
	fwmark, addr, port, proto, family := root.at("fwmark"), root.at("address"), root.at("port"), root.at("protocol"), root.at("address_family")
	isFWMark := fwmark.known() || fwmark.unknown
	if fwmark.known() {
		var set []string
		for _, x := range []cfgVal{proto, addr, port} {
			if !x.null() {
				set = append(set, x.p.String())
			}
		}
		if len(set) > 0 {
			c.fail(fwmark.p, "a fwmark service has no protocol, address or port (the mark selects the packets), but %s %s set: remove %s or fwmark",
				strings.Join(set, ", "), map[bool]string{true: "is", false: "are"}[len(set) == 1], strings.Join(set, ", "))
		}
	}
	if fwmark.null() {
		if addr.null() {
			c.fail(addr.p, "an address is required unless fwmark is set")
		}
		if !family.null() {
			c.fail(family.p, "only fwmark services take an address family; the address gives it")
		}
	}
	// ipv6 is the service's family when it is known.
	var ipv6, familyKnown bool
	if a, ok := checkUnicast(c, addr); ok && !isFWMark {
		ipv6, familyKnown = a.Is6(), true
	}
	if fam, ok := family.strOr(agentapi.FamilyInet); ok && fwmark.known() {
		ipv6, familyKnown = fam == agentapi.FamilyInet6, true
	}
	checkPort(c, port)
	persistence := root.at("persistence")
	if port.known() && port.int() == 0 && persistence.null() && !isFWMark {
		c.fail(port.p, "port 0 (every port) needs persistence, as in ipvsadm")
	}

	sched, schedKnown := root.at("scheduler").strOr(defaultScheduler)
	seen := map[string]bool{}
	for _, f := range knownStrings(root.at("scheduler_flags")) {
		owner, ok := agentapi.SchedulerFlags[f.str()]
		switch {
		case !ok:
			c.fail(f.p, "%q is not one of sh-fallback, sh-port, mh-fallback, mh-port", f.str())
		case schedKnown && owner != sched:
			said := "scheduler " + sched
			if root.at("scheduler").null() {
				said = "the default scheduler " + sched
			}
			c.fail(f.p, "%s is only valid with scheduler %s, not with %s", f.str(), owner, said)
		case seen[f.str()]:
			c.fail(f.p, "%s is listed twice", f.str())
		}
		seen[f.str()] = true
	}
	if op := root.at("one_packet_scheduling"); op.known() && op.boolean() && !isFWMark {
		if p, ok := proto.strOr(defaultProtocol); ok && p != "udp" {
			said := "protocol is " + p
			if proto.null() {
				said = "protocol is the default, " + p
			}
			c.fail(op.p, "is for UDP services, and this one's %s: remove it, or set protocol = \"udp\"", said)
		}
	}

	if t := persistence.at("timeout"); t.known() {
		if d, ok := c.duration(t); ok {
			switch {
			case d%time.Second != 0:
				c.fail(t.p, "%s is not a whole number of seconds: IPVS keeps persistence in seconds (e.g. \"300s\", \"5m\")", t.str())
			case d < time.Second || d > agentapi.MaxPersistenceTimeoutS*time.Second:
				c.fail(t.p, "%s is outside 1s-720h (30 days)", t.str())
			}
		}
	}
	if nm := persistence.at("netmask"); nm.known() && nm.str() != "" && familyKnown {
		if _, err := agentapi.ParseNetmask(nm.str(), ipv6); err != nil {
			c.fail(nm.p, "%v", err)
		}
	}

	checkHealthCheck(c, root.at("health_check"))

	vsMethod, vsMethodKnown := root.at("forwarding_method").strOr(string(defaultForwardingMethod))
	if s := root.at("sorry_server"); s.known() {
		sa, sp, sm := s.at("address"), s.at("port"), s.at("forwarding_method")
		a, aok := checkUnicast(c, sa)
		checkPort(c, sp)
		method, mKnown := sm.strOr(vsMethod)
		mKnown = mKnown && (!sm.null() || vsMethodKnown) && slices.Contains(agentapi.ForwardingMethods, method)
		said := methodSaid(sm, root.at("forwarding_method"), method)
		if aok && familyKnown && a.Is6() != ipv6 && mKnown && method != string(agentapi.ForwardTunnel) {
			c.fail(sa.p, "%s is not of the virtual server's address family, which only tunnel forwarding mixes (%s)", sa.str(), said)
		}
		if mKnown && method != string(agentapi.ForwardNAT) && !isFWMark && port.known() && port.int() != 0 && sp.known() && sp.int() != port.int() {
			c.fail(sp.p, "with %s the packet keeps its port: the sorry server must use port %d (port mapping needs nat)", said, port.int())
		}
	}

	if q := root.at("quorum"); q.known() {
		mn, h := q.at("min"), q.at("hysteresis")
		if mn.known() && mn.int() < 1 {
			c.fail(mn.p, "%d: must be at least 1 (the summed weight of live real servers)", mn.int())
		}
		if h.known() && h.int() < 0 {
			c.fail(h.p, "%d: must not be negative", h.int())
		}
		if mn.known() && mn.int() >= 1 && h.known() && h.int() >= mn.int() {
			c.fail(h.p, "%d: must be below min (%d), from 0 to %d", h.int(), mn.int(), mn.int()-1)
		}
	}
}

// methodSaid names the forwarding method in force and where it comes from.
func methodSaid(own, service cfgVal, method string) string {
	switch {
	case !own.null():
		return "forwarding_method " + method
	case !service.null():
		return "the virtual server's forwarding_method " + method
	}
	return "the default forwarding_method " + method
}

// checkRealServer checks an lvs_real_server configuration (see configcheck.go).
func checkRealServer(c checks, root cfgVal) {
	var vs *agentapi.VirtualServer // the service's identity, when its ID is known
	if id := root.at("virtual_server_id"); id.known() {
		vsID, err := resourceid.ParseVirtualServer(id.str())
		if err == nil {
			vs, err = agentapi.ParseVirtualServerKey(vsID.Key)
		}
		if err != nil {
			c.failAs(id.p, summaryInvalidVirtualServerID, "%v", err)
		}
	}
	addr, port, fm := root.at("address"), root.at("port"), root.at("forwarding_method")
	a, aok := checkUnicast(c, addr)
	// Without its own forwarding_method the virtual server's applies, which is not known
	// here: the rules of the method are checked at apply then.
	if vs != nil && fm.known() {
		method := fm.str()
		if aok && !vs.IsFWMark() && a.Is6() != vs.IsIPv6() && method != string(agentapi.ForwardTunnel) {
			c.fail(addr.p, "%s is not of the virtual server's address family (%s); only tunnel forwarding mixes families", addr.str(), vs.Address)
		}
		if method != string(agentapi.ForwardNAT) && !vs.IsFWMark() && vs.Port != 0 && port.known() && port.int() != int64(vs.Port) {
			c.fail(port.p, "with forwarding_method %s the packet keeps its port: the real server must use port %d, the virtual server's (port mapping needs nat)", method, vs.Port)
		}
	}
	if t := root.at("thresholds"); t.known() {
		up, lo := t.at("upper"), t.at("lower")
		for _, x := range []cfgVal{up, lo} {
			if x.known() && (x.int() < 0 || x.int() > maxThreshold) {
				c.fail(x.p, "%d is outside 0 (no limit) to %d", x.int(), int64(maxThreshold))
			}
		}
		if up.known() && lo.known() && up.int() > 0 && lo.int() > up.int() {
			c.fail(lo.p, "%d is above the upper threshold %d", lo.int(), up.int())
		}
	}
	if h := root.at("host"); h.known() {
		if s := h.at("ssh_address"); s.known() && !resourceid.ValidHost(s.str()) {
			c.fail(s.p, "%q is not an IPv4 or IPv6 address or a DNS name", s.str())
		}
	}
	checkHealthCheck(c, root.at("health_check"))
}

var dnsTypes = []string{"A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT"}

var statusRange = regexp.MustCompile(`^([1-5][0-9][0-9])(?:-([1-5][0-9][0-9]))?$`)

// checkHealthCheck checks a health_check attribute of a virtual or real server.
func checkHealthCheck(c checks, h cfgVal) {
	if !h.known() {
		return
	}
	c = checks{diags: c.diags, summary: summaryInvalidHealthCheck}
	interval, iSpelled, iDef, iok := c.durationOr(h.at("interval"), defaultCheckInterval)
	timeout, tSpelled, tDef, tok := c.durationOr(h.at("timeout"), defaultCheckTimeout)
	retryDelay := h.at("retry_delay")
	if d, ok := c.duration(retryDelay); ok && d < 0 {
		c.fail(retryDelay.p, "%s is negative", retryDelay.str())
	}
	// 0 is the checker's default, as the agent takes it.
	if iok && !iDef {
		switch {
		case interval < 0:
			c.fail(h.at("interval").p, "%s is negative", iSpelled)
		case interval > 0 && interval < 10*time.Millisecond:
			c.fail(h.at("interval").p, "%s is shorter than 10ms", iSpelled)
		}
	}
	if tok && !tDef && timeout < 0 {
		c.fail(h.at("timeout").p, "%s is negative", tSpelled)
	}
	// A timeout longer than the interval is keepalived's connect_timeout 10 with delay_loop 6:
	// the agent starts the next check an interval after a long one ended.
	for _, n := range []string{"retries", "rise", "fall"} {
		if x := h.at(n); x.known() && x.int() < 0 {
			c.fail(x.p, "%d must not be negative", x.int())
		}
	}
	checkUnicast(c, h.at("connect_address"))
	checkPort(c, h.at("connect_port"))

	typ := h.at("type")
	if !typ.known() {
		return
	}
	t := typ.str()
	isHTTP := t == "http" || t == "https"
	notFor := func(names []string, ok bool, what string) {
		if ok {
			return
		}
		for _, n := range names {
			if x := h.at(n); !x.null() {
				c.fail(x.p, "%s settings do not apply to a %s check: remove %s or change type", what, t, n)
			}
		}
	}
	notFor([]string{"path", "expected_status", "host", "expected_body", "tls_server_name", "tls_verify", "digest", "urls"}, isHTTP, "http")
	notFor([]string{"command", "dynamic_weight"}, t == "exec", "exec")
	notFor([]string{"query_name", "query_type"}, t == "dns", "dns")
	notFor([]string{"payload", "require_reply", "reply_pattern"}, t == "udp", "udp")
	notFor([]string{"helo_name"}, t == "smtp", "smtp")
	if t == "udp" {
		checkUDP(c, h)
	}
	if x := h.at("helo_name"); t == "smtp" && x.known() && (x.str() == "" || strings.ContainsAny(x.str(), " \t\r\n")) {
		c.fail(x.p, "%q must be one word, a host name such as \"lb1.example.com\": no spaces or line breaks", x.str())
	}
	if t == "exec" {
		if cmd := h.at("command"); cmd.null() || (cmd.known() && strings.TrimSpace(cmd.str()) == "") {
			c.fail(cmd.p, "an exec check needs a command")
		}
	}
	if t == "dns" {
		if q := h.at("query_name"); q.null() || (q.known() && q.str() == "") {
			c.fail(q.p, "a dns check needs a query name")
		}
		if q := h.at("query_type"); q.known() && !slices.Contains(dnsTypes, strings.ToUpper(q.str())) {
			c.fail(q.p, "%q is not a DNS record type this check knows (%s)", q.str(), strings.Join(dnsTypes, ", "))
		}
	}
	if t == "none" {
		for _, n := range []string{"connect_address", "connect_port"} {
			if x := h.at(n); !x.null() {
				c.fail(x.p, "a none check connects nowhere: remove %s", n)
			}
		}
	}
	if isHTTP {
		checkURL(c, h)
		if urls := h.at("urls"); !urls.null() {
			for _, n := range []string{"path", "expected_status", "expected_body", "digest"} {
				if x := h.at(n); !x.null() {
					c.fail(x.p, "set either urls or %s: with urls, move %s into each of its entries", n, n)
				}
			}
			for _, u := range urls.elems() {
				if u.known() {
					checkURL(c, u)
				}
			}
		}
		if t == "http" {
			if x := h.at("tls_server_name"); x.known() && x.str() != "" {
				c.fail(x.p, "TLS settings need type https, not http")
			}
			if x := h.at("tls_verify"); x.known() && x.v.Equal(types.BoolValue(true)) {
				c.fail(x.p, "TLS settings need type https, not http")
			}
		}
	}
}

// checkURL checks the GET fields of an http check or of one of its urls.
func checkURL(c checks, h cfgVal) {
	if p := h.at("path"); p.known() && !strings.HasPrefix(p.str(), "/") {
		c.fail(p.p, "%q must start with /", p.str())
	}
	for _, st := range knownStrings(h.at("expected_status")) {
		m := statusRange.FindStringSubmatch(st.str())
		if m == nil || (m[2] != "" && m[2] < m[1]) {
			c.fail(st.p, "%q is not a status (200) or range (200-299) within 100-599", st.str())
		}
	}
	if b := h.at("expected_body"); b.known() && b.str() != "" {
		if _, err := regexp.Compile(b.str()); err != nil {
			c.fail(b.p, "not an RE2 regular expression: %v", err)
		}
	}
	if d := h.at("digest"); d.known() && !agentapi.ValidDigest(d.str()) {
		c.fail(d.p, "%q is not an MD5 digest: write the 32 hex digits keepalived's genhash prints", d.str())
	}
}

// checkUDP checks the settings of a udp check.
func checkUDP(c checks, h cfgVal) {
	if x := h.at("payload"); x.known() {
		if _, _, err := agentapi.ParseHex(x.str(), false); err != nil {
			c.fail(x.p, "not a hex string such as \"4c 56 53\": %v", err)
		}
	}
	pat := h.at("reply_pattern")
	if pat.known() {
		if _, _, err := agentapi.ParseHex(pat.str(), true); err != nil {
			c.fail(pat.p, "not a hex string such as \"4f4b xx\" (x for any digit): %v", err)
		}
	}
	if rr := h.at("require_reply"); rr.known() && rr.v.Equal(types.BoolValue(false)) && !pat.null() {
		c.fail(rr.p, "a reply_pattern needs a reply: remove require_reply = false or the pattern")
	}
}
