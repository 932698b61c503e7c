//go:build unix

package shellcmd

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunArgsEnvAndExit(t *testing.T) {
	t.Parallel()
	out, err := Run(context.Background(), `printf '%s %s' "$LVS_X"`, []string{"MASTER"}, []string{"LVS_X=vrid"}, 64)
	if err != nil || out != "vrid MASTER" {
		t.Errorf("Run = %q, %v; want \"vrid MASTER\"", out, err)
	}
	_, err = Run(context.Background(), "exit 3", nil, nil, 64)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("exit 3: %v", err)
	}
}

func TestRunBoundsOutput(t *testing.T) {
	t.Parallel()
	out, err := Run(context.Background(), "yes | head -c 100000", nil, nil, 10)
	if err != nil || len(out) != 10 {
		t.Errorf("output %d bytes, %v; want 10", len(out), err)
	}
}

// TestRunKillsTheGroup: a command that outlives its context is killed with the child it left
// in the background, and Run returns soon after.
func TestRunKillsTheGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, "sleep 30 & echo $! > "+pidFile+"; sleep 30", nil, nil, 64)
	if err == nil || ctx.Err() == nil {
		t.Fatalf("err %v, ctx %v: want the run cut off by its context", err, ctx.Err())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Run returned after %v", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("background child %d still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
