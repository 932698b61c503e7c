package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// counts returns a count function that answers the values in turn (the last one forever).
func counts(vals ...any) (func(context.Context) (int, error), *atomic.Int32) {
	var calls atomic.Int32
	return func(context.Context) (int, error) {
		i := int(calls.Add(1)) - 1
		v := vals[min(i, len(vals)-1)]
		if err, ok := v.(error); ok {
			return 0, err
		}
		return v.(int), nil
	}, &calls
}

// TestWaitDrained: the wait ends at the first read with no active connection, goes on through
// failed reads, and ends at its timeout with the last count when connections stay.
func TestWaitDrained(t *testing.T) {
	t.Parallel()
	const poll = 10 * time.Millisecond
	errRead := errors.New("agent away")
	t.Run("drains", func(t *testing.T) {
		t.Parallel()
		f, calls := counts(20, 12, 3, 0, 7)
		res := waitDrained(context.Background(), time.Minute, poll, f)
		if res.Expired || res.Left != 0 || res.Err != nil || calls.Load() != 4 {
			t.Fatalf("got %+v after %d reads, want drained after 4", res, calls.Load())
		}
		if res.Waited < 3*poll || res.Waited > 3*poll+time.Second {
			t.Fatalf("waited %v, want about 3 polls", res.Waited)
		}
	})
	t.Run("nothing to drain", func(t *testing.T) {
		t.Parallel()
		f, calls := counts(0)
		if res := waitDrained(context.Background(), time.Minute, time.Hour, f); res.Expired || res.Left != 0 || calls.Load() != 1 || res.Waited > time.Second {
			t.Fatalf("got %+v after %d reads, want at once after 1", res, calls.Load())
		}
	})
	t.Run("read errors are retried", func(t *testing.T) {
		t.Parallel()
		f, _ := counts(5, errRead, errRead, 0)
		if res := waitDrained(context.Background(), time.Minute, poll, f); res.Expired || res.Left != 0 || res.Err != nil {
			t.Fatalf("got %+v, want drained", res)
		}
	})
	t.Run("timeout with connections left", func(t *testing.T) {
		t.Parallel()
		f, _ := counts(20, 4)
		const timeout = 200 * time.Millisecond
		res := waitDrained(context.Background(), timeout, poll, f)
		if !res.Expired || res.Left != 4 || res.Err != nil {
			t.Fatalf("got %+v, want expired with 4 left", res)
		}
		if res.Waited < timeout || res.Waited > timeout+time.Second {
			t.Fatalf("waited %v, want %v", res.Waited, timeout)
		}
	})
	t.Run("timeout shorter than a poll", func(t *testing.T) {
		t.Parallel()
		f, _ := counts(3)
		res := waitDrained(context.Background(), 30*time.Millisecond, time.Hour, f)
		if !res.Expired || res.Left != 3 || res.Waited > time.Second {
			t.Fatalf("got %+v, want expired at 30ms", res)
		}
	})
	t.Run("no read succeeds", func(t *testing.T) {
		t.Parallel()
		f, _ := counts(errRead)
		res := waitDrained(context.Background(), 50*time.Millisecond, poll, f)
		if !res.Expired || !errors.Is(res.Err, errRead) {
			t.Fatalf("got %+v, want expired with the read error", res)
		}
	})
	t.Run("context ends", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		f, _ := counts(2)
		res := waitDrained(ctx, time.Hour, poll, f)
		if !res.Expired || res.Left != 2 || res.Waited > time.Second {
			t.Fatalf("got %+v, want expired at the context's end", res)
		}
	})
}

func status(vrrpState string, active, inactive int) *agentapi.Status {
	return &agentapi.Status{
		VIPs: []agentapi.VIPStatus{{VRID: 7, State: "BACKUP"}, {VRID: 91, State: vrrpState}},
		IPVS: []agentapi.IPVSService{
			{Key: "tcp/198.51.100.100:443", Destinations: []agentapi.IPVSDestination{{Key: "198.51.100.21:80", ActiveConns: 99}}},
			{Key: "tcp/198.51.100.100:80", Destinations: []agentapi.IPVSDestination{
				{Key: "198.51.100.22:80", ActiveConns: 50},
				{Key: "198.51.100.21:80", ActiveConns: active, InactiveConns: inactive},
			}},
		},
	}
}

