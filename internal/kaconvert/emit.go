package kaconvert

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

func ref(parts ...string) hclwrite.Tokens {
	t := hcl.Traversal{hcl.TraverseRoot{Name: parts[0]}}
	for _, p := range parts[1:] {
		t = append(t, hcl.TraverseAttr{Name: p})
	}
	return hclwrite.TokensForTraversal(t)
}

func str(s string) hclwrite.Tokens   { return hclwrite.TokensForValue(cty.StringVal(s)) }
func num(n int) hclwrite.Tokens      { return hclwrite.TokensForValue(cty.NumberIntVal(int64(n))) }
func boolean(b bool) hclwrite.Tokens { return hclwrite.TokensForValue(cty.BoolVal(b)) }

func strList(ss []string) hclwrite.Tokens {
	var vals []hclwrite.Tokens
	for _, s := range ss {
		vals = append(vals, str(s))
	}
	return hclwrite.TokensForTuple(vals)
}

// object is an HCL object in attribute order.
type object []hclwrite.ObjectAttrTokens

func (o *object) set(name string, v hclwrite.Tokens) {
	*o = append(*o, hclwrite.ObjectAttrTokens{Name: hclwrite.TokensForIdentifier(name), Value: v})
}

func (o object) tokens() hclwrite.Tokens { return hclwrite.TokensForObject(o) }

// tupleLines is a tuple with one element a line, as terraform fmt leaves lists of objects.
func tupleLines(elems []hclwrite.Tokens) hclwrite.Tokens {
	nl := &hclwrite.Token{Type: hclsyntax.TokenNewline, Bytes: []byte("\n")}
	t := hclwrite.Tokens{{Type: hclsyntax.TokenOBrack, Bytes: []byte("[")}, nl}
	for _, e := range elems {
		t = append(t, e...)
		t = append(t, &hclwrite.Token{Type: hclsyntax.TokenComma, Bytes: []byte(",")}, nl)
	}
	return append(t, &hclwrite.Token{Type: hclsyntax.TokenCBrack, Bytes: []byte("]")})
}

func comment(body *hclwrite.Body, lines ...string) {
	for _, l := range lines {
		body.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte("# " + l + "\n")}})
	}
}

