package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/agent/server"
	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// fuzzState is what the agent holds before each fuzzed request: a pair, a VIP, a virtual server
// with a real server and a binding, so that requests reach every handler's checks.
func fuzzState() *store.State {
	return &store.State{
		Serial: 7,
		Pair: &agentapi.Pair{Name: "edge", Directors: []agentapi.Director{
			{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"}}},
		VIPs: map[int]*agentapi.VIP{91: {VRID: 91, Addresses: []string{"198.51.100.100", "2001:db8::100/64"},
			Priorities: [2]int{200, 100}, AdvertIntervalCS: 100, Version: 3, Preempt: true}},
		VirtualServers: map[string]*agentapi.VirtualServer{"tcp/198.51.100.100:80": {
			VRID: 91, Protocol: "tcp", Address: "198.51.100.100", Port: 80, Scheduler: "wrr", ForwardingMethod: "dr",
			HealthCheck: &agentapi.HealthCheck{Type: "http", IntervalMS: 1000, HTTP: &agentapi.HTTPCheck{Path: "/health"}},
			RealServers: map[string]*agentapi.RealServer{"198.51.100.21:80": {Address: "198.51.100.21", Port: 80, Weight: 1}},
		}},
		RealServerBindings: map[string]*agentapi.RealServerBinding{"b1": {VIP: "198.51.100.100", ForwardingMethod: "dr"}},
	}
}

// FuzzAPI sends one request, method, path and body chosen by the fuzzer, to the agent's API
// handler over a stored state, as the provider's requests arrive through dial-stdio. Beyond not
// panicking:
//   - the answer is a status the API defines (never 500: every bad request is the client's
//     error, named), with a JSON body unless 204;
//   - what the agent then holds is still valid: every VIP and virtual server passes Validate
//     under the key it is stored by (the API never lets in what it would refuse whole, through
//     PUT /v1/state), and the state on disk is the state served;
//   - a write repeated gives the same answer and changes nothing more.
func FuzzAPI(f *testing.F) {
	methods := []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPost}
	f.Fuzz(func(t *testing.T, method uint8, path string, body []byte) {
		dir := t.TempDir()
		st := store.New(filepath.Join(dir, "state.json"))
		if err := st.Save(fuzzState()); err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(server.Config{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		h := srv.Handler()
		do := func(method, path string, body []byte) (int, []byte) {
			req, err := http.NewRequest(method, "http://agent"+path, bytes.NewReader(body))
			if err != nil {
				return 0, nil
			}
			req.Header.Set(agentapi.HeaderAPIVersion, strconv.Itoa(agentapi.APIVersion))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec.Code, rec.Body.Bytes()
		}
		m := methods[int(method)%len(methods)]
		code, out := do(m, path, body)
		if code == 0 {
			return // not a request an HTTP client can send
		}
		switch code {
		case http.StatusOK, http.StatusNoContent, http.StatusNotFound, http.StatusMethodNotAllowed,
			http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity:
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusBadRequest:
			return // ServeMux's own answers to unclean paths
		default:
			t.Fatalf("%s %q %q: status %d: %s", m, path, body, code, out)
		}
		if code != http.StatusNoContent && code != http.StatusMethodNotAllowed && !json.Valid(out) {
			t.Fatalf("%s %q: status %d with a body that is not JSON: %q", m, path, code, out)
		}

		_, cur := do(http.MethodGet, agentapi.PathState, nil)
		checkHeld(t, cur)
		onDisk, err := store.New(st.Path).Load()
		if err != nil {
			t.Fatalf("the stored state does not load: %v", err)
		}
		if disk, _ := json.Marshal(onDisk); !bytes.Equal(bytes.TrimSpace(cur), disk) {
			t.Fatalf("served\n%s\nstored\n%s", cur, disk)
		}
		if m == http.MethodGet || m == http.MethodPost {
			return
		}
		code2, _ := do(m, path, body)
		_, cur2 := do(http.MethodGet, agentapi.PathState, nil)
		deletedAgain := m == http.MethodDelete && code == http.StatusNoContent && code2 == http.StatusNotFound
		if code2 != code && !deletedAgain {
			t.Fatalf("%s %q %q again: status %d, first %d", m, path, body, code2, code)
		}
		if withoutSerial(t, cur2) != withoutSerial(t, cur) {
			t.Fatalf("%s %q %q again changed the state:\n%s\nwas\n%s", m, path, body, cur2, cur)
		}
	})
}

func withoutSerial(t *testing.T, b []byte) string {
	var st store.State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("GET %s: %v", agentapi.PathState, err)
	}
	st.Serial = 0
	out, _ := json.Marshal(&st)
	return string(out)
}

// checkHeld validates the state the agent serves as PUT /v1/state would.
func checkHeld(t *testing.T, b []byte) {
	t.Helper()
	var st store.State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("GET %s: %v", agentapi.PathState, err)
	}
	if st.Pair != nil {
		if err := st.Pair.Validate(); err != nil {
			t.Fatalf("holds an invalid pair %+v: %v", st.Pair, err)
		}
	}
	for vrid, v := range st.VIPs {
		if v == nil || v.VRID != vrid {
			t.Fatalf("holds VIP %+v as %d", v, vrid)
		}
		if err := v.Validate(); err != nil {
			t.Fatalf("holds an invalid VIP %d: %v", vrid, err)
		}
	}
	for key, vs := range st.VirtualServers {
		if vs == nil || agentapi.VirtualServerKey(vs) != key {
			t.Fatalf("holds virtual server %+v as %s", vs, key)
		}
		if err := vs.Validate(); err != nil {
			t.Fatalf("holds an invalid virtual server %s: %v", key, err)
		}
	}
	for id, b := range st.RealServerBindings {
		if b == nil {
			t.Fatalf("holds a null binding %s", id)
		}
		if err := b.Validate(); err != nil {
			t.Fatalf("holds an invalid binding %s: %v", id, err)
		}
	}
}