// TestActiveConns: the master's count of the destination decides; the backup's synced copies
// do not; without exactly one master, the larger count; inactive entries never count.
func TestActiveConns(t *testing.T) {
	t.Parallel()
	target := drainTarget{VRID: 91, VSKey: "tcp/198.51.100.100:80", RSKey: "198.51.100.21:80"}
	cases := []struct {
		name      string
		statuses  []*agentapi.Status
		want      int
		wantFound bool
	}{
		{"master first", []*agentapi.Status{status("MASTER", 3, 40), status("BACKUP", 9, 2)}, 3, true},
		{"master second", []*agentapi.Status{status("BACKUP", 9, 2), status("MASTER", 0, 40)}, 0, true},
		{"no master", []*agentapi.Status{status("BACKUP", 2, 0), status("INIT", 5, 0)}, 5, true},
		{"two masters", []*agentapi.Status{status("MASTER", 2, 0), status("MASTER", 4, 0)}, 4, true},
		{"backup unreadable", []*agentapi.Status{status("MASTER", 1, 0), nil}, 1, true},
		{"master unreadable", []*agentapi.Status{nil, status("BACKUP", 6, 0)}, 6, true},
		{"gone from the tables", []*agentapi.Status{{VIPs: []agentapi.VIPStatus{{VRID: 91, State: "MASTER"}}}, {}}, 0, false},
	}
	for _, c := range cases {
		if n, found := activeConns(c.statuses, target); n != c.want || found != c.wantFound {
			t.Errorf("%s: got %d, %v; want %d, %v", c.name, n, found, c.want, c.wantFound)
		}
	}
	// Keys are compared in their canonical form.
	v6 := drainTarget{VRID: 91, VSKey: "tcp/[2001:db8::100]:80", RSKey: "[2001:db8::21]:80"}
	st := &agentapi.Status{VIPs: []agentapi.VIPStatus{{VRID: 91, State: "MASTER"}}, IPVS: []agentapi.IPVSService{
		{Key: "tcp/[2001:db8::100]:80", Destinations: []agentapi.IPVSDestination{{Key: "[2001:db8::21]:80", ActiveConns: 8}}}}}
	if n, found := activeConns([]*agentapi.Status{st}, v6); n != 8 || !found {
		t.Errorf("IPv6: got %d, %v; want 8, true", n, found)
	}
}

// TestStatusFeed: concurrent drains share one read per host; a caller that needs a read begun
// after some time (right after its quiesce) never gets an older one.
func TestStatusFeed(t *testing.T) {
	t.Parallel()
	var reads atomic.Int32
	release := make(chan struct{})
	tg := drainTarget{VRID: 7, VSKey: "tcp/198.51.100.100:80", RSKey: "198.51.100.21:80"}
	f := &statusFeed{fetch: func(ctx context.Context, _ []drainTarget) (*agentapi.Status, error) {
		reads.Add(1)
		<-release
		return &agentapi.Status{Serial: uint64(reads.Load())}, nil
	}}
	start := time.Now()
	var wg sync.WaitGroup
	got := make([]*agentapi.Status, 50)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := f.get(context.Background(), start, tg)
			if err != nil {
				t.Error(err)
			}
			got[i] = st
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := reads.Load(); n != 1 {
		t.Fatalf("50 concurrent callers made %d reads, want 1", n)
	}
	for _, st := range got {
		if st == nil || st.Serial != 1 {
			t.Fatalf("a caller got %+v, want the one read", st)
		}
	}
	// Accepted age: the last read serves; a caller that needs a newer one gets a new read.
	if st, _ := f.get(context.Background(), start, tg); st.Serial != 1 || reads.Load() != 1 {
		t.Fatalf("got read %d after %d reads, want the cached read 1", st.Serial, reads.Load())
	}
	if st, _ := f.get(context.Background(), time.Now(), tg); st.Serial != 2 || reads.Load() != 2 {
		t.Fatalf("got read %d after %d reads, want a new read 2", st.Serial, reads.Load())
	}
	// A failed read is not kept.
	f2 := &statusFeed{fetch: func(context.Context, []drainTarget) (*agentapi.Status, error) { return nil, errors.New("away") }}
	if _, err := f2.get(context.Background(), start, tg); err == nil {
		t.Fatal("want the read's error")
	}
	if f2.last != nil {
		t.Fatal("a failed read was kept")
	}
}

