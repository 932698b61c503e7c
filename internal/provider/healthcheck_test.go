package provider

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// TestHealthCheckTimeoutDefault: an unwritten timeout is the default 3s, or the interval if that
// is shorter, and reads back as unwritten; a written timeout longer than the interval is kept.
func TestHealthCheckTimeoutDefault(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		interval, timeout types.String
		wantMS            int
	}{
		{types.StringNull(), types.StringNull(), 3000},
		{types.StringValue("1s"), types.StringNull(), 1000},
		{types.StringValue("250ms"), types.StringNull(), 250},
		{types.StringValue("6s"), types.StringNull(), 3000},
		{types.StringValue("6s"), types.StringValue("10s"), 10000},
	} {
		m := &healthCheckModel{Type: types.StringValue("tcp"), Interval: c.interval, Timeout: c.timeout}
		h, err := wireHealthCheck(m, "health_check")
		if err != nil {
			t.Fatalf("interval %v timeout %v: %v", c.interval, c.timeout, err)
		}
		if h.TimeoutMS != c.wantMS {
			t.Errorf("interval %v timeout %v: sent %dms, want %dms", c.interval, c.timeout, h.TimeoutMS, c.wantMS)
		}
		back := healthCheckFrom(h, m)
		if !back.Timeout.Equal(c.timeout) {
			t.Errorf("interval %v timeout %v: reads back as %v", c.interval, c.timeout, back.Timeout)
		}
	}
}

// TestHealthCheckRoundTrip: what a configuration writes goes to the agent and reads back as
// written, so that neither today's configurations nor those with the new check kinds plan a
// change; and the agent accepts what is sent.
func TestHealthCheckRoundTrip(t *testing.T) {
	t.Parallel()
	s := types.StringValue
	list := func(v ...string) []types.String {
		var out []types.String
		for _, x := range v {
			out = append(out, s(x))
		}
		return out
	}
	for name, m := range map[string]*healthCheckModel{
		"tcp":          {Type: s("tcp")},
		"http path":    {Type: s("http"), Path: s("/healthz"), ExpectedStatus: list("200")},
		"http default": {Type: s("http")},
		"https digest": {Type: s("https"), Path: s("/"), Digest: s("9B3A0C85A887A256D6939DA88AABD8CD")},
		"http urls": {Type: s("http"), Host: s("www.example.test"), URLs: []httpURLModel{
			{Path: s("/a")}, {Path: s("/b"), ExpectedStatus: list("200", "301-302"), ExpectedBody: s("ok"), Digest: s("9b3a0c85a887a256d6939da88aabd8cd")}}},
		"http empty statuses": {Type: s("http"), ExpectedStatus: []types.String{}},
		"urls empty statuses": {Type: s("http"), URLs: []httpURLModel{{Path: s("/"), ExpectedStatus: []types.String{}}}},
		"exec dynamic":        {Type: s("exec"), Command: s("exit 12"), DynamicWeight: types.BoolValue(true)},
		"exec static":         {Type: s("exec"), Command: s("true"), DynamicWeight: types.BoolValue(false)},
		"udp":                 {Type: s("udp")},
		"udp reply":           {Type: s("udp"), Payload: s("4c 56"), RequireReply: types.BoolValue(true), ReplyPattern: s("4f4b xx")},
		"smtp":                {Type: s("smtp")},
		"smtp helo":           {Type: s("smtp"), HeloName: s("lb1.example.test")},
	} {
		h, e := wireHealthCheck(m, "health_check")
		if e != nil {
			t.Fatalf("%s: %v", name, e)
		}
		vs := &agentapi.VirtualServer{VRID: 1, Protocol: "tcp", Address: "198.51.100.100", Port: 80, Scheduler: "wlc", ForwardingMethod: "dr", HealthCheck: h}
		if err := vs.Validate(); err != nil {
			t.Errorf("%s: the agent refuses it: %v", name, err)
		}
		b, _ := json.Marshal(h)
		var got agentapi.HealthCheck
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if back := healthCheckFrom(&got, m); !reflect.DeepEqual(back, m) {
			t.Errorf("%s: reads back as\n%+v\nwant\n%+v", name, back, m)
		}
	}
}
