package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

const (
	vsKey = "tcp/198.51.100.100:80"
	rs1   = "198.51.100.21:80"
	rs2   = "198.51.100.22:80"
)

// snapshot is a status as the agent's parts report it.
func snapshot() agentapi.Status {
	return agentapi.Status{
		VIPs: []agentapi.VIPStatus{
			{VRID: 91, State: "MASTER", AdvertsIn: 7, AdvertsOut: 120, Transitions: 2, Dropped: map[string]uint64{"not_peer": 3},
				MasterDownFired: 1, MasterDownLateSeconds: 0.004},
			{VRID: 92, State: "IPv4 MASTER, IPv6 BACKUP"},
		},
		IPVS: []agentapi.IPVSService{{
			Key: vsKey, Managed: true,
			Stats: agentapi.IPVSStats{Connections: 300, PacketsIn: 3000, PacketsOut: 0, BytesIn: 123456},
			Destinations: []agentapi.IPVSDestination{
				{Key: rs1, Managed: true, Weight: 1, ConfiguredWeight: 1, ActiveConns: 4, InactiveConns: 9, Health: "up",
					Stats: agentapi.IPVSStats{Connections: 100, PacketsIn: 1000, BytesIn: 40000}},
				{Key: rs2, Managed: true, Weight: 0, ConfiguredWeight: 2, Health: "down", HealthReason: "exec: /usr/local/bin/check --secret=x: exit status 1",
					Stats: agentapi.IPVSStats{Connections: 200, PacketsIn: 2000, BytesIn: 83456}},
			},
		}, {Key: "tcp/198.51.100.100:443", Managed: true, Missing: true}},
	}
}

func newTest(st *agentapi.Status) *Metrics {
	return New(Config{Version: "1.2.3", Report: func(out *agentapi.Status) { *out = *st }})
}

// scrape is what a scrape gets, parsed back, as a Gatherer for testutil.
func scrape(t *testing.T, m *Metrics) prometheus.Gatherer {
	t.Helper()
	var b bytes.Buffer
	if err := m.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(&b)
	if err != nil {
		t.Fatalf("the scrape does not parse: %v\n%s", err, b.String())
	}
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		out := make([]*dto.MetricFamily, 0, len(fams))
		for _, name := range slices.Sorted(maps.Keys(fams)) {
			for _, mt := range fams[name].Metric {
				// As a registry gives them, for the comparisons.
				slices.SortFunc(mt.Label, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
			}
			slices.SortFunc(fams[name].Metric, func(a, b *dto.Metric) int { return strings.Compare(a.String(), b.String()) })
			out = append(out, fams[name])
		}
		return out, nil
	})
}

