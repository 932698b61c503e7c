// Package store keeps the agent's desired state on disk.
//
// The state is a JSON snapshot, root-only, replaced atomically (temp file, fsync, rename, fsync of
// the directory) so that a crash or power cut leaves either the old or the new document, never a
// torn one, and a journal of the changes since, one fsynced line each (see journal.go). The agent
// re-applies it on start without flushing what the kernel already has.
package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// State is the stored document; its type is the wire type so that the provider can move a whole
// configuration between hosts.
type State = agentapi.State

// Store reads and writes the state file at Path and its journal, Path + ".journal". One
// goroutine at a time may use it.
type Store struct {
	Path string

	// newer names a field of the stored state that this agent does not know (the first found),
	// when a newer agent wrote it; "" otherwise. Set by Load.
	newer string

	// Commit's bookkeeping; Load leaves it alone, so tests may Load what a server commits.
	journal      *os.File // open for appending once Commit first writes
	journalSize  int64
	snapshotSize int64
	haveSnapshot bool
	sized        bool // snapshotSize and haveSnapshot are known
}

// New returns a store for the file at path.
func New(path string) *Store { return &Store{Path: path} }

// ErrCorrupt is the error of a state file or journal that cannot be read.
var ErrCorrupt = errors.New("stored state is corrupt")

// ErrNewer is the error of a write over a state that a newer agent stored: it holds fields this
// agent does not know, which a write would drop.
var ErrNewer = errors.New("the stored state was written by a newer lvs-agent")

// strictDecode decodes b into v. A field v does not know is not an error (a newer agent wrote
// it: this agent applies what it knows), but the first one is recorded in *unknown, so that the
// store refuses to write over it; any other decoding error is returned.
func strictDecode(b []byte, v any, unknown *string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if *unknown == "" {
			*unknown = f
		}
		return json.Unmarshal(b, v)
	}
	return err
}

// Newer returns the first field of the stored state that this agent does not know, "" when it
// knows them all (see ErrNewer).
func (s *Store) Newer() string { return s.newer }

// refuseNewer fails a write over a state a newer agent stored.
func (s *Store) refuseNewer() error {
	if s.newer == "" {
		return nil
	}
	return fmt.Errorf("%w: %s holds the field %s, which this agent does not know and a write would drop; "+
		"install the newer agent again (terraform apply with the newer provider) or, to go back for good, remove the field from the file", ErrNewer, s.Path, s.newer)
}

// Load returns the stored state, the snapshot with the journal replayed over it, or an empty
// state when none was ever saved.
func (s *Store) Load() (*State, error) {
	var st State
	b, err := os.ReadFile(s.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read state: %w", err)
	default:
		if err := strictDecode(b, &st, &s.newer); err != nil {
			return nil, fmt.Errorf("%w: state file %s is corrupt (%v)", ErrCorrupt, s.Path, err)
		}
		if err := nullEntry(&st); err != nil {
			return nil, fmt.Errorf("%w: state file %s is corrupt (%v)", ErrCorrupt, s.Path, err)
		}
	}
	if err := s.replay(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

// nullEntry reports an entry of st that is JSON null: every user of the state dereferences them,
// and the agent never writes one.
func nullEntry(st *State) error {
	for k, v := range st.VIPs {
		if v == nil {
			return fmt.Errorf("vips: %d is null", k)
		}
	}
	for k, vs := range st.VirtualServers {
		if vs == nil {
			return fmt.Errorf("virtual_servers: %s is null", k)
		}
		for rk, rs := range vs.RealServers {
			if rs == nil {
				return fmt.Errorf("virtual_servers: %s: real_servers: %s is null", k, rk)
			}
		}
	}
	for k, b := range st.RealServerBindings {
		if b == nil {
			return fmt.Errorf("real_server_bindings: %s is null", k)
		}
	}
	return nil
}

func (s *Store) dir() string { return filepath.Dir(s.Path) }

// Save writes st as the snapshot, atomically, with mode 0600 in a 0700 directory, and empties
// the journal.
func (s *Store) Save(st *State) error {
	if err := s.refuseNewer(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	dir := filepath.Dir(s.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".state-*.json")
	if err != nil {
		return fmt.Errorf("create temp state: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write temp state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync temp state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close temp state: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.Path); err != nil {
		return fmt.Errorf("replace state: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	s.snapshotSize, s.haveSnapshot, s.sized = int64(len(b)+1), true, true
	return s.resetJournal()
}

// Remove deletes the state file and its journal; a missing file is not an error.
func (s *Store) Remove() error {
	if err := s.resetJournal(); err != nil {
		return err
	}
	if err := os.Remove(s.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state: %w", err)
	}
	s.haveSnapshot, s.snapshotSize, s.newer = false, 0, ""
	return nil
}

// Replace makes st the stored state over a snapshot or journal that cannot be read: the
// unreadable files are kept beside it for inspection (PATH.corrupt-UNIXTIME and
// PATH.journal.corrupt-UNIXTIME), and st is written as a new snapshot with no journal.
func (s *Store) Replace(st *State, now time.Time) error {
	suffix := fmt.Sprintf(".corrupt-%d", now.Unix())
	for _, p := range []string{s.Path, s.journalPath()} {
		if err := os.Rename(p, p+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("keep the unreadable %s: %w", p, err)
		}
	}
	if s.journal != nil {
		_ = s.journal.Close()
		s.journal = nil
	}
	s.journalSize, s.sized, s.newer = 0, false, ""
	return s.Save(st)
}
