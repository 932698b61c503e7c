package healthcheck

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// TestTimeoutLongerThanInterval: keepalived's `connect_timeout 10` with `delay_loop 6`, scaled
// down, through the real HTTP checker against a real socket on loopback that accepts and never
// answers. Every attempt runs its whole timeout, the next one starts an interval after it
// ended (never back to back, never overlapping), and fall of them take the server down.
func TestTimeoutLongerThanInterval(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); ln.Close(); held.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held.Add(1)
			go func() { defer held.Done(); <-stop; c.Close() }() // read nothing, answer nothing
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	const interval, timeout = 300 * time.Millisecond, 700 * time.Millisecond

	type attempt struct {
		start, end time.Time
		err        error
	}
	var mu sync.Mutex
	var attempts []attempt
	m := New(Config{OnResult: func(_, _, _ string, took time.Duration, err error) {
		now := time.Now()
		mu.Lock()
		attempts = append(attempts, attempt{now.Add(-took), now, err})
		mu.Unlock()
	}})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
	})
	hc := &agentapi.HealthCheck{Type: "http", IntervalMS: int(interval / time.Millisecond), TimeoutMS: int(timeout / time.Millisecond),
		Rise: 1, Fall: 2, ConnectAddress: "127.0.0.1", ConnectPort: port, HTTP: &agentapi.HTTPCheck{Path: "/"}}
	if err := m.Apply(context.Background(), oneVS("", hc, nil, "198.51.100.21"), reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three attempts", func() bool { mu.Lock(); defer mu.Unlock(); return len(attempts) >= 3 })
	if s, r := m.Health(vsKey, rs1); s != StateDown {
		t.Errorf("after three timed-out checks at fall 2: %s (%s), want down", s, r)
	}
	mu.Lock()
	got := append([]attempt(nil), attempts[:3]...)
	mu.Unlock()
	for i, a := range got {
		if !errors.Is(a.err, context.DeadlineExceeded) {
			t.Errorf("attempt %d: %v, want its timeout", i, a.err)
		}
		// The timeout is the check's own; 300 ms is slack for a loaded 2-core machine.
		if took := a.end.Sub(a.start); took < timeout || took > timeout+300*time.Millisecond {
			t.Errorf("attempt %d took %v, want its timeout %v", i, took, timeout)
		}
		if i == 0 {
			continue
		}
		// An interval after the previous one ended: not at its start + interval (which had
		// passed), so the next attempt never follows at once nor overlaps.
		if gap := a.start.Sub(got[i-1].end); gap < interval-10*time.Millisecond || gap > interval+300*time.Millisecond {
			t.Errorf("attempt %d started %v after attempt %d ended, want the interval %v", i, gap, i-1, interval)
		}
	}
}
