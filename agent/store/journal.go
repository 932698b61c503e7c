package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// The journal. Rewriting the whole document for every change made creating n real servers cost
// O(n²) bytes encoded and written: at 1,000 real servers, encoding and writing the state was
// most of the agent's CPU during `terraform apply`. Commit instead appends what changed, one JSON
// line per change, fsynced before the change is acknowledged; Load replays the lines over the
// snapshot. When the journal has grown past the snapshot (and past minCompact), the next Commit
// writes a new snapshot and empties the journal, so that the bytes written stay proportional
// to the changes and a Load never replays more than about one snapshot's worth.

// minCompact is the journal size below which it is never folded into the snapshot.
const minCompact = 256 << 10

// journalHeader is a journal's first line: the serial of the snapshot it continues.
type journalHeader struct {
	Base uint64 `json:"base"`
}

// delta is one journal line after the header: the objects a change set or removed. The server replaces objects
// instead of changing them (copy on write), so what changed is found by comparing pointers.
type delta struct {
	Serial  uint64                `json:"serial"`
	Pair    *agentapi.Pair        `json:"pair,omitempty"`
	PairSet bool                  `json:"pair_set,omitempty"` // Pair replaced (nil Pair: removed)
	VIPs    map[int]*agentapi.VIP `json:"vips,omitempty"`
	VIPsDel []int                 `json:"vips_del,omitempty"`
	// Virtual servers set, without their real servers, which are in RealServers.
	VirtualServers map[string]*agentapi.VirtualServer         `json:"virtual_servers,omitempty"`
	VSDel          []string                                   `json:"vs_del,omitempty"`
	RealServers    map[string]map[string]*agentapi.RealServer `json:"real_servers,omitempty"` // by VS key, RS key
	RSDel          map[string][]string                        `json:"rs_del,omitempty"`
	Bindings       map[string]*agentapi.RealServerBinding     `json:"bindings,omitempty"`
	BindingsDel    []string                                   `json:"bindings_del,omitempty"`
}

// diff returns what makes prev into next.
func diff(prev, next *State) *delta {
	d := &delta{Serial: next.Serial}
	if prev.Pair != next.Pair {
		d.Pair, d.PairSet = next.Pair, true
	}
	d.VIPs, d.VIPsDel = diffMap(prev.VIPs, next.VIPs)
	d.Bindings, d.BindingsDel = diffMap(prev.RealServerBindings, next.RealServerBindings)
	for key, vs := range next.VirtualServers {
		old := prev.VirtualServers[key]
		if old == vs {
			continue
		}
		bare := *vs
		bare.RealServers = nil
		if d.VirtualServers == nil {
			d.VirtualServers = map[string]*agentapi.VirtualServer{}
		}
		d.VirtualServers[key] = &bare
		var oldRS map[string]*agentapi.RealServer
		if old != nil {
			oldRS = old.RealServers
		}
		set, del := diffMap(oldRS, vs.RealServers)
		if set != nil {
			if d.RealServers == nil {
				d.RealServers = map[string]map[string]*agentapi.RealServer{}
			}
			d.RealServers[key] = set
		}
		if del != nil {
			if d.RSDel == nil {
				d.RSDel = map[string][]string{}
			}
			d.RSDel[key] = del
		}
	}
	for key := range prev.VirtualServers {
		if _, ok := next.VirtualServers[key]; !ok {
			d.VSDel = append(d.VSDel, key)
		}
	}
	return d
}

// diffMap returns the entries of next that are not the same object in prev, and the keys of prev
// that next lacks; nil for none.
func diffMap[K comparable, V comparable](prev, next map[K]V) (map[K]V, []K) {
	var set map[K]V
	var del []K
	for k, v := range next {
		if old, ok := prev[k]; !ok || old != v {
			if set == nil {
				set = map[K]V{}
			}
			set[k] = v
		}
	}
	for k := range prev {
		if _, ok := next[k]; !ok {
			del = append(del, k)
		}
	}
	return set, del
}

// nullEntry reports an object of d that is JSON null (a removal is a key in a *_del list, never
// a null): applied, it would leave an entry every user of the state dereferences.
func (d *delta) nullEntry() error {
	for k, v := range d.VIPs {
		if v == nil {
			return fmt.Errorf("vips: %d is null", k)
		}
	}
	for k, vs := range d.VirtualServers {
		if vs == nil {
			return fmt.Errorf("virtual_servers: %s is null", k)
		}
	}
	for k, set := range d.RealServers {
		for rk, rs := range set {
			if rs == nil {
				return fmt.Errorf("real_servers: %s: %s is null", k, rk)
			}
		}
	}
	for k, b := range d.Bindings {
		if b == nil {
			return fmt.Errorf("bindings: %s is null", k)
		}
	}
	return nil
}

// apply makes the delta's changes to st, whose maps and objects it owns.
func (d *delta) apply(st *State) {
	st.Serial = d.Serial
	if d.PairSet {
		st.Pair = d.Pair
	}
	st.VIPs = applyMap(st.VIPs, d.VIPs, d.VIPsDel)
	st.RealServerBindings = applyMap(st.RealServerBindings, d.Bindings, d.BindingsDel)
	for _, key := range d.VSDel {
		delete(st.VirtualServers, key)
	}
	for key, vs := range d.VirtualServers {
		if st.VirtualServers == nil {
			st.VirtualServers = map[string]*agentapi.VirtualServer{}
		}
		if old := st.VirtualServers[key]; old != nil {
			vs.RealServers = old.RealServers
		}
		st.VirtualServers[key] = vs
	}
	for key, set := range d.RealServers {
		vs := st.VirtualServers[key]
		if vs == nil {
			continue
		}
		if vs.RealServers == nil && len(set) > 0 {
			vs.RealServers = map[string]*agentapi.RealServer{}
		}
		maps.Copy(vs.RealServers, set)
	}
	for key, del := range d.RSDel {
		if vs := st.VirtualServers[key]; vs != nil {
			for _, k := range del {
				delete(vs.RealServers, k)
			}
		}
	}
}

