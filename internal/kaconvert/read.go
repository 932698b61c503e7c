package kaconvert

import (
	"fmt"
	"maps"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/keepalived"
)

// director is what one keepalived.conf says, in the provider's terms.
type director struct {
	file        string
	vrrpVersion int // global_defs vrrp_version; 0 unset
	syncDaemon  bool
	sync        syncDaemon // lvs_sync_daemon's settings, when syncDaemon
	timeouts    [3]int     // tcp, tcpfin, udp
	timeoutsSet bool
	timeoutsPos keepalived.Pos
	scripts     map[string]*vrrpScript
	instances   []*instance
	servers     []*virtualServer
	groups      map[string]*keepalived.Node
	syncGroups  map[string]syncMember // instance name → its vrrp_sync_group
	garp        garp                  // global_defs vrrp_garp_master_*: every instance's defaults
}

// garp is keepalived's garp_master_* settings; -1 is unset. Delay and refresh are in ms.
type garp struct {
	delay, repeat, refresh, refreshRepeat int
}

var garpUnset = garp{-1, -1, -1, -1}

// over is g with the settings it leaves unset taken from def.
func (g garp) over(def garp) garp {
	for _, f := range []struct{ v, d *int }{{&g.delay, &def.delay}, {&g.repeat, &def.repeat}, {&g.refresh, &def.refresh}, {&g.refreshRepeat, &def.refreshRepeat}} {
		if *f.v < 0 {
			*f.v = *f.d
		}
	}
	return g
}

// effective is what keepalived runs with g.
func (g garp) effective() agentapi.GARP {
	if w := g.wire(); w != nil {
		return *w
	}
	return agentapi.DefaultGARP
}

// wire is the agent's form of g, keepalived's defaults where unset; nil when nothing is set.
func (g garp) wire() *agentapi.GARP {
	if g == garpUnset {
		return nil
	}
	w := agentapi.DefaultGARP
	if g.delay >= 0 {
		w.DelayMS = g.delay
	}
	if g.repeat >= 0 {
		w.Repeat = g.repeat
	}
	if g.refresh >= 0 {
		w.RefreshMS = g.refresh
	}
	if g.refreshRepeat >= 0 {
		w.RefreshRepeat = g.refreshRepeat
	}
	return &w
}

type syncMember struct {
	group string
	pos   keepalived.Pos
}

// syncDaemon is lvs_sync_daemon IFACE [inst] INSTANCE [id N] [maxlen N] [port N] [ttl N] [group A].
type syncDaemon struct {
	pos             keepalived.Pos
	iface, instance string
	id              *int // unset: keepalived takes the instance's virtual_router_id (0 without one)
	maxlen, port    int
	ttl             int
	group           string
}

type vrrpScript struct {
	pos                keepalived.Pos
	command            string
	interval, timeout  int // ms; 0 unset
	weight, rise, fall int
	hasRise, hasFall   bool
}

type instance struct {
	pos          keepalived.Pos
	name         string
	iface        string
	vrid         int
	priority     int
	advertMS     int
	advertPos    keepalived.Pos
	version      int
	authType     string
	authPass     string
	authPos      keepalived.Pos
	addrs        []string
	addrDevs     []string // per address: its "dev", "" for the instance's interface
	addrPos      keepalived.Pos
	preempt      bool
	preemptDelay int // ms
	trackIfs     []trackIf
	trackScripts []trackScript
	notify       [3]string // master, backup, fault
	garp         garp      // the instance's own; global_defs' fill in after reading
	syncGroup    string    // its vrrp_sync_group, if any
	unicast      bool
	peers        []string
	srcIP        string
}

type trackIf struct {
	name   string
	weight int
}

type trackScript struct {
	name, command     string
	interval, timeout int
	weight            int
	rise, fall        int
}

type virtualServer struct {
	pos         keepalived.Pos
	desc        string // "virtual_server 198.51.100.100 80"
	address     string
	port        int
	fwmark      uint64
	family      string
	protocol    string
	scheduler   string
	flags       []string
	ops         bool
	method      string
	persistence string // duration
	netmask     string
	quorum      int
	hysteresis  int
	hasQuorum   bool
	sorry       *sorryServer
	onFailure   string
	reals       []*realServer
	fromGroup   bool
}

type sorryServer struct {
	address string
	port    int
	method  string
}

type realServer struct {
	pos       keepalived.Pos
	address   string
	port      int
	weight    int
	method    string
	upper     int
	lower     int
	check     *check // nil: none
	onFailure string
	onFailPos keepalived.Pos
	hasOnFail bool
	// notifyUp and notifyDown are the notify_up / notify_down commands.
	notifyUp, notifyDown string
}

// check is a health_check block, with keepalived's effective values.
type check struct {
	pos         keepalived.Pos
	typ         string
	intervalMS  int
	timeoutMS   int
	retries     int
	retryMS     int
	startDown   bool
	connectAddr string
	connectPort int
	path        string
	status      []string
	host        string
	body        string
	sni         string
	command     string
	qname       string
	qtype       string
	digest      string
	urls        []checkURL // several url blocks; path, status, body and digest are then empty
	dynamic     bool       // MISC_CHECK misc_dynamic
	payload     string     // UDP_CHECK
	reply       bool       // UDP_CHECK require_reply
	replyPat    string     // its hex pattern
	helo        string     // SMTP_CHECK helo_name
}

// checkURL is one url block of an HTTP_GET or SSL_GET.
type checkURL struct {
	path, body, digest string
	status             []string
}

