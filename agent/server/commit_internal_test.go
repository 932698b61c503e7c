package server

import (
	"path/filepath"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// TestCommitLeavesEarlierStatesAlone checks copy-on-write: a state handed out before a write
// (to a reader or a Reconciler) does not see the write.
func TestCommitLeavesEarlierStatesAlone(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Store: store.New(filepath.Join(t.TempDir(), "state.json"))})
	if err != nil {
		t.Fatal(err)
	}
	key := "tcp/198.51.100.100:80"
	put := func(addr string) {
		t.Helper()
		if _, err := s.commit(nil, func(st *store.State) error {
			vs := ownRealServers(st, key)
			if vs == nil {
				st.VirtualServers[key] = &agentapi.VirtualServer{Address: "198.51.100.100", Port: 80, Protocol: "tcp",
					RealServers: map[string]*agentapi.RealServer{addr + ":80": {Address: addr, Port: 80}}}
				return nil
			}
			vs.RealServers[addr+":80"] = &agentapi.RealServer{Address: addr, Port: 80}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.commit(nil, func(st *store.State) error {
		st.VirtualServers = map[string]*agentapi.VirtualServer{}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	put("198.51.100.21")
	before := s.view()
	put("198.51.100.22")
	if _, err := s.commit(nil, func(st *store.State) error {
		delete(ownRealServers(st, key).RealServers, "198.51.100.21:80")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := before.VirtualServers[key].RealServers; len(got) != 1 || got["198.51.100.21:80"] == nil {
		t.Errorf("an earlier state changed under its reader: %v", got)
	}
	if got := s.view().VirtualServers[key].RealServers; len(got) != 1 || got["198.51.100.22:80"] == nil {
		t.Errorf("current real servers %v, want only 198.51.100.22:80", got)
	}
}
