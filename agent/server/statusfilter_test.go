package server_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/server"
	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
)

// reportingReconciler reports a fixed VRRP state and IPVS table, as ha and ipvs do.
type reportingReconciler struct{ countingReconciler }

func (*reportingReconciler) Report(st *agentapi.Status) {
	st.VIPs = []agentapi.VIPStatus{{VRID: 7, State: "MASTER"}}
	st.IPVS = []agentapi.IPVSService{
		{Key: "tcp/198.51.100.100:80", Destinations: []agentapi.IPVSDestination{
			{Key: "198.51.100.21:80", ActiveConns: 3}, {Key: "198.51.100.22:80", ActiveConns: 5},
		}},
		{Key: "tcp/[2001:db8::100]:443", Destinations: []agentapi.IPVSDestination{{Key: "[2001:db8::21]:443", ActiveConns: 8}}},
		{Key: "udp/198.51.100.100:53", Destinations: []agentapi.IPVSDestination{{Key: "198.51.100.21:53", ActiveConns: 1}}},
	}
}

// TestStatusNarrowedToDests: ipvs_dest narrows the status's IPVS table to the named destinations
// (keys in any spelling the API accepts), keeping the VRRP state; without it the table is whole;
// a malformed one is refused naming the query.
func TestStatusNarrowedToDests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "agent.sock")
	srv, err := server.New(server.Config{Store: store.New(filepath.Join(dir, "state", "state.json")), Reconciler: &reportingReconciler{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, sock) }()
	cl := agentclient.New("198.51.100.11", agentclient.Unix(sock))
	t.Cleanup(func() {
		cl.Close()
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("Run did not return")
		}
	})
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	full, err := cl.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(full.IPVS) != 3 {
		t.Fatalf("whole status has %d services, want 3", len(full.IPVS))
	}
	st, err := cl.StatusFor(context.Background(), []agentclient.Dest{
		{VirtualServer: "tcp/198.51.100.100:80", RealServer: "198.51.100.22:80"},
		{VirtualServer: "tcp/[2001:0db8::100]:443", RealServer: "[2001:db8::21]:443"},
		{VirtualServer: "tcp/198.51.100.100:80", RealServer: "198.51.100.29:80"}, // not in the table
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.VIPs) != 1 || st.VIPs[0].State != "MASTER" {
		t.Fatalf("VRRP state %+v, want it whole", st.VIPs)
	}
	if len(st.IPVS) != 2 || len(st.IPVS[0].Destinations) != 1 || st.IPVS[0].Destinations[0].ActiveConns != 5 ||
		len(st.IPVS[1].Destinations) != 1 || st.IPVS[1].Destinations[0].ActiveConns != 8 {
		t.Fatalf("narrowed IPVS %+v, want the two named destinations alone", st.IPVS)
	}

	// A malformed query is refused naming it (StatusFor then falls back to the whole status).
	h := &harness{client: &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}, Timeout: 10 * time.Second}}
	defer h.client.CloseIdleConnections()
	for _, bad := range []string{"tcp/198.51.100.100:80", "tcp/198.51.100.100:80,nope", "nope,198.51.100.21:80"} {
		code, b := h.do(t, http.MethodGet, agentapi.PathStatus+"?"+url.Values{agentapi.QueryIPVSDest: {bad}}.Encode(), nil, v1)
		if e := decodeErr(t, b); code != http.StatusUnprocessableEntity || e.Field != agentapi.QueryIPVSDest {
			t.Errorf("ipvs_dest=%q answered %d %+v, want 422 naming %s", bad, code, e, agentapi.QueryIPVSDest)
		}
		st, err := cl.StatusFor(context.Background(), []agentclient.Dest{{VirtualServer: bad}})
		if err != nil || len(st.IPVS) != 3 {
			t.Errorf("StatusFor(%q) = %v, want the whole status as the fallback", bad, err)
		}
	}
}
