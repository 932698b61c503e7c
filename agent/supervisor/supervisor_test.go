package supervisor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/supervisor"
)

// TestRestartsAndStops runs a real child that counts its starts in a file and exits at once, so
// the supervisor must restart it; cancelling stops the loop.
func TestRestartsAndStops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	pidfile := filepath.Join(dir, "sup.pid")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- supervisor.Run(ctx, supervisor.Config{
			Command:    []string{"sh", "-c", "echo x >> " + count},
			PIDFile:    pidfile,
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(count)
		if strings.Count(string(b), "x") >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child was not restarted 3 times within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pid, ok := supervisor.Alive(pidfile); !ok || pid != os.Getpid() {
		t.Fatalf("Alive = %d %v, want this process", pid, ok)
	}
	// A second supervisor must refuse.
	err := supervisor.Run(context.Background(), supervisor.Config{Command: []string{"true"}, PIDFile: pidfile})
	if !errors.Is(err, supervisor.ErrRunning) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Fatalf("second supervisor: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("supervisor did not stop")
	}
	if _, ok := supervisor.Alive(pidfile); ok {
		t.Fatal("pid file still claims a live supervisor")
	}
}

func TestStopSendsTermThenKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- supervisor.Run(ctx, supervisor.Config{
			Command:     []string{"sh", "-c", "trap '' TERM; sleep 30"},
			PIDFile:     filepath.Join(dir, "sup.pid"),
			StopTimeout: 200 * time.Millisecond,
		})
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("supervisor did not kill a child that ignores SIGTERM")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stop took %v", d)
	}
}
