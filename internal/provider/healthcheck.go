package provider

import (
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// healthCheckModel is the shared health_check attribute of virtual and real servers.
type healthCheckModel struct {
	Type           types.String   `tfsdk:"type"`
	Interval       types.String   `tfsdk:"interval"`
	Timeout        types.String   `tfsdk:"timeout"`
	Retries        types.Int64    `tfsdk:"retries"`
	RetryDelay     types.String   `tfsdk:"retry_delay"`
	Rise           types.Int64    `tfsdk:"rise"`
	Fall           types.Int64    `tfsdk:"fall"`
	StartDown      types.Bool     `tfsdk:"start_down"`
	ConnectAddress types.String   `tfsdk:"connect_address"`
	ConnectPort    types.Int64    `tfsdk:"connect_port"`
	Path           types.String   `tfsdk:"path"`
	ExpectedStatus []types.String `tfsdk:"expected_status"`
	Host           types.String   `tfsdk:"host"`
	ExpectedBody   types.String   `tfsdk:"expected_body"`
	TLSServerName  types.String   `tfsdk:"tls_server_name"`
	TLSVerify      types.Bool     `tfsdk:"tls_verify"`
	Command        types.String   `tfsdk:"command"`
	QueryName      types.String   `tfsdk:"query_name"`
	QueryType      types.String   `tfsdk:"query_type"`
	Digest         types.String   `tfsdk:"digest"`
	URLs           []httpURLModel `tfsdk:"urls"`
	DynamicWeight  types.Bool     `tfsdk:"dynamic_weight"`
	Payload        types.String   `tfsdk:"payload"`
	RequireReply   types.Bool     `tfsdk:"require_reply"`
	ReplyPattern   types.String   `tfsdk:"reply_pattern"`
	HeloName       types.String   `tfsdk:"helo_name"`
}

// httpURLModel is one GET of an http check with several URLs.
type httpURLModel struct {
	Path           types.String   `tfsdk:"path"`
	ExpectedStatus []types.String `tfsdk:"expected_status"`
	ExpectedBody   types.String   `tfsdk:"expected_body"`
	Digest         types.String   `tfsdk:"digest"`
}

// Defaults of a health check, as documented in its schema.
const (
	defaultCheckInterval   = "5s"
	defaultCheckTimeout    = "3s"
	defaultCheckRetryDelay = "1s"
	defaultCheckRetries    = 1
)

func healthCheckSchema(what string) schema.SingleNestedAttribute {
	opt := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, MarkdownDescription: desc}
	}
	optInt := func(desc string) schema.Int64Attribute {
		return schema.Int64Attribute{Optional: true, MarkdownDescription: desc}
	}
	return schema.SingleNestedAttribute{
		Optional:            true,
		MarkdownDescription: what + " Each director checks on its own, with keepalived's semantics; a server taken out by its check is not drift.",
		Attributes: map[string]schema.Attribute{
			"type": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "`tcp` (connect), `http`, `https` (GET), `exec` (a command on the director, exit 0 = up), `dns` (a query to the real server), `udp` (a datagram; an ICMP port unreachable is down), `smtp` (greeting, `HELO`, `QUIT`) or `none`.",
				Validators:          []validatorString{stringvalidator.OneOf(agentapi.HealthCheckTypes...)},
			},
			"interval":        opt("Time between the starts of two checks. Default `" + defaultCheckInterval + "`. A check that outlasts it (a `timeout` longer than the interval, as keepalived's `connect_timeout 10` with `delay_loop 6`, or retries) is followed by the next one an interval after it ended, as keepalived does."),
			"timeout":         opt("A check still running after this fails. Default `" + defaultCheckTimeout + "`, or the interval if that is shorter. It may be longer than the interval, as keepalived's `connect_timeout` may be longer than `delay_loop`."),
			"retries":         optInt(fmt.Sprintf("Further attempts before a check counts as failed. Default %d.", defaultCheckRetries)),
			"retry_delay":     opt("Pause between attempts. Default `" + defaultCheckRetryDelay + "`."),
			"rise":            optInt("Successful checks in a row that bring a server back. Default 1."),
			"fall":            optInt("Failed checks in a row that take a server out. Default 1."),
			"start_down":      schema.BoolAttribute{Optional: true, MarkdownDescription: "A new server starts as down until its first success (keepalived's `alpha`). Default `false`."},
			"connect_address": opt("Check this address instead of the real server's."),
			"connect_port":    optInt("Check this port instead of the real server's."),
			"path":            opt("http/https: path of the GET, e.g. `/healthz`. Default `/`."),
			"expected_status": schema.ListAttribute{ElementType: types.StringType, Optional: true, MarkdownDescription: "http/https: accepted status codes or ranges, e.g. `[\"200\", \"301-302\"]`. Default `[\"200-299\"]`."},
			"host":            opt("http/https: Host header."),
			"expected_body":   opt("http/https: RE2 regular expression the body must match."),
			"tls_server_name": opt("https: TLS server name (SNI) and name to verify."),
			"tls_verify":      schema.BoolAttribute{Optional: true, MarkdownDescription: "https: verify the certificate against the director's CA store. Default `false`, as keepalived."},
			"command": schema.StringAttribute{Optional: true, Sensitive: true, MarkdownDescription: "exec: command line run with `/bin/sh -c` on the director; exit status 0 is up (keepalived's MISC_CHECK). It sees the real server in `LVS_RS_ADDRESS` and `LVS_RS_PORT`, the address it should check in `LVS_CHECK_ADDRESS` and `LVS_CHECK_PORT` (with `connect_*` applied), and the virtual server in `LVS_VS`; on timeout its whole process group is killed. " +
				"Sensitive (it may carry credentials): hidden in plans and logs, kept in state."},
			"query_name": opt("dns: name to query."),
			"query_type": opt("dns: record type. Default `A`."),
			"digest":     opt("http/https: MD5 of the body in hex, as keepalived's `genhash` prints it (e.g. `genhash -s ADDRESS -p PORT -u PATH`); any other body fails."),
			"urls": schema.ListNestedAttribute{
				Optional:   true,
				Validators: []validatorList{listvalidator.SizeAtLeast(1)},
				MarkdownDescription: "http/https: several GETs, each on its own connection, that must all pass (keepalived's several `url` blocks). Instead of `path`, `expected_status`, `expected_body` and `digest`, which then stay unset; `host` and the TLS settings apply to every URL. " +
					"A failure's reason names the URL.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"path":            schema.StringAttribute{Required: true, MarkdownDescription: "Path of the GET, e.g. `/healthz`."},
					"expected_status": schema.ListAttribute{ElementType: types.StringType, Optional: true, MarkdownDescription: "Accepted status codes or ranges. Default `[\"200-299\"]`."},
					"expected_body":   opt("RE2 regular expression the body must match."),
					"digest":          opt("MD5 of the body in hex (keepalived's `genhash`)."),
				}},
			},
			"dynamic_weight": schema.BoolAttribute{Optional: true, MarkdownDescription: "exec: the exit status sets the weight, as keepalived's `misc_dynamic`: 0 is up at the configured weight, 1 is down, 2-255 are up with weight status - 2 (exit 12: weight 10). " +
				"The weight in state stays the configured one (no drift): the set weight shows in `lvs_director_status` as the destination's kernel weight and in its health reason. A real server drained to weight 0 stays at 0. Default `false`."},
			"payload":       opt("udp: the datagram, in hex (keepalived's free form: `\"4c 56 53\"`, spaces allowed). Default: 32 random bytes, as keepalived."),
			"require_reply": schema.BoolAttribute{Optional: true, MarkdownDescription: "udp: a reply must come within the timeout. Without it, as keepalived, a check passes unless an ICMP error (port or host unreachable) comes within the timeout, so each check lasts its timeout. Default `false`, or `true` when `reply_pattern` is set."},
			"reply_pattern": opt("udp: hex the reply must start with (compared as far as the reply goes, as keepalived); `x` matches any hex digit, e.g. `\"4f4b xx\"`. Implies `require_reply`."),
			"helo_name":     opt("smtp: name sent with `HELO`. Default `" + agentapi.DefaultSMTPHelo + "`, as keepalived."),
		},
	}
}