func emit(p *pair) []byte {
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	from := "director 1: " + p.files[0]
	if len(p.files) > 1 {
		from += ", director 2: " + p.files[1]
	}
	comment(body, "Converted from keepalived.conf ("+from+") by terraform-provider-lvs convert-keepalived.",
		"The report printed with it lists every keyword that was not mapped as it is, and why.")
	body.AppendNewline()

	tf := body.AppendNewBlock("terraform", nil).Body()
	rp := tf.AppendNewBlock("required_providers", nil).Body()
	var src object
	src.set("source", str("lvs-provider/lvs"))
	rp.SetAttributeRaw("lvs", src.tokens())
	body.AppendNewline()

	prov := body.AppendNewBlock("provider", []string{"lvs"}).Body()
	var ssh object
	ssh.set("user", ref("var", "ssh_user"))
	ssh.set("private_key_file", ref("var", "ssh_private_key_file"))
	prov.SetAttributeRaw("ssh", ssh.tokens())
	body.AppendNewline()

	variable := func(name, desc, typ string, def *string, sensitive bool) {
		b := body.AppendNewBlock("variable", []string{name}).Body()
		b.SetAttributeValue("description", cty.StringVal(desc))
		b.SetAttributeRaw("type", hclwrite.TokensForIdentifier(typ))
		if def != nil {
			b.SetAttributeValue("default", cty.StringVal(*def))
		}
		if sensitive {
			b.SetAttributeValue("sensitive", cty.True)
		}
		body.AppendNewline()
	}
	root, keyFile := "root", "~/.ssh/id_ed25519"
	variable("ssh_user", "SSH user on the directors (and real servers).", "string", &root, false)
	variable("ssh_private_key_file", "SSH private key for the directors.", "string", &keyFile, false)
	for i := 0; i < 2; i++ {
		var desc string
		if i < len(p.files) {
			desc = fmt.Sprintf("Address of director %d (%s), reached over SSH: the address it has on %s, which VRRP adverts come from.", i+1, p.files[i], p.ifaces[i])
		} else {
			desc = fmt.Sprintf("Address of director %d (no keepalived.conf given for it), reached over SSH: the address it has on %s, which VRRP adverts come from.", i+1, p.ifaces[i])
		}
		var def *string
		if p.hostDef[i] != "" {
			d := p.hostDef[i]
			def = &d
		}
		variable(fmt.Sprintf("director%d_host", i+1), desc, "string", def, false)
	}
	// A live pair moves to the agent one director at a time: apply first with
	// -var director1_run_by=keepalived (director 1 serving as keepalived's MASTER meanwhile),
	// then with the default.
	agent := "agent"
	for i := 0; i < 2; i++ {
		variable(fmt.Sprintf("director%d_run_by", i+1), fmt.Sprintf("What runs director %d: \"agent\", or \"keepalived\" while it still runs keepalived during a live migration (at most one director; see the guide Migrating from keepalived).", i+1), "string", &agent, false)
	}
	for _, v := range p.authVars {
		variable(v, "VRRPv2 password (auth_pass) of the VIP, at most 8 bytes.", "string", nil, true)
	}

	pb := body.AppendNewBlock("resource", []string{"lvs_director_pair", "pair"}).Body()
	pb.SetAttributeValue("name", cty.StringVal(p.name))
	var dirs []hclwrite.Tokens
	for i := 0; i < 2; i++ {
		var d object
		d.set("host", ref("var", fmt.Sprintf("director%d_host", i+1)))
		d.set("interface", str(p.ifaces[i]))
		d.set("run_by", ref("var", fmt.Sprintf("director%d_run_by", i+1)))
		if p.vrrpAddr[i] != "" {
			d.set("vrrp_address", str(p.vrrpAddr[i]))
		}
		dirs = append(dirs, d.tokens())
	}
	pb.SetAttributeRaw("directors", tupleLines(dirs))
	pb.SetAttributeValue("sync_connections", cty.BoolVal(p.syncConns))
	if sd := p.sync; sd != nil {
		var o object
		if sd.iface != "" {
			o.set("interface", str(sd.iface))
		}
		o.set("id", num(*sd.id))
		for _, f := range []struct {
			name string
			v    int
		}{{"port", sd.port}, {"ttl", sd.ttl}, {"max_length", sd.maxlen}} {
			if f.v != 0 {
				o.set(f.name, num(f.v))
			}
		}
		if sd.group != "" {
			o.set("group", str(sd.group))
		}
		pb.SetAttributeRaw("sync_daemon", o.tokens())
	}
	if p.unicast {
		pb.SetAttributeValue("vrrp_unicast", cty.True)
	}
	if t := p.timeouts; t != nil {
		var o object
		for i, n := range []string{"tcp", "tcp_fin", "udp"} {
			if t[i] != 0 {
				o.set(n, str(fmt.Sprintf("%ds", t[i])))
			}
		}
		pb.SetAttributeRaw("ipvs_timeouts", o.tokens())
	}

	for _, v := range p.vips {
		body.AppendNewline()
		emitVIP(body, v)
	}
	for _, o := range p.servers {
		body.AppendNewline()
		body.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte(fmt.Sprintf("# %s: %s\n", o.vs.pos, o.vs.desc))}})
		f2, _ := hclwrite.ParseConfig(emitServer(o), "", hcl.InitialPos)
		for i, b := range f2.Body().Blocks() {
			if i > 0 {
				body.AppendNewline()
			}
			body.AppendBlock(b)
		}
	}
	return hclwrite.Format(f.Bytes())
}