// checkDefaults are the checker settings a virtual server or real server passes down.
type checkDefaults struct {
	delayLoop, timeout, retryDelay int // ms, 0 unset
	retry                          int // -1 unset
	alpha                          bool
	virtualhost                    string
}

// reader reads one file's tree.
type reader struct {
	d   *director
	rep *Report
}

func (r *reader) report(n *keepalived.Node, ctx string, k Kind, format string, a ...any) {
	kw := n.Keyword()
	if ctx != "" {
		kw = ctx + ": " + kw
	}
	r.rep.add(n.Pos, kw, k, format, a...)
}

// other reports a keyword the block's switch does not map, from the table.
func (r *reader) other(block string, n *keepalived.Node, ctx string) {
	if rw := row(block, n.Keyword()); rw != nil && rw.Kind != mapped {
		why := rw.Note
		if why == "" {
			why = "no equivalent in the provider"
		}
		r.report(n, ctx, rw.Kind, "%s", why)
		return
	}
	r.report(n, ctx, NotMapped, "unknown keyword in %s: not mapped", block)
}

func (r *reader) args(n *keepalived.Node, ctx string, min int) bool {
	if len(n.Args)-1 < min {
		r.report(n, ctx, Error, "needs %d value(s): not mapped", min)
		return false
	}
	return true
}

// syncDaemon reads lvs_sync_daemon's arguments, keepalived's way: keyword-value pairs after the
// interface, and the older positional INSTANCE and SYNC_ID.
func (r *reader) syncDaemon(n *keepalived.Node) {
	const ctx = "global_defs"
	sd := syncDaemon{pos: n.Pos}
	if len(n.Args) > 1 {
		sd.iface = n.Args[1]
	}
	num := func(i, lo, hi int) (int, bool) {
		if i >= len(n.Args) {
			r.report(n, ctx, Error, "%s has no value: not mapped", n.Args[i-1])
			return 0, false
		}
		v, err := strconv.Atoi(n.Args[i])
		if err != nil || v < lo || v > hi {
			r.report(n, ctx, Error, "%s %q is not a number from %d to %d: not mapped", n.Args[i-1], n.Args[i], lo, hi)
			return 0, false
		}
		return v, true
	}
	for i := 2; i < len(n.Args); i++ {
		switch a := n.Args[i]; a {
		case "inst":
			if i+1 < len(n.Args) {
				sd.instance = n.Args[i+1]
			}
			i++
		case "id":
			if v, ok := num(i+1, 0, 255); ok {
				sd.id = &v
			}
			i++
		case "maxlen":
			sd.maxlen, _ = num(i+1, 1, agentapi.MaxSyncLength)
			i++
		case "port":
			sd.port, _ = num(i+1, 1, 65535)
			i++
		case "ttl":
			sd.ttl, _ = num(i+1, 1, 255)
			i++
		case "group":
			if i+1 < len(n.Args) {
				if err := agentapi.ValidateSyncDaemonGroup(n.Args[i+1]); err != nil {
					r.report(n, ctx, Error, "group: %v: not mapped", err)
				} else {
					sd.group = n.Args[i+1]
				}
			}
			i++
		default:
			switch i {
			case 2:
				sd.instance = a
			case 3:
				if v, ok := num(i, 0, 255); ok {
					sd.id = &v
				}
			default:
				r.report(n, ctx, Ignored, "unknown option %s", a)
			}
		}
	}
	r.d.sync = sd
}

func (r *reader) integer(n *keepalived.Node, ctx string, i int, lo, hi int) (int, bool) {
	if !r.args(n, ctx, i) {
		return 0, false
	}
	v, err := strconv.Atoi(n.Args[i])
	if err != nil || v < lo || v > hi {
		r.report(n, ctx, Error, "%q is not a number from %d to %d: not mapped", n.Args[i], lo, hi)
		return 0, false
	}
	return v, true
}

// timer reads keepalived's <TIMER>, seconds with a fraction, as milliseconds.
func (r *reader) timer(n *keepalived.Node, ctx string, i int) (int, bool) {
	if !r.args(n, ctx, i) {
		return 0, false
	}
	f, err := strconv.ParseFloat(n.Args[i], 64)
	if err != nil || f < 0 || f > 1e6 || math.IsNaN(f) {
		r.report(n, ctx, Error, "%q is not a number of seconds: not mapped", n.Args[i])
		return 0, false
	}
	return int(math.Round(f * 1000)), true
}

func boolArg(n *keepalived.Node) bool {
	if len(n.Args) < 2 {
		return true
	}
	switch strings.ToLower(n.Args[1]) {
	case "off", "false", "no", "0":
		return false
	}
	return true
}

// read walks the top level of one configuration.
func (r *reader) read(cfg *keepalived.Config) {
	d := r.d
	for _, p := range cfg.Problems {
		if p.Note {
			r.rep.add(p.Pos, "keepalived.conf", Changed, "%s", p.Msg)
		} else {
			r.rep.add(p.Pos, "keepalived.conf syntax", Error, "%s", p.Msg)
		}
	}
	// vrrp_script and virtual_server_group blocks may come after their users.
	for _, n := range cfg.Nodes {
		switch n.Keyword() {
		case "vrrp_script":
			r.script(n)
		case "virtual_server_group":
			if r.args(n, "", 1) {
				d.groups[n.Args[1]] = n
			}
		}
	}
	for _, n := range cfg.Nodes {
		switch n.Keyword() {
		case "global_defs":
			r.global(n)
		case "vrrp_script", "virtual_server_group":
		case "vrrp_instance":
			r.instance(n)
		case "vrrp_sync_group":
			r.syncGroup(n)
		case "virtual_server":
			r.virtualServer(n)
		default:
			r.other(bTop, n, "")
		}
	}
	for _, in := range d.instances {
		in.garp = in.garp.over(d.garp)
	}
	r.assignSyncGroups()
}

