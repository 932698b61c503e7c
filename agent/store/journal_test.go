package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// changer makes random changes the way the agent's server does: on a copy of the state whose
// maps are its own, replacing objects rather than changing them.
type changer struct {
	rng *rand.Rand
	cur *store.State
}

func (c *changer) next() *store.State {
	n := *c.cur
	n.VIPs = maps.Clone(c.cur.VIPs)
	n.VirtualServers = maps.Clone(c.cur.VirtualServers)
	n.RealServerBindings = maps.Clone(c.cur.RealServerBindings)
	n.Serial++
	vsKey := fmt.Sprintf("tcp/198.51.100.%d:80", 100+c.rng.IntN(3))
	switch c.rng.IntN(10) {
	case 0:
		n.Pair = &agentapi.Pair{Name: fmt.Sprintf("edge%d", c.rng.IntN(9)), Directors: []agentapi.Director{{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"}}}
	case 1:
		if n.VIPs == nil {
			n.VIPs = map[int]*agentapi.VIP{}
		}
		vrid := 1 + c.rng.IntN(3)
		if c.rng.IntN(3) == 0 {
			delete(n.VIPs, vrid)
		} else {
			n.VIPs[vrid] = &agentapi.VIP{VRID: vrid, Addresses: []string{"198.51.100.100"}, Priorities: [2]int{200, 100}, AdvertIntervalCS: 1 + c.rng.IntN(100)}
		}
	case 2:
		if n.VirtualServers == nil {
			n.VirtualServers = map[string]*agentapi.VirtualServer{}
		}
		if c.rng.IntN(4) == 0 {
			delete(n.VirtualServers, vsKey)
			break
		}
		vs := &agentapi.VirtualServer{VRID: 1, Protocol: "tcp", Address: "198.51.100.100", Port: 80, Scheduler: []string{"rr", "wrr"}[c.rng.IntN(2)]}
		if old := n.VirtualServers[vsKey]; old != nil {
			vs.RealServers = old.RealServers // a changed virtual server keeps its real servers
		}
		n.VirtualServers[vsKey] = vs
	case 3:
		if n.RealServerBindings == nil {
			n.RealServerBindings = map[string]*agentapi.RealServerBinding{}
		}
		id := fmt.Sprintf("b%d", c.rng.IntN(4))
		if c.rng.IntN(3) == 0 {
			delete(n.RealServerBindings, id)
		} else {
			n.RealServerBindings[id] = &agentapi.RealServerBinding{VIP: "198.51.100.100", ForwardingMethod: "dr"}
		}
	default:
		old := n.VirtualServers[vsKey]
		if old == nil {
			break
		}
		vs := *old
		vs.RealServers = maps.Clone(old.RealServers)
		if vs.RealServers == nil {
			vs.RealServers = map[string]*agentapi.RealServer{}
		}
		rs := fmt.Sprintf("198.51.100.%d", 20+c.rng.IntN(40))
		if c.rng.IntN(4) == 0 {
			delete(vs.RealServers, rs+":80")
		} else {
			vs.RealServers[rs+":80"] = &agentapi.RealServer{Address: rs, Port: 80, Weight: c.rng.IntN(5)}
		}
		n.VirtualServers[vsKey] = &vs
	}
	return &n
}

// commitRandom commits n random changes to a new store in a temporary directory and returns the
// state file's path and the changer, whose cur is the last state committed.
func commitRandom(t *testing.T, seed uint64, n int) (string, *changer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.json")
	s := store.New(path)
	c := &changer{rng: rand.New(rand.NewPCG(seed, seed+1)), cur: &store.State{}}
	for range n {
		next := c.next()
		if err := s.Commit(c.cur, next); err != nil {
			t.Fatal(err)
		}
		c.cur = next
	}
	return path, c
}

func jsonOf(t *testing.T, st *store.State) string {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCommitJournalRoundTrips: after every one of many random changes, a fresh Load (snapshot
// plus journal, as after a crash at that point) returns exactly the committed state, through
// several compactions.
func TestCommitJournalRoundTrips(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	s := store.New(path)
	c := &changer{rng: rand.New(rand.NewPCG(1, 2)), cur: &store.State{}}
	compactions := 0
	for i := range 3000 {
		next := c.next()
		if err := s.Commit(c.cur, next); err != nil {
			t.Fatal(err)
		}
		c.cur = next
		if _, err := os.Stat(path + ".journal"); os.IsNotExist(err) {
			compactions++
		}
		if i%97 == 0 || i > 2990 {
			got, err := store.New(path).Load()
			if err != nil {
				t.Fatalf("change %d: %v", i, err)
			}
			if g, w := jsonOf(t, got), jsonOf(t, c.cur); g != w {
				t.Fatalf("change %d: loaded\n%s\nwant\n%s", i, g, w)
			}
		}
	}
	if compactions == 0 {
		t.Error("the journal was never folded into the snapshot")
	}
}

// TestJournalTornLastLine: a last line cut short (the agent stopped while writing a change it
// never acknowledged) is ignored; a bad line before the last is reported with the file's name.
func TestJournalTornLastLine(t *testing.T) {
	t.Parallel()
	path, c := commitRandom(t, 3, 20)
	j, err := os.ReadFile(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".journal", append(j, []byte(`{"serial":999,"pair_se`)...), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := store.New(path).Load()
	if err != nil {
		t.Fatalf("torn last line: %v", err)
	}
	if g, w := jsonOf(t, got), jsonOf(t, c.cur); g != w {
		t.Fatalf("loaded %s, want %s", g, w)
	}
	header, rest, _ := strings.Cut(string(j), "\n")
	if err := os.WriteFile(path+".journal", []byte(header+"\n{not json\n"+rest), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.New(path).Load(); err == nil || !strings.Contains(err.Error(), path+".journal") || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("corrupt journal: %v", err)
	}
}

// TestJournalOlderThanSnapshotSkipped: a crash after a new snapshot but before the journal was
// removed leaves lines the snapshot already holds; they are not replayed over it.
func TestJournalOlderThanSnapshotSkipped(t *testing.T) {
	t.Parallel()
	path, c := commitRandom(t, 5, 30)
	j, err := os.ReadFile(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot at the last serial, with a changed pair the journal knows nothing of.
	snap := *c.cur
	snap.Pair = &agentapi.Pair{Name: "snapshot-only"}
	if err := store.New(path).Save(&snap); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".journal", j, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := store.New(path).Load()
	if err != nil {
		t.Fatal(err)
	}
	if got.Pair == nil || got.Pair.Name != "snapshot-only" {
		t.Fatalf("journal lines older than the snapshot were replayed: pair %+v", got.Pair)
	}
}

// TestRemovingTheSnapshotWipes: removing the state file wipes the state, as it did before the
// journal: the journal continues one snapshot and is ignored without it, and the next change
// starts a new snapshot.
func TestRemovingTheSnapshotWipes(t *testing.T) {
	t.Parallel()
	path, _ := commitRandom(t, 7, 40)
	if _, err := os.Stat(path + ".journal"); err != nil {
		t.Fatalf("no journal after 40 small changes: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	s2 := store.New(path)
	got, err := s2.Load()
	if err != nil {
		t.Fatal(err)
	}
	if g := jsonOf(t, got); g != jsonOf(t, &store.State{}) {
		t.Fatalf("state after removing the snapshot: %s, want empty", g)
	}
	next := &store.State{Serial: 1, Pair: &agentapi.Pair{Name: "fresh"}}
	if err := s2.Commit(got, next); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".journal"); !os.IsNotExist(err) {
		t.Errorf("the orphaned journal is still there: %v", err)
	}
	again, err := store.New(path).Load()
	if err != nil || again.Pair == nil || again.Pair.Name != "fresh" || again.Serial != 1 {
		t.Fatalf("after a fresh start: %+v, %v", again, err)
	}
}

// TestJournalCorruptHeader: a journal whose header does not decode is a corrupt journal, not a
// journal of another snapshot: ignoring it dropped every acknowledged change after it. Only a
// torn first write (a header without its newline, and nothing after) held none and is ignored.
func TestJournalCorruptHeader(t *testing.T) {
	t.Parallel()
	path, c := commitRandom(t, 11, 20)
	j, err := os.ReadFile(path + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(j), "\n")
	if err := os.WriteFile(path+".journal", []byte("{\"base\":\x00garbage\n"+rest), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = store.New(path).Load()
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path+".journal") || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("corrupt header: %v, want ErrCorrupt naming the journal and line 1", err)
	}
	// A torn first write: the snapshot alone is the state.
	if err := os.WriteFile(path+".journal", []byte(`{"ba`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := store.New(path).Load()
	if err != nil {
		t.Fatalf("torn header: %v", err)
	}
	if got.Serial > c.cur.Serial {
		t.Fatalf("torn header: serial %d past the last commit %d", got.Serial, c.cur.Serial)
	}
}

// TestNewerStateIsNeverOverwritten: an older agent (after a downgrade) applies what it knows of
// a state a newer agent stored, but refuses to write over it, which would drop what it does not
// know; the files stay as they were.
func TestNewerStateIsNeverOverwritten(t *testing.T) {
	t.Parallel()
	for _, where := range []string{"snapshot", "journal"} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			path, c := commitRandom(t, 13, 20)
			file := path
			if where == "journal" {
				file = path + ".journal"
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			// A field from the future in the last object of the file.
			i := strings.LastIndex(string(b), "}")
			b = []byte(string(b[:i]) + `,"from_the_future":{"x":1}` + string(b[i:]))
			if err := os.WriteFile(file, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s := store.New(path)
			got, err := s.Load()
			if err != nil {
				t.Fatalf("Load of a newer state: %v", err)
			}
			if s.Newer() != `"from_the_future"` {
				t.Errorf("Newer() = %q", s.Newer())
			}
			next := *got
			next.Serial++
			next.Pair = &agentapi.Pair{Name: "older-agent"}
			if err := s.Commit(got, &next); !errors.Is(err, store.ErrNewer) || !strings.Contains(err.Error(), "from_the_future") {
				t.Fatalf("Commit over a newer state: %v, want ErrNewer naming the field", err)
			}
			if err := s.Save(&next); !errors.Is(err, store.ErrNewer) {
				t.Fatalf("Save over a newer state: %v, want ErrNewer", err)
			}
			if after, _ := os.ReadFile(file); string(after) != string(b) {
				t.Error("the newer state's file changed")
			}
			_ = c
		})
	}
}
