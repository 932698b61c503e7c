package healthcheck

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

const rs1 = "198.51.100.21:80"

// TestApplyInitialVerdict: Apply decides at once, before any check runs, what a new real
// server is (the interval is an hour, so none runs during the test).
func TestApplyInitialVerdict(t *testing.T) {
	t.Parallel()
	hour := 3600 * 1000
	tests := []struct {
		name      string
		onFailure string
		hc        *agentapi.HealthCheck
		rsHC      *agentapi.HealthCheck
		state     agentapi.HealthState
		weight    string
	}{
		{"no check", "", nil, nil, StateUnchecked, "10,true"},
		{"type none", "", &agentapi.HealthCheck{Type: "none"}, nil, StateUnchecked, "10,true"},
		{"real server's none overrides the virtual server's", "", &agentapi.HealthCheck{Type: "tcp", IntervalMS: hour}, &agentapi.HealthCheck{Type: "none"}, StateUnchecked, "10,true"},
		{"new server starts up", "", &agentapi.HealthCheck{Type: "tcp", IntervalMS: hour}, nil, StateUp, "10,true"},
		{"start_down quiesce", "quiesce", &agentapi.HealthCheck{Type: "tcp", IntervalMS: hour, StartDown: true}, nil, StateDown, "0,true"},
		{"start_down remove", "remove", &agentapi.HealthCheck{Type: "tcp", IntervalMS: hour, StartDown: true}, nil, StateDown, "0,false"},
		{"start_down from the real server's own check", "", nil, &agentapi.HealthCheck{Type: "http", IntervalMS: hour, StartDown: true}, StateDown, "0,true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakes()
			m := testManager(t, f, Config{})
			st := oneVS(tt.onFailure, tt.hc, map[string]*agentapi.HealthCheck{"198.51.100.21": tt.rsHC}, "198.51.100.21")
			if err := m.Apply(context.Background(), st, reconcile.Resync); err != nil {
				t.Fatal(err)
			}
			if s, _ := m.Health(vsKey, rs1); s != tt.state {
				t.Errorf("health %s, want %s", s, tt.state)
			}
			if w := fmtWeight(m.Weight(vsKey, rs1, 10)); w != tt.weight {
				t.Errorf("weight %s, want %s", w, tt.weight)
			}
		})
	}
}

// TestChecksDriveVerdicts: failing checks take a real server down (OnChange told, weight 0),
// passing ones bring it back; the other real server is not disturbed.
func TestChecksDriveVerdicts(t *testing.T) {
	t.Parallel()
	f := newFakes()
	var changes atomic.Int64
	m := testManager(t, f, Config{OnChange: func() { changes.Add(1) }})
	hc := &agentapi.HealthCheck{Type: "tcp", IntervalMS: 20, TimeoutMS: 20, Retries: 1, RetryDelayMS: 10, Rise: 2, Fall: 2}
	f.set(rs1, "tcp: connect 198.51.100.21:80: connection refused")
	if err := m.Apply(context.Background(), oneVS("", hc, nil, "198.51.100.21", "198.51.100.22"), reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "rs1 down", healthIs(m, rs1, StateDown))
	if _, r := m.Health(vsKey, rs1); r != "tcp: connect 198.51.100.21:80: connection refused" {
		t.Errorf("reason %q", r)
	}
	if w := fmtWeight(m.Weight(vsKey, rs1, 10)); w != "0,true" {
		t.Errorf("weight of a quiesced server %s", w)
	}
	waitFor(t, "OnChange", func() bool { return changes.Load() > 0 })
	// Two checks of two attempts each, retry_delay apart, before it went down.
	if n := f.count(rs1); n < 4 {
		t.Errorf("went down after %d attempts, want at least 4 (2 checks × 2 attempts)", n)
	}
	f.set(rs1, "")
	waitFor(t, "rs1 up", healthIs(m, rs1, StateUp))
	if s, _ := m.Health(vsKey, "198.51.100.22:80"); s != StateUp {
		t.Errorf("rs2 %s", s)
	}
}

