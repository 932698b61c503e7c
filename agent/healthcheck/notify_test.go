//go:build unix

package healthcheck

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// notifyVS is oneVS with notify commands on each real server that append a line to log:
// the event, then the variables the command is given.
func notifyVS(log string, hc *agentapi.HealthCheck, rss ...string) *agentapi.State {
	st := oneVS("", hc, nil, rss...)
	line := `echo "$0 $LVS_RS_STATE $LVS_VS $LVS_RS_ADDRESS $LVS_RS_PORT $LVS_RS_REASON" >> ` + log
	for _, rs := range st.VirtualServers[vsKey].RealServers {
		rs.NotifyUp = strings.Replace(line, "$0", "notify_up", 1)
		rs.NotifyDown = strings.Replace(line, "$0", "notify_down", 1)
	}
	return st
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func linesAre(t *testing.T, path string, n int) func() bool {
	return func() bool { return len(readLines(t, path)) >= n }
}

var fastCheck = &agentapi.HealthCheck{Type: "tcp", IntervalMS: 20, TimeoutMS: 20, Rise: 1, Fall: 1}

// TestNotifyOnTransitions: notify_down and notify_up run, in order, when the verdict flips,
// with the real server's variables; none runs for the initial verdict, nor for a change that
// keeps the verdict; the commands can change without restarting the check; a removed up real
// server gets notify_down, one that only lost its check gets nothing.
func TestNotifyOnTransitions(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "notify.log")
	f := newFakes()
	var (
		mu      sync.Mutex
		results []string
	)
	m := testManager(t, f, Config{OnNotify: func(vs, rs, state, result string) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, state+" "+result)
	}})
	apply := func(st *agentapi.State) {
		t.Helper()
		if err := m.Apply(context.Background(), st, reconcile.Resync); err != nil {
			t.Fatal(err)
		}
	}
	apply(notifyVS(log, fastCheck, "198.51.100.21", "198.51.100.22"))
	// Both start up and their checks pass: nothing runs.
	waitFor(t, "checks", func() bool { return f.count(rs1) >= 3 && f.count("198.51.100.22:80") >= 3 })
	time.Sleep(100 * time.Millisecond)
	if got := readLines(t, log); got != nil {
		t.Fatalf("notified for the initial verdict: %q", got)
	}

	f.set(rs1, "tcp: connection refused")
	waitFor(t, "notify_down", linesAre(t, log, 1))
	f.set(rs1, "")
	waitFor(t, "notify_up", linesAre(t, log, 2))
	// A new notify_down command takes effect without a rebuild of the check.
	builds := f.builds.Load()
	st := notifyVS(log, fastCheck, "198.51.100.21", "198.51.100.22")
	st.VirtualServers[vsKey].RealServers[rs1].NotifyDown = `echo "changed $LVS_RS_STATE" >> ` + log
	apply(st)
	if b := f.builds.Load(); b != builds {
		t.Errorf("a changed notify command rebuilt the check (%d builds, was %d)", b, builds)
	}
	f.set(rs1, "boom")
	waitFor(t, "the changed notify_down", linesAre(t, log, 3))

	// rs2 loses its check (it stays in the table): nothing. rs1 leaves while down: nothing.
	st = notifyVS(log, fastCheck, "198.51.100.22")
	st.VirtualServers[vsKey].RealServers["198.51.100.22:80"].HealthCheck = &agentapi.HealthCheck{Type: "none"}
	st.VirtualServers[vsKey].RealServers["198.51.100.23:80"] = &agentapi.RealServer{Address: "198.51.100.23", Port: 80, Weight: 1,
		NotifyDown: `echo "removed $LVS_RS_STATE $LVS_RS_ADDRESS $LVS_RS_REASON" >> ` + log}
	apply(st)
	// rs3 was up: its removal runs its notify_down.
	delete(st.VirtualServers[vsKey].RealServers, "198.51.100.23:80")
	apply(st)
	waitFor(t, "notify_down of the removed server", linesAre(t, log, 4))
	time.Sleep(100 * time.Millisecond)

	want := []string{
		"notify_down down tcp/198.51.100.100:80 198.51.100.21 80 tcp: connection refused",
		"notify_up up tcp/198.51.100.100:80 198.51.100.21 80 ",
		"changed down",
		"removed down 198.51.100.23 " + ReasonRemoved,
	}
	if got := readLines(t, log); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("notifications:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c := m.Notifies(); c != (NotifyCounts{OK: 4}) {
		t.Errorf("counts %+v, want 4 ok", c)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(results, ",") != "down ok,up ok,down ok,down ok" {
		t.Errorf("OnNotify told %q", results)
	}
}