// syncGroup reads a vrrp_sync_group: its members get its name as sync_group (see
// assignSyncGroups).
func (r *reader) syncGroup(b *keepalived.Node) {
	if !r.args(b, "", 1) {
		return
	}
	name := b.Args[1]
	ctx := "vrrp_sync_group " + name
	if err := agentapi.ValidateSyncGroup(name); err != nil {
		r.report(b, "", Error, "the name is not a sync_group the provider takes: %v; not mapped", err)
		return
	}
	for _, n := range b.Block {
		if n.Keyword() != "group" {
			r.other(bSync, n, ctx)
			continue
		}
		for _, m := range n.Block {
			inst := m.Keyword()
			if g, ok := r.d.syncGroups[inst]; ok {
				r.report(m, ctx, Error, "vrrp_instance %s is in sync group %s already: keepalived ignores it here, so does the HCL", inst, g.group)
				continue
			}
			r.d.syncGroups[inst] = syncMember{group: name, pos: m.Pos}
		}
	}
}

// assignSyncGroups gives every instance its group, once all are read (a group may come first).
func (r *reader) assignSyncGroups() {
	known := map[string]bool{}
	for _, in := range r.d.instances {
		in.syncGroup = r.d.syncGroups[in.name].group
		known[in.name] = true
	}
	for _, inst := range slices.Sorted(maps.Keys(r.d.syncGroups)) {
		if m := r.d.syncGroups[inst]; !known[inst] {
			r.rep.add(m.pos, "vrrp_sync_group "+m.group+": "+inst, Ignored, "no vrrp_instance %s in this file: keepalived ignores the name, so does the HCL", inst)
		}
	}
}

func (r *reader) global(b *keepalived.Node) {
	for _, n := range b.Block {
		switch n.Keyword() {
		case "vrrp_version":
			if v, ok := r.integer(n, "global_defs", 1, 2, 3); ok {
				r.d.vrrpVersion = v
			}
		case "lvs_sync_daemon":
			r.d.syncDaemon = true
			r.syncDaemon(n)
		case "lvs_timeouts":
			r.d.timeoutsSet, r.d.timeoutsPos = true, n.Pos
			for i := 1; i+1 < len(n.Args); i += 2 {
				v, err := strconv.Atoi(n.Args[i+1])
				if err != nil || v < 0 {
					r.report(n, "global_defs", Error, "%s %q is not a number of seconds: not mapped", n.Args[i], n.Args[i+1])
					continue
				}
				switch n.Args[i] {
				case "tcp":
					r.d.timeouts[0] = v
				case "tcpfin":
					r.d.timeouts[1] = v
				case "udp":
					r.d.timeouts[2] = v
				default:
					r.report(n, "global_defs", NotMapped, "lvs_timeouts %s: only tcp, tcpfin and udp are mapped", n.Args[i])
				}
			}
		case "vrrp_garp_master_delay", "vrrp_garp_master_repeat", "vrrp_garp_master_refresh", "vrrp_garp_master_refresh_repeat":
			r.garp(&r.d.garp, n, "global_defs", strings.TrimPrefix(n.Keyword(), "vrrp_"))
		default:
			r.other(bGlobal, n, "global_defs")
		}
	}
}

// garp reads one garp_master_* setting (kw without vrrp_) into g. keepalived takes whole
// seconds and counts up to 2^32; values beyond the provider's ranges are brought into them and
// reported.
func (r *reader) garp(g *garp, n *keepalived.Node, ctx, kw string) {
	v, ok := r.integer(n, ctx, 1, 0, math.MaxInt32)
	if !ok {
		return
	}
	clamp := func(v, lo, hi int, unit, why string) int {
		switch {
		case v < lo:
			r.report(n, ctx, Changed, "%d is taken as %d, as keepalived does", v, lo)
			return lo
		case v > hi:
			r.report(n, ctx, Changed, "%d%s is taken as %d%s: %s", v, unit, hi, unit, why)
			return hi
		}
		return v
	}
	switch kw {
	case "garp_master_delay":
		g.delay = clamp(v, 0, agentapi.MaxGARPDelayMS/1000, "s", "the provider's longest delay is 1h") * 1000
	case "garp_master_repeat":
		g.repeat = clamp(v, 1, agentapi.MaxGARPRepeat, "", "the provider sends at most 255 per address at once")
	case "garp_master_refresh":
		g.refresh = clamp(v, 0, agentapi.MaxGARPRefreshMS/1000, "s", "the provider's longest refresh is 24h") * 1000
	case "garp_master_refresh_repeat":
		g.refreshRepeat = clamp(v, 1, agentapi.MaxGARPRepeat, "", "the provider sends at most 255 per address at once")
	}
}

