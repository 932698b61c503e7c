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

// TestBackoff: the delay doubles up to Max while runs are short, never gives up, and starts
// again from Min after a run longer than Max.
func TestBackoff(t *testing.T) {
	t.Parallel()
	b := &supervisor.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	var got []time.Duration
	for range 8 {
		got = append(got, b.Next(10*time.Millisecond))
	}
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
	if d := b.Next(6 * time.Second); d != 100*time.Millisecond {
		t.Errorf("after a long run: %v, want Min", d)
	}
	if d := b.Next(time.Millisecond); d != 200*time.Millisecond {
		t.Errorf("then: %v", d)
	}
}

// TestOnDeathBeforeRestart: a server killed by a signal gets OnDeath (the agent releases its
// VIPs there) before it is started again; a stop asked for does not.
func TestOnDeathBeforeRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	deaths := make(chan int, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- supervisor.Run(ctx, supervisor.Config{
			// Each run counts itself and dies by SIGKILL, as kill -9 of the agent.
			Command:    []string{"sh", "-c", "echo x >> " + count + "; kill -9 $$"},
			PIDFile:    filepath.Join(dir, "sup.pid"),
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
			OnDeath: func() {
				b, _ := os.ReadFile(count)
				deaths <- strings.Count(string(b), "x")
			},
		})
	}()
	for want := 1; want <= 3; want++ {
		select {
		case n := <-deaths:
			if n != want {
				t.Fatalf("OnDeath after run %d saw %d runs: not before the restart", want, n)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no OnDeath for run %d", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