func emitVIP(body *hclwrite.Body, v *vip) {
	in := v.in
	comment(body, fmt.Sprintf("%s: vrrp_instance %s", in.pos, in.name))
	b := body.AppendNewBlock("resource", []string{"lvs_vip", v.label}).Body()
	b.SetAttributeTraversal("director_pair_id", hcl.Traversal{hcl.TraverseRoot{Name: "lvs_director_pair"}, hcl.TraverseAttr{Name: "pair"}, hcl.TraverseAttr{Name: "id"}})
	b.SetAttributeValue("virtual_router_id", cty.NumberIntVal(int64(in.vrid)))
	b.SetAttributeRaw("addresses", strList(v.addrs))
	if v.iface != "" {
		b.SetAttributeValue("interface", cty.StringVal(v.iface))
	}
	b.SetAttributeRaw("priority", hclwrite.TokensForTuple([]hclwrite.Tokens{num(v.priority[0]), num(v.priority[1])}))
	b.SetAttributeValue("advert_interval", cty.StringVal(dur(in.advertMS)))
	b.SetAttributeValue("vrrp_version", cty.NumberIntVal(int64(v.version)))
	if !in.preempt {
		b.SetAttributeValue("preempt", cty.False)
	}
	if in.preemptDelay > 0 {
		b.SetAttributeValue("preempt_delay", cty.StringVal(dur(in.preemptDelay)))
	}
	if v.authVar != "" {
		b.SetAttributeRaw("authentication", ref("var", v.authVar))
	}
	if in.syncGroup != "" {
		b.SetAttributeValue("sync_group", cty.StringVal(in.syncGroup))
	}
	if len(in.trackIfs) > 0 {
		var l []hclwrite.Tokens
		for _, t := range in.trackIfs {
			var o object
			o.set("name", str(t.name))
			if t.weight != 0 {
				o.set("weight", num(t.weight))
			}
			l = append(l, o.tokens())
		}
		b.SetAttributeRaw("track_interfaces", tupleLines(l))
	}
	if len(in.trackScripts) > 0 {
		var l []hclwrite.Tokens
		for _, t := range in.trackScripts {
			var o object
			o.set("name", str(t.name))
			o.set("command", str(t.command))
			o.set("interval", str(dur(t.interval)))
			o.set("timeout", str(dur(t.timeout)))
			if t.weight != 0 {
				o.set("weight", num(t.weight))
			}
			if t.rise != 1 {
				o.set("rise", num(t.rise))
			}
			if t.fall != 1 {
				o.set("fall", num(t.fall))
			}
			l = append(l, o.tokens())
		}
		b.SetAttributeRaw("track_scripts", tupleLines(l))
	}
	if in.notify != [3]string{} {
		var o object
		for i, n := range []string{"master", "backup", "fault"} {
			if in.notify[i] != "" {
				o.set(n, str(in.notify[i]))
			}
		}
		b.SetAttributeRaw("notify", o.tokens())
	}
	// Only what keepalived.conf sets: the rest is keepalived's default, the provider's too.
	if g := in.garp; g != garpUnset {
		var o object
		if g.delay >= 0 {
			o.set("delay", str(dur(g.delay)))
		}
		if g.repeat >= 0 {
			o.set("repeat", num(g.repeat))
		}
		if g.refresh >= 0 {
			o.set("refresh", str(dur(g.refresh)))
		}
		if g.refreshRepeat >= 0 {
			o.set("refresh_repeat", num(g.refreshRepeat))
		}
		b.SetAttributeRaw("gratuitous_arp", o.tokens())
	}
}

// emitServer writes a virtual server and its real servers; two directors' virtual servers are
// compared by it.
func emitServer(o *vsOut) []byte {
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	vs := o.vs
	b := body.AppendNewBlock("resource", []string{"lvs_virtual_server", o.label}).Body()
	b.SetAttributeTraversal("vip_id", hcl.Traversal{hcl.TraverseRoot{Name: "lvs_vip"}, hcl.TraverseAttr{Name: o.vip.label}, hcl.TraverseAttr{Name: "id"}})
	if vs.fwmark != 0 {
		b.SetAttributeValue("fwmark", cty.NumberIntVal(int64(vs.fwmark)))
		if vs.family != "" {
			b.SetAttributeValue("address_family", cty.StringVal(vs.family))
		}
	} else {
		b.SetAttributeValue("address", cty.StringVal(vs.address))
		b.SetAttributeValue("port", cty.NumberIntVal(int64(vs.port)))
		b.SetAttributeValue("protocol", cty.StringVal(vs.protocol))
	}
	b.SetAttributeValue("scheduler", cty.StringVal(vs.scheduler))
	if len(vs.flags) > 0 {
		b.SetAttributeRaw("scheduler_flags", strList(vs.flags))
	}
	if vs.ops && (vs.protocol == "udp" || vs.fwmark != 0) {
		b.SetAttributeValue("one_packet_scheduling", cty.True)
	}
	if vs.method != "" {
		b.SetAttributeValue("forwarding_method", cty.StringVal(vs.method))
	}
	if vs.persistence != "" {
		var p object
		p.set("timeout", str(vs.persistence))
		if vs.netmask != "" {
			p.set("netmask", str(vs.netmask))
		}
		b.SetAttributeRaw("persistence", p.tokens())
	}
	if vs.hasQuorum {
		var q object
		q.set("min", num(vs.quorum))
		if vs.hysteresis != 0 {
			q.set("hysteresis", num(vs.hysteresis))
		}
		b.SetAttributeRaw("quorum", q.tokens())
	}
	if s := vs.sorry; s != nil {
		var q object
		q.set("address", str(s.address))
		q.set("port", num(s.port))
		if s.method != "" {
			q.set("forwarding_method", str(s.method))
		}
		b.SetAttributeRaw("sorry_server", q.tokens())
	}
	if o.check != nil {
		b.SetAttributeRaw("health_check", checkTokens(o.check))
	}
	b.SetAttributeValue("on_failure", cty.StringVal(vs.onFailure))
	for _, r := range o.reals {
		body.AppendNewline()
		rb := body.AppendNewBlock("resource", []string{"lvs_real_server", r.label}).Body()
		rb.SetAttributeTraversal("virtual_server_id", hcl.Traversal{hcl.TraverseRoot{Name: "lvs_virtual_server"}, hcl.TraverseAttr{Name: o.label}, hcl.TraverseAttr{Name: "id"}})
		rb.SetAttributeValue("address", cty.StringVal(r.rs.address))
		rb.SetAttributeValue("port", cty.NumberIntVal(int64(r.rs.port)))
		rb.SetAttributeValue("weight", cty.NumberIntVal(int64(r.rs.weight)))
		if r.rs.method != "" && r.rs.method != vs.method {
			rb.SetAttributeValue("forwarding_method", cty.StringVal(r.rs.method))
		}
		if r.rs.upper != 0 || r.rs.lower != 0 {
			var t object
			if r.rs.upper != 0 {
				t.set("upper", num(r.rs.upper))
			}
			if r.rs.lower != 0 {
				t.set("lower", num(r.rs.lower))
			}
			rb.SetAttributeRaw("thresholds", t.tokens())
		}
		if r.rs.onFailure != vs.onFailure {
			rb.SetAttributeValue("on_failure", cty.StringVal(r.rs.onFailure))
		}
		if r.rs.notifyUp != "" || r.rs.notifyDown != "" {
			var n object
			if r.rs.notifyUp != "" {
				n.set("up", str(r.rs.notifyUp))
			}
			if r.rs.notifyDown != "" {
				n.set("down", str(r.rs.notifyDown))
			}
			rb.SetAttributeRaw("notify", n.tokens())
		}
		switch {
		case r.check != nil:
			rb.SetAttributeRaw("health_check", checkTokens(r.check))
		case o.check == nil && anyCheck(o):
			// keepalived did not check this one while it checks its siblings.
			var c object
			c.set("type", str("none"))
			rb.SetAttributeRaw("health_check", c.tokens())
		}
	}
	return hclwrite.Format(f.Bytes())
}