func (r *reader) script(b *keepalived.Node) {
	if !r.args(b, "", 1) {
		return
	}
	s := &vrrpScript{pos: b.Pos, interval: 1000}
	ctx := "vrrp_script " + b.Args[1]
	for _, n := range b.Block {
		switch n.Keyword() {
		case "script":
			if r.args(n, ctx, 1) {
				s.command = strings.Join(n.Args[1:], " ")
			}
		case "interval":
			if v, ok := r.timer(n, ctx, 1); ok {
				s.interval = v
			}
		case "timeout":
			if v, ok := r.timer(n, ctx, 1); ok {
				s.timeout = v
			}
		case "weight":
			if v, ok := r.integer(n, ctx, 1, -253, 253); ok {
				s.weight = v
			}
			if len(n.Args) > 2 && n.Args[2] == "reverse" {
				r.report(n, ctx, NotMapped, "reverse: a track script's weight applies while it fails")
			}
		case "rise":
			s.rise, s.hasRise = r.integer(n, ctx, 1, 1, 1<<20)
		case "fall":
			s.fall, s.hasFall = r.integer(n, ctx, 1, 1, 1<<20)
		default:
			r.other(bScript, n, ctx)
		}
	}
	r.d.scripts[b.Args[1]] = s
}

func (r *reader) instance(b *keepalived.Node) {
	if !r.args(b, "", 1) {
		return
	}
	in := &instance{pos: b.Pos, name: b.Args[1], priority: 100, advertMS: 1000, preempt: true, advertPos: b.Pos, authPos: b.Pos, addrPos: b.Pos, garp: garpUnset}
	ctx := "vrrp_instance " + in.name
	for _, n := range b.Block {
		switch n.Keyword() {
		case "interface":
			if r.args(n, ctx, 1) {
				in.iface = n.Args[1]
			}
		case "virtual_router_id":
			in.vrid, _ = r.integer(n, ctx, 1, 1, 255)
		case "priority":
			if v, ok := r.integer(n, ctx, 1, 1, 255); ok {
				in.priority = v
			}
		case "state":
			r.other(bInstance, n, ctx)
		case "advert_int":
			if v, ok := r.timer(n, ctx, 1); ok {
				in.advertMS, in.advertPos = v, n.Pos
			}
		case "version":
			in.version, _ = r.integer(n, ctx, 1, 2, 3)
		case "authentication":
			in.authPos = n.Pos
			for _, a := range n.Block {
				switch a.Keyword() {
				case "auth_type":
					if r.args(a, ctx+": authentication", 1) {
						in.authType = strings.ToUpper(a.Args[1])
						if in.authType != "PASS" {
							r.report(a, ctx+": authentication", NotMapped, "auth_type %s: only PASS is mapped; the VIP is converted without authentication", a.Args[1])
						}
					}
				case "auth_pass":
					if r.args(a, ctx+": authentication", 1) {
						in.authPass = a.Args[1]
						if len(in.authPass) > 8 {
							r.report(a, ctx+": authentication", Changed, "the password is %d bytes; keepalived uses its first 8, which the variable must hold (the provider refuses more)", len(in.authPass))
							in.authPass = in.authPass[:8]
						}
					}
				default:
					r.other(bAuth, a, ctx+": authentication")
				}
			}
		case "virtual_ipaddress", "virtual_ipaddress_excluded":
			if n.Keyword() == "virtual_ipaddress" {
				in.addrPos = n.Pos
			} else {
				r.other(bInstance, n, ctx)
			}
			for _, a := range n.Block {
				r.vipAddress(in, a, ctx+": "+n.Keyword())
			}
		case "nopreempt":
			in.preempt = false
		case "preempt":
			in.preempt = true
		case "preempt_delay":
			in.preemptDelay, _ = r.timer(n, ctx, 1)
		case "track_interface":
			for _, t := range n.Block {
				ti := trackIf{name: t.Keyword()}
				if len(t.Args) >= 3 && t.Args[1] == "weight" {
					ti.weight, _ = r.integer(t, ctx+": track_interface", 2, -253, 253)
				}
				if slices.Contains(t.Args, "reverse") {
					r.report(t, ctx+": track_interface", NotMapped, "reverse: a tracked interface's weight applies while it is down")
				}
				in.trackIfs = append(in.trackIfs, ti)
			}
		case "track_script":
			for _, t := range n.Block {
				s, ok := r.d.scripts[t.Keyword()]
				if !ok {
					r.report(t, ctx+": track_script", Error, "no vrrp_script %q: not mapped", t.Keyword())
					continue
				}
				ts := trackScript{name: t.Keyword(), command: s.command, interval: s.interval, timeout: s.timeout, weight: s.weight, rise: 1, fall: 1}
				if ts.timeout == 0 {
					ts.timeout = ts.interval
				}
				if s.hasRise {
					ts.rise = s.rise
				}
				if s.hasFall {
					ts.fall = s.fall
				}
				if len(t.Args) >= 3 && t.Args[1] == "weight" {
					ts.weight, _ = r.integer(t, ctx+": track_script", 2, -253, 253)
				}
				if slices.Contains(t.Args, "reverse") {
					r.report(t, ctx+": track_script", NotMapped, "reverse: a track script's weight applies while it fails")
				}
				in.trackScripts = append(in.trackScripts, ts)
			}
		case "notify_master", "notify_backup", "notify_fault":
			if r.args(n, ctx, 1) {
				i := map[string]int{"notify_master": 0, "notify_backup": 1, "notify_fault": 2}[n.Keyword()]
				in.notify[i] = n.Args[1]
				r.report(n, ctx, Changed, "the command gets the new state (MASTER, BACKUP, FAULT) as an extra last argument")
				if len(n.Args) > 2 {
					r.report(n, ctx, NotMapped, "user %s: %s", strings.Join(n.Args[2:], " "), whyScriptAs)
				}
			}
		case "garp_master_delay", "garp_master_repeat", "garp_master_refresh", "garp_master_refresh_repeat":
			r.garp(&in.garp, n, ctx, n.Keyword())
		case "unicast_peer":
			in.unicast = true
			for _, p := range n.Block {
				in.peers = append(in.peers, p.Keyword())
				if len(p.Args) > 1 {
					r.report(p, ctx+": unicast_peer", Ignored, "%s: adverts are required to come with TTL 255 from the peer director", strings.Join(p.Args[1:], " "))
				}
			}
		case "unicast_src_ip", "mcast_src_ip":
			if r.args(n, ctx, 1) {
				in.srcIP = n.Args[1]
			}
		default:
			r.other(bInstance, n, ctx)
		}
	}
	if in.iface == "" {
		r.report(b, "", Error, "vrrp_instance %s has no interface: the pair needs one; not converted", in.name)
		return
	}
	// "dev" naming the instance's interface is no dev: known only now (interface may come
	// after virtual_ipaddress).
	for i, d := range in.addrDevs {
		if d == in.iface {
			in.addrDevs[i] = ""
		}
	}
	if in.vrid == 0 {
		r.report(b, "", Error, "vrrp_instance %s has no virtual_router_id: not converted", in.name)
		return
	}
	r.d.instances = append(r.d.instances, in)
}

