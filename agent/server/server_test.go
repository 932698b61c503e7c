package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/agent/server"
	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/version"
)

type countingReconciler struct {
	mu    sync.Mutex
	calls int
	last  *store.State
}

func (c *countingReconciler) Apply(_ context.Context, st *store.State, _ reconcile.Trigger) error {
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
	// stop stops the server as SIGTERM stops the agent (its context ends) and waits until Run
	// has returned; later calls return the first one's error. The test's cleanup calls it too.
	stop func() error
}

// start runs a real server on a unix socket in a temp dir, as the agent does on a host.
func start(t *testing.T, statePath string) *harness {
	t.Helper()
	return startWith(t, statePath, nil)
}

// startWith is start with the configuration edited by edit (if not nil).
func startWith(t *testing.T, statePath string, edit func(*server.Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	if statePath == "" {
		statePath = filepath.Join(dir, "state", "state.json")
	}
	sock := filepath.Join(dir, "run", "agent.sock")
	st := store.New(statePath)
	rec := &countingReconciler{}
	cfg := server.Config{Store: st, Reconciler: rec}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, sock) }()
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			return errors.New("Run did not return within 20 s of its context ending")
		}
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
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
	return &harness{client: c, sock: sock, store: st, rec: rec, stop: func() error {
		c.CloseIdleConnections()
		return stop()
	}}
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
		// "all" and "default" are every interface of the host in net.ipv4.conf: the agent
		// would change arp_announce and promote_secondaries host-wide.
		{"interface all", func(p *agentapi.Pair) { p.Directors[0].Interface = "all" }, "directors[0].interface"},
		{"interface default", func(p *agentapi.Pair) { p.Directors[1].Interface = "default" }, "directors[1].interface"},
		{"interface with slash", func(p *agentapi.Pair) { p.Directors[1].Interface = "../eth0" }, "directors[1].interface"},
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