// TestConfigChangeKeepsVerdict: a changed check restarts the checker but a down server stays
// down (no flap to up); an unchanged one keeps its checker; on_failure only changes the weight.
func TestConfigChangeKeepsVerdict(t *testing.T) {
	t.Parallel()
	f := newFakes()
	m := testManager(t, f, Config{})
	hc := &agentapi.HealthCheck{Type: "tcp", IntervalMS: 20, TimeoutMS: 20, Retries: 1, RetryDelayMS: 10, Rise: 1, Fall: 1}
	f.set(rs1, "boom")
	if err := m.Apply(context.Background(), oneVS("", hc, nil, "198.51.100.21"), reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "down", healthIs(m, rs1, StateDown))
	if b := f.builds.Load(); b != 1 {
		t.Fatalf("builds %d", b)
	}
	// Same check again: no restart.
	if err := m.Apply(context.Background(), oneVS("", hc, nil, "198.51.100.21"), reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	if b := f.builds.Load(); b != 1 {
		t.Errorf("an unchanged check was rebuilt (%d builds)", b)
	}
	// Only on_failure changes: the weight follows, the checker stays.
	if err := m.Apply(context.Background(), oneVS("remove", hc, nil, "198.51.100.21"), reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	if w := fmtWeight(m.Weight(vsKey, rs1, 10)); w != "0,false" || f.builds.Load() != 1 {
		t.Errorf("after on_failure=remove: weight %s, builds %d", w, f.builds.Load())
	}
	// A changed interval (an hour: no check runs after) restarts the checker; down stays down
	// even though the server would now pass, and the reason stays.
	f.set(rs1, "")
	slow := *hc
	slow.IntervalMS = 3600 * 1000
	slow.StartDown = false
	if err := m.Apply(context.Background(), oneVS("", &slow, nil, "198.51.100.21"), reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	if b := f.builds.Load(); b != 2 {
		t.Errorf("a changed check was not rebuilt (%d builds)", b)
	}
	if s, r := m.Health(vsKey, rs1); s != StateDown || r != "boom" {
		t.Errorf("after the change: %s %q, want down boom", s, r)
	}
}

// TestRemoval: a removed real server's checks stop and its state goes.
func TestRemoval(t *testing.T) {
	t.Parallel()
	f := newFakes()
	m := testManager(t, f, Config{})
	hc := &agentapi.HealthCheck{Type: "tcp", IntervalMS: 10, TimeoutMS: 10, Rise: 1, Fall: 1}
	f.set(rs1, "boom")
	if err := m.Apply(context.Background(), oneVS("", hc, nil, "198.51.100.21", "198.51.100.22"), reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "down", healthIs(m, rs1, StateDown))
	if err := m.Apply(context.Background(), oneVS("", hc, nil, "198.51.100.22"), reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	if s, _ := m.Health(vsKey, rs1); s != StateUnchecked {
		t.Errorf("removed server is %s", s)
	}
	if w := fmtWeight(m.Weight(vsKey, rs1, 10)); w != "10,true" {
		t.Errorf("removed server weight %s", w)
	}
	before := f.count(rs1)
	time.Sleep(100 * time.Millisecond) // ten intervals: a check still scheduled would run
	if after := f.count(rs1); after > before+1 {
		t.Errorf("checks of a removed server went on: %d → %d", before, after)
	}
	if f.count("198.51.100.22:80") == 0 {
		t.Error("the remaining server is not checked")
	}
	// Back with start_down: a new server again, down until its first pass.
	hc2 := *hc
	hc2.StartDown = true
	hc2.IntervalMS = 3600 * 1000
	if err := m.Apply(context.Background(), oneVS("", &hc2, nil, "198.51.100.21"), reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	if s, r := m.Health(vsKey, rs1); s != StateDown || !strings.Contains(r, "start_down") {
		t.Errorf("re-added with start_down: %s %q", s, r)
	}
}

// TestHangingCheckDoesNotDelayOthers: a check that never answers is cut off by its timeout and
// the others go on meanwhile, even with few in-flight slots.
func TestHangingCheckDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	f := newFakes()
	m := testManager(t, f, Config{MaxInFlight: 2})
	hang := &agentapi.HealthCheck{Type: "http", IntervalMS: 1000, TimeoutMS: 500, Retries: 1, RetryDelayMS: 10, Rise: 1, Fall: 1}
	fast := &agentapi.HealthCheck{Type: "tcp", IntervalMS: 10, TimeoutMS: 10, Retries: 1, RetryDelayMS: 10, Rise: 1, Fall: 1}
	f.set(rs1, "hang")
	f.set("198.51.100.22:80", "refused")
	st := oneVS("", nil, map[string]*agentapi.HealthCheck{"198.51.100.21": hang, "198.51.100.22": fast}, "198.51.100.21", "198.51.100.22")
	if err := m.Apply(context.Background(), st, reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "fast server down", healthIs(m, "198.51.100.22:80", StateDown))
	waitFor(t, "hanging server down", healthIs(m, rs1, StateDown))
	if _, r := m.Health(vsKey, rs1); r != "http: timeout after 500ms" {
		t.Errorf("reason %q", r)
	}
	if n := f.count("198.51.100.22:80"); n < 20 {
		t.Errorf("only %d attempts of the fast check while the other hung for 1s+", n)
	}
}

// TestBrokenCheck: a check that cannot be built is an Apply error naming the field, and its
// real server is down with that reason.
func TestBrokenCheck(t *testing.T) {
	t.Parallel()
	m := New(Config{})
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	st := oneVS("", &agentapi.HealthCheck{Type: "tcp"}, nil, "198.51.100.21")
	st.VirtualServers[vsKey].RealServers[rs1].Port = 0
	err := m.Apply(context.Background(), st, reconcile.Resync)
	if err == nil || !strings.Contains(err.Error(), "connect_port") {
		t.Fatalf("err %v, want one naming connect_port", err)
	}
	if s, r := m.Health(vsKey, rs1); s != StateDown || !strings.Contains(r, "connect_port") {
		t.Errorf("health %s %q", s, r)
	}
}

// TestStop: Stop ends the checks, is idempotent, and Apply after it fails.
func TestStop(t *testing.T) {
	t.Parallel()
	f := newFakes()
	m := newManager(Config{}, f.build)
	f.set(rs1, "hang")
	hc := &agentapi.HealthCheck{Type: "tcp", IntervalMS: 10, TimeoutMS: 10000}
	if err := m.Apply(context.Background(), oneVS("", hc, nil, "198.51.100.21"), reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a check running", func() bool { return f.count(rs1) > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(context.Background(), oneVS("", hc, nil, "198.51.100.21"), reconcile.Resync); err == nil {
		t.Error("Apply after Stop succeeded")
	}
	// An interrupted check says nothing: the server is still up.
	if s, _ := m.Health(vsKey, rs1); s != StateUp {
		t.Errorf("after stop: %s", s)
	}
}

// TestHealthPending: a real server's check is pending from Apply until its first run finishes
// (passed or failed), whatever the assumed verdict; one without a check is never pending.
func TestHealthPending(t *testing.T) {
	t.Parallel()
	f := newFakes()
	m := testManager(t, f, Config{})
	hour := 3600 * 1000
	if err := m.Apply(context.Background(), oneVS("", &agentapi.HealthCheck{Type: "tcp", IntervalMS: hour}, nil, "198.51.100.21"), reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	if !m.HealthPending(vsKey, rs1) {
		t.Error("a check that has not run yet is not pending")
	}
	if m.HealthPending(vsKey, "198.51.100.99:80") {
		t.Error("a real server without a check is pending")
	}
	f2 := newFakes()
	m2 := testManager(t, f2, Config{})
	f2.set(rs1, "tcp: refused")
	if err := m2.Apply(context.Background(), oneVS("", &agentapi.HealthCheck{Type: "tcp", IntervalMS: 20, TimeoutMS: 20}, nil, "198.51.100.21"), reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first check to finish", func() bool { return !m2.HealthPending(vsKey, rs1) })
	if s, _ := m2.Health(vsKey, rs1); s != StateDown {
		t.Errorf("after a failed first check: %s", s)
	}
}
