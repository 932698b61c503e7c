package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/server"
	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

type countingReconciler struct {
	mu    sync.Mutex
	calls int
	last  *store.State
}

func (c *countingReconciler) Apply(_ context.Context, st *store.State) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.last = st
	return nil
}

type harness struct {
	client *http.Client
	sock   string
	store  *store.Store
	rec    *countingReconciler
}

// start runs a real server on a unix socket in a temp dir, as the agent does on a host.
func start(t *testing.T, statePath string) *harness {
	t.Helper()
	dir := t.TempDir()
	if statePath == "" {
		statePath = filepath.Join(dir, "state", "state.json")
	}
	sock := filepath.Join(dir, "run", "agent.sock")
	st := store.New(statePath)
	rec := &countingReconciler{}
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
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}, Timeout: 10 * time.Second}
	// Close the client's idle streams before the server stops (cleanups run last first): a
	// stream dialled for a request that another one served stays "new" on the server, and
	// Shutdown waits 5 s for those.
	t.Cleanup(c.CloseIdleConnections)
	return &harness{client: c, sock: sock, store: st, rec: rec}
}

func (h *harness) do(t *testing.T, method, path string, body any, apiVersion string) (int, []byte) {
	t.Helper()
	var rd bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&rd).Encode(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, "http://agent"+path, &rd)
	if err != nil {
		t.Fatal(err)
	}
	if apiVersion != "" {
		req.Header.Set(agentapi.HeaderAPIVersion, apiVersion)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

var v1 = strconv.Itoa(agentapi.APIVersion)

func pair() agentapi.Pair {
	return agentapi.Pair{Name: "edge", Directors: []agentapi.Director{{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"}}, SyncConnections: true}
}

func decodeErr(t *testing.T, b []byte) *agentapi.Error {
	t.Helper()
	var e agentapi.Error
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body %q: %v", b, err)
	}
	return &e
}

func TestPairLifecycle(t *testing.T) {
	t.Parallel()
	h := start(t, "")
	if code, b := h.do(t, "GET", agentapi.PathPair, nil, v1); code != 404 || !errors.Is(decodeErr(t, b), agentapi.ErrNotFound) {
		t.Fatalf("empty agent: GET pair = %d %s, want 404 not_found", code, b)
	}
	if code, b := h.do(t, "PUT", agentapi.PathPair, pair(), v1); code != 200 {
		t.Fatalf("PUT pair = %d %s", code, b)
	}
	code, b := h.do(t, "GET", agentapi.PathPair, nil, v1)
	var got agentapi.Pair
	if code != 200 || json.Unmarshal(b, &got) != nil || got.Name != "edge" || !got.SyncConnections {
		t.Fatalf("GET pair = %d %s", code, b)
	}
	stored, err := h.store.Load()
	if err != nil || stored.Pair == nil || stored.Serial != 1 {
		t.Fatalf("state on disk = %+v, %v", stored, err)
	}
	if code, b := h.do(t, "DELETE", agentapi.PathPair, nil, v1); code != 204 {
		t.Fatalf("DELETE pair = %d %s", code, b)
	}
	if code, _ := h.do(t, "DELETE", agentapi.PathPair, nil, v1); code != 404 {
		t.Fatalf("second DELETE = %d, want 404", code)
	}
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	if h.rec.last == nil || h.rec.last.Pair != nil {
		t.Fatalf("reconciler was not given the emptied state: %+v", h.rec.last)
	}
}

func TestValidationNamesTheField(t *testing.T) {
	t.Parallel()
	h := start(t, "")
	cases := []struct {
		name  string
		edit  func(*agentapi.Pair)
		field string
	}{
		{"empty name", func(p *agentapi.Pair) { p.Name = "" }, "name"},
		{"one director", func(p *agentapi.Pair) { p.Directors = p.Directors[:1] }, "directors"},
		{"no interface", func(p *agentapi.Pair) { p.Directors[1].Interface = "" }, "directors[1].interface"},
		{"same hosts", func(p *agentapi.Pair) { p.Directors[1].Host = p.Directors[0].Host }, "directors[1].host"},
		{"negative timeout", func(p *agentapi.Pair) { p.IPVSTimeouts = &agentapi.IPVSTimeouts{UDP: -1} }, "ipvs_timeouts.udp"},
	}
	for _, c := range cases {
		p := pair()
		c.edit(&p)
		code, b := h.do(t, "PUT", agentapi.PathPair, p, v1)
		e := decodeErr(t, b)
		if code != 422 || e.Code != agentapi.CodeValidation || e.Field != c.field {
			t.Errorf("%s: got %d %+v, want 422 validation on %s", c.name, code, e, c.field)
		}
	}
	if st, _ := h.store.Load(); st.Serial != 0 {
		t.Fatalf("invalid input was stored: serial %d", st.Serial)
	}
}

func TestVersionSkewIsTyped(t *testing.T) {
	t.Parallel()
	h := start(t, "")
	for _, v := range []string{"", "0", fmt.Sprint(agentapi.APIVersion + 1)} {
		code, b := h.do(t, "GET", agentapi.PathStatus, nil, v)
		if e := decodeErr(t, b); code != 412 || !errors.Is(e, agentapi.ErrVersionSkew) {
			t.Errorf("version %q: got %d %+v", v, code, e)
		}
	}
	// The version endpoint answers anyone so that a client can say what it found.
	code, b := h.do(t, "GET", agentapi.PathVersion, nil, "")
	var info agentapi.VersionInfo
	if code != 200 || json.Unmarshal(b, &info) != nil || info.APIVersion != agentapi.APIVersion {
		t.Fatalf("version = %d %s", code, b)
	}
}

func TestUnknownFieldIsRejected(t *testing.T) {
	t.Parallel()
	h := start(t, "")
	body := map[string]any{"name": "edge", "directors": pair().Directors, "from_the_future": true}
	code, b := h.do(t, "PUT", agentapi.PathPair, body, v1)
	if code != 422 {
		t.Fatalf("got %d %s, want 422", code, b)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	{
		h := start(t, path)
		if code, b := h.do(t, "PUT", agentapi.PathPair, pair(), v1); code != 200 {
			t.Fatalf("PUT = %d %s", code, b)
		}
	}
	h := start(t, path)
	code, b := h.do(t, "GET", agentapi.PathPair, nil, v1)
	if code != 200 {
		t.Fatalf("after restart GET pair = %d %s", code, b)
	}
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	if h.rec.calls == 0 || h.rec.last.Pair == nil {
		t.Fatal("stored state was not re-applied on start")
	}
}

func TestParallelPutsDoNotLoseWrites(t *testing.T) {
	t.Parallel()
	h := start(t, "")
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, b := h.do(t, "PUT", agentapi.PathPair, pair(), v1); code != 200 {
				t.Errorf("PUT = %d %s", code, b)
			}
		}()
	}
	wg.Wait()
	if st, _ := h.store.Load(); st.Serial != 20 {
		t.Fatalf("serial %d after 20 writes", st.Serial)
	}
}
