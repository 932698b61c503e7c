// Package kaconvert turns keepalived.conf files (read by internal/keepalived) into HCL for this
// provider: one lvs_director_pair, an lvs_vip per vrrp_instance, an lvs_virtual_server per
// virtual server and an lvs_real_server per real server, with variables for what keepalived.conf
// does not say (the directors' SSH addresses). Two files, one per director, merge into one
// configuration with per-director priorities. Every keyword it does not map as it is goes into
// a Report with its position and why; the mapping itself is the table in table.go, which the
// guide prints.
package kaconvert

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/keepalived"
)

// Input is one director's configuration, in the pair's order.
type Input struct {
	Config *keepalived.Config
}

// Result is the HCL and the report.
type Result struct {
	HCL    []byte
	Report Report
}

// Convert converts one or two directors' configurations. With one, the other director's
// priority is assumed (and reported).
func Convert(inputs []Input) (*Result, error) {
	if len(inputs) < 1 || len(inputs) > 2 {
		return nil, fmt.Errorf("give one or two keepalived.conf files (the two directors of one pair), not %d", len(inputs))
	}
	res := &Result{}
	var dirs []*director
	var files []string
	for _, in := range inputs {
		d := &director{scripts: map[string]*vrrpScript{}, groups: map[string]*keepalived.Node{}, garp: garpUnset, syncGroups: map[string]syncMember{}}
		if len(in.Config.Files) > 0 {
			d.file = in.Config.Files[0]
		}
		files = append(files, in.Config.Files...)
		(&reader{d: d, rep: &res.Report}).read(in.Config)
		dirs = append(dirs, d)
	}
	m := &merger{rep: &res.Report, dirs: dirs}
	p := m.merge()
	res.HCL = emit(p)
	res.Report.sort(files)
	return res, nil
}

// pair is the merged configuration, ready to be written.
type pair struct {
	name      string
	files     []string
	ifaces    [2]string
	hostDef   [2]string
	unicast   bool
	syncConns bool
	sync      *syncDaemon // sync_daemon's settings (id always set), when syncConns
	vrrpAddr  [2]string   // directors' vrrp_address, from unicast_src_ip / unicast_peer
	timeouts  *[3]int
	vips      []*vip
	servers   []*vsOut
	authVars  []string
}

type vip struct {
	label    string
	in       *instance
	priority [2]int
	version  int
	addrs    []string
	iface    string // lvs_vip.interface, "" for the pair's
	authVar  string
}

type vsOut struct {
	label string
	vip   *vip
	vs    *virtualServer
	check *check // on the virtual server: every real server has it
	reals []*rsOut
}

type rsOut struct {
	label string
	rs    *realServer
	check *check
}

type merger struct {
	rep  *Report
	dirs []*director
	// vrids given to the lvs_vip that split instances' addresses on another dev go to.
	vrids map[int]bool
}

