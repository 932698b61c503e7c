package agentapi_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

func TestValidateInterfaceName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"eth0", "lo", "ens3", "bond0.100", "br-lan", "veth_a1", "a", "abcdefghijklmno"} {
		if err := agentapi.ValidateInterfaceName(ok); err != nil {
			t.Errorf("ValidateInterfaceName(%q) = %v, want nil", ok, err)
		}
	}
	// "all" and "default" are not interfaces but every interface of the host in
	// net.ipv4.conf.*: the agent would change arp_announce and promote_secondaries host-wide.
	for _, bad := range []string{"", "all", "default", ".", "..", "eth0/1", "../all", "eth0:1", "eth 0", "eth0\n", "eth\t0", "abcdefghijklmnop", "é0"} {
		if err := agentapi.ValidateInterfaceName(bad); err == nil {
			t.Errorf("ValidateInterfaceName(%q) accepted", bad)
		}
	}
}

func validPair() *agentapi.Pair {
	return &agentapi.Pair{Name: "edge", Directors: []agentapi.Director{{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"}}}
}

func fieldOf(t *testing.T, err error) string {
	t.Helper()
	var e *agentapi.Error
	if !errors.As(err, &e) || e.Code != agentapi.CodeValidation {
		t.Fatalf("got %v, want a validation error", err)
	}
	return e.Field
}

func TestInterfaceNamesAreValidated(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"all", "default", "..", "eth0/x"} {
		p := validPair()
		p.Directors[1].Interface = name
		if f := fieldOf(t, p.Validate()); f != "directors[1].interface" {
			t.Errorf("pair with interface %q: field %q", name, f)
		}
		v := &agentapi.VIP{VRID: 9, Version: 3, Addresses: []string{"198.51.100.100"}, Priorities: [2]int{150, 100}, AdvertIntervalCS: 100,
			TrackInterfaces: []agentapi.TrackInterface{{Name: "eth1"}, {Name: name}}}
		if f := fieldOf(t, v.Validate()); f != "track_interfaces[1].name" {
			t.Errorf("VIP tracking %q: field %q", name, f)
		}
		v.TrackInterfaces, v.Interface = nil, name
		if f := fieldOf(t, v.Validate()); f != "interface" {
			t.Errorf("VIP on interface %q: field %q", name, f)
		}
	}
	if err := validPair().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestHandoverFWMarksAreReserved(t *testing.T) {
	t.Parallel()
	for _, mark := range []uint32{0x4c560000, 0x4c560001, 0x4c5600ff, 0x4c56ffff} {
		vs := &agentapi.VirtualServer{VRID: 9, FWMark: mark, Family: "inet", Scheduler: "wlc", ForwardingMethod: "dr"}
		err := vs.Validate()
		if f := fieldOf(t, err); f != "fwmark" || !strings.Contains(err.Error(), "handover") {
			t.Errorf("fwmark %#x: %v, want a refusal on fwmark that says why", mark, err)
		}
	}
	for _, mark := range []uint32{1, 0x4c55ffff, 0x4c570000, 0xffffffff} {
		vs := &agentapi.VirtualServer{VRID: 9, FWMark: mark, Family: "inet", Scheduler: "wlc", ForwardingMethod: "dr"}
		if err := vs.Validate(); err != nil {
			t.Errorf("fwmark %#x: %v", mark, err)
		}
	}
}

func TestOwnerClash(t *testing.T) {
	pair := func(name, uuid string) *agentapi.Pair { return &agentapi.Pair{Name: name, UUID: uuid} }
	for _, c := range []struct {
		held, next *agentapi.Pair
		create     bool
		want       bool
	}{
		{nil, pair("edge", "a"), true, false},
		{pair("edge", "a"), pair("edge", "a"), true, false}, // a retried create
		{pair("edge", "a"), pair("edge", "b"), true, true},
		{pair("edge", "a"), pair("edge", "b"), false, true},
		{pair("edge", "a"), pair("edge", ""), false, true},  // a client without uuids
		{pair("edge", ""), pair("edge", "a"), false, false}, // legacy adopted by an update of its name
		{pair("edge", ""), pair("edge", "a"), true, true},   // never by a create
		{pair("edge", ""), pair("other", "a"), false, true},
	} {
		if got := agentapi.OwnerClash(c.held, c.next, c.create); got != c.want {
			t.Errorf("OwnerClash(%+v, %+v, create %v) = %v, want %v", c.held, c.next, c.create, got, c.want)
		}
	}
}

func TestMetricsListenAndLogLevel(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{":9469", "0.0.0.0:9469", "127.0.0.1:1", "[::]:9469", "[2001:db8::1]:65535"} {
		if err := agentapi.ValidateMetricsListen(ok); err != nil {
			t.Errorf("ValidateMetricsListen(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "9469", ":0", ":65536", ":http", "director1:9469", "2001:db8::1:9469", "[fe80::1%eth0]:9469", "198.51.100.1"} {
		if err := agentapi.ValidateMetricsListen(bad); err == nil {
			t.Errorf("ValidateMetricsListen(%q) accepted", bad)
		}
	}
	p := validPair()
	p.MetricsListen = "director1:9469"
	if f := fieldOf(t, p.Validate()); f != "metrics.listen" {
		t.Errorf("field %q, want metrics.listen", f)
	}
	p = validPair()
	p.LogLevel = "verbose"
	if f := fieldOf(t, p.Validate()); f != "log_level" {
		t.Errorf("field %q, want log_level", f)
	}
	p.LogLevel, p.MetricsListen = "debug", ":9469"
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
}

func TestGARPIsValidated(t *testing.T) {
	t.Parallel()
	vip := func(g agentapi.GARP) *agentapi.VIP {
		return &agentapi.VIP{VRID: 9, Version: 3, Addresses: []string{"198.51.100.100"}, Priorities: [2]int{150, 100}, AdvertIntervalCS: 100, GARP: &g}
	}
	for _, ok := range []agentapi.GARP{
		agentapi.DefaultGARP,
		{DelayMS: 0, Repeat: 1, RefreshMS: 0, RefreshRepeat: 1},
		{DelayMS: 3600_000, Repeat: 255, RefreshMS: 24 * 3600_000, RefreshRepeat: 255},
		{DelayMS: 1500, Repeat: 3, RefreshMS: 1000, RefreshRepeat: 2},
	} {
		if err := vip(ok).Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	for _, c := range []struct {
		g     agentapi.GARP
		field string
	}{
		{agentapi.GARP{DelayMS: -1, Repeat: 5, RefreshRepeat: 1}, "gratuitous_arp.delay"},
		{agentapi.GARP{DelayMS: 3600_001, Repeat: 5, RefreshRepeat: 1}, "gratuitous_arp.delay"},
		{agentapi.GARP{Repeat: 0, RefreshRepeat: 1}, "gratuitous_arp.repeat"},
		{agentapi.GARP{Repeat: 256, RefreshRepeat: 1}, "gratuitous_arp.repeat"},
		{agentapi.GARP{Repeat: 5, RefreshMS: 999, RefreshRepeat: 1}, "gratuitous_arp.refresh"},
		{agentapi.GARP{Repeat: 5, RefreshMS: -1000, RefreshRepeat: 1}, "gratuitous_arp.refresh"},
		{agentapi.GARP{Repeat: 5, RefreshMS: 24*3600_000 + 1, RefreshRepeat: 1}, "gratuitous_arp.refresh"},
		{agentapi.GARP{Repeat: 5, RefreshRepeat: 0}, "gratuitous_arp.refresh_repeat"},
		{agentapi.GARP{Repeat: 5, RefreshRepeat: 256}, "gratuitous_arp.refresh_repeat"},
	} {
		if f := fieldOf(t, vip(c.g).Validate()); f != c.field {
			t.Errorf("%+v: field %q, want %q", c.g, f, c.field)
		}
	}
}

func TestSyncDaemonAndVRRPAddress(t *testing.T) {
	t.Parallel()
	n := func(v int) *int { return &v }
	for _, tc := range []struct {
		set   func(p *agentapi.Pair)
		field string
	}{
		{func(p *agentapi.Pair) { p.SyncDaemon = &agentapi.SyncDaemon{ID: n(256)} }, "sync_daemon.id"},
		{func(p *agentapi.Pair) { p.SyncDaemon = &agentapi.SyncDaemon{ID: n(-1)} }, "sync_daemon.id"},
		{func(p *agentapi.Pair) { p.SyncDaemon = &agentapi.SyncDaemon{Port: 65536} }, "sync_daemon.port"},
		{func(p *agentapi.Pair) { p.SyncDaemon = &agentapi.SyncDaemon{TTL: 256} }, "sync_daemon.ttl"},
		{func(p *agentapi.Pair) { p.SyncDaemon = &agentapi.SyncDaemon{MaxLength: 65508} }, "sync_daemon.max_length"},
		{func(p *agentapi.Pair) { p.SyncDaemon = &agentapi.SyncDaemon{Group: "198.51.100.1"} }, "sync_daemon.group"},
		{func(p *agentapi.Pair) { p.SyncDaemon = &agentapi.SyncDaemon{Group: "fe80::1%eth0"} }, "sync_daemon.group"},
		{func(p *agentapi.Pair) { p.SyncDaemon = &agentapi.SyncDaemon{Interface: "all"} }, "sync_daemon.interface"},
		{func(p *agentapi.Pair) { p.Directors[0].VRRPAddress = "director1" }, "directors[0].vrrp_address"},
		{func(p *agentapi.Pair) { p.Directors[1].VRRPAddress = "224.0.0.18" }, "directors[1].vrrp_address"},
		{func(p *agentapi.Pair) { p.Directors[1].VRRPAddress = "fe80::12" }, "directors[1].vrrp_address"},
		{func(p *agentapi.Pair) {
			p.Directors[0].VRRPAddress, p.Directors[1].VRRPAddress = "198.51.100.111", "198.51.100.111"
		}, "directors[1].vrrp_address"},
		{func(p *agentapi.Pair) {
			p.Directors[0].VRRPAddress, p.Directors[1].VRRPAddress = "198.51.100.111", "2001:db8::112"
		}, "directors[1].vrrp_address"},
	} {
		p := validPair()
		tc.set(p)
		if f := fieldOf(t, p.Validate()); f != tc.field {
			t.Errorf("%+v %+v: field %q, want %q", p.SyncDaemon, p.Directors, f, tc.field)
		}
	}
	p := validPair()
	p.SyncDaemon = &agentapi.SyncDaemon{Interface: "eth1", ID: n(0), Port: 1, TTL: 255, MaxLength: 65507, Group: "ff05::81"}
	p.Directors[0].VRRPAddress, p.Directors[1].VRRPAddress = "2001:db8::111", "2001:db8::112"
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
}

// TestRealServerOnFailureAndNotify: a real server's on_failure overrides its virtual server's;
// notify commands are one non-blank line of bounded length.
func TestRealServerOnFailureAndNotify(t *testing.T) {
	t.Parallel()
	vs := &agentapi.VirtualServer{VRID: 1, Protocol: "tcp", Address: "198.51.100.100", Port: 80, Scheduler: "rr", ForwardingMethod: "dr", OnFailure: "remove"}
	rs := func(mod func(*agentapi.RealServer)) *agentapi.RealServer {
		r := &agentapi.RealServer{Address: "198.51.100.21", Port: 80, Weight: 1}
		mod(r)
		return r
	}
	if got := vs.EffectiveOnFailure(rs(func(*agentapi.RealServer) {})); got != "remove" {
		t.Errorf("inherited on_failure %q", got)
	}
	if got := vs.EffectiveOnFailure(rs(func(r *agentapi.RealServer) { r.OnFailure = "quiesce" })); got != "quiesce" {
		t.Errorf("own on_failure %q", got)
	}
	if got := (&agentapi.VirtualServer{}).EffectiveOnFailure(nil); got != "quiesce" {
		t.Errorf("default on_failure %q", got)
	}
	ok := rs(func(r *agentapi.RealServer) {
		r.OnFailure, r.NotifyUp, r.NotifyDown = "remove", `logger -t lvs "$LVS_RS_ADDRESS up"`, "/usr/local/bin/rs-down"
	})
	if err := vs.ValidateRealServer(ok); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mod   func(*agentapi.RealServer)
		field string
	}{
		{func(r *agentapi.RealServer) { r.OnFailure = "inhibit" }, "on_failure"},
		{func(r *agentapi.RealServer) { r.NotifyUp = " \t" }, "notify.up"},
		{func(r *agentapi.RealServer) { r.NotifyDown = "a\nb" }, "notify.down"},
		{func(r *agentapi.RealServer) { r.NotifyDown = "a\x00" }, "notify.down"},
		{func(r *agentapi.RealServer) { r.NotifyUp = strings.Repeat("x", agentapi.MaxNotifyCommand+1) }, "notify.up"},
	} {
		if f := fieldOf(t, vs.ValidateRealServer(rs(c.mod))); f != c.field {
			t.Errorf("field %q, want %q", f, c.field)
		}
	}
}