// TestClientVersionWindow: the agent serves a provider within one minor version of its own and
// refuses one further apart (or unparsable) with a typed error that names both versions; a
// request that does not say its version (an older provider) is judged by the API major alone.
func TestClientVersionWindow(t *testing.T) {
	t.Parallel()
	h := start(t, "")
	own, err := version.Parse(version.Version)
	if err != nil {
		t.Fatalf("this build's version %q: %v", version.Version, err)
	}
	near := fmt.Sprintf("v%d.%d.0", own.Major, own.Minor+1)
	far := fmt.Sprintf("%d.%d.0-dev", own.Major, own.Minor+2)
	for _, c := range []struct {
		client string
		ok     bool
	}{{"", true}, {version.Version, true}, {near, true}, {far, false}, {fmt.Sprintf("%d.%d.0", own.Major+1, own.Minor), false}, {"main", false}} {
		req, err := http.NewRequest("GET", "http://agent"+agentapi.PathStatus, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(agentapi.HeaderAPIVersion, v1)
		if c.client != "" {
			req.Header.Set(agentapi.HeaderClientVersion, c.client)
		}
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		if c.ok {
			if resp.StatusCode != 200 {
				t.Errorf("client %q: got %d %s, want 200", c.client, resp.StatusCode, body.Bytes())
			}
			continue
		}
		e := decodeErr(t, body.Bytes())
		if resp.StatusCode != 412 || !errors.Is(e, agentapi.ErrVersionSkew) || !strings.Contains(e.Message, c.client) || !strings.Contains(e.Message, version.Version) {
			t.Errorf("client %q: got %d %+v, want 412 version_skew naming %q and %q", c.client, resp.StatusCode, e, c.client, version.Version)
		}
	}
}

// TestInfoBinarySHA256: the agent reports the checksum of the binary it runs, which the provider
// compares with the one it bundles.
func TestInfoBinarySHA256(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := server.Info().BinarySHA256; got != hex.EncodeToString(sum[:]) {
		t.Fatalf("BinarySHA256 %q, want the checksum of %s", got, exe)
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

// TestStateSurvivesRestart stops an agent's server after a series of writes (the first one
// stored as the snapshot, the others as journal lines, one of them a delete), starts a new server
// with a new store on the same file, and checks that it serves and re-applies exactly the state
// the first one had acknowledged.
func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state", "state.json")
	ctx := context.Background()
	first := start(t, path)
	c := agentclient.New("test", agentclient.Unix(first.sock))
	p := pair()
	if _, err := c.PutPair(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutVIP(ctx, &agentapi.VIP{VRID: 91, Addresses: []string{"198.51.100.100"}, Priorities: [2]int{200, 100}, AdvertIntervalCS: 100, Version: 3}); err != nil {
		t.Fatal(err)
	}
	key := "tcp/198.51.100.100:80"
	if _, err := c.PutVirtualServer(ctx, &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: "198.51.100.100", Port: 80, Scheduler: "wrr", ForwardingMethod: "nat"}); err != nil {
		t.Fatal(err)
	}
	for i, a := range []string{"198.51.100.21", "198.51.100.22", "198.51.100.23"} {
		if _, err := c.PutRealServer(ctx, key, &agentapi.RealServer{Address: a, Port: 8080, Weight: 1 + i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.DeleteRealServer(ctx, key, "198.51.100.22:8080"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRealServer(ctx, key, &agentapi.RealServer{Address: "198.51.100.23", Port: 8080, Weight: 7}); err != nil {
		t.Fatal(err)
	}
	want, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want.Serial != 8 || len(want.VirtualServers[key].RealServers) != 2 {
		t.Fatalf("before the restart: serial %d, real servers %v; want 8 and two", want.Serial, want.VirtualServers[key].RealServers)
	}
	if _, err := os.Stat(path + ".journal"); err != nil {
		t.Fatalf("the writes after the first left no journal to replay: %v", err)
	}

	c.Close()
	if err := first.stop(); err != nil {
		t.Fatalf("first server: %v", err)
	}
	if _, err := os.Stat(first.sock); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the stopped server's socket is still there (%v)", err)
	}
	if _, err := c.State(ctx); err == nil {
		t.Fatal("the first server still answers after it was stopped")
	}

	second := start(t, path)
	c2 := agentclient.New("test", agentclient.Unix(second.sock))
	t.Cleanup(c2.Close)
	got, err := c2.State(ctx)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after restart the state is\n%s\nwant\n%s", mustJSON(t, got), mustJSON(t, want))
	}
	second.rec.mu.Lock()
	calls, last := second.rec.calls, second.rec.last
	second.rec.mu.Unlock()
	if calls != 1 || !reflect.DeepEqual(last, want) {
		t.Errorf("start applied %d times, last %s; want once, the stored state", calls, mustJSON(t, last))
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
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

// TestSocketDirOfOthersKeepsItsMode: with --socket in a directory the agent did not make (/run
// for /run/x.sock), the agent leaves the directory's mode alone; it used to chmod it 0700.
func TestSocketDirOfOthersKeepsItsMode(t *testing.T) {
	t.Parallel()
	shared := t.TempDir()
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	st := store.New(filepath.Join(t.TempDir(), "state.json"))
	srv, err := server.New(server.Config{Store: st, Reconciler: &countingReconciler{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	sock := filepath.Join(shared, "x.sock")
	go func() { done <- srv.Run(ctx, sock) }()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(shared)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("the socket's directory is %v (%v), want it left 0755", fi.Mode().Perm(), err)
	}
}

// TestRequestBodyIsBounded: the agent reads at most agentapi.MaxRequestBytes of a request and
// says so; a whole state of 10,000 real servers (about 7 MB) fits.
func TestRequestBodyIsBounded(t *testing.T) {
	t.Parallel()
	h := start(t, "")
	body := `{"vips":{"1":{"addresses":["` + strings.Repeat("a", agentapi.MaxRequestBytes) + `"]}}}`
	req, err := http.NewRequest("PUT", "http://agent"+agentapi.PathState, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(agentapi.HeaderAPIVersion, v1)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e agentapi.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != 422 || !strings.Contains(e.Message, "larger than") {
		t.Fatalf("oversized body: %d %+v, want 422 saying the body is too large", resp.StatusCode, e)
	}
}

// TestNewerStateRefusesWrites: an agent started on a state a newer agent stored (a downgrade)
// serves it but answers writes with version_skew, naming the field it would drop, and leaves the
// file as it was.
func TestNewerStateRefusesWrites(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state", "state.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	stored := `{"serial":3,"pair":{"name":"edge","directors":[{"host":"198.51.100.11","interface":"eth0"},{"host":"198.51.100.12","interface":"eth0"}],"from_the_future":true}}`
	if err := os.WriteFile(path, []byte(stored), 0o600); err != nil {
		t.Fatal(err)
	}
	h := start(t, path)
	ctx := context.Background()
	c := agentclient.New("test", agentclient.Unix(h.sock))
	if got, err := c.Pair(ctx); err != nil || got.Name != "edge" {
		t.Fatalf("the newer state is not served: %+v, %v", got, err)
	}
	p := pair()
	_, err := c.PutPair(ctx, &p)
	if !errors.Is(err, agentapi.ErrVersionSkew) || !strings.Contains(err.Error(), "from_the_future") {
		t.Fatalf("write over a newer state: %v, want version_skew naming the field", err)
	}
	if b, _ := os.ReadFile(path); string(b) != stored {
		t.Errorf("the stored state changed:\n%s", b)
	}
}
