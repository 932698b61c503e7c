package store_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
)

// FuzzLoad feeds a state file and its journal to Load, as the agent reads them at start. Beyond not
// panicking: what Load accepts holds no empty (null) entry, which every user of the state
// dereferences; loading is deterministic; the state survives Save and Load; and changes committed
// over it (a journal appended to what was loaded) load back exactly.
func FuzzLoad(f *testing.F) {
	f.Fuzz(func(t *testing.T, snapshot, journal []byte, seed uint64) {
		dir := t.TempDir()
		path := filepath.Join(dir, "state.json")
		if snapshot != nil {
			if err := os.WriteFile(path, snapshot, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if journal != nil {
			if err := os.WriteFile(path+".journal", journal, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		st, err := store.New(path).Load()
		if err != nil {
			return
		}
		checkNoNil(t, st)
		again, err := store.New(path).Load()
		if err != nil || jsonOf(t, again) != jsonOf(t, st) {
			t.Fatalf("second Load: %v\n%s\nfirst\n%s", err, jsonOf(t, again), jsonOf(t, st))
		}

		// Save, then commit changes over the saved state (the journal), as the agent does.
		path2 := filepath.Join(dir, "saved", "state.json")
		s := store.New(path2)
		if err := s.Save(st); err != nil {
			t.Fatal(err)
		}
		c := &changer{rng: rand.New(rand.NewPCG(seed, seed>>1)), cur: st}
		for range 1 + seed%4 {
			next := c.next()
			if err := s.Commit(c.cur, next); err != nil {
				t.Fatal(err)
			}
			c.cur = next
		}
		got, err := store.New(path2).Load()
		if err != nil {
			t.Fatalf("Load of what was saved and committed: %v", err)
		}
		if g, w := jsonOf(t, got), jsonOf(t, c.cur); g != w {
			t.Fatalf("loaded\n%s\nwant\n%s", g, w)
		}
	})
}

func checkNoNil(t *testing.T, st *store.State) {
	t.Helper()
	for k, v := range st.VIPs {
		if v == nil {
			t.Fatalf("Load accepted a null VIP %d", k)
		}
	}
	for k, vs := range st.VirtualServers {
		if vs == nil {
			t.Fatalf("Load accepted a null virtual server %s", k)
		}
		for rk, rs := range vs.RealServers {
			if rs == nil {
				t.Fatalf("Load accepted a null real server %s of %s", rk, k)
			}
		}
	}
	for k, b := range st.RealServerBindings {
		if b == nil {
			t.Fatalf("Load accepted a null binding %s", k)
		}
	}
}