// TestNotifyFailureTimeoutAndOrder: a failing command is counted and changes no verdict; a
// hanging one is killed at the timeout; the commands of one real server run one at a time in
// the order of its verdicts, and a pile-up keeps only the newest.
func TestNotifyFailureTimeoutAndOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := filepath.Join(dir, "notify.log")
	f := newFakes()
	m := testManager(t, f, Config{NotifyTimeout: 300 * time.Millisecond})
	st := oneVS("", fastCheck, nil, "198.51.100.21")
	rs := st.VirtualServers[vsKey].RealServers[rs1]
	// notify_down hangs (until killed) after logging; notify_up fails after logging.
	rs.NotifyDown = `echo "down $(date +%s.%N)" >> ` + log + `; sleep 30`
	rs.NotifyUp = `echo "up $(date +%s.%N)" >> ` + log + `; exit 3`
	if err := m.Apply(context.Background(), st, reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "checks", func() bool { return f.count(rs1) >= 2 })
	f.set(rs1, "boom")
	waitFor(t, "down", healthIs(m, rs1, StateDown))
	f.set(rs1, "")
	waitFor(t, "up", healthIs(m, rs1, StateUp))
	// The verdicts moved on while notify_down hung; notify_up waited for it.
	waitFor(t, "both ran", func() bool { c := m.Notifies(); return c.TimedOut == 1 && c.Failed == 1 })
	lines := readLines(t, log)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "down ") || !strings.HasPrefix(lines[1], "up ") {
		t.Fatalf("notifications %q, want down then up", lines)
	}
	var t0, t1 float64
	if _, err := fmtSscan(lines[0][5:], &t0); err != nil {
		t.Fatal(err)
	}
	if _, err := fmtSscan(lines[1][3:], &t1); err != nil {
		t.Fatal(err)
	}
	if gap := time.Duration((t1 - t0) * 1e9); gap < 200*time.Millisecond {
		t.Errorf("notify_up started %v after notify_down, while it hung (killed at 300ms): not serialized", gap)
	}
	if s, _ := m.Health(vsKey, rs1); s != StateUp {
		t.Errorf("a failed notify changed the verdict: %s", s)
	}

	// A pile-up: jobs queued behind a hanging one beyond the bound drop the oldest.
	m.mu.Lock()
	tg := m.targets[rsID{vsKey, rs1}]
	tg.notifyDown = "sleep 30"
	m.notifyLocked(tg, StateDown, "x")
	m.mu.Unlock()
	waitFor(t, "the first to run", func() bool {
		m.nmu.Lock()
		defer m.nmu.Unlock()
		q := m.notifies[tg.id]
		return q != nil && len(q.jobs) == 0
	})
	m.mu.Lock()
	for range maxNotifyQueue + 2 {
		m.notifyLocked(tg, StateDown, "x")
	}
	m.mu.Unlock()
	if c := m.Notifies(); c.Dropped != 2 {
		t.Errorf("dropped %d, want 2 (one runs, %d wait)", c.Dropped, maxNotifyQueue)
	}
}

// TestOnFailurePerRealServer: a real server's own on_failure overrides the virtual server's.
func TestOnFailurePerRealServer(t *testing.T) {
	t.Parallel()
	f := newFakes()
	m := testManager(t, f, Config{})
	st := oneVS("quiesce", fastCheck, nil, "198.51.100.21", "198.51.100.22", "198.51.100.23")
	st.VirtualServers[vsKey].RealServers[rs1].OnFailure = "remove"
	st.VirtualServers[vsKey].RealServers["198.51.100.23:80"].OnFailure = "quiesce"
	for _, rs := range []string{rs1, "198.51.100.22:80", "198.51.100.23:80"} {
		f.set(rs, "boom")
	}
	if err := m.Apply(context.Background(), st, reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	for _, rs := range []string{rs1, "198.51.100.22:80", "198.51.100.23:80"} {
		waitFor(t, rs+" down", healthIs(m, rs, StateDown))
	}
	check := func(rs, want string) {
		t.Helper()
		if w := fmtWeight(m.Weight(vsKey, rs, 10)); w != want {
			t.Errorf("%s: weight %s, want %s", rs, w, want)
		}
	}
	check(rs1, "0,false")
	check("198.51.100.22:80", "0,true")
	check("198.51.100.23:80", "0,true")
	// The virtual server says remove: the real server's quiesce still holds.
	st.VirtualServers[vsKey].OnFailure = "remove"
	if err := m.Apply(context.Background(), st, reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	check(rs1, "0,false")
	check("198.51.100.22:80", "0,false")
	check("198.51.100.23:80", "0,true")
}

func fmtSscan(s string, v *float64) (int, error) { return fmt.Sscan(s, v) }

// TestNotifyDownBeforeStop: uninstalling empties the state and stops the agent at once; the
// notify_down of the real servers that left still runs, within the grace Stop gives it.
func TestNotifyDownBeforeStop(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "notify.log")
	f := newFakes()
	m := newManager(Config{}, f.build)
	st := oneVS("", fastCheck, nil, "198.51.100.21")
	st.VirtualServers[vsKey].RealServers[rs1].NotifyDown = `sleep 0.2; echo "$LVS_RS_STATE $LVS_RS_REASON" >> ` + log
	if err := m.Apply(context.Background(), st, reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(context.Background(), &agentapi.State{}, reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, log); strings.Join(got, "|") != "down "+ReasonRemoved {
		t.Errorf("notified %q, want the removal's notify_down", got)
	}
}