func (r *reader) vipAddress(in *instance, a *keepalived.Node, ctx string) {
	addr := a.Keyword()
	if _, err := netip.ParsePrefix(addr); err != nil {
		if _, err := netip.ParseAddr(addr); err != nil {
			r.report(a, ctx, Error, "%q is not an address: not mapped", addr)
			return
		}
	}
	var extra []string
	dev := ""
	for i := 1; i < len(a.Args); i++ {
		switch a.Args[i] {
		case "dev":
			if i+1 < len(a.Args) {
				if err := agentapi.ValidateInterfaceName(a.Args[i+1]); err != nil {
					r.report(a, ctx, Error, "dev %v: address %s is not converted", err, addr)
					return
				}
				dev = a.Args[i+1]
			}
			i++
		default:
			extra = append(extra, a.Args[i])
		}
	}
	if len(extra) > 0 {
		r.report(a, ctx, NotMapped, "%s: the address is added plainly; ip addr options are not mapped", strings.Join(extra, " "))
	}
	if p, err := agentapi.ParseVIPAddress(addr); err == nil {
		for _, o := range in.addrs {
			if q, err := agentapi.ParseVIPAddress(o); err == nil && q.Addr() == p.Addr() {
				r.report(a, ctx, Changed, "%s is already an address of this instance (%s): listed once", p.Addr(), o)
				return
			}
		}
	}
	in.addrs = append(in.addrs, addr)
	in.addrDevs = append(in.addrDevs, dev)
}

var rangeRE = regexp.MustCompile(`^(.*[.:])([0-9a-fA-F]+)-([0-9a-fA-F]+)$`)

func (r *reader) virtualServer(b *keepalived.Node) {
	ctx := strings.Join(b.Args, " ")
	if len(b.Args) < 2 {
		r.report(b, "", Error, "virtual_server needs an address, fwmark or group: not converted")
		return
	}
	base := &virtualServer{pos: b.Pos, desc: ctx, protocol: "tcp", scheduler: "", method: "nat", onFailure: "remove"}
	var targets []*virtualServer
	switch b.Args[1] {
	case "fwmark":
		v, ok := r.integer(b, "", 2, 1, math.MaxInt32)
		if !ok {
			return
		}
		base.fwmark = uint64(v)
		targets = []*virtualServer{base}
	case "group":
		if !r.args(b, "", 2) {
			return
		}
		g, ok := r.d.groups[b.Args[2]]
		if !ok {
			r.report(b, "", Error, "no virtual_server_group %q: not converted", b.Args[2])
			return
		}
		targets = r.groupTargets(g, base)
	default:
		base.address = b.Args[1]
		if len(b.Args) > 2 {
			p, ok := r.integer(b, "", 2, 0, 65535)
			if !ok {
				return
			}
			base.port = p
		}
		targets = []*virtualServer{base}
	}
	def := checkDefaults{retry: -1}
	var checkNodes []*keepalived.Node
	var opsNode *keepalived.Node
	for _, n := range b.Block {
		switch n.Keyword() {
		case "lb_algo", "lvs_sched":
			if r.args(n, ctx, 1) {
				base.scheduler = strings.ToLower(n.Args[1])
			}
		case "lb_kind", "lvs_method":
			base.method = r.method(n, ctx)
		case "protocol":
			if r.args(n, ctx, 1) {
				base.protocol = strings.ToLower(n.Args[1])
			}
		case "persistence_timeout":
			base.persistence = "360s"
			if len(n.Args) > 1 {
				if v, ok := r.integer(n, ctx, 1, 0, math.MaxInt32); ok {
					base.persistence = fmt.Sprintf("%ds", v)
				}
			}
		case "persistence_granularity":
			if r.args(n, ctx, 1) {
				base.netmask = n.Args[1]
			}
		case "quorum":
			base.quorum, base.hasQuorum = r.integer(n, ctx, 1, 0, math.MaxInt32)
		case "hysteresis":
			base.hysteresis, _ = r.integer(n, ctx, 1, 0, math.MaxInt32)
		case "sorry_server":
			if r.args(n, ctx, 1) {
				// Without a port, the virtual server's (what ipvsadm uses for a destination without one).
				s := &sorryServer{address: n.Args[1], port: base.port}
				if base.sorry != nil {
					s.method = base.sorry.method
				}
				if len(n.Args) > 2 {
					s.port, _ = r.integer(n, ctx, 2, 0, 65535)
				}
				base.sorry = s
			}
		case "sorry_server_lvs_method":
			m := r.method(n, ctx)
			if base.sorry == nil {
				base.sorry = &sorryServer{}
			}
			base.sorry.method = m
		case "inhibit_on_failure":
			base.onFailure = map[bool]string{true: "quiesce", false: "remove"}[boolArg(n)]
		case "alpha", "delay_loop", "connect_timeout", "retry", "nb_get_retry", "delay_before_retry", "virtualhost":
			r.checkDefault(n, ctx, &def)
		case "ip_family":
			if r.args(n, ctx, 1) {
				base.family = n.Args[1]
			}
		case "ops":
			base.ops, opsNode = true, n
		case "sh-port", "sh-fallback", "mh-port", "mh-fallback", "flag-1", "flag-2":
			base.flags = append(base.flags, n.Keyword())
		case "real_server":
			checkNodes = append(checkNodes, n)
		default:
			r.other(bVS, n, ctx)
		}
	}
	if base.scheduler == "" {
		base.scheduler = "wlc"
	}
	// flag-1 and flag-2 are the scheduler's first and second flags.
	for i, f := range base.flags {
		sched := base.scheduler
		if sched != "sh" && sched != "mh" {
			sched = "sh"
		}
		switch f {
		case "flag-1":
			base.flags[i] = sched + "-fallback"
		case "flag-2":
			base.flags[i] = sched + "-port"
		}
	}
	if opsNode != nil && base.protocol != "udp" && base.fwmark == 0 && len(targets) <= 1 {
		proto := base.protocol
		if proto == "" {
			proto = "tcp"
		}
		r.report(opsNode, ctx, Ignored, "one-packet scheduling is for UDP services: keepalived ignores it on a %s one", proto)
	}
	if base.sorry != nil && base.sorry.address == "" {
		r.report(b, "", Error, "sorry_server_lvs_method without sorry_server: not mapped")
		base.sorry = nil
	}
	for _, n := range checkNodes {
		if rs := r.realServer(n, ctx, base, def); rs != nil {
			base.reals = append(base.reals, rs)
		}
	}
	for _, t := range targets {
		if t != base {
			addr, port, mark, fam := t.address, t.port, t.fwmark, t.family
			*t = *base
			t.address, t.port, t.fwmark, t.fromGroup = addr, port, mark, true
			if fam != "" {
				t.family = fam
			}
			if t.port == 0 && base.port != 0 {
				t.port = base.port
			}
		}
		r.d.servers = append(r.d.servers, t)
	}
}

