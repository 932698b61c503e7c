package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

var hcZero = agentapi.HealthCheck{Type: "tcp"}

// fakes are the checkers of a test Manager by real server key: each passes or fails as the
// test says, or hangs until its timeout.
type fakes struct {
	mu     sync.Mutex
	result map[string]string // rs key → failure reason, "" passes, "hang" blocks
	calls  map[string]*atomic.Int64
	builds atomic.Int64
}

func newFakes() *fakes {
	return &fakes{result: map[string]string{}, calls: map[string]*atomic.Int64{}}
}

func (f *fakes) set(rs, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.result[rs] = reason
}

func (f *fakes) count(rs string) int64 {
	f.mu.Lock()
	c := f.calls[rs]
	f.mu.Unlock()
	if c == nil {
		return 0
	}
	return c.Load()
}

func (f *fakes) build(s *spec) (Checker, error) {
	f.builds.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls[s.rsKey] == nil {
		f.calls[s.rsKey] = &atomic.Int64{}
	}
	return &fakeChecker{f: f, rs: s.rsKey, calls: f.calls[s.rsKey]}, nil
}

type fakeChecker struct {
	f     *fakes
	rs    string
	calls *atomic.Int64
}

func (c *fakeChecker) Check(ctx context.Context) error {
	c.calls.Add(1)
	c.f.mu.Lock()
	r := c.f.result[c.rs]
	c.f.mu.Unlock()
	switch r {
	case "":
		return nil
	case "hang":
		<-ctx.Done()
		return ctx.Err()
	}
	return errors.New(r)
}

// testManager is a Manager with fake checkers, stopped at cleanup.
func testManager(t *testing.T, f *fakes, cfg Config) *Manager {
	t.Helper()
	m := newManager(cfg, f.build)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return m
}

// oneVS is a state with one virtual server holding the given real servers (keys on port 80).
func oneVS(onFailure string, hc *agentapi.HealthCheck, rsHC map[string]*agentapi.HealthCheck, rss ...string) *agentapi.State {
	vs := &agentapi.VirtualServer{VRID: 1, Protocol: "tcp", Address: "198.51.100.100", Port: 80, Scheduler: "wrr",
		HealthCheck: hc, OnFailure: onFailure, RealServers: map[string]*agentapi.RealServer{}}
	for _, a := range rss {
		vs.RealServers[a+":80"] = &agentapi.RealServer{Address: a, Port: 80, Weight: 10, HealthCheck: rsHC[a]}
	}
	return &agentapi.State{VirtualServers: map[string]*agentapi.VirtualServer{vsKey: vs}}
}

const vsKey = "tcp/198.51.100.100:80"

// waitFor polls cond for up to 10s: long enough on a loaded 2-core machine, and a failure
// means the condition never came, not that it came late.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func healthIs(m *Manager, rs string, want agentapi.HealthState) func() bool {
	return func() bool {
		s, _ := m.Health(vsKey, rs)
		return s == want
	}
}

func fmtWeight(w int, ok bool) string { return fmt.Sprintf("%d,%v", w, ok) }