func anyCheck(o *vsOut) bool {
	for _, r := range o.reals {
		if r.check != nil {
			return true
		}
	}
	return false
}

// checkTokens writes a health_check with keepalived's effective values, leaving out those equal
// to the provider's defaults.
func checkTokens(c *check) hclwrite.Tokens {
	var o object
	o.set("type", str(c.typ))
	if c.intervalMS != 5000 {
		o.set("interval", str(dur(c.intervalMS)))
	}
	if c.timeoutMS != 3000 {
		o.set("timeout", str(dur(c.timeoutMS)))
	}
	if c.retries != 1 {
		o.set("retries", num(c.retries))
	}
	if c.retryMS != 1000 {
		o.set("retry_delay", str(dur(c.retryMS)))
	}
	if c.startDown {
		o.set("start_down", boolean(true))
	}
	if c.connectAddr != "" {
		o.set("connect_address", str(c.connectAddr))
	}
	if c.connectPort != 0 {
		o.set("connect_port", num(c.connectPort))
	}
	if c.path != "" && c.path != "/" {
		o.set("path", str(c.path))
	}
	if len(c.status) > 0 {
		o.set("expected_status", strList(c.status))
	}
	if c.host != "" && (c.typ == "http" || c.typ == "https") {
		o.set("host", str(c.host))
	}
	if c.body != "" {
		o.set("expected_body", str(c.body))
	}
	if c.digest != "" {
		o.set("digest", str(c.digest))
	}
	if len(c.urls) > 0 {
		var urls []hclwrite.Tokens
		for _, u := range c.urls {
			var uo object
			uo.set("path", str(u.path))
			if len(u.status) > 0 {
				uo.set("expected_status", strList(u.status))
			}
			if u.body != "" {
				uo.set("expected_body", str(u.body))
			}
			if u.digest != "" {
				uo.set("digest", str(u.digest))
			}
			urls = append(urls, uo.tokens())
		}
		o.set("urls", tupleLines(urls))
	}
	if c.sni != "" {
		o.set("tls_server_name", str(c.sni))
	}
	if c.command != "" {
		o.set("command", str(c.command))
	}
	if c.dynamic {
		o.set("dynamic_weight", boolean(true))
	}
	if c.payload != "" {
		o.set("payload", str(c.payload))
	}
	if c.replyPat != "" {
		o.set("reply_pattern", str(c.replyPat))
	} else if c.reply {
		o.set("require_reply", boolean(true))
	}
	if c.helo != "" {
		o.set("helo_name", str(c.helo))
	}
	if c.typ == "dns" {
		o.set("query_name", str(c.qname))
		if c.qtype != "A" {
			o.set("query_type", str(c.qtype))
		}
	}
	return o.tokens()
}