func count(t *testing.T, m *Metrics, name string) int {
	t.Helper()
	n, err := testutil.GatherAndCount(scrape(t, m), name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCollectFromSnapshot: every metric of the snapshot, with its labels and value.
func TestCollectFromSnapshot(t *testing.T) {
	st := snapshot()
	m := newTest(&st)
	m.ObserveCheck(vsKey, rs2, "exec", 20*time.Millisecond, &exec.ExitError{})
	m.ObserveCheck(vsKey, rs2, "exec", time.Second, context.DeadlineExceeded)
	m.ObserveCheck(vsKey, rs1, "exec", 5*time.Millisecond, nil)
	m.ObserveApply("commit", 30*time.Millisecond)
	m.ObserveApply("resync", 2*time.Millisecond)

	want := `
# HELP lvs_ipvs_real_server_connections_total Connections the kernel scheduled to the real server.
# TYPE lvs_ipvs_real_server_connections_total counter
lvs_ipvs_real_server_connections_total{real_server="198.51.100.21:80",virtual_server="tcp/198.51.100.100:80"} 100
lvs_ipvs_real_server_connections_total{real_server="198.51.100.22:80",virtual_server="tcp/198.51.100.100:80"} 200
# HELP lvs_ipvs_real_server_weight The real server's weight in the kernel now (0 while a health check holds it out).
# TYPE lvs_ipvs_real_server_weight gauge
lvs_ipvs_real_server_weight{real_server="198.51.100.21:80",virtual_server="tcp/198.51.100.100:80"} 1
lvs_ipvs_real_server_weight{real_server="198.51.100.22:80",virtual_server="tcp/198.51.100.100:80"} 0
# HELP lvs_ipvs_real_server_configured_weight The real server's weight as configured.
# TYPE lvs_ipvs_real_server_configured_weight gauge
lvs_ipvs_real_server_configured_weight{real_server="198.51.100.21:80",virtual_server="tcp/198.51.100.100:80"} 1
lvs_ipvs_real_server_configured_weight{real_server="198.51.100.22:80",virtual_server="tcp/198.51.100.100:80"} 2
# HELP lvs_ipvs_real_server_active_connections The real server's active connections in the kernel's table now.
# TYPE lvs_ipvs_real_server_active_connections gauge
lvs_ipvs_real_server_active_connections{real_server="198.51.100.21:80",virtual_server="tcp/198.51.100.100:80"} 4
lvs_ipvs_real_server_active_connections{real_server="198.51.100.22:80",virtual_server="tcp/198.51.100.100:80"} 0
# HELP lvs_ipvs_virtual_server_bytes_total Bytes of the virtual server, by direction (out counts NAT only).
# TYPE lvs_ipvs_virtual_server_bytes_total counter
lvs_ipvs_virtual_server_bytes_total{direction="in",virtual_server="tcp/198.51.100.100:80"} 123456
lvs_ipvs_virtual_server_bytes_total{direction="out",virtual_server="tcp/198.51.100.100:80"} 0
# HELP lvs_real_server_health The real server's health verdict: 1 for the state it is in (up, down, unchecked: no health check, sorry: the sorry server), 0 for the others.
# TYPE lvs_real_server_health gauge
lvs_real_server_health{real_server="198.51.100.21:80",state="down",virtual_server="tcp/198.51.100.100:80"} 0
lvs_real_server_health{real_server="198.51.100.21:80",state="sorry",virtual_server="tcp/198.51.100.100:80"} 0
lvs_real_server_health{real_server="198.51.100.21:80",state="unchecked",virtual_server="tcp/198.51.100.100:80"} 0
lvs_real_server_health{real_server="198.51.100.21:80",state="up",virtual_server="tcp/198.51.100.100:80"} 1
lvs_real_server_health{real_server="198.51.100.22:80",state="down",virtual_server="tcp/198.51.100.100:80"} 1
lvs_real_server_health{real_server="198.51.100.22:80",state="sorry",virtual_server="tcp/198.51.100.100:80"} 0
lvs_real_server_health{real_server="198.51.100.22:80",state="unchecked",virtual_server="tcp/198.51.100.100:80"} 0
lvs_real_server_health{real_server="198.51.100.22:80",state="up",virtual_server="tcp/198.51.100.100:80"} 0
# HELP lvs_healthcheck_failures_total Failed health-check attempts of the real server since the agent started, by reason (timeout, refused, reset, unreachable, exit, error).
# TYPE lvs_healthcheck_failures_total counter
lvs_healthcheck_failures_total{real_server="198.51.100.22:80",reason="exit",virtual_server="tcp/198.51.100.100:80"} 1
lvs_healthcheck_failures_total{real_server="198.51.100.22:80",reason="timeout",virtual_server="tcp/198.51.100.100:80"} 1
# HELP lvs_vrrp_state The VIP's VRRP state on this director: 1 for the state it is in (init, backup, master, fault), 0 for the others.
# TYPE lvs_vrrp_state gauge
lvs_vrrp_state{state="backup",vrid="91"} 0
lvs_vrrp_state{state="fault",vrid="91"} 0
lvs_vrrp_state{state="init",vrid="91"} 0
lvs_vrrp_state{state="master",vrid="91"} 1
lvs_vrrp_state{state="backup",vrid="92"} 1
lvs_vrrp_state{state="fault",vrid="92"} 0
lvs_vrrp_state{state="init",vrid="92"} 0
lvs_vrrp_state{state="master",vrid="92"} 1
# HELP lvs_vrrp_transitions_total VRRP state changes of the VIP on this director since the agent started.
# TYPE lvs_vrrp_transitions_total counter
lvs_vrrp_transitions_total{vrid="91"} 2
lvs_vrrp_transitions_total{vrid="92"} 0
# HELP lvs_vrrp_adverts_dropped_total VRRP adverts received for the VIP and dropped, by reason (checksum, ttl, auth, not_peer, ...).
# TYPE lvs_vrrp_adverts_dropped_total counter
lvs_vrrp_adverts_dropped_total{reason="not_peer",vrid="91"} 3
# HELP lvs_vrrp_master_down_timer_late_seconds How late the VIP's master-down timers fired (a backup taking over), summed, and how many fired: rate(_sum)/rate(_count) is the mean lateness, part of every failover's time.
# TYPE lvs_vrrp_master_down_timer_late_seconds summary
lvs_vrrp_master_down_timer_late_seconds_sum{vrid="91"} 0.004
lvs_vrrp_master_down_timer_late_seconds_count{vrid="91"} 1
lvs_vrrp_master_down_timer_late_seconds_sum{vrid="92"} 0
lvs_vrrp_master_down_timer_late_seconds_count{vrid="92"} 0
# HELP lvs_agent_build_info The agent's version and Go version; always 1.
# TYPE lvs_agent_build_info gauge
`
	names := []string{"lvs_ipvs_real_server_connections_total", "lvs_ipvs_real_server_weight", "lvs_ipvs_real_server_configured_weight",
		"lvs_ipvs_real_server_active_connections", "lvs_ipvs_virtual_server_bytes_total", "lvs_real_server_health",
		"lvs_healthcheck_failures_total", "lvs_vrrp_state", "lvs_vrrp_transitions_total", "lvs_vrrp_adverts_dropped_total",
		"lvs_vrrp_master_down_timer_late_seconds"}
	g := scrape(t, m)
	if err := testutil.GatherAndCompare(g, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(g, "lvs_healthcheck_duration_seconds", "lvs_agent_commit_duration_seconds", "lvs_agent_reconcile_duration_seconds", "lvs_agent_build_info"); err != nil || n != 4 {
		t.Errorf("histograms and build info: %d series (%v), want 4 (one check type, commit, resync, build info)", n, err)
	}
	// No label value holds a command or an error text.
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if strings.ContainsAny(l.GetValue(), " =") && l.GetName() != "goversion" {
					t.Errorf("%s: label %s=%q", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	// Names and units follow Prometheus' conventions (promtool check metrics).
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "lvs_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestRemovedRealServersLeave: failure counters and latency series of real and virtual servers
// no longer in the snapshot leave the scrape.
func TestRemovedRealServersLeave(t *testing.T) {
	st := snapshot()
	m := newTest(&st)
	m.ObserveCheck(vsKey, rs2, "tcp", time.Millisecond, syscall.ECONNREFUSED)
	m.ObserveCheck("tcp/198.51.100.101:80", rs2, "tcp", time.Millisecond, syscall.ECONNREFUSED)
	if n := count(t, m, "lvs_healthcheck_failures_total"); n != 1 {
		t.Fatalf("%d failure series, want 1 (the other virtual server is not configured)", n)
	}
	st.IPVS[0].Destinations = st.IPVS[0].Destinations[:1]
	if n := count(t, m, "lvs_healthcheck_failures_total"); n != 0 {
		t.Errorf("%d failure series after rs2 left, want 0", n)
	}
	st.IPVS = nil
	_ = count(t, m, "lvs_healthcheck_failures_total")
	if n := testutil.CollectAndCount(m.checkDur); n != 0 {
		t.Errorf("%d latency series after the virtual servers left, want 0", n)
	}
}

func TestFailureReason(t *testing.T) {
	for _, c := range []struct {
		typ  string
		err  error
		want string
	}{
		{"tcp", context.DeadlineExceeded, "timeout"},
		{"exec", fmt.Errorf("exec: %w", context.DeadlineExceeded), "timeout"},
		{"tcp", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "refused"},
		{"http", syscall.ECONNRESET, "reset"},
		{"tcp", syscall.EHOSTUNREACH, "unreachable"},
		{"exec", errors.New("exit status 2: /opt/check --token=secret"), "exit"},
		{"http", errors.New("status 503, want 200"), "error"},
	} {
		if got := FailureReason(c.typ, c.err); got != c.want {
			t.Errorf("FailureReason(%s, %v) = %s, want %s", c.typ, c.err, got, c.want)
		}
	}
}

// TestApplyServesAndMoves: the listener follows the pair's metrics.listen: on, moved, off.
func TestApplyServesAndMoves(t *testing.T) {
	st := snapshot()
	m := newTest(&st)
	defer m.Stop(context.Background())
	pair := func(listen string) *agentapi.State {
		return &agentapi.State{Pair: &agentapi.Pair{Name: "edge", MetricsListen: listen}}
	}
	if err := m.Apply(context.Background(), pair(""), reconcile.Change); err != nil || m.Addr() != nil {
		t.Fatalf("no listen address: %v, serving on %v", err, m.Addr())
	}
	if err := m.Apply(context.Background(), pair("127.0.0.1:0"), reconcile.Change); err != nil {
		t.Fatal(err)
	}
	first := m.Addr().String()
	body := get(t, "http://"+first+"/metrics")
	if !strings.Contains(body, `lvs_ipvs_real_server_connections_total{virtual_server="tcp/198.51.100.100:80",real_server="198.51.100.21:80"} 100`) ||
		!strings.Contains(body, `lvs_agent_build_info{goarch=`) || !strings.Contains(body, "process_resident_memory_bytes") {
		t.Errorf("/metrics:\n%s", body)
	}
	// The same address again changes nothing.
	if err := m.Apply(context.Background(), pair("127.0.0.1:0"), reconcile.Change); err != nil || m.Addr().String() != first {
		t.Fatalf("same address: %v, now %v (was %s)", err, m.Addr(), first)
	}
	// Taken by another listener: the error names the attribute.
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := m.Apply(context.Background(), pair(other.Addr().String()), reconcile.Change); err == nil || !strings.Contains(err.Error(), "metrics.listen") {
		t.Fatalf("address in use: %v", err)
	}
	if m.Addr() == nil || m.Addr().String() != first {
		t.Fatalf("the old address stopped serving when the new one was taken: now %v", m.Addr())
	}
	if err := m.Apply(context.Background(), pair(""), reconcile.Change); err != nil || m.Addr() != nil {
		t.Fatalf("off: %v, serving on %v", err, m.Addr())
	}
	if resp, err := http.Get("http://" + first + "/metrics"); err == nil {
		resp.Body.Close()
		t.Errorf("still serving on %s after metrics were turned off", first)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}