func (m *merger) merge() *pair {
	p := &pair{}
	for _, d := range m.dirs {
		p.files = append(p.files, d.file)
	}
	d0 := m.dirs[0]
	// The pair's interface on each director: its first instance's.
	for i, d := range m.dirs {
		if len(d.instances) > 0 {
			p.ifaces[i] = d.instances[0].iface
		}
	}
	if p.ifaces[0] == "" {
		p.ifaces[0] = "eth0"
		m.rep.add(keepalived.Pos{File: d0.file}, "vrrp_instance", Changed, "no vrrp_instance with an interface: the pair's interface is set to eth0")
	}
	if len(m.dirs) == 1 || p.ifaces[1] == "" {
		p.ifaces[1] = p.ifaces[0]
	}
	p.syncConns = d0.syncDaemon
	if len(m.dirs) == 2 && m.dirs[1].syncDaemon != d0.syncDaemon {
		m.rep.add(keepalived.Pos{File: m.dirs[1].file}, "global_defs: lvs_sync_daemon", Changed, "only one director runs the sync daemon: the pair syncs connections both ways")
		p.syncConns = true
	}
	if d0.timeoutsSet {
		t := d0.timeouts
		p.timeouts = &t
	}
	// Instances, matched between the files by name, then by virtual_router_id.
	var matched []*instance
	if len(m.dirs) == 2 {
		matched = make([]*instance, len(d0.instances))
		used := map[*instance]bool{}
		for i, a := range d0.instances {
			for _, b := range m.dirs[1].instances {
				if b.name == a.name && !used[b] {
					matched[i], used[b] = b, true
					break
				}
			}
		}
		for i, a := range d0.instances {
			if matched[i] != nil {
				continue
			}
			for _, b := range m.dirs[1].instances {
				if b.vrid == a.vrid && b.iface == a.iface && !used[b] {
					matched[i], used[b] = b, true
					break
				}
			}
		}
		for _, b := range m.dirs[1].instances {
			if !used[b] {
				m.rep.add(b.pos, "vrrp_instance "+b.name, NotMapped, "has no counterpart (same name or virtual_router_id) in %s: keepalived runs it on one host only, an lvs_vip runs on both; not converted", d0.file)
			}
		}
	}
	labels := map[string]bool{}
	for i, a := range d0.instances {
		var b *instance
		if matched != nil {
			b = matched[i]
			if b == nil {
				m.rep.add(a.pos, "vrrp_instance "+a.name, NotMapped, "has no counterpart (same name or virtual_router_id) in %s: keepalived runs it on one host only, an lvs_vip runs on both; not converted", m.dirs[1].file)
				continue
			}
		}
		if a.iface != p.ifaces[0] || (b != nil && b.iface != p.ifaces[1]) {
			m.rep.add(a.pos, "vrrp_instance "+a.name+": interface", NotMapped, "is %s, not %s like the first instance: a lvs_director_pair carries its VIPs on one interface per director; not converted", a.iface, p.ifaces[0])
			continue
		}
		v := &vip{label: uniqueLabel(labels, a.name), in: a, version: m.version(d0, a)}
		v.addrs = a.addrs
		v.priority[0] = a.priority
		if b == nil {
			v.priority[1] = a.priority - 1
			if a.priority <= 1 {
				v.priority[1] = 2
			}
			if v.priority[1] == 254 && a.priority == 255 {
				v.priority[1] = 254
			}
			m.rep.add(a.pos, "vrrp_instance "+a.name+": priority", Changed, "the other director's configuration was not given: it gets priority %d; give both files to take it from the other one", v.priority[1])
		} else {
			m.compare(v, a, b)
			v.priority[1] = b.priority
			if a.priority == b.priority {
				v.priority[1] = a.priority - 1
				if a.priority == 1 {
					v.priority[1] = 2
				}
				m.rep.add(b.pos, "vrrp_instance "+b.name+": priority", Changed, "both directors have priority %d (keepalived lets the higher address win): the provider needs two priorities, so director 2 gets %d", a.priority, v.priority[1])
			}
		}
		if a.authType == "PASS" {
			v.authVar = v.label + "_auth_pass"
			p.authVars = append(p.authVars, v.authVar)
			if v.version == 3 {
				m.rep.add(a.authPos, "vrrp_instance "+a.name+": authentication", Refused, "authentication exists only in VRRPv2; keepalived ignores it with version 3, the provider refuses it: drop it or use vrrp_version 2")
			}
		}
		if a.unicast {
			p.unicast = true
		}
		for i, in := range []*instance{a, b} {
			if in != nil && in.srcIP != "" && p.hostDef[i] == "" {
				p.hostDef[i] = in.srcIP
			}
		}
		// The other director's unicast peer is this one's address.
		if b != nil && len(b.peers) == 1 && p.hostDef[0] == "" {
			p.hostDef[0] = b.peers[0]
		}
		if len(a.peers) == 1 && p.hostDef[1] == "" {
			p.hostDef[1] = a.peers[0]
		}
		extra := m.splitByDev(v, b, labels)
		m.validateVIP(v)
		p.vips = append(p.vips, v)
		for _, x := range extra {
			m.validateVIP(x)
			p.vips = append(p.vips, x)
		}
	}
	m.syncGroups(p.vips)
	for _, v := range p.vips {
		if p.unicast && !v.in.unicast {
			m.rep.add(v.in.pos, "vrrp_instance "+v.in.name, Changed, "multicast, while another instance uses unicast_peer: vrrp_unicast is per pair, so it is unicast too")
		}
	}
	p.vrrpAddr = p.hostDef
	m.syncDaemon(p)
	m.servers(p, labels)
	p.name = pairName(m.dirs)
	return p
}