func ms(s types.String, def, field string) (int, *agentapi.Error) {
	v := def
	if !s.IsNull() && !s.IsUnknown() {
		v = s.ValueString()
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, agentapi.Invalid(field, fmt.Sprintf("%q is not a duration such as \"5s\"", v))
	}
	return int(d / time.Millisecond), nil
}

// defaultTimeoutMS is the timeout of a check that does not set one: defaultCheckTimeout, or the
// interval if that is shorter, so that an unwritten timeout never makes checks overlap their
// schedule. A timeout the user writes is taken as written, even longer than the interval.
func defaultTimeoutMS(intervalMS int) int {
	d, _ := time.ParseDuration(defaultCheckTimeout)
	def := int(d / time.Millisecond)
	if intervalMS > 0 && intervalMS < def {
		return intervalMS
	}
	return def
}

// wireHealthCheck converts h; prefix is the attribute path ("health_check").
func wireHealthCheck(h *healthCheckModel, prefix string) (*agentapi.HealthCheck, *agentapi.Error) {
	if h == nil {
		return nil, nil
	}
	out := &agentapi.HealthCheck{
		Type: h.Type.ValueString(), Retries: defaultCheckRetries, Rise: 1, Fall: 1,
		StartDown: h.StartDown.ValueBool(), ConnectAddress: h.ConnectAddress.ValueString(), ConnectPort: int(h.ConnectPort.ValueInt64()),
	}
	var e *agentapi.Error
	if out.IntervalMS, e = ms(h.Interval, defaultCheckInterval, prefix+".interval"); e != nil {
		return nil, e
	}
	if out.TimeoutMS, e = ms(h.Timeout, defaultCheckTimeout, prefix+".timeout"); e != nil {
		return nil, e
	}
	if h.Timeout.IsNull() {
		out.TimeoutMS = defaultTimeoutMS(out.IntervalMS)
	}
	if out.RetryDelayMS, e = ms(h.RetryDelay, defaultCheckRetryDelay, prefix+".retry_delay"); e != nil {
		return nil, e
	}
	if !h.Retries.IsNull() {
		out.Retries = int(h.Retries.ValueInt64())
	}
	if !h.Rise.IsNull() {
		out.Rise = int(h.Rise.ValueInt64())
	}
	if !h.Fall.IsNull() {
		out.Fall = int(h.Fall.ValueInt64())
	}
	if !h.Path.IsNull() || len(h.ExpectedStatus) > 0 || !h.Host.IsNull() || !h.ExpectedBody.IsNull() || !h.TLSServerName.IsNull() || !h.TLSVerify.IsNull() ||
		!h.Digest.IsNull() || h.URLs != nil || out.Type == "http" || out.Type == "https" {
		hc := &agentapi.HTTPCheck{Path: h.Path.ValueString(), Host: h.Host.ValueString(), ExpectedBody: h.ExpectedBody.ValueString(),
			TLSServerName: h.TLSServerName.ValueString(), TLSVerify: h.TLSVerify.ValueBool(), Digest: h.Digest.ValueString()}
		if h.Path.IsNull() && h.URLs == nil {
			hc.Path = "/"
		}
		hc.ExpectedStatus = stringValues(h.ExpectedStatus)
		for _, u := range h.URLs {
			hc.URLs = append(hc.URLs, agentapi.HTTPURL{Path: u.Path.ValueString(), ExpectedStatus: stringValues(u.ExpectedStatus),
				ExpectedBody: u.ExpectedBody.ValueString(), Digest: u.Digest.ValueString()})
		}
		out.HTTP = hc
	}
	if !h.Command.IsNull() || !h.DynamicWeight.IsNull() || out.Type == "exec" {
		out.Exec = &agentapi.ExecCheck{Command: h.Command.ValueString(), DynamicWeight: h.DynamicWeight.ValueBool()}
	}
	if !h.Payload.IsNull() || !h.RequireReply.IsNull() || !h.ReplyPattern.IsNull() || out.Type == "udp" {
		out.UDP = &agentapi.UDPCheck{Payload: h.Payload.ValueString(), RequireReply: h.RequireReply.ValueBool(), ReplyPattern: h.ReplyPattern.ValueString()}
	}
	if !h.HeloName.IsNull() || out.Type == "smtp" {
		out.SMTP = &agentapi.SMTPCheck{HeloName: h.HeloName.ValueString()}
	}
	if !h.QueryName.IsNull() || !h.QueryType.IsNull() || out.Type == "dns" {
		qt := h.QueryType.ValueString()
		if h.QueryType.IsNull() {
			qt = "A"
		}
		out.DNS = &agentapi.DNSCheck{Name: h.QueryName.ValueString(), Type: qt}
	}
	return out, nil
}

