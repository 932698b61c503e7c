package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/agent/server"
	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
)

// gatedReconciler holds every Apply until the test opens the gate, so that writes pile up.
type gatedReconciler struct {
	mu      sync.Mutex // guards the following fields
	gate    chan struct{}
	applies int
	last    *store.State
}

// hold makes later applies wait until the returned channel is closed.
func (g *gatedReconciler) hold() chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate = make(chan struct{})
	return g.gate
}

func (g *gatedReconciler) Apply(ctx context.Context, st *store.State, _ reconcile.Trigger) error {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	select {
	case <-gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.applies++
	g.last = st
	return nil
}

func (g *gatedReconciler) count() (int, *store.State) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.applies, g.last
}

// TestConcurrentWritesShareOneCommit checks group commit: writes that arrive while an apply is
// under way are stored and applied together, each caller gets its own answer, and a refused
// write fails alone.
func TestConcurrentWritesShareOneCommit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "agent.sock")
	rec := &gatedReconciler{}
	close(rec.hold()) // the start apply and the setup writes go through at once
	st := store.New(filepath.Join(dir, "state.json"))
	srv, err := server.New(server.Config{Store: st, Reconciler: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, sock) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with %v", err)
		}
	})
	c := agentclient.New("test", agentclient.Unix(sock))
	t.Cleanup(c.Close)
	for range 200 {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	bg := context.Background()
	if _, err := c.PutPair(bg, &agentapi.Pair{Name: "edge", Directors: []agentapi.Director{{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"}}}); err != nil {
		t.Fatal(err)
	}
	key := "tcp/198.51.100.100:80"
	if _, err := c.PutVirtualServer(bg, &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: "198.51.100.100", Port: 80, Scheduler: "wrr", ForwardingMethod: "nat"}); err != nil {
		t.Fatal(err)
	}
	before, _ := rec.count()
	serialBefore := mustLoad(t, st).Serial
	linesBefore := journalSerials(t, st.Path)

	// Hold the next apply, start one write to occupy the committer, then queue the rest behind
	// it and open the gate only once all of them wait: group commit must then store and apply
	// them in exactly one commit, whatever the timing.
	gate := rec.hold()
	const n = 12
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	// Each write comes on a client of its own: one client would batch the writes made while
	// one is under way (agentclient/batch.go), and the server would see a single batch request
	// instead of concurrent writes.
	put := func(i int, rs *agentapi.RealServer, vsKey string) {
		defer wg.Done()
		ci := agentclient.New("test", agentclient.Unix(sock))
		defer ci.Close()
		_, errs[i] = ci.PutRealServer(bg, vsKey, rs)
	}
	wg.Add(1)
	go put(0, &agentapi.RealServer{Address: "198.51.100.20", Port: 8080, Weight: 1}, key)
	waitStored(t, st, serialBefore+1)
	for i := 1; i <= n; i++ {
		wg.Add(1)
		rs := &agentapi.RealServer{Address: fmt.Sprintf("198.51.100.%d", 20+i), Port: 8080, Weight: i}
		vsKey := key
		if i == n {
			vsKey = "tcp/198.51.100.101:80" // no such virtual server: refused alone
		}
		go put(i, rs, vsKey)
	}
	waitQueued(t, srv, n)
	close(gate)
	wg.Wait()

	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Errorf("write %d: %v", i, errs[i])
		}
	}
	wantErr(t, errs[n], agentapi.ErrNotFound, "")
	applies, last := rec.count()
	if got := applies - before; got != 2 {
		t.Errorf("%d applies for %d writes, want 2: the first write's, then one for the %d queued behind it", got, n+1, n)
	}
	if got := len(last.VirtualServers[key].RealServers); got != n {
		t.Errorf("last apply saw %d real servers, want %d", got, n)
	}
	if got := mustLoad(t, st).Serial - serialBefore; got != n {
		t.Errorf("serial moved by %d, want one per accepted write (%d)", got, n)
	}
	// Each commit is one fsynced journal line: two commits, the second holding all the queued
	// writes (its serial is the last one's).
	lines := journalSerials(t, st.Path)[len(linesBefore):]
	if want := []uint64{serialBefore + 1, serialBefore + n}; !slices.Equal(lines, want) {
		t.Errorf("journal lines appended with serials %v, want %v (one per commit)", lines, want)
	}
	for i := 1; i < n; i++ {
		got, err := c.GetRealServer(bg, key, fmt.Sprintf("198.51.100.%d:8080", 20+i))
		if err != nil || got.Weight != i {
			t.Errorf("real server %d: %+v, %v", i, got, err)
		}
	}
}

func mustLoad(t *testing.T, st *store.Store) *store.State {
	t.Helper()
	s, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitStored waits until the store holds serial: the first write is stored and its apply is
// held at the gate.
func waitStored(t *testing.T, st *store.Store, serial uint64) {
	t.Helper()
	for range 500 {
		if mustLoad(t, st).Serial >= serial {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the first write was not stored within 5 s")
}

// waitQueued waits until n writes wait for the committer.
func waitQueued(t *testing.T, srv *server.Server, n int) {
	t.Helper()
	for range 1000 {
		if srv.QueuedWrites() >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d writes queued after 10 s, want %d", srv.QueuedWrites(), n)
}

// journalSerials returns the serial of every change line of the state's journal, in order:
// one line per commit (see agent/store/journal.go; the first line is the header).
func journalSerials(t *testing.T, statePath string) []uint64 {
	t.Helper()
	b, err := os.ReadFile(statePath + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	var serials []uint64
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if i == 0 {
			continue
		}
		var d struct {
			Serial uint64 `json:"serial"`
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil || d.Serial == 0 {
			t.Fatalf("journal line %d %q: %v", i+1, line, err)
		}
		serials = append(serials, d.Serial)
	}
	return serials
}