// syncDaemon maps lvs_sync_daemon's settings to sync_daemon. The id is always written: keepalived
// defaults it to the named instance's virtual_router_id, the provider to a number from the
// pair's name, and a director still on keepalived syncs only with the same id.
func (m *merger) syncDaemon(p *pair) {
	var src *director
	for _, d := range m.dirs {
		if d.syncDaemon {
			src = d
			break
		}
	}
	if src == nil {
		return
	}
	sd := src.sync
	if sd.id == nil {
		id := 0
		if sd.instance != "" {
			if i := slices.IndexFunc(src.instances, func(in *instance) bool { return in.name == sd.instance }); i >= 0 {
				id = src.instances[i].vrid
			} else {
				m.rep.add(sd.pos, "global_defs: lvs_sync_daemon", Changed, "names vrrp_instance %s, which %s lacks: keepalived would run no sync daemon; the pair runs one with id 0", sd.instance, src.file)
			}
		}
		sd.id = &id
	}
	for i, d := range m.dirs {
		if d == src || !d.syncDaemon {
			continue
		}
		o := d.sync
		if o.id == nil {
			o.id = sd.id // compared below only when given
		}
		if *o.id != *sd.id || o.port != sd.port || o.ttl != sd.ttl || o.group != sd.group || o.maxlen != sd.maxlen {
			m.rep.add(o.pos, "global_defs: lvs_sync_daemon", Changed, "differs from %s's: sync_daemon is one for both directors, %s's is taken", src.file, src.file)
		}
		if o.iface != sd.iface && (o.iface != p.ifaces[i] || sd.iface != p.ifaces[0]) {
			m.rep.add(o.pos, "global_defs: lvs_sync_daemon", Changed, "interface %s, %s on %s: sync_daemon.interface is one for both directors, %s is taken", o.iface, sd.iface, src.file, sd.iface)
		}
	}
	// Each director's own interface is the default: written only when another is meant.
	if sd.iface == p.ifaces[slices.Index(m.dirs, src)] {
		sd.iface = ""
	}
	p.sync = &sd
}

func (m *merger) version(d *director, in *instance) int {
	v := in.version
	if v == 0 {
		v = d.vrrpVersion
	}
	if v == 0 {
		v = 2
	}
	for _, a := range in.addrs {
		if pr, err := agentapi.ParseVIPAddress(a); err == nil && pr.Addr().Is6() {
			return 3
		}
	}
	return v
}

// compare reports what differs between one instance's two files: what breaks keepalived as an
// error, the rest as taken from director 1.
func (m *merger) compare(v *vip, a, b *instance) {
	ctx := "vrrp_instance " + b.name
	if a.vrid != b.vrid {
		m.rep.add(b.pos, ctx+": virtual_router_id", Error, "is %d here and %d in %s (vrrp_instance %s): the two hosts would not hear each other and both become MASTER; the HCL uses %d", b.vrid, a.vrid, a.pos, a.name, a.vrid)
	}
	if !sameAddrs(a.addrs, b.addrs) {
		m.rep.add(b.addrPos, ctx+": virtual_ipaddress", Error, "differs from %s (%s here, %s there): keepalived drops adverts whose addresses differ; the HCL uses the first file's", a.addrPos, strings.Join(b.addrs, " "), strings.Join(a.addrs, " "))
	}
	if a.authType != b.authType || a.authPass != b.authPass {
		m.rep.add(b.authPos, ctx+": authentication", Error, "differs from %s: each host drops the other's adverts and both become MASTER; the HCL uses one variable for both", a.authPos)
	}
	if a.advertMS != b.advertMS {
		m.rep.add(b.advertPos, ctx+": advert_int", Error, "is %s here and %s in %s: keepalived drops adverts with another interval; the HCL uses %s", dur(b.advertMS), dur(a.advertMS), a.advertPos, dur(a.advertMS))
	}
	if vb := m.version(m.dirs[1], b); vb != v.version {
		m.rep.add(b.pos, ctx+": version", Error, "VRRP version %d here and %d in %s: the hosts do not understand each other; the HCL uses %d", vb, v.version, a.pos, v.version)
	}
	if a.preempt != b.preempt || a.preemptDelay != b.preemptDelay {
		m.rep.add(b.pos, ctx+": nopreempt / preempt_delay", Changed, "differs from %s: the provider has one setting for both directors, the first file's", a.pos)
	}
	if fmt.Sprint(a.trackIfs, a.trackScripts) != fmt.Sprint(b.trackIfs, b.trackScripts) {
		m.rep.add(b.pos, ctx+": track_interface / track_script", Changed, "differs from %s: the provider tracks the same on both directors, the first file's", a.pos)
	}
	if a.garp.effective() != b.garp.effective() {
		m.rep.add(b.pos, ctx+": garp_master_*", Changed, "differs from %s: the provider announces a new master the same way on both directors, as the first file says", a.pos)
	}
	if a.notify != b.notify {
		m.rep.add(b.pos, ctx+": notify_*", Changed, "differs from %s: the provider runs the same notify commands on both directors, the first file's", a.pos)
	}
	if a.syncGroup != b.syncGroup {
		m.rep.add(b.pos, ctx+": vrrp_sync_group", Changed, "the instance is in sync group %q here and %q in %s: the provider has one sync_group for both directors, the first file's", b.syncGroup, a.syncGroup, a.pos)
	}
}

