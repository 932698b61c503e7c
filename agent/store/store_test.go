package store_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

func TestLoadMissingIsEmpty(t *testing.T) {
	t.Parallel()
	s := store.New(filepath.Join(t.TempDir(), "state.json"))
	st, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pair != nil || st.Serial != 0 {
		t.Fatalf("want empty state, got %+v", st)
	}
}

func TestSaveLoadRoundTripAndModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "lib", "lvs-agent")
	s := store.New(filepath.Join(dir, "state.json"))
	want := &store.State{Serial: 7, Pair: &agentapi.Pair{Name: "edge", Directors: []agentapi.Director{{Host: "a", Interface: "eth0"}, {Host: "b", Interface: "eth0"}}, SyncConnections: true}}
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial != 7 || got.Pair == nil || got.Pair.Name != "edge" || got.Pair.Directors[1].Host != "b" {
		t.Fatalf("round trip lost data: %+v", got)
	}
	fi, err := os.Stat(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want 0700", di.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestCorruptStateNamesTheFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(p, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := store.New(p).Load()
	if err == nil {
		t.Fatal("want error for corrupt state")
	}
	if got := err.Error(); !contains(got, p) {
		t.Fatalf("error %q does not name the file", got)
	}
}

func TestCloneIsDeep(t *testing.T) {
	t.Parallel()
	a := &store.State{Pair: &agentapi.Pair{Name: "x", Directors: []agentapi.Director{{Host: "h"}}}}
	b := a.Clone()
	b.Pair.Directors[0].Host = "changed"
	if a.Pair.Directors[0].Host != "h" {
		t.Fatal("clone shares memory with the original")
	}
}

func contains(s, sub string) bool {
	return strings.Contains(s, sub)
}
