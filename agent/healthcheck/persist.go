package healthcheck

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lvs-provider/terraform-provider-lvs/agent/netconf"
)

// Verdicts outlive the agent: without them, every real server came back up after a restart
// and a dead one got traffic again until its checks failed anew. The Manager keeps the down
// verdicts in a small file (Config.StatePath), rewritten when they change; a restarted agent
// starts those real servers down, until their checks bring them up. Only real servers of the
// desired state are kept, so the verdicts of removed ones do not accumulate; a fresh install
// has no file, and every real server starts as it always did.

// savedVerdicts is the file's document.
type savedVerdicts struct {
	Down []savedDown `json:"down"`
}

type savedDown struct {
	VS     string `json:"vs"`
	RS     string `json:"rs"`
	Reason string `json:"reason,omitempty"`
}

// loadVerdicts reads the saved down verdicts; a missing or unreadable file is no verdicts (an
// unreadable one is logged: the checks decide again, as on a fresh install).
func (m *Manager) loadVerdicts() map[rsID]string {
	var doc savedVerdicts
	if err := netconf.LoadLedger(m.statePath, &doc); err != nil {
		m.log.Warn("saved health verdicts unreadable; checks start afresh", "err", err)
		return nil
	}
	out := map[rsID]string{}
	for _, d := range doc.Down {
		out[rsID{d.VS, d.RS}] = d.Reason
	}
	return out
}

// downLocked lists the real servers whose checks say down, in a stable order; m.mu is held.
func (m *Manager) downLocked() []savedDown {
	var out []savedDown
	for id, t := range m.targets {
		if t.check != nil && !t.v.up {
			out = append(out, savedDown{VS: id.vs, RS: id.rs, Reason: t.v.reason})
		}
	}
	slices.SortFunc(out, func(a, b savedDown) int {
		if c := strings.Compare(a.VS, b.VS); c != 0 {
			return c
		}
		return strings.Compare(a.RS, b.RS)
	})
	return out
}

// persist asks the saver to write the verdicts; it never blocks.
func (m *Manager) persist() {
	if m.statePath == "" {
		return
	}
	select {
	case m.persistc <- struct{}{}:
	default:
	}
}

// saver writes the down verdicts when they changed, until Stop, outside the lock the checks
// need (the write is fsynced).
func (m *Manager) saver() {
	defer m.wg.Done()
	var last []savedDown
	for {
		select {
		case <-m.persistc:
		case <-m.ctx.Done():
			return
		}
		m.mu.Lock()
		down := m.downLocked()
		m.mu.Unlock()
		if last != nil && slices.Equal(down, last) {
			continue
		}
		if err := m.saveVerdicts(down); err != nil {
			m.log.Warn("saving health verdicts", "err", err)
			continue
		}
		if down == nil {
			down = []savedDown{}
		}
		last = down
	}
}

// saveVerdicts writes down, or removes the file when nothing is down. It creates no directory:
// the state directory is the agent's, and one that is gone (uninstall) stays gone.
func (m *Manager) saveVerdicts(down []savedDown) error {
	if len(down) == 0 {
		if err := os.Remove(m.statePath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if _, err := os.Stat(filepath.Dir(m.statePath)); err != nil {
		return nil
	}
	return netconf.SaveLedger(m.statePath, savedVerdicts{Down: down})
}