// syncGroups reports sync groups whose members prefer different directors, which the
// provider refuses at plan (such a group could only hold where it happens to be).
func (m *merger) syncGroups(vips []*vip) {
	first := map[string]*vip{}
	for _, v := range vips {
		g := v.in.syncGroup
		if g == "" {
			continue
		}
		o, ok := first[g]
		if !ok {
			first[g] = v
			continue
		}
		if (o.priority[0] > o.priority[1]) != (v.priority[0] > v.priority[1]) {
			m.rep.add(v.in.pos, "vrrp_instance "+v.in.name, Refused, "its priorities (%d, %d) prefer another director than those of vrrp_instance %s (%d, %d) in the same vrrp_sync_group %s: the provider refuses a sync group whose members disagree; order their priorities the same way",
				v.priority[0], v.priority[1], o.in.name, o.priority[0], o.priority[1], g)
		}
	}
}

// splitByDev maps keepalived's "dev" in virtual_ipaddress to lvs_vip.interface. An lvs_vip has
// one interface: the addresses of an instance on one dev make the VIP's interface; those on
// others go to one more lvs_vip per dev, with a virtual_router_id no instance uses, in the
// instance's sync group (one named after the instance if it has none), so that they fail over
// together. It returns those VIPs. b is the other director's instance, or nil.
func (m *merger) splitByDev(v *vip, b *instance, labels map[string]bool) []*vip {
	a := v.in
	if b != nil && len(b.addrs) == len(b.addrDevs) {
		devOf := map[netip.Addr]string{}
		for i, s := range b.addrs {
			if p, err := agentapi.ParseVIPAddress(s); err == nil {
				devOf[p.Addr()] = b.addrDevs[i]
			}
		}
		for i, s := range a.addrs {
			if p, err := agentapi.ParseVIPAddress(s); err == nil {
				if d, ok := devOf[p.Addr()]; ok && d != a.addrDevs[i] {
					m.rep.add(b.addrPos, "vrrp_instance "+b.name+": virtual_ipaddress", Changed, "%s is on dev %q here and %q in %s: the provider has one interface for both directors, the first file's", s, d, a.addrDevs[i], a.addrPos)
				}
			}
		}
	}
	var devs []string
	byDev := map[string][]string{}
	for i, s := range a.addrs {
		d := a.addrDevs[i]
		if _, ok := byDev[d]; !ok {
			devs = append(devs, d)
		}
		byDev[d] = append(byDev[d], s)
	}
	if len(devs) == 0 {
		return nil
	}
	// The instance's own interface keeps the instance's VIP, else the first dev.
	if slices.Contains(devs, "") {
		devs = append([]string{""}, slices.DeleteFunc(devs, func(d string) bool { return d == "" })...)
	}
	v.addrs, v.iface = byDev[devs[0]], devs[0]
	if len(devs) == 1 {
		return nil
	}
	if a.syncGroup == "" {
		a.syncGroup = a.name
		if agentapi.ValidateSyncGroup(a.syncGroup) != nil {
			a.syncGroup = v.label
		}
	}
	var out []*vip
	for _, d := range devs[1:] {
		vrid := m.freeVRID()
		if vrid == 0 {
			m.rep.add(a.addrPos, "vrrp_instance "+a.name+": virtual_ipaddress", NotMapped, "dev %s (%s): no free virtual_router_id for a second lvs_vip; not converted", d, strings.Join(byDev[d], " "))
			continue
		}
		in := *a
		in.vrid, in.addrs, in.addrDevs = vrid, byDev[d], nil
		// A sync group shares its members' tracking (weights add up) and runs each member's
		// notify: the instance's VIP carries them, once.
		in.trackIfs, in.trackScripts, in.notify = nil, nil, [3]string{}
		x := &vip{label: uniqueLabel(labels, a.name+"_"+d), in: &in, priority: v.priority, version: v.version, addrs: byDev[d], iface: d, authVar: v.authVar}
		m.rep.add(a.addrPos, "vrrp_instance "+a.name+": virtual_ipaddress", Changed,
			"the addresses on dev %s (%s) go to lvs_vip.%s, virtual_router_id %d, in sync_group %q with the instance's other addresses (which carry the tracking and notify): an lvs_vip has one interface. Its adverts are its own (keepalived's one instance announced all the addresses in one): pick a virtual_router_id free on the link if %d is not",
			d, strings.Join(byDev[d], " "), x.label, vrid, a.syncGroup, vrid)
		out = append(out, x)
	}
	return out
}

