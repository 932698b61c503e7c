package agentclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
)

// fakeAgent serves a fixed state and counts requests by kind.
func fakeAgent(t *testing.T) (*agentclient.Client, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	var stateReads, objectReads atomic.Int64
	st := agentapi.State{VirtualServers: map[string]*agentapi.VirtualServer{
		"tcp/198.51.100.100:80": {Protocol: "tcp", Address: "198.51.100.100", Port: 80, Scheduler: "wrr", ForwardingMethod: "dr",
			RealServers: map[string]*agentapi.RealServer{"198.51.100.21:80": {Address: "198.51.100.21", Port: 80, Weight: 3}}},
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+agentapi.PathState, func(w http.ResponseWriter, _ *http.Request) {
		stateReads.Add(1)
		_ = json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("GET /v1/virtual-servers/{key}/real-servers/{rs}", func(w http.ResponseWriter, _ *http.Request) {
		objectReads.Add(1)
		_ = json.NewEncoder(w).Encode(st.VirtualServers["tcp/198.51.100.100:80"].RealServers["198.51.100.21:80"])
	})
	mux.HandleFunc("PUT /v1/virtual-servers/{key}/real-servers/{rs}", func(w http.ResponseWriter, r *http.Request) {
		var rs agentapi.RealServer
		_ = json.NewDecoder(r.Body).Decode(&rs)
		_ = json.NewEncoder(w).Encode(rs)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	c := agentclient.New("fake", func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	})
	t.Cleanup(c.Close)
	return c, &stateReads, &objectReads
}

func TestSnapshotServesAReadBurstWithOneRequest(t *testing.T) {
	t.Parallel()
	c, stateReads, objectReads := fakeAgent(t)
	c.EnableSnapshotReads(time.Minute)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs, err := c.GetRealServer(ctx, "tcp/198.51.100.100:80", "198.51.100.21:80")
			if err != nil || rs.Weight != 3 {
				t.Errorf("GetRealServer = %+v, %v", rs, err)
			}
		}()
	}
	wg.Wait()
	if _, err := c.GetRealServer(ctx, "tcp/198.51.100.100:80", "198.51.100.99:80"); !errors.Is(err, agentapi.ErrNotFound) {
		t.Fatalf("missing real server: %v, want not found", err)
	}
	if n, m := stateReads.Load(), objectReads.Load(); n != 1 || m != 0 {
		t.Fatalf("51 reads cost %d state reads and %d object reads, want 1 and 0", n, m)
	}
	// After a write, reads go to the agent object by object.
	if _, err := c.PutRealServer(ctx, "tcp/198.51.100.100:80", &agentapi.RealServer{Address: "198.51.100.21", Port: 80, Weight: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetRealServer(ctx, "tcp/198.51.100.100:80", "198.51.100.21:80"); err != nil {
		t.Fatal(err)
	}
	if n, m := stateReads.Load(), objectReads.Load(); n != 1 || m != 1 {
		t.Fatalf("read after write: %d state reads, %d object reads; want 1 and 1", n, m)
	}
}

func TestWithoutSnapshotReadsAreDirect(t *testing.T) {
	t.Parallel()
	c, stateReads, objectReads := fakeAgent(t)
	for i := 0; i < 3; i++ {
		if _, err := c.GetRealServer(context.Background(), "tcp/198.51.100.100:80", "198.51.100.21:80"); err != nil {
			t.Fatal(err)
		}
	}
	if stateReads.Load() != 0 || objectReads.Load() != 3 {
		t.Fatalf("state %d, object %d", stateReads.Load(), objectReads.Load())
	}
}
