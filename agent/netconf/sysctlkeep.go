package netconf

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// SysctlIO reads and writes sysctls; *Handle implements it.
type SysctlIO interface {
	Sysctl(name string) (string, error)
	SetSysctl(name, value string) error
}

// SysctlChange is one sysctl a SysctlKeeper wrote.
type SysctlChange struct {
	Name, Old, New string
	// Drift is true when the keeper had already set the sysctl and found it changed by
	// someone else; false for the first change or a restore.
	Drift bool
	// Restore is true when the value written is the original one, given back.
	Restore bool
}

func (c SysctlChange) String() string {
	switch {
	case c.Restore:
		return fmt.Sprintf("%s restored to %s (was %s)", c.Name, c.New, c.Old)
	case c.Drift:
		return fmt.Sprintf("%s was changed to %s, set back to %s", c.Name, c.Old, c.New)
	}
	return fmt.Sprintf("%s %s -> %s", c.Name, c.Old, c.New)
}

// SysctlKeeper holds a set of sysctls at the values a subsystem needs and gives each its
// original value back when the subsystem no longer needs it. The originals are recorded in a
// ledger file, so that an agent restarted in between still restores the value the host had
// before the agent, not the one it set itself.
type SysctlKeeper struct {
	io   SysctlIO
	path string

	mu     sync.Mutex // guards the following
	loaded bool
	led    sysctlLedger
}

type sysctlLedger struct {
	// Originals are the values the sysctls had before the keeper first set them.
	Originals map[string]string `json:"originals"`
	// Held are the values the keeper set.
	Held map[string]string `json:"held"`
}

// NewSysctlKeeper returns a keeper writing through io and recording originals at path ("" for
// memory only).
func NewSysctlKeeper(io SysctlIO, path string) *SysctlKeeper {
	return &SysctlKeeper{io: io, path: path}
}

// Hold makes every sysctl in want hold its value, and restores the original value of those it
// held before and want lacks. It returns what it wrote. A sysctl that cannot be read or written
// is reported in the error; the others are still handled.
func (k *SysctlKeeper) Hold(want map[string]string) ([]SysctlChange, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.loaded {
		if err := LoadLedger(k.path, &k.led); err != nil {
			return nil, err
		}
		k.loaded = true
	}
	if k.led.Originals == nil {
		k.led.Originals = map[string]string{}
	}
	if k.led.Held == nil {
		k.led.Held = map[string]string{}
	}
	before := sysctlLedger{Originals: maps.Clone(k.led.Originals), Held: maps.Clone(k.led.Held)}
	var changes []SysctlChange
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(want)) {
		v := want[name]
		cur, err := k.io.Sysctl(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, ok := k.led.Originals[name]; !ok {
			k.led.Originals[name] = cur
		}
		if cur != v {
			if err := k.io.SetSysctl(name, v); err != nil {
				errs = append(errs, err)
				continue
			}
			_, held := k.led.Held[name]
			changes = append(changes, SysctlChange{Name: name, Old: cur, New: v, Drift: held && k.led.Held[name] == v})
		}
		k.led.Held[name] = v
	}
	for _, name := range slices.Sorted(maps.Keys(k.led.Originals)) {
		if _, ok := want[name]; ok {
			continue
		}
		orig := k.led.Originals[name]
		cur, err := k.io.Sysctl(name)
		if err != nil {
			// The sysctl is gone (its interface or module went): nothing to restore.
			delete(k.led.Originals, name)
			delete(k.led.Held, name)
			continue
		}
		// Only restore what still has the value the keeper set: someone who changed it since
		// made it theirs.
		if held, ok := k.led.Held[name]; ok && cur == held && cur != orig {
			if err := k.io.SetSysctl(name, orig); err != nil {
				errs = append(errs, err)
				continue
			}
			changes = append(changes, SysctlChange{Name: name, Old: cur, New: orig, Restore: true})
		}
		delete(k.led.Originals, name)
		delete(k.led.Held, name)
	}
	if !maps.Equal(before.Originals, k.led.Originals) || !maps.Equal(before.Held, k.led.Held) {
		var err error
		if len(k.led.Originals) == 0 {
			err = RemoveLedger(k.path)
		} else {
			err = SaveLedger(k.path, &k.led)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return changes, errors.Join(errs...)
}

// Held returns the sysctls the keeper holds and the values it set.
func (k *SysctlKeeper) Held() map[string]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.led.Held)
}

// ProcSys reads and writes sysctls of the calling process's network namespace under /proc/sys,
// for code that has no Handle (the IPVS and real-server reconcilers run in the agent's own
// namespace).
type ProcSys struct{}

func procSysPath(name string) string {
	if !strings.Contains(name, "/") {
		name = strings.ReplaceAll(name, ".", "/")
	}
	return filepath.Join("/proc/sys", filepath.Clean("/"+name))
}

// Sysctl implements SysctlIO.
func (ProcSys) Sysctl(name string) (string, error) {
	b, err := os.ReadFile(procSysPath(name))
	if err != nil {
		return "", fmt.Errorf("netconf: read sysctl %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// SetSysctl implements SysctlIO.
func (ProcSys) SetSysctl(name, value string) error {
	if err := os.WriteFile(procSysPath(name), []byte(value), 0o644); err != nil {
		return fmt.Errorf("netconf: set sysctl %s=%s: %w", name, value, err)
	}
	return nil
}