func applyMap[K comparable, V any](m map[K]V, set map[K]V, del []K) map[K]V {
	for _, k := range del {
		delete(m, k)
	}
	if len(set) > 0 && m == nil {
		m = map[K]V{}
	}
	maps.Copy(m, set)
	if len(m) == 0 {
		return nil
	}
	return m
}

// Commit stores next, which differs from prev (the state last stored) by the objects a change
// replaced, set or removed: it appends their difference to the journal, or, when the journal has
// outgrown the snapshot, writes next as the new snapshot. Either is on disk when Commit returns.
func (s *Store) Commit(prev, next *State) error {
	if err := s.refuseNewer(); err != nil {
		return err
	}
	if !s.sized {
		fi, err := os.Stat(s.Path)
		s.snapshotSize, s.haveSnapshot = 0, err == nil
		if err == nil {
			s.snapshotSize = fi.Size()
		}
		s.sized = true
	}
	// A journal only ever follows a snapshot, so that removing the snapshot (the documented way
	// to wipe an agent's state) also orphans the journal; and one that outgrew its snapshot is
	// folded into a new one.
	if !s.haveSnapshot || (s.journalSize >= minCompact && s.journalSize >= s.snapshotSize) {
		return s.Save(next)
	}
	line, err := json.Marshal(diff(prev, next))
	if err != nil {
		return fmt.Errorf("encode state change: %w", err)
	}
	if s.journal == nil {
		if err := os.MkdirAll(s.dir(), 0o700); err != nil {
			return fmt.Errorf("create state dir: %w", err)
		}
		f, err := os.OpenFile(s.journalPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("open state journal: %w", err)
		}
		s.journal = f
		if fi, err := f.Stat(); err == nil {
			s.journalSize = fi.Size()
		}
		if s.journalSize == 0 {
			// A new journal starts from prev, which the snapshot holds: no journal lines exist.
			hdr, _ := json.Marshal(journalHeader{Base: prev.Serial})
			n, err := f.Write(append(hdr, '\n'))
			s.journalSize += int64(n)
			if err != nil {
				s.journalSize = max(s.journalSize, minCompact, s.snapshotSize)
				return fmt.Errorf("write state journal: %w", err)
			}
		}
		// The file's name must survive a crash as well as the lines fsynced into it.
		if err := syncDir(s.dir()); err != nil {
			return err
		}
	}
	n, err := s.journal.Write(append(line, '\n'))
	s.journalSize += int64(n)
	if err == nil {
		err = s.journal.Sync()
	}
	if err != nil {
		// A line that may be torn: the next Commit starts afresh with a snapshot.
		s.journalSize = max(s.journalSize, minCompact, s.snapshotSize)
		return fmt.Errorf("write state journal: %w", err)
	}
	return nil
}

// replay applies the journal's lines over st. A last line without its newline is a write that
// was never acknowledged (the agent stopped while writing it) and is ignored; any other line that
// does not decode means the journal is corrupt.
func (s *Store) replay(st *State) error {
	b, err := os.ReadFile(s.journalPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read state journal: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, len(b)+1)
	line := 0
	torn := func() bool { return !bytes.HasSuffix(b, []byte("\n")) && line == bytes.Count(b, []byte("\n"))+1 }
	for sc.Scan() {
		line++
		if line == 1 {
			// The header: a journal whose base is not this snapshot belongs to another one (the
			// snapshot was removed to wipe the state, or restored from elsewhere): ignore it. A
			// header that does not decode is not that: ignoring it would silently drop every
			// acknowledged change after it, unless it is a torn first write, which held none.
			var h journalHeader
			if err := strictDecode(sc.Bytes(), &h, &s.newer); err != nil {
				if torn() {
					return nil
				}
				return s.corruptJournal(line, err)
			}
			if h.Base != st.Serial {
				return nil
			}
			continue
		}
		if len(sc.Bytes()) == 0 {
			continue
		}
		var d delta
		err := strictDecode(sc.Bytes(), &d, &s.newer)
		if err == nil {
			err = d.nullEntry()
		}
		if err != nil {
			if torn() {
				break // the torn last line: a write never acknowledged
			}
			return s.corruptJournal(line, err)
		}
		if d.Serial > st.Serial {
			d.apply(st)
		}
	}
	return sc.Err()
}

// corruptJournal is the error of a journal line that does not decode. The agent does not start
// from it (it keeps serving what the kernel has, see the server); the file is kept as it is.
func (s *Store) corruptJournal(line int, err error) error {
	return fmt.Errorf("%w: state journal %s is corrupt at line %d (%v): the changes from that line on cannot be read", ErrCorrupt, s.journalPath(), line, err)
}

// resetJournal empties the journal once a snapshot holds everything in it.
func (s *Store) resetJournal() error {
	if s.journal != nil {
		_ = s.journal.Close()
		s.journal = nil
	}
	s.journalSize = 0
	if err := os.Remove(s.journalPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state journal: %w", err)
	}
	return nil
}

func (s *Store) journalPath() string { return s.Path + ".journal" }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open state dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync state dir: %w", err)
	}
	return nil
}