// freeVRID is the lowest virtual_router_id that no instance of the files uses and that was not
// given yet, 0 if none is left.
func (m *merger) freeVRID() int {
	if m.vrids == nil {
		m.vrids = map[int]bool{}
	}
	used := map[int]bool{}
	for _, d := range m.dirs {
		for _, in := range d.instances {
			used[in.vrid] = true
		}
	}
	for id := 1; id <= 255; id++ {
		if !used[id] && !m.vrids[id] {
			m.vrids[id] = true
			return id
		}
	}
	return 0
}

func sameAddrs(a, b []string) bool {
	norm := func(s []string) []string {
		var out []string
		for _, x := range s {
			if p, err := agentapi.ParseVIPAddress(x); err == nil {
				out = append(out, p.String())
			} else {
				out = append(out, x)
			}
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(a), norm(b))
}

// validateVIP runs the provider's own checks on the VIP and reports what it would refuse.
func (m *merger) validateVIP(v *vip) {
	a := &agentapi.VIP{VRID: v.in.vrid, Addresses: v.addrs, Priorities: v.priority, AdvertIntervalCS: v.in.advertMS / 10,
		Version: v.version, Preempt: v.in.preempt, PreemptDelayMS: v.in.preemptDelay, GARP: v.in.garp.wire(), SyncGroup: v.in.syncGroup, Interface: v.iface}
	for _, t := range v.in.trackIfs {
		a.TrackInterfaces = append(a.TrackInterfaces, agentapi.TrackInterface{Name: t.name, Weight: t.weight})
	}
	for _, t := range v.in.trackScripts {
		a.TrackScripts = append(a.TrackScripts, agentapi.TrackScript{Name: t.name, Command: t.command, IntervalMS: t.interval, TimeoutMS: t.timeout, Weight: t.weight, Rise: t.rise, Fall: t.fall})
	}
	if err := a.Validate(); err != nil {
		m.rep.add(v.in.pos, "vrrp_instance "+v.in.name, Refused, "the provider refuses the converted lvs_vip: %v", err)
	}
}

func (m *merger) servers(p *pair, labels map[string]bool) {
	d0 := m.dirs[0]
	key := func(vs *virtualServer) string {
		if vs.fwmark != 0 {
			return fmt.Sprintf("fwmark/%d", vs.fwmark)
		}
		return fmt.Sprintf("%s/%s:%d", vs.protocol, vs.address, vs.port)
	}
	var others map[string]*virtualServer
	if len(m.dirs) == 2 {
		others = map[string]*virtualServer{}
		for _, vs := range m.dirs[1].servers {
			others[key(vs)] = vs
		}
	}
	seen := map[string]bool{}
	for _, vs := range d0.servers {
		k := key(vs)
		if seen[k] {
			m.rep.add(vs.pos, vs.desc, Error, "%s is defined twice: the second is not converted", k)
			continue
		}
		seen[k] = true
		o := m.onVIP(p, vs)
		if o == nil {
			continue
		}
		o.label = uniqueLabel(labels, vsLabel(vs))
		m.realServers(o, labels)
		if others != nil {
			if b, ok := others[k]; !ok {
				m.rep.add(vs.pos, vs.desc, Changed, "only in %s: the provider runs it on both directors", d0.file)
			} else {
				ob := m.onVIP(&pair{vips: p.vips}, b)
				if ob != nil {
					ob.label = o.label
					m.realServers(ob, map[string]bool{})
					if string(emitServer(o)) != string(emitServer(ob)) {
						m.rep.add(b.pos, b.desc, Changed, "differs from %s: the provider runs one configuration on both directors, the first file's", vs.pos)
					}
				}
				delete(others, k)
			}
		}
		m.validateVS(o)
		p.servers = append(p.servers, o)
	}
	if others != nil {
		for _, vs := range m.dirs[1].servers {
			if _, ok := others[key(vs)]; ok {
				m.rep.add(vs.pos, vs.desc, Changed, "only in %s: not converted (add it to the first file to have it on both directors)", m.dirs[1].file)
			}
		}
	}
}

// onVIP finds the VIP a virtual server belongs to.
func (m *merger) onVIP(p *pair, vs *virtualServer) *vsOut {
	if vs.fwmark != 0 {
		if len(p.vips) == 0 {
			m.rep.add(vs.pos, vs.desc, NotMapped, "no VIP to attach the fwmark service to (an lvs_virtual_server fails over with a VIP): not converted")
			return nil
		}
		if len(p.vips) > 1 {
			m.rep.add(vs.pos, vs.desc, Changed, "a fwmark service is on no address: it is attached to the first VIP, %s; change vip_id if it should fail over with another", p.vips[0].label)
		}
		return &vsOut{vip: p.vips[0], vs: vs}
	}
	a, err := netip.ParseAddr(vs.address)
	if err != nil {
		m.rep.add(vs.pos, vs.desc, Error, "%q is not an address: not converted", vs.address)
		return nil
	}
	for _, v := range p.vips {
		for _, s := range v.addrs {
			if pr, err := agentapi.ParseVIPAddress(s); err == nil && pr.Addr() == a {
				return &vsOut{vip: v, vs: vs}
			}
		}
	}
	m.rep.add(vs.pos, vs.desc, NotMapped, "%s is no address of a converted vrrp_instance: an lvs_virtual_server is on a VIP's address; not converted", vs.address)
	return nil
}

func (m *merger) realServers(o *vsOut, labels map[string]bool) {
	vs := o.vs
	for _, rs := range vs.reals {
		o.reals = append(o.reals, &rsOut{label: uniqueLabel(labels, "rs_"+strings.TrimPrefix(o.label, "vs_")+"_"+rs.address+"_"+fmt.Sprint(rs.port)), rs: rs, check: rs.check})
	}
	// A check every real server shares goes on the virtual server.
	if len(o.reals) > 0 && o.reals[0].check != nil {
		first := *o.reals[0].check
		first.pos = keepalived.Pos{}
		same := true
		for _, r := range o.reals[1:] {
			if r.check == nil {
				same = false
				break
			}
			c := *r.check
			c.pos = keepalived.Pos{}
			if fmt.Sprint(c) != fmt.Sprint(first) {
				same = false
				break
			}
		}
		if same {
			o.check = o.reals[0].check
			for _, r := range o.reals {
				r.check = nil
			}
			return
		}
	}
	// Otherwise each real server keeps its own, or none (emitServer writes type "none" where
	// a sibling is checked, since the provider would not otherwise leave it unchecked).
}

func (m *merger) validateVS(o *vsOut) {
	vs := o.vs
	a := &agentapi.VirtualServer{VRID: o.vip.in.vrid, Scheduler: vs.scheduler, SchedulerFlags: vs.flags, ForwardingMethod: vs.method, OnFailure: vs.onFailure,
		HealthCheck: wireCheck(o.check), RealServers: map[string]*agentapi.RealServer{}}
	if vs.fwmark != 0 {
		a.FWMark, a.Family = uint32(vs.fwmark), vs.family
		if a.Family == "" {
			a.Family = agentapi.FamilyInet
		}
	} else {
		a.Protocol, a.Address, a.Port = vs.protocol, vs.address, vs.port
	}
	if vs.persistence != "" {
		var s int
		if _, err := fmt.Sscanf(vs.persistence, "%ds", &s); err != nil {
			s = 0
		}
		a.Persistence = &agentapi.Persistence{TimeoutS: s, Netmask: vs.netmask}
	}
	if vs.sorry != nil {
		a.SorryServer = &agentapi.SorryServer{Address: vs.sorry.address, Port: vs.sorry.port, ForwardingMethod: vs.sorry.method}
	}
	if vs.hasQuorum {
		a.Quorum = &agentapi.Quorum{Min: vs.quorum, Hysteresis: vs.hysteresis}
	}
	for _, r := range o.reals {
		rs := &agentapi.RealServer{Address: r.rs.address, Port: r.rs.port, Weight: r.rs.weight, ForwardingMethod: r.rs.method,
			UpperThreshold: r.rs.upper, LowerThreshold: r.rs.lower, HealthCheck: wireCheck(r.check),
			OnFailure: r.rs.onFailure, NotifyUp: r.rs.notifyUp, NotifyDown: r.rs.notifyDown}
		if err := a.ValidateRealServer(rs); err != nil {
			m.rep.add(r.rs.pos, vs.desc+": real_server "+r.rs.address, Refused, "the provider refuses the converted lvs_real_server: %v", err)
		}
	}
	if err := a.Validate(); err != nil {
		m.rep.add(vs.pos, vs.desc, Refused, "the provider refuses the converted lvs_virtual_server: %v", err)
	}
}

// wireCheck is the provider's form of c for validation.
func wireCheck(c *check) *agentapi.HealthCheck {
	if c == nil {
		return nil
	}
	h := &agentapi.HealthCheck{Type: c.typ, IntervalMS: c.intervalMS, TimeoutMS: c.timeoutMS, Retries: c.retries, RetryDelayMS: c.retryMS,
		Rise: 1, Fall: 1, StartDown: c.startDown, ConnectAddress: c.connectAddr, ConnectPort: c.connectPort}
	switch c.typ {
	case "http", "https":
		path := c.path
		if path == "" {
			path = "/"
		}
		h.HTTP = &agentapi.HTTPCheck{Path: path, ExpectedStatus: c.status, Host: c.host, ExpectedBody: c.body, TLSServerName: c.sni, Digest: c.digest}
		if len(c.urls) > 0 {
			h.HTTP.Path = ""
			for _, u := range c.urls {
				h.HTTP.URLs = append(h.HTTP.URLs, agentapi.HTTPURL{Path: u.path, ExpectedStatus: u.status, ExpectedBody: u.body, Digest: u.digest})
			}
		}
	case "exec":
		h.Exec = &agentapi.ExecCheck{Command: c.command, DynamicWeight: c.dynamic}
	case "dns":
		h.DNS = &agentapi.DNSCheck{Name: c.qname, Type: c.qtype}
	case "udp":
		h.UDP = &agentapi.UDPCheck{Payload: c.payload, RequireReply: c.reply, ReplyPattern: c.replyPat}
	case "smtp":
		h.SMTP = &agentapi.SMTPCheck{HeloName: c.helo}
	}
	return h
}

// Labels.

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := strings.Trim(b.String(), "_")
	for strings.Contains(out, "__") {
		out = strings.ReplaceAll(out, "__", "_")
	}
	if out == "" || (out[0] >= '0' && out[0] <= '9') {
		out = "x_" + out
	}
	return out
}

func uniqueLabel(used map[string]bool, s string) string {
	base := sanitize(s)
	l := base
	for i := 2; used[l]; i++ {
		l = fmt.Sprintf("%s_%d", base, i)
	}
	used[l] = true
	return l
}

func vsLabel(vs *virtualServer) string {
	if vs.fwmark != 0 {
		return fmt.Sprintf("vs_fwmark_%d", vs.fwmark)
	}
	l := fmt.Sprintf("vs_%s_%d", vs.address, vs.port)
	if vs.protocol != "tcp" {
		l += "_" + vs.protocol
	}
	return l
}

func pairName(dirs []*director) string {
	for _, d := range dirs {
		for _, in := range d.instances {
			n := strings.Trim(strings.Map(func(r rune) rune {
				switch {
				case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
					return r
				}
				return '-'
			}, strings.ToLower(in.name)), "-._")
			if n != "" && len(n) <= 63 {
				return n
			}
		}
	}
	return "lvs"
}
