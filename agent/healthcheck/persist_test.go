package healthcheck

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/guard"
	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// TestVerdictsSurviveRestart: a real server down when the agent stopped starts down in the next
// run (weight 0 from the first Apply) until its checks pass; one that was up, and a fresh
// install, start up as before; a removed real server's verdict is not kept.
func TestVerdictsSurviveRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "health-verdicts.json")
	hc := &agentapi.HealthCheck{Type: "tcp", IntervalMS: 20, TimeoutMS: 20, Rise: 1, Fall: 1}
	const rs2 = "198.51.100.22:80"
	st := oneVS("", hc, nil, "198.51.100.21", "198.51.100.22")

	f := newFakes()
	f.set(rs1, "tcp: connection refused")
	m := newManager(Config{StatePath: path}, f.build)
	if err := m.Apply(context.Background(), st, reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	if w := fmtWeight(m.Weight(vsKey, rs1, 10)); w != "10,true" {
		t.Errorf("fresh install: weight %s before any check, want up as always", w)
	}
	waitFor(t, "rs1 down", healthIs(m, rs1, StateDown))
	waitFor(t, "the verdict saved", func() bool { b, _ := os.ReadFile(path); return strings.Contains(string(b), rs1) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// The next run: rs1 is down from the first Apply, before any check.
	f2 := newFakes()
	f2.set(rs1, "hang") // its check does not answer yet
	m2 := testManager(t, f2, Config{StatePath: path})
	if err := m2.Apply(context.Background(), st, reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	if w := fmtWeight(m2.Weight(vsKey, rs1, 10)); w != "0,true" {
		t.Errorf("after the restart: rs1 weight %s, want 0 until its checks pass", w)
	}
	if s, why := m2.Health(vsKey, rs1); s != StateDown || !strings.Contains(why, "before the agent restarted") {
		t.Errorf("after the restart: rs1 %s %q", s, why)
	}
	if w := fmtWeight(m2.Weight(vsKey, rs2, 10)); w != "10,true" {
		t.Errorf("after the restart: rs2 weight %s", w)
	}
	f2.set(rs1, "")
	waitFor(t, "rs1 up once it passes", healthIs(m2, rs1, StateUp))
	waitFor(t, "nothing down: the file goes", func() bool { _, err := os.Stat(path); return errors.Is(err, fs.ErrNotExist) })

	// A removed real server's verdict is not kept.
	f2.set(rs2, "refused")
	waitFor(t, "rs2 down", healthIs(m2, rs2, StateDown))
	waitFor(t, "rs2 saved", func() bool { b, _ := os.ReadFile(path); return strings.Contains(string(b), rs2) })
	if err := m2.Apply(context.Background(), oneVS("", hc, nil, "198.51.100.21"), reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "rs2 dropped from the file", func() bool { _, err := os.Stat(path); return errors.Is(err, fs.ErrNotExist) })
}

// panicky panics on its first check, then passes.
type panicky struct{ calls atomic.Int64 }

func (p *panicky) Check(context.Context) error {
	if p.calls.Add(1) == 1 {
		panic("checker bug")
	}
	return nil
}

// TestCheckerPanicRestartsChecker: a panicking checker does not take the agent down: the panic
// is counted, the verdict is left alone (it says nothing of the server), the checker is built
// again and its checks go on.
func TestCheckerPanicRestartsChecker(t *testing.T) {
	t.Parallel()
	var builds atomic.Int64
	p := &panicky{}
	m := newManager(Config{}, func(*spec) (Checker, error) { builds.Add(1); return p, nil })
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	before := panicsOf(guard.PartHealthcheck)
	hc := &agentapi.HealthCheck{Type: "tcp", IntervalMS: 20, TimeoutMS: 20, Rise: 1, Fall: 1}
	if err := m.Apply(context.Background(), oneVS("", hc, nil, "198.51.100.21"), reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "checks after the panic", func() bool { return p.calls.Load() >= 3 })
	if n := builds.Load(); n != 2 {
		t.Errorf("checker built %d times, want 2 (once more after the panic)", n)
	}
	if got := panicsOf(guard.PartHealthcheck); got != before+1 {
		t.Errorf("panics counted %d, want %d", got, before+1)
	}
	if s, _ := m.Health(vsKey, rs1); s != StateUp {
		t.Errorf("health %s", s)
	}
}

func panicsOf(part string) uint64 {
	for _, p := range guard.Report() {
		if p.Part == part {
			return p.Count
		}
	}
	return 0
}
