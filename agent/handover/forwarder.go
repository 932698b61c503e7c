package handover

import (
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/netconf"
)

// Config configures a Forwarder.
type Config struct {
	// Do runs f in the network namespace to work in (netconf.Handle.Do); nil runs it in the
	// calling one.
	Do func(f func() error) error
	// Sysctls reads and writes the namespace's sysctls; nil means netconf.ProcSys.
	Sysctls netconf.SysctlIO
	// StateDir is where the sysctls' original values are recorded (handover-sysctls.json), so
	// that a start after a crash restores them; "" keeps them in memory only.
	StateDir string
	Logger   *slog.Logger
}

// Forwarder opens and closes handover windows; it implements vrrp.Forwarder. Its methods are
// safe for concurrent use.
type Forwarder struct {
	do     func(f func() error) error
	keeper *netconf.SysctlKeeper
	log    *slog.Logger

	mu   sync.Mutex // guards open and silenced, and serialises the kernel changes
	open map[int]*window
	// silenced marks the slots of the ARP silencers in place.
	silenced map[int]bool
}

// window is one open window.
type window struct {
	slot   int
	ifname string
	prev   netip.Addr
	vips   []netip.Addr
	opened time.Time
}

// New returns a Forwarder; it changes nothing until Cleanup, Forward or SilenceARP.
func New(cfg Config) *Forwarder {
	f := &Forwarder{do: cfg.Do, log: cfg.Logger, open: map[int]*window{}, silenced: map[int]bool{}}
	if f.do == nil {
		f.do = func(g func() error) error { return g() }
	}
	sys := cfg.Sysctls
	if sys == nil {
		sys = netconf.ProcSys{}
	}
	path := ""
	if cfg.StateDir != "" {
		path = filepath.Join(cfg.StateDir, "handover-sysctls.json")
	}
	f.keeper = netconf.NewSysctlKeeper(sys, path)
	if f.log == nil {
		f.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	f.log = f.log.With("part", "handover")
	return f
}

// freeSlot returns the lowest slot (1..maxWindows) that taken lacks, or 0 if all are taken.
func freeSlot[V any](taken map[int]V) int {
	for s := 1; s <= maxWindows; s++ {
		if _, ok := taken[s]; !ok {
			return s
		}
	}
	return 0
}

// once returns a function that runs undo, with f.mu held, the first time it is called: how a
// window or a silence is ended.
func (f *Forwarder) once(undo func()) func() {
	var done bool
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !done {
			done = true
			undo()
		}
	}
}

// sysctlsWanted is what the keeper holds: Sysctls while any window is open, nothing otherwise.
func sysctlsWanted(open int) map[string]string {
	if open == 0 {
		return nil
	}
	return Sysctls
}
