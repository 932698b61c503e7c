package agentclient_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
)

// httpAgent serves h on a unix socket and returns the socket's path.
func httpAgent(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return sock
}

func fullStatus() agentapi.Status {
	return agentapi.Status{
		VIPs: []agentapi.VIPStatus{{VRID: 7, State: "MASTER"}},
		IPVS: []agentapi.IPVSService{{Key: "tcp/198.51.100.100:80", Destinations: []agentapi.IPVSDestination{
			{Key: "198.51.100.21:80", ActiveConns: 3}, {Key: "198.51.100.22:80", ActiveConns: 5},
		}}},
	}
}

// TestStatusForFallsBack: StatusFor names the destinations in its query; an agent that does not
// know the query (it answers the whole table) and one that refuses it (validation, not found)
// still give the counts, the latter through a second, whole read.
func TestStatusForFallsBack(t *testing.T) {
	t.Parallel()
	dests := []agentclient.Dest{{VirtualServer: "tcp/198.51.100.100:80", RealServer: "198.51.100.22:80"}}
	for _, tc := range []struct {
		name      string
		refuse    *agentapi.Error // the answer to a narrowed read; nil: the whole table
		wantReads int
	}{
		{"older agent ignores the query", nil, 1},
		{"agent refuses the query", agentapi.Invalid("ipvs_dest", "unknown"), 2},
		{"agent answers not found", agentapi.NotFound("no API path"), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var queries []string
			sock := httpAgent(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				queries = append(queries, r.URL.RawQuery)
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				if r.URL.RawQuery != "" && tc.refuse != nil {
					w.WriteHeader(tc.refuse.HTTPStatus())
					_ = json.NewEncoder(w).Encode(tc.refuse)
					return
				}
				_ = json.NewEncoder(w).Encode(fullStatus())
			})
			cl := agentclient.New("198.51.100.11", agentclient.Unix(sock))
			defer cl.Close()
			st, err := cl.StatusFor(context.Background(), dests)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.VIPs) != 1 || len(st.IPVS) != 1 || st.IPVS[0].Destinations[1].ActiveConns != 5 {
				t.Fatalf("got %+v, want the whole status", st)
			}
			if len(queries) != tc.wantReads || queries[0] != "ipvs_dest=tcp%2F198.51.100.100%3A80%2C198.51.100.22%3A80" {
				t.Fatalf("queries %q, want %d read(s), the first naming the destination", queries, tc.wantReads)
			}
			if tc.wantReads == 2 && queries[1] != "" {
				t.Fatalf("the fallback read asked %q, want the whole status", queries[1])
			}
		})
	}
}