func (r *reader) groupTargets(g *keepalived.Node, base *virtualServer) []*virtualServer {
	ctx := "virtual_server_group " + g.Args[1]
	var out []*virtualServer
	for _, n := range g.Block {
		if n.Keyword() == "fwmark" {
			v, ok := r.integer(n, ctx, 1, 1, math.MaxInt32)
			if !ok {
				continue
			}
			t := &virtualServer{desc: base.desc, fwmark: uint64(v)}
			if len(n.Args) > 2 {
				t.family = n.Args[2]
			}
			out = append(out, t)
			continue
		}
		port := 0
		if len(n.Args) > 1 {
			p, ok := r.integer(n, ctx, 1, 0, 65535)
			if !ok {
				continue
			}
			port = p
		}
		addrs, ok := r.expandRange(n, ctx)
		if !ok {
			continue
		}
		for _, a := range addrs {
			out = append(out, &virtualServer{address: a, port: port})
		}
	}
	return out
}

func (r *reader) expandRange(n *keepalived.Node, ctx string) ([]string, bool) {
	s := n.Keyword()
	if a, err := netip.ParseAddr(s); err == nil {
		return []string{a.String()}, true
	}
	var first, last netip.Addr
	if p, err := netip.ParsePrefix(s); err == nil {
		p = p.Masked()
		first = p.Addr()
		last = first
		for a := first; p.Contains(a); a = a.Next() {
			last = a
			if a.Compare(first) > 0 && countAddrs(first, a) > 64 {
				break
			}
		}
	} else if lo, hi, ok := strings.Cut(s, "-"); ok {
		var err1, err2 error
		first, err1 = netip.ParseAddr(lo)
		last, err2 = netip.ParseAddr(hi)
		if err2 != nil {
			if m := rangeRE.FindStringSubmatch(s); m != nil {
				last, err2 = netip.ParseAddr(m[1] + m[3])
			}
		}
		if err1 != nil || err2 != nil || last.Less(first) || first.Is4() != last.Is4() {
			r.report(n, ctx, Error, "%q is not an address, range or prefix: not converted", s)
			return nil, false
		}
	} else {
		r.report(n, ctx, Error, "%q is not an address, range or prefix: not converted", s)
		return nil, false
	}
	var out []string
	for a := first; a.IsValid() && a.Compare(last) <= 0; a = a.Next() {
		if len(out) == 64 {
			r.report(n, ctx, NotMapped, "%s holds more than 64 addresses: only the first 64 are converted", s)
			break
		}
		out = append(out, a.String())
	}
	return out, true
}

func countAddrs(a, b netip.Addr) int {
	n := 0
	for x := a; x.Compare(b) <= 0 && n <= 65; x = x.Next() {
		n++
	}
	return n
}

