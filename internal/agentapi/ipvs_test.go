package agentapi_test

import (
	"errors"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

func TestVirtualServerKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vs  agentapi.VirtualServer
		key string
	}{
		{agentapi.VirtualServer{Protocol: "tcp", Address: "198.51.100.100", Port: 80}, "tcp/198.51.100.100:80"},
		{agentapi.VirtualServer{Protocol: "udp", Address: "2001:DB8:0::100", Port: 53}, "udp/[2001:db8::100]:53"},
		{agentapi.VirtualServer{FWMark: 1, Family: "inet"}, "fwmark/inet/1"},
		{agentapi.VirtualServer{FWMark: 9, Family: "inet6"}, "fwmark/inet6/9"},
	} {
		if got := agentapi.VirtualServerKey(&tc.vs); got != tc.key {
			t.Errorf("VirtualServerKey(%+v) = %q, want %q", tc.vs, got, tc.key)
		}
		back, err := agentapi.ParseVirtualServerKey(tc.key)
		if err != nil {
			t.Fatal(err)
		}
		if got := agentapi.VirtualServerKey(back); got != tc.key {
			t.Errorf("parse/format %q = %q", tc.key, got)
		}
	}
	for _, bad := range []string{"tcp", "icmp/198.51.100.1:1", "tcp/198.51.100.1", "tcp/2001:db8::1:80", "fwmark/inet/0", "fwmark/ip/1", "fwmark/inet/01"} {
		if _, err := agentapi.ParseVirtualServerKey(bad); err == nil {
			t.Errorf("ParseVirtualServerKey(%q) accepted", bad)
		}
	}
	if k, err := agentapi.CanonicalRealServerKey("[2001:DB8::21]:80"); err != nil || k != "[2001:db8::21]:80" {
		t.Errorf("canonical real server key %q %v", k, err)
	}
	if k := agentapi.RealServerKey(&agentapi.RealServer{Address: "198.51.100.21", Port: 8080}); k != "198.51.100.21:8080" {
		t.Errorf("RealServerKey = %q", k)
	}
}

func validVS() *agentapi.VirtualServer {
	return &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: "198.51.100.100", Port: 80, Scheduler: "wrr", ForwardingMethod: "dr",
		RealServers: map[string]*agentapi.RealServer{"198.51.100.21:80": {Address: "198.51.100.21", Port: 80, Weight: 1}}}
}

func TestVirtualServerValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(*agentapi.VirtualServer)
		field string // "" = valid
	}{
		{"valid", func(*agentapi.VirtualServer) {}, ""},
		{"vrid", func(v *agentapi.VirtualServer) { v.VRID = 0 }, "vip_id"},
		{"protocol", func(v *agentapi.VirtualServer) { v.Protocol = "icmp" }, "protocol"},
		{"address", func(v *agentapi.VirtualServer) { v.Address = "224.0.0.1" }, "address"},
		{"mapped address", func(v *agentapi.VirtualServer) { v.Address = "::ffff:198.51.100.1" }, "address"},
		{"port", func(v *agentapi.VirtualServer) { v.Port = 70000 }, "port"},
		{"port 0 without persistence", func(v *agentapi.VirtualServer) { v.Port = 0 }, "port"},
		{"port 0 persistent", func(v *agentapi.VirtualServer) {
			v.Port = 0
			v.Persistence = &agentapi.Persistence{TimeoutS: 60}
			v.RealServers = map[string]*agentapi.RealServer{"198.51.100.21:0": {Address: "198.51.100.21", Weight: 1}}
		}, ""},
		{"scheduler", func(v *agentapi.VirtualServer) { v.Scheduler = "random" }, "scheduler"},
		{"sh flags", func(v *agentapi.VirtualServer) {
			v.Scheduler = "sh"
			v.SchedulerFlags = []string{"sh-fallback", "sh-port"}
		}, ""},
		{"flag of another scheduler", func(v *agentapi.VirtualServer) { v.Scheduler = "sh"; v.SchedulerFlags = []string{"mh-port"} }, "scheduler_flags[0]"},
		{"flag without sh/mh", func(v *agentapi.VirtualServer) { v.SchedulerFlags = []string{"sh-port"} }, "scheduler_flags[0]"},
		{"flag twice", func(v *agentapi.VirtualServer) { v.Scheduler = "mh"; v.SchedulerFlags = []string{"mh-port", "mh-port"} }, "scheduler_flags[1]"},
		{"one-packet on tcp", func(v *agentapi.VirtualServer) { v.OnePacket = true }, "one_packet_scheduling"},
		{"persistence timeout", func(v *agentapi.VirtualServer) { v.Persistence = &agentapi.Persistence{} }, "persistence.timeout"},
		{"persistence netmask", func(v *agentapi.VirtualServer) {
			v.Persistence = &agentapi.Persistence{TimeoutS: 60, Netmask: "255.0.255.0"}
		}, "persistence.netmask"},
		{"persistence netmask ok", func(v *agentapi.VirtualServer) {
			v.Persistence = &agentapi.Persistence{TimeoutS: 60, Netmask: "255.255.255.0"}
		}, ""},
		{"forwarding method", func(v *agentapi.VirtualServer) { v.ForwardingMethod = "masq" }, "forwarding_method"},
		{"on_failure", func(v *agentapi.VirtualServer) { v.OnFailure = "panic" }, "on_failure"},
		{"fwmark with address", func(v *agentapi.VirtualServer) { v.FWMark = 3 }, "fwmark"},
		{"fwmark", func(v *agentapi.VirtualServer) {
			*v = agentapi.VirtualServer{VRID: 1, FWMark: 3, Family: "inet6", Scheduler: "rr",
				RealServers: map[string]*agentapi.RealServer{"[2001:db8::21]:0": {Address: "2001:db8::21", Weight: 1}}}
		}, ""},
		{"family", func(v *agentapi.VirtualServer) { v.Family = "inet" }, "family"},
		{"weight", func(v *agentapi.VirtualServer) { v.RealServers["198.51.100.21:80"].Weight = 65536 }, "real_servers"},
		{"thresholds", func(v *agentapi.VirtualServer) {
			v.RealServers["198.51.100.21:80"].UpperThreshold = 10
			v.RealServers["198.51.100.21:80"].LowerThreshold = 20
		}, "real_servers"},
		{"dr port mapping", func(v *agentapi.VirtualServer) {
			v.RealServers = map[string]*agentapi.RealServer{"198.51.100.21:8080": {Address: "198.51.100.21", Port: 8080, Weight: 1}}
		}, "real_servers"},
		{"nat port mapping", func(v *agentapi.VirtualServer) {
			v.ForwardingMethod = "nat"
			v.RealServers = map[string]*agentapi.RealServer{"198.51.100.21:8080": {Address: "198.51.100.21", Port: 8080, Weight: 1}}
		}, ""},
		{"family mix", func(v *agentapi.VirtualServer) {
			v.RealServers = map[string]*agentapi.RealServer{"[2001:db8::21]:80": {Address: "2001:db8::21", Port: 80, Weight: 1}}
		}, "real_servers"},
		{"family mix with tunnel", func(v *agentapi.VirtualServer) {
			v.RealServers = map[string]*agentapi.RealServer{"[2001:db8::21]:80": {Address: "2001:db8::21", Port: 80, Weight: 1, ForwardingMethod: "tunnel"}}
		}, ""},
		{"wrong map key", func(v *agentapi.VirtualServer) {
			v.RealServers = map[string]*agentapi.RealServer{"198.51.100.22:80": {Address: "198.51.100.21", Port: 80, Weight: 1}}
		}, "real_servers"},
		{"sorry server is a real server", func(v *agentapi.VirtualServer) {
			v.SorryServer = &agentapi.SorryServer{Address: "198.51.100.21", Port: 80}
		}, "sorry_server.address"},
		{"sorry server port", func(v *agentapi.VirtualServer) {
			v.SorryServer = &agentapi.SorryServer{Address: "198.51.100.40", Port: 81}
		}, "sorry_server.port"},
		{"quorum", func(v *agentapi.VirtualServer) { v.Quorum = &agentapi.Quorum{Min: 2, Hysteresis: 2} }, "quorum.hysteresis"},
		{"health type", func(v *agentapi.VirtualServer) { v.HealthCheck = &agentapi.HealthCheck{Type: "ping"} }, "health_check.type"},
		{"http fields on tcp", func(v *agentapi.VirtualServer) {
			v.HealthCheck = &agentapi.HealthCheck{Type: "tcp", HTTP: &agentapi.HTTPCheck{Path: "/"}}
		}, "health_check.path"},
		{"exec without command", func(v *agentapi.VirtualServer) { v.HealthCheck = &agentapi.HealthCheck{Type: "exec"} }, "health_check.command"},
		{"status range", func(v *agentapi.VirtualServer) {
			v.HealthCheck = &agentapi.HealthCheck{Type: "http", HTTP: &agentapi.HTTPCheck{Path: "/", ExpectedStatus: []string{"200-299", "299-200"}}}
		}, "health_check.expected_status[1]"},
		{"body regexp", func(v *agentapi.VirtualServer) {
			v.HealthCheck = &agentapi.HealthCheck{Type: "https", HTTP: &agentapi.HTTPCheck{Path: "/", ExpectedBody: "("}}
		}, "health_check.expected_body"},
		{"tls on http", func(v *agentapi.VirtualServer) {
			v.HealthCheck = &agentapi.HealthCheck{Type: "http", HTTP: &agentapi.HTTPCheck{Path: "/", TLSVerify: true}}
		}, "health_check.tls_server_name"},
		{"real server health", func(v *agentapi.VirtualServer) {
			v.RealServers["198.51.100.21:80"].HealthCheck = &agentapi.HealthCheck{Type: "dns"}
		}, "real_servers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := validVS()
			tc.edit(v)
			err := v.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			var e *agentapi.Error
			if !errors.As(err, &e) || !errors.Is(err, agentapi.ErrValidation) || e.Field != tc.field {
				t.Fatalf("Validate = %v, want a validation error of %s", err, tc.field)
			}
		})
	}
}

func TestBindingValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		b     agentapi.RealServerBinding
		field string
	}{
		{agentapi.RealServerBinding{VIP: "198.51.100.100", ForwardingMethod: "dr"}, ""},
		{agentapi.RealServerBinding{VIP: "2001:db8::100", ForwardingMethod: "tunnel"}, ""},
		{agentapi.RealServerBinding{VIP: "198.51.100.100/32", ForwardingMethod: "dr"}, "vip"},
		{agentapi.RealServerBinding{VIP: "198.51.100.100", ForwardingMethod: "nat"}, "forwarding_method"},
	} {
		err := tc.b.Validate()
		var e *agentapi.Error
		if tc.field == "" && err != nil || tc.field != "" && (!errors.As(err, &e) || e.Field != tc.field) {
			t.Errorf("%+v: Validate = %v, want field %q", tc.b, err, tc.field)
		}
	}
}

func TestParseNetmask(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    string
		v6   bool
		bits int
	}{{"255.255.255.0", false, 24}, {"24", false, 24}, {"/64", true, 64}, {"255.255.255.255", false, 32}} {
		if n, err := agentapi.ParseNetmask(tc.s, tc.v6); err != nil || n != tc.bits {
			t.Errorf("ParseNetmask(%q) = %d, %v", tc.s, n, err)
		}
	}
	for _, bad := range []string{"0", "33", "255.0.255.0", "x", "0.0.0.0"} {
		if _, err := agentapi.ParseNetmask(bad, false); err == nil {
			t.Errorf("ParseNetmask(%q) accepted", bad)
		}
	}
	if _, err := agentapi.ParseNetmask("255.255.0.0", true); err == nil {
		t.Error("dotted mask accepted for IPv6")
	}
}
