//go:build unix

package healthcheck

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

func TestExecChecker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, command, want string
	}{
		{"exit 0 passes", "exit 0", ""},
		{"exit 1 fails", "exit 1", "exec: exit status 1"},
		{"the first line of output is in the reason", "echo; echo 'backend sick' >&2; echo more; exit 2", "exec: exit status 2: backend sick"},
		{"the real server and virtual server are in the environment",
			`test "$LVS_RS_ADDRESS:$LVS_RS_PORT $LVS_CHECK_ADDRESS:$LVS_CHECK_PORT $LVS_VS $LVS_VS_PROTOCOL $LVS_VS_ADDRESS $LVS_VS_PORT" = "127.0.0.1:8080 127.0.0.1:8080 tcp/198.51.100.100:80 tcp 198.51.100.100 8080" || { env | grep LVS_; exit 3; }`, ""},
		{"a missing command is an exit status", "/nonexistent/check", "exec: exit status 127"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hc := &agentapi.HealthCheck{Type: "exec", Exec: &agentapi.ExecCheck{Command: tt.command}}
			wantResult(t, runCheck(t, hc, "127.0.0.1:8080", 5*time.Second), tt.want)
		})
	}
}

// TestExecCheckerTimeoutKillsGroup: a hanging command and the children it started are killed
// when the timeout passes.
func TestExecCheckerTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	hc := &agentapi.HealthCheck{Type: "exec", Exec: &agentapi.ExecCheck{
		Command: "sleep 30 & echo $! > " + pidFile + "; sleep 30"}}
	start := time.Now()
	err := runCheck(t, hc, "127.0.0.1:8080", 300*time.Millisecond)
	if err == nil {
		t.Fatal("a hanging command passed")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the check returned after %v, past its 300ms timeout", took)
	}
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatalf("the command did not start its child: %v", rerr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitFor(t, "the background child killed", func() bool { return gone(pid) })
}

// gone reports whether pid no longer runs (absent, or a zombie nobody reaped yet).
func gone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// TestManagerExecTimeoutReason words an exec timeout through the Manager.
func TestManagerExecTimeoutReason(t *testing.T) {
	t.Parallel()
	m := New(Config{})
	t.Cleanup(func() { _ = m.Stop(t.Context()) })
	hc := &agentapi.HealthCheck{Type: "exec", IntervalMS: 500, TimeoutMS: 200, Retries: 1, RetryDelayMS: 10, Rise: 1, Fall: 1,
		Exec: &agentapi.ExecCheck{Command: "sleep 10"}}
	if err := m.Apply(t.Context(), oneVS("", hc, nil, "198.51.100.21"), reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "down", healthIs(m, rs1, StateDown))
	if _, r := m.Health(vsKey, rs1); r != "exec: timeout after 200ms (process group killed)" {
		t.Errorf("reason %q", r)
	}
}