// healthCheckFrom writes what an agent holds back into the model, keeping prev's spelling of
// equal durations and leaving defaults unset where prev left them unset.
func healthCheckFrom(h *agentapi.HealthCheck, prev *healthCheckModel) *healthCheckModel {
	if h == nil {
		return nil
	}
	if prev == nil {
		prev = &healthCheckModel{}
	}
	dur := func(p types.String, v int, def string) types.String {
		if p.IsNull() {
			if d, err := time.ParseDuration(def); err == nil && int(d/time.Millisecond) == v {
				return types.StringNull()
			}
		}
		return keepDuration(p, time.Duration(v)*time.Millisecond)
	}
	num := func(p types.Int64, v, def int) types.Int64 {
		if p.IsNull() && v == def {
			return types.Int64Null()
		}
		return types.Int64Value(int64(v))
	}
	str := func(p types.String, v, def string) types.String {
		if p.IsNull() && v == def {
			return types.StringNull()
		}
		return types.StringValue(v)
	}
	boolean := func(p types.Bool, v bool) types.Bool {
		if p.IsNull() && !v {
			return types.BoolNull()
		}
		return types.BoolValue(v)
	}
	m := &healthCheckModel{
		Type:           types.StringValue(h.Type),
		Interval:       dur(prev.Interval, h.IntervalMS, defaultCheckInterval),
		Timeout:        dur(prev.Timeout, h.TimeoutMS, (time.Duration(defaultTimeoutMS(h.IntervalMS)) * time.Millisecond).String()),
		RetryDelay:     dur(prev.RetryDelay, h.RetryDelayMS, defaultCheckRetryDelay),
		Retries:        num(prev.Retries, h.Retries, defaultCheckRetries),
		Rise:           num(prev.Rise, h.Rise, 1),
		Fall:           num(prev.Fall, h.Fall, 1),
		StartDown:      boolean(prev.StartDown, h.StartDown),
		ConnectAddress: str(prev.ConnectAddress, h.ConnectAddress, ""),
		ConnectPort:    num(prev.ConnectPort, h.ConnectPort, 0),
		Path:           types.StringNull(), Host: types.StringNull(), ExpectedBody: types.StringNull(),
		TLSServerName: types.StringNull(), TLSVerify: types.BoolNull(), Command: types.StringNull(),
		QueryName: types.StringNull(), QueryType: types.StringNull(),
		Digest: types.StringNull(), DynamicWeight: types.BoolNull(), Payload: types.StringNull(), RequireReply: types.BoolNull(),
		ReplyPattern: types.StringNull(), HeloName: types.StringNull(),
	}
	if c := h.HTTP; c != nil {
		m.Path = str(prev.Path, c.Path, "/")
		if len(c.URLs) > 0 {
			m.Path = str(prev.Path, c.Path, "")
		}
		m.Host = str(prev.Host, c.Host, "")
		m.ExpectedBody = str(prev.ExpectedBody, c.ExpectedBody, "")
		m.TLSServerName = str(prev.TLSServerName, c.TLSServerName, "")
		m.TLSVerify = boolean(prev.TLSVerify, c.TLSVerify)
		m.Digest = str(prev.Digest, c.Digest, "")
		m.ExpectedStatus = stringModels(c.ExpectedStatus, prev.ExpectedStatus)
		for i, u := range c.URLs {
			var pu httpURLModel
			if i < len(prev.URLs) {
				pu = prev.URLs[i]
			}
			m.URLs = append(m.URLs, httpURLModel{Path: types.StringValue(u.Path), ExpectedStatus: stringModels(u.ExpectedStatus, pu.ExpectedStatus),
				ExpectedBody: str(pu.ExpectedBody, u.ExpectedBody, ""), Digest: str(pu.Digest, u.Digest, "")})
		}
	}
	if c := h.Exec; c != nil {
		m.Command = str(prev.Command, c.Command, "")
		m.DynamicWeight = boolean(prev.DynamicWeight, c.DynamicWeight)
	}
	if c := h.UDP; c != nil {
		m.Payload = str(prev.Payload, c.Payload, "")
		m.RequireReply = boolean(prev.RequireReply, c.RequireReply)
		m.ReplyPattern = str(prev.ReplyPattern, c.ReplyPattern, "")
	}
	if c := h.SMTP; c != nil {
		m.HeloName = str(prev.HeloName, c.HeloName, "")
	}
	if c := h.DNS; c != nil {
		m.QueryName = str(prev.QueryName, c.Name, "")
		m.QueryType = str(prev.QueryType, c.Type, "A")
	}
	return m
}

// stringValues are the values of a list attribute; nil for an unset one.
func stringValues(l []types.String) []string {
	var out []string
	for _, s := range l {
		out = append(out, s.ValueString())
	}
	return out
}

// stringModels is the list attribute of l: for none, unset, or an empty list where prev
// wrote one (the agent takes both as the default).
func stringModels(l []string, prev []types.String) []types.String {
	if len(l) == 0 && prev != nil && len(prev) == 0 {
		return []types.String{}
	}
	var out []types.String
	for _, s := range l {
		out = append(out, types.StringValue(s))
	}
	return out
}