func (r *reader) method(n *keepalived.Node, ctx string) string {
	if !r.args(n, ctx, 1) {
		return ""
	}
	switch strings.ToUpper(n.Args[1]) {
	case "NAT":
		return "nat"
	case "DR":
		return "dr"
	case "TUN":
		if len(n.Args) > 2 && (len(n.Args) < 4 || n.Args[2] != "type" || n.Args[3] != "ipip") {
			r.report(n, ctx, NotMapped, "%s: tunnels are ipip only", strings.Join(n.Args[2:], " "))
		}
		return "tunnel"
	}
	r.report(n, ctx, Error, "%q is not NAT, DR or TUN: not mapped", n.Args[1])
	return ""
}

func (r *reader) realServer(b *keepalived.Node, vsCtx string, vs *virtualServer, def checkDefaults) *realServer {
	if !r.args(b, vsCtx, 1) {
		return nil
	}
	ctx := vsCtx + ": " + strings.Join(b.Args, " ")
	rs := &realServer{pos: b.Pos, address: b.Args[1], weight: 1, onFailure: vs.onFailure}
	if _, err := netip.ParseAddr(rs.address); err != nil {
		r.report(b, vsCtx, Error, "%q is not an address: not converted", rs.address)
		return nil
	}
	if len(b.Args) > 2 {
		p, ok := r.integer(b, vsCtx, 2, 0, 65535)
		if !ok {
			return nil
		}
		rs.port = p
	} else {
		rs.port = vs.port
	}
	var checkers []*keepalived.Node
	for _, n := range b.Block {
		switch n.Keyword() {
		case "weight":
			if v, ok := r.integer(n, ctx, 1, 0, 65535); ok {
				rs.weight = v
			}
		case "lvs_method", "lb_kind":
			rs.method = r.method(n, ctx)
		case "uthreshold":
			rs.upper, _ = r.integer(n, ctx, 1, 0, math.MaxInt32)
		case "lthreshold":
			rs.lower, _ = r.integer(n, ctx, 1, 0, math.MaxInt32)
		case "inhibit_on_failure":
			rs.onFailure = map[bool]string{true: "quiesce", false: "remove"}[boolArg(n)]
			rs.onFailPos, rs.hasOnFail = n.Pos, true
		case "notify_up", "notify_down":
			if r.args(n, ctx, 1) {
				if n.Keyword() == "notify_up" {
					rs.notifyUp = n.Args[1]
				} else {
					rs.notifyDown = n.Args[1]
				}
				if len(n.Args) > 2 {
					r.report(n, ctx, NotMapped, "user %s: %s", strings.Join(n.Args[2:], " "), whyScriptAs)
				}
			}
		case "alpha", "delay_loop", "connect_timeout", "retry", "nb_get_retry", "delay_before_retry", "virtualhost":
			r.checkDefault(n, ctx, &def)
		case "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "DNS_CHECK", "SMTP_CHECK", "UDP_CHECK":
			checkers = append(checkers, n)
		default:
			r.other(bRS, n, ctx)
		}
	}
	for i, n := range checkers {
		if i > 0 {
			r.report(n, ctx, NotMapped, "a real server has one health check in the provider: the first (%s, line %d) is used", checkers[0].Keyword(), checkers[0].Pos.Line)
			continue
		}
		rs.check = r.checker(n, ctx, def)
	}
	return rs
}

// checkDefault reads one of the checker settings keepalived takes in a virtual_server or a
// real_server block, where they are the defaults of its checkers.
func (r *reader) checkDefault(n *keepalived.Node, ctx string, def *checkDefaults) {
	switch n.Keyword() {
	case "alpha":
		def.alpha = boolArg(n)
	case "delay_loop":
		def.delayLoop, _ = r.timer(n, ctx, 1)
	case "connect_timeout":
		def.timeout, _ = r.timer(n, ctx, 1)
	case "retry", "nb_get_retry":
		def.retry, _ = r.integer(n, ctx, 1, 0, 1<<20)
	case "delay_before_retry":
		def.retryDelay, _ = r.timer(n, ctx, 1)
	case "virtualhost":
		if r.args(n, ctx, 1) {
			def.virtualhost = n.Args[1]
		}
	}
}

