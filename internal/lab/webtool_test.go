package lab

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestServeAndFetch(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, addr, "real1") }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := Fetch(context.Background(), "http://"+addr+"/", 5, time.Second)
	if got["real1"] != 5 || len(got) != 1 {
		t.Fatalf("Fetch = %v, want 5 answers from real1", got)
	}
	if got := Fetch(context.Background(), "http://"+addr+"/healthz", 1, time.Second); got["ok"] != 1 {
		t.Fatalf("healthz = %v", got)
	}
}

// startServe runs Serve on a free loopback port until the test ends (or stop is called) and
// returns its address once it accepts connections.
func startServe(t *testing.T, addr, name string) (string, func()) {
	t.Helper()
	if addr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		ln.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, addr, name) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, stop
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHold: /keep keeps one connection for every request; "/" closes each one, which Hold
// counts as a dial per request; a server restart in the middle costs a second dial.
func TestHold(t *testing.T) {
	t.Parallel()
	addr, stop := startServe(t, "", "real1")

	got := Hold(context.Background(), "http://"+addr+"/keep", 400*time.Millisecond, 20*time.Millisecond, time.Second)
	if got.Dials != 1 || len(got.Conns) != 1 || got.Failed != 0 || got.Requests < 5 || got.Answers["real1"] != got.Requests {
		t.Fatalf("Hold on /keep = %+v, want every request on one connection answered by real1", got)
	}
	if got.LongestGapMS <= 0 || got.LongestGapMS > 1000 {
		t.Errorf("longest gap %.1f ms, want the interval or a little more", got.LongestGapMS)
	}

	got = Hold(context.Background(), "http://"+addr+"/", 200*time.Millisecond, 20*time.Millisecond, time.Second)
	if got.Requests < 3 || got.Dials != got.Requests || got.Failed != 0 {
		t.Fatalf("Hold on / (Connection: close) = %+v, want one dial per request", got)
	}

	done := make(chan HoldResult, 1)
	go func() {
		done <- Hold(context.Background(), "http://"+addr+"/keep", time.Second, 20*time.Millisecond, time.Second)
	}()
	time.Sleep(300 * time.Millisecond)
	stop() // closes the held connection
	startServe(t, addr, "real2")
	got = <-done
	if got.Dials < 2 || got.Answers["real1"] == 0 || got.Answers["real2"] == 0 {
		t.Fatalf("Hold across a server restart = %+v, want a second dial and answers from both", got)
	}
	t.Logf("across a restart: %+v", got)
}

// TestProbe: the probe keeps its schedule while answers are slow or failing, and its gap is the
// time the server was away, measured by send times.
func TestProbe(t *testing.T) {
	t.Parallel()
	// Answers that take 150 ms: a probe waiting for each would send 4 requests in 600 ms.
	slow := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(150 * time.Millisecond)
		_, _ = io.WriteString(w, "slow\n")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = slow.Serve(ln) }()
	t.Cleanup(func() { _ = slow.Close() })
	got := Probe(context.Background(), "http://"+ln.Addr().String()+"/", 600*time.Millisecond, 10*time.Millisecond, time.Second)
	if got.Scheduled != 60 || got.Requests != 60 || got.Failed != 0 || got.Answers["slow"] != 60 || got.LongestGapMS != 0 || got.Behind {
		t.Errorf("Probe of a slow server = %+v, want 60 of 60 sent on schedule, all answered, no gap", got)
	}

	// A server away for 300 ms: a gap of about 300 ms, resting on the requests sent meanwhile.
	addr, stop := startServe(t, "", "real1")
	done := make(chan ProbeResult, 1)
	go func() {
		done <- Probe(context.Background(), "http://"+addr+"/", time.Second, 10*time.Millisecond, 200*time.Millisecond)
	}()
	time.Sleep(300 * time.Millisecond)
	stop()
	away := time.Now()
	time.Sleep(300 * time.Millisecond)
	startServe(t, addr, "real2")
	t.Logf("server away %s", time.Since(away).Round(time.Millisecond))
	got = <-done
	t.Logf("probe across a 300 ms outage: %+v", got)
	if got.Behind || got.Requests != 100 {
		t.Fatalf("probe fell behind on an idle machine: %+v", got)
	}
	if got.GapErrorMS > 50 {
		t.Errorf("gap error %.1f ms on an idle machine, want about two intervals", got.GapErrorMS)
	}
	if got.LongestGapMS < 290 || got.LongestGapMS > 500 || got.GapFailed < 20 || got.GapFailed != got.Failed {
		t.Errorf("gap %.1f ms over %d failed requests (of %d failed), want about 300 ms over about 30", got.LongestGapMS, got.GapFailed, got.Failed)
	}
	if got.Answers["real1"] == 0 || got.Answers["real2"] == 0 {
		t.Errorf("answers %v, want both servers", got.Answers)
	}
}
