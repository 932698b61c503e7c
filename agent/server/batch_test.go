package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/server"
	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
)

// serveCounting serves srv's API on a unix socket, counting requests per path; with noBatch it
// answers PathBatch as an agent without it does.
func serveCounting(t *testing.T, srv *server.Server, noBatch bool) (*agentclient.Client, *sync.Map) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	counts := &sync.Map{}
	h := srv.Handler()
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := counts.LoadOrStore(r.Method+" "+r.URL.Path, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		if noBatch && r.URL.Path == agentapi.PathBatch {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"code":"not_found","message":"no API path POST %s"}`, agentapi.PathBatch)
			return
		}
		h.ServeHTTP(w, r)
	})}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	c := agentclient.New("test", agentclient.Unix(sock))
	t.Cleanup(c.Close)
	return c, counts
}

// loneWrites counts the writes sent on their own, not in a batch.
func loneWrites(m *sync.Map) int64 {
	var n int64
	m.Range(func(k, v any) bool {
		if key := k.(string); !strings.HasPrefix(key, "GET ") && key != "POST "+agentapi.PathBatch {
			n += v.(*atomic.Int64).Load()
		}
		return true
	})
	return n
}

// batchVS is the virtual server batchServer makes.
const batchVS = "tcp/[2001:db8::100]:80"

// batchServer serves an agent API whose reconciler applies at once (until held), holding a pair
// and the virtual server batchVS, and returns a client of it and its request counts.
func batchServer(t *testing.T, noBatch bool) (*server.Server, *gatedReconciler, *agentclient.Client, *sync.Map) {
	t.Helper()
	rec := &gatedReconciler{}
	close(rec.hold())
	srv, err := server.New(server.Config{Store: store.New(filepath.Join(t.TempDir(), "state.json")), Reconciler: rec})
	if err != nil {
		t.Fatal(err)
	}
	c, counts := serveCounting(t, srv, noBatch)
	ctx := context.Background()
	if _, err := c.PutPair(ctx, &agentapi.Pair{Name: "edge", Directors: []agentapi.Director{{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutVirtualServer(ctx, &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: "2001:db8::100", Port: 80, Scheduler: "wrr", ForwardingMethod: "nat"}); err != nil {
		t.Fatal(err)
	}
	return srv, rec, c, counts
}

func count(m *sync.Map, key string) int64 {
	if n, ok := m.Load(key); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// TestWritesAreBatched checks that writes made while one is under way go to the agent as one
// batch, each with its own answer (a refused one fails alone), also for an agent that has no
// batch path.
func TestWritesAreBatched(t *testing.T) {
	t.Parallel()
	for _, noBatch := range []bool{false, true} {
		t.Run(fmt.Sprintf("noBatch=%v", noBatch), func(t *testing.T) {
			t.Parallel()
			_, rec, c, counts := batchServer(t, noBatch)
			ctx := context.Background()
			key := batchVS
			applied0, _ := rec.count()
			lone0 := loneWrites(counts)
			gate := rec.hold() // the next apply waits: the writes after it queue up in the client
			const n = 12
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rs := &agentapi.RealServer{Address: fmt.Sprintf("2001:db8::1:%x", i+1), Port: 8080, Weight: 1 + i}
					if i == n-1 {
						rs.Weight = 70000 // refused alone
					}
					_, errs[i] = c.CreateRealServer(ctx, key, rs)
				}()
			}
			time.Sleep(300 * time.Millisecond) // let the writes queue behind the held one; fewer only means more batches
			close(gate)
			wg.Wait()
			for i := range n - 1 {
				if errs[i] != nil {
					t.Errorf("write %d: %v", i, errs[i])
				}
			}
			wantErr(t, errs[n-1], agentapi.ErrValidation, "weight")
			for i := range n - 1 {
				rs, err := c.GetRealServer(ctx, key, fmt.Sprintf("[2001:db8::1:%x]:8080", i+1))
				if err != nil || rs.Weight != 1+i {
					t.Errorf("real server %d: %+v, %v", i, rs, err)
				}
			}
			batches := count(counts, "POST "+agentapi.PathBatch)
			lone := loneWrites(counts) - lone0
			if !noBatch && batches == 0 {
				t.Error("no batch was sent for concurrent writes")
			}
			// Each batch is stored and applied once, whatever it holds, as is each write sent alone.
			if applied, _ := rec.count(); !noBatch && int64(applied-applied0) > lone+batches {
				t.Errorf("%d applies for %d writes sent alone and %d batches, want at most %d", applied-applied0, lone, batches, lone+batches)
			}
			if noBatch && batches != 1 {
				t.Errorf("%d batch attempts to an agent without the path, want 1 (then one by one)", batches)
			}
		})
	}
}

// TestBatchIsOneCommit: the writes of one batch are stored and applied once, together, however
// many there are; reads and refused writes in it hold nothing back.
func TestBatchIsOneCommit(t *testing.T) {
	t.Parallel()
	srv, rec, _, _ := batchServer(t, false)
	key := batchVS
	var req agentapi.BatchRequest
	for i := range 20 {
		w := 1 + i
		if i == 7 {
			w = 70000 // refused
		}
		body, _ := json.Marshal(&agentapi.RealServer{Address: fmt.Sprintf("2001:db8::1:%x", i+1), Port: 8080, Weight: w})
		req.Requests = append(req.Requests, agentapi.BatchItem{Method: http.MethodPut, Body: body,
			Path: "/v1/virtual-servers/" + url.PathEscape(key) + "/real-servers/" + url.PathEscape(fmt.Sprintf("[2001:db8::1:%x]:8080", i+1))})
	}
	req.Requests = append(req.Requests, agentapi.BatchItem{Method: http.MethodGet, Path: "/v1/state"})
	body, _ := json.Marshal(req)
	before, _ := rec.count()
	hr := httptest.NewRequest(http.MethodPost, agentapi.PathBatch, bytes.NewReader(body))
	hr.Header.Set(agentapi.HeaderAPIVersion, strconv.Itoa(agentapi.APIVersion))
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, hr)
	var res agentapi.BatchResponse
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != http.StatusOK || len(res.Responses) != 21 {
		t.Fatalf("batch: %d %s (%v)", w.Code, w.Body.String(), err)
	}
	for i, r := range res.Responses {
		want := http.StatusOK
		if i == 7 {
			want = http.StatusUnprocessableEntity
		}
		if r.Status != want {
			t.Errorf("request %d: status %d, want %d: %s", i, r.Status, want, r.Body)
		}
	}
	if after, st := rec.count(); after-before != 1 || len(st.VirtualServers[key].RealServers) != 19 {
		t.Errorf("%d applies for one batch (want 1); %d real servers applied (want 19)", after-before, len(st.VirtualServers[key].RealServers))
	}
}