func (r *reader) checker(b *keepalived.Node, rsCtx string, def checkDefaults) *check {
	ctx := rsCtx + ": " + b.Keyword()
	c := &check{pos: b.Pos, startDown: def.alpha, host: def.virtualhost}
	delayLoop, timeout, retry, retryDelay := def.delayLoop, def.timeout, def.retry, def.retryDelay
	// keepalived's defaults per checker type.
	defRetry, defRetryDelay := 1, 1000
	switch b.Keyword() {
	case "TCP_CHECK":
		c.typ = "tcp"
	case "HTTP_GET":
		c.typ, defRetryDelay = "http", 3000
	case "SSL_GET":
		c.typ, defRetryDelay = "https", 3000
	case "MISC_CHECK":
		c.typ, defRetry = "exec", 0
	case "DNS_CHECK":
		c.typ, defRetry, c.qtype, c.qname = "dns", 3, "SOA", "."
		defRetryDelay = -1 // the delay loop
	case "SMTP_CHECK":
		c.typ = "smtp"
	case "UDP_CHECK":
		c.typ = "udp"
	}
	miscTimeout := 0
	var urls []checkURL
	sniEnabled := false
	for _, n := range b.Block {
		switch n.Keyword() {
		case "connect_ip":
			if r.args(n, ctx, 1) {
				c.connectAddr = n.Args[1]
			}
		case "connect_port":
			c.connectPort, _ = r.integer(n, ctx, 1, 0, 65535)
		case "connect_timeout":
			timeout, _ = r.timer(n, ctx, 1)
		case "delay_loop":
			delayLoop, _ = r.timer(n, ctx, 1)
		case "retry", "nb_get_retry":
			retry, _ = r.integer(n, ctx, 1, 0, 1<<20)
		case "delay_before_retry":
			retryDelay, _ = r.timer(n, ctx, 1)
		case "alpha":
			c.startDown = boolArg(n)
		case "virtualhost":
			if r.args(n, ctx, 1) && (c.typ == "http" || c.typ == "https") {
				c.host = n.Args[1]
			}
		case "url":
			urls = append(urls, r.url(c, n, ctx, len(urls)))
		case "sni_name":
			if r.args(n, ctx, 1) {
				c.sni = n.Args[1]
			}
		case "enable_sni":
			sniEnabled = true
		case "misc_path":
			if r.args(n, ctx, 1) {
				c.command = strings.Join(n.Args[1:], " ")
			}
		case "misc_timeout":
			miscTimeout, _ = r.timer(n, ctx, 1)
		case "type":
			if r.args(n, ctx, 1) && c.typ == "dns" {
				c.qtype = strings.ToUpper(n.Args[1])
			}
		case "name":
			if r.args(n, ctx, 1) && c.typ == "dns" {
				c.qname = n.Args[1]
			}
		case "misc_dynamic":
			c.dynamic = c.typ == "exec"
			if !c.dynamic {
				r.other(bChecker, n, ctx)
			}
		case "helo_name":
			if r.args(n, ctx, 1) && c.typ == "smtp" {
				c.helo = n.Args[1]
			}
		case "payload":
			if r.args(n, ctx, 1) && c.typ == "udp" {
				c.payload = r.hex(n, ctx, false)
			}
		case "require_reply":
			if c.typ == "udp" {
				c.reply = true
				if len(n.Args) > 1 {
					c.replyPat = r.hex(n, ctx, true)
				}
			}
		default:
			block := bChecker
			if row(bChecker, n.Keyword()) == nil {
				switch c.typ {
				case "http", "https":
					block = bHTTP
				case "exec":
					block = bMisc
				case "dns":
					block = bDNS
				case "smtp":
					block = bSMTP
				case "udp":
					block = bUDP
				}
			}
			r.other(block, n, ctx)
		}
	}
	switch {
	case len(urls) == 1:
		c.path, c.status, c.body, c.digest = urls[0].path, urls[0].status, urls[0].body, urls[0].digest
	case len(urls) > 1:
		c.urls = urls
	}
	if sniEnabled && c.sni == "" {
		c.sni = c.host
	}
	if delayLoop == 0 {
		delayLoop = 60000
	}
	if timeout == 0 {
		timeout = 5000
	}
	if c.typ == "exec" {
		// MISC_CHECK's own timeout is misc_timeout, by default the delay loop.
		timeout = miscTimeout
		if timeout == 0 {
			timeout = delayLoop
		}
		if c.command == "" {
			r.report(b, rsCtx, Error, "MISC_CHECK without misc_path: no check is converted")
			return nil
		}
	}
	if retry < 0 {
		retry = defRetry
	}
	if retryDelay == 0 {
		retryDelay = defRetryDelay
		if retryDelay < 0 {
			retryDelay = delayLoop
		}
	}
	c.intervalMS, c.timeoutMS, c.retries, c.retryMS = delayLoop, timeout, retry, retryDelay
	return c
}

// url reads the i-th url block. Its virtualhost becomes the check's host, which every URL
// shares.
func (r *reader) url(c *check, b *keepalived.Node, ctx string, i int) checkURL {
	ctx += ": url"
	var u checkURL
	for _, n := range b.Block {
		switch n.Keyword() {
		case "path":
			if r.args(n, ctx, 1) {
				u.path = n.Args[1]
			}
		case "status_code":
			u.status = append(u.status, n.Args[1:]...)
		case "regex":
			if r.args(n, ctx, 1) {
				if _, err := regexp.Compile(n.Args[1]); err != nil {
					r.report(n, ctx, NotMapped, "not an RE2 expression (%v): not mapped", err)
					continue
				}
				u.body = n.Args[1]
			}
		case "digest":
			if r.args(n, ctx, 1) {
				if !agentapi.ValidDigest(n.Args[1]) {
					r.report(n, ctx, Error, "%q is not an MD5 digest (32 hex digits): not mapped", n.Args[1])
					continue
				}
				u.digest = strings.ToLower(n.Args[1])
			}
		case "virtualhost":
			if !r.args(n, ctx, 1) {
				continue
			}
			if i > 0 && c.host != n.Args[1] {
				r.report(n, ctx, NotMapped, "the URLs of a check share one host (%q): this url's virtualhost is not used", c.host)
				continue
			}
			c.host = n.Args[1]
		default:
			r.other(bURL, n, ctx)
		}
	}
	if u.path == "" {
		u.path = "/"
	}
	return u
}

// hex reads the hex string of a UDP_CHECK payload or require_reply (its arguments, which
// keepalived joins), or reports it; wildcard allows x for a digit.
func (r *reader) hex(n *keepalived.Node, ctx string, wildcard bool) string {
	s := strings.Join(n.Args[1:], " ")
	if _, _, err := agentapi.ParseHex(s, wildcard); err != nil {
		r.report(n, ctx, Error, "not a hex string (%v): not mapped", err)
		return ""
	}
	return s
}

// dur writes milliseconds as a duration: "6s", "1500ms".
func dur(ms int) string {
	if ms%1000 == 0 {
		return fmt.Sprintf("%ds", ms/1000)
	}
	return fmt.Sprintf("%dms", ms)
}