// TestParseDrainTimeout: durations from 0 to 24h; empty is the default; the delete timeout
// must leave a minute for the removal.
func TestParseDrainTimeout(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]time.Duration{"": defaultDrainTimeout, "0": 0, "0s": 0, "30s": 30 * time.Second, "5m": 5 * time.Minute, "24h": 24 * time.Hour} {
		if d, ae := parseDrainTimeout(s); ae != nil || d != want {
			t.Errorf("%q: got %v, %v; want %v", s, d, ae, want)
		}
	}
	for _, s := range []string{"30", "-1s", "25h", "soon", "5 m"} {
		if _, ae := parseDrainTimeout(s); ae == nil || ae.Field != "drain_timeout" {
			t.Errorf("%q: got %v, want an error on drain_timeout", s, ae)
		}
	}
	if ae := checkDrainFits(defaultDrainTimeout, defaultDeleteTimeout); ae != nil {
		t.Errorf("the defaults do not fit: %v", ae)
	}
	if ae := checkDrainFits(0, time.Second); ae != nil {
		t.Errorf("no drain does not fit: %v", ae)
	}
	if ae := checkDrainFits(9*time.Minute+time.Second, defaultDeleteTimeout); ae == nil {
		t.Error("9m1s fits in 10m with a minute for the removal")
	}
}

// TestCountActive: the director that was master is asked first and alone while it still is; a
// move of the master costs one read of both and is remembered; unreadable directors fall back to
// activeConns over what could be read.
func TestCountActive(t *testing.T) {
	t.Parallel()
	target := drainTarget{VRID: 91, VSKey: "tcp/198.51.100.100:80", RSKey: "198.51.100.21:80"}
	errAway := errors.New("away")
	var dirs [2]*agentapi.Status
	var errs [2]error
	var reads [2]int
	read := func(_ context.Context, i int) (*agentapi.Status, error) {
		reads[i]++
		return dirs[i], errs[i]
	}
	var guess atomic.Int32
	step := func(name string, want int, wantReads [2]int, wantGuess int32) {
		t.Helper()
		reads = [2]int{}
		n, err := countActive(context.Background(), target, &guess, read)
		if err != nil || n != want || reads != wantReads || guess.Load() != wantGuess {
			t.Fatalf("%s: got %d, %v after reads %v (guess %d); want %d after reads %v (guess %d)", name, n, err, reads, guess.Load(), want, wantReads, wantGuess)
		}
	}
	dirs = [2]*agentapi.Status{status("MASTER", 3, 9), status("BACKUP", 7, 0)}
	step("master asked first", 3, [2]int{1, 0}, 0)
	dirs = [2]*agentapi.Status{status("BACKUP", 3, 0), status("MASTER", 1, 0)}
	step("master moved", 1, [2]int{1, 1}, 1)
	step("new master asked first", 1, [2]int{0, 1}, 1)
	errs = [2]error{nil, errAway}
	dirs[0] = status("BACKUP", 4, 0)
	step("master away, none says master", 4, [2]int{1, 1}, 1)
	errs = [2]error{errAway, errAway}
	reads = [2]int{}
	if _, err := countActive(context.Background(), target, &guess, read); !errors.Is(err, errAway) {
		t.Fatalf("both away: got %v, want the read error", err)
	}
}

// TestStatusFeedAsksForWatched: a read asks for every destination being drained, so parallel
// drains share one narrow read; a read that did not ask for a destination never serves it, and
// a released destination is asked for no more.
func TestStatusFeedAsksForWatched(t *testing.T) {
	t.Parallel()
	tg := func(i int) drainTarget {
		return drainTarget{VRID: 7, VSKey: "tcp/198.51.100.100:80", RSKey: fmt.Sprintf("198.51.100.%d:80", 20+i)}
	}
	var mu sync.Mutex
	var asked [][]drainTarget
	f := &statusFeed{fetch: func(_ context.Context, ts []drainTarget) (*agentapi.Status, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, slices.Clone(ts))
		return &agentapi.Status{Serial: uint64(len(asked))}, nil
	}}
	rel0, rel1 := f.watch(tg(0)), f.watch(tg(1))
	start := time.Now()
	if _, err := f.get(context.Background(), start, tg(0)); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.get(context.Background(), start, tg(1)); st.Serial != 1 {
		t.Fatalf("the second drain got read %d, want the shared read 1", st.Serial)
	}
	if len(asked) != 1 || len(asked[0]) != 2 {
		t.Fatalf("reads asked for %v, want one read of both destinations", asked)
	}
	// A destination the last read did not ask for gets a read of its own (with the watched ones).
	if st, _ := f.get(context.Background(), start, tg(2)); st.Serial != 2 || len(asked[1]) != 3 {
		t.Fatalf("got read %d asking for %v, want read 2 asking for 3 destinations", st.Serial, asked[1])
	}
	rel0()
	rel0() // twice is once
	rel1()
	if _, err := f.get(context.Background(), time.Now(), tg(3)); err != nil {
		t.Fatal(err)
	}
	if got := asked[2]; len(got) != 1 || got[0] != tg(3) {
		t.Fatalf("after the releases the read asked for %v, want only %v", got, tg(3))
	}
	if len(f.watched) != 0 {
		t.Fatalf("watched %v after every release", f.watched)
	}
}
