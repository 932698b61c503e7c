package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// TestCorruptStateServesAndRecovers: an unreadable state file or journal does not stop the
// agent: it applies nothing (the kernel keeps what it has), shows the error in the status,
// refuses reads and writes of the state with state_corrupt saying how to recover, and a whole
// state put at /v1/state replaces it, keeping the unreadable files.
func TestCorruptStateServesAndRecovers(t *testing.T) {
	t.Parallel()
	for name, corrupt := range map[string]func(t *testing.T, path string){
		"state": func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(`{"serial": 3, "pair": {`), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"journal": func(t *testing.T, path string) {
			if err := os.WriteFile(path+".journal", []byte("{bad\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "state.json")
			p := pair()
			if err := store.New(path).Save(&store.State{Serial: 2, Pair: &p}); err != nil {
				t.Fatal(err)
			}
			corrupt(t, path)
			h := start(t, path)
			code, b := h.do(t, http.MethodGet, agentapi.PathStatus, nil, v1)
			var st agentapi.Status
			if err := json.Unmarshal(b, &st); code != http.StatusOK || err != nil {
				t.Fatalf("status: %d %s", code, b)
			}
			if !strings.Contains(st.StateError, "corrupt") || !strings.Contains(st.StateError, "state import --from-peer") {
				t.Errorf("state_error %q", st.StateError)
			}
			if n := h.rec.calls; n != 0 {
				t.Errorf("the reconciler ran %d times over an unreadable state", n)
			}
			for _, req := range []struct{ method, path string }{
				{http.MethodPut, agentapi.PathPair}, {http.MethodGet, agentapi.PathPair}, {http.MethodGet, agentapi.PathState},
				{http.MethodDelete, agentapi.PathVIPs + "/1"}, {http.MethodGet, agentapi.PathVirtualServers},
			} {
				code, b := h.do(t, req.method, req.path, p, v1)
				if e := decodeErr(t, b); code != http.StatusServiceUnavailable || e.Code != agentapi.CodeStateCorrupt || !strings.Contains(e.Message, "lvs-agent state import") {
					t.Errorf("%s %s: %d %+v", req.method, req.path, code, e)
				}
			}
			// The recovery: a whole state replaces the unreadable one and is applied.
			p.Self = 1
			code, b = h.do(t, http.MethodPut, agentapi.PathState, &store.State{Pair: &p}, v1)
			if code != http.StatusOK {
				t.Fatalf("put state: %d %s", code, b)
			}
			if h.rec.calls != 1 || h.rec.last.Pair.Self != 1 {
				t.Errorf("after the recovery: %d applies, last %+v", h.rec.calls, h.rec.last)
			}
			if code, b := h.do(t, http.MethodGet, agentapi.PathPair, nil, v1); code != http.StatusOK {
				t.Errorf("get pair after the recovery: %d %s", code, b)
			}
			want := map[string]string{"state": "state.json.corrupt-", "journal": "state.json.journal.corrupt-"}[name]
			kept, _ := filepath.Glob(filepath.Join(filepath.Dir(path), want+"*"))
			if len(kept) != 1 {
				t.Errorf("unreadable files kept: %v", kept)
			}
			if err := h.stop(); err != nil {
				t.Fatal(err)
			}
			got, err := store.New(path).Load()
			if err != nil || got.Pair == nil || got.Pair.Self != 1 {
				t.Fatalf("stored after the recovery: %+v, %v", got, err)
			}
		})
	}
}
