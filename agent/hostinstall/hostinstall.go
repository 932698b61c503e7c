// Package hostinstall starts, stops and removes the agent on the host it runs on: a systemd unit
// where systemd runs, otherwise a detached `lvs-agent supervise`.
//
// The provider uploads the binary and then calls `lvs-agent install` / `lvs-agent uninstall`,
// so the host-side steps are Go code with tests instead of shell strings.
package hostinstall

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/supervisor"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

//go:embed lvs-agent.service
var systemdUnit string

// Init is how the agent is kept running on this host.
type Init string

const (
	InitSystemd    Init = "systemd"
	InitSupervisor Init = "supervisor"
)

// Paths are the files the agent owns on a host; tests point them into a temp dir.
type Paths struct {
	Binary     string
	StateDir   string
	State      string // the state file; empty: StateDir/state.json
	RunDir     string
	Socket     string
	PIDFile    string
	Log        string
	SystemdDir string
}

// DefaultPaths are the paths on a real host.
func DefaultPaths() Paths {
	return Paths{
		Binary:     agentapi.BinaryPath,
		StateDir:   agentapi.StateDir,
		State:      agentapi.StatePath,
		RunDir:     agentapi.RunDir,
		Socket:     agentapi.SocketPath,
		PIDFile:    agentapi.SupervisorPID,
		Log:        agentapi.LogPath,
		SystemdDir: agentapi.SystemdUnitDir,
	}
}

// Manager manages the agent service on this host.
type Manager struct {
	Paths Paths
	Init  Init
	// ReadyTimeout bounds the wait for the socket to answer after a start.
	ReadyTimeout time.Duration
}

// New returns a manager for the real host, detecting systemd.
func New() *Manager {
	return &Manager{Paths: DefaultPaths(), Init: Detect(), ReadyTimeout: 15 * time.Second}
}

// Detect reports whether systemd is the running init (the check sd_booted(3) documents).
func Detect() Init {
	if fi, err := os.Stat("/run/systemd/system"); err == nil && fi.IsDir() {
		if _, err := exec.LookPath("systemctl"); err == nil {
			return InitSystemd
		}
	}
	return InitSupervisor
}

// Running reports whether the agent service is running.
func (m *Manager) Running(ctx context.Context) bool {
	if m.Init == InitSystemd {
		return exec.CommandContext(ctx, "systemctl", "is-active", "--quiet", agentapi.SystemdUnit).Run() == nil
	}
	_, ok := supervisor.Alive(m.Paths.PIDFile)
	return ok
}

// Start makes sure the agent runs; with restart it restarts a running agent (after an upgrade of
// the binary). It returns once the API socket accepts connections, and reports whether it started
// or restarted anything.
func (m *Manager) Start(ctx context.Context, restart bool) (changed bool, err error) {
	running := m.Running(ctx)
	if running && !restart {
		return false, m.waitReady(ctx)
	}
	if m.Init == InitSystemd {
		if err := m.writeUnit(); err != nil {
			return false, err
		}
		if err := systemctl(ctx, "daemon-reload"); err != nil {
			return false, err
		}
		if err := systemctl(ctx, "enable", agentapi.SystemdUnit); err != nil {
			return false, err
		}
		if err := systemctl(ctx, "restart", agentapi.SystemdUnit); err != nil {
			return false, err
		}
		return true, m.waitReady(ctx)
	}
	if running {
		if err := m.Stop(ctx); err != nil {
			return false, err
		}
	}
	if err := m.startSupervisor(); err != nil {
		return false, err
	}
	return true, m.waitReady(ctx)
}

func (m *Manager) writeUnit() error {
	unit := strings.ReplaceAll(systemdUnit, agentapi.BinaryPath, m.Paths.Binary)
	path := filepath.Join(m.Paths.SystemdDir, agentapi.SystemdUnit)
	if b, err := os.ReadFile(path); err == nil && string(b) == unit {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(unit), 0o644); err != nil {
		return fmt.Errorf("write systemd unit: %w", err)
	}
	return os.Rename(tmp, path)
}

func (m *Manager) statePath() string {
	if m.Paths.State != "" {
		return m.Paths.State
	}
	return filepath.Join(m.Paths.StateDir, filepath.Base(agentapi.StatePath))
}

// startSupervisor starts `lvs-agent supervise` detached from the caller's session, with its output
// in the log file, so that the SSH session that ran install can end. The supervisor writes the
// log (supervisor.Log: never through a symlink, rotated by size); the file is checked here first,
// so that a log the agent refuses to write is this command's error, not a silent one.
func (m *Manager) startSupervisor() error {
	if err := os.MkdirAll(filepath.Dir(m.Paths.Log), 0o755); err != nil {
		return err
	}
	logf, _, err := supervisor.OpenLogFile(m.Paths.Log)
	if err != nil {
		return err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	// The supervisor's own stdout and stderr (a crash before its log is open) go to the file too.
	cmd := exec.Command(m.Paths.Binary, "supervise", "--log", m.Paths.Log,
		"--pid-file", m.Paths.PIDFile, "--socket", m.Paths.Socket, "--state", m.statePath())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	return cmd.Process.Release()
}

func (m *Manager) waitReady(ctx context.Context) error {
	timeout := m.ReadyTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("unix", m.Paths.Socket, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("agent did not open %s within %v (see %s): %w", m.Paths.Socket, timeout, m.Paths.Log, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop stops the agent and waits for it to exit. What it programmed stays in place.
func (m *Manager) Stop(ctx context.Context) error {
	if m.Init == InitSystemd {
		if err := systemctl(ctx, "stop", agentapi.SystemdUnit); err != nil {
			return err
		}
		return nil
	}
	pid, ok := supervisor.Alive(m.Paths.PIDFile)
	if !ok {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop supervisor %d: %w", pid, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, ok := supervisor.Alive(m.Paths.PIDFile); !ok {
			return nil
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return fmt.Errorf("supervisor %d did not stop within 20 s; killed it", pid)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Uninstall stops the agent and removes its unit, state, socket, log and binary. The caller
// first asks the running agent to remove what it programmed.
//
// It removes only what the agent created: the files it writes (by name) and then its directories,
// each only when nothing else is left in it. The directories are the parents of --socket and
// --state, which an operator may point anywhere (`--socket /run/x.sock`): removing the directory
// itself, with whatever else it holds, would delete /run.
func (m *Manager) Uninstall(ctx context.Context) error {
	if err := m.Stop(ctx); err != nil {
		return err
	}
	if m.Init == InitSystemd {
		_ = systemctl(ctx, "disable", agentapi.SystemdUnit)
		if err := removeIfExists(filepath.Join(m.Paths.SystemdDir, agentapi.SystemdUnit)); err != nil {
			return err
		}
		_ = systemctl(ctx, "daemon-reload")
	}
	files := []string{m.Paths.Socket, m.Paths.PIDFile, m.Paths.Log, m.Paths.Binary,
		m.statePath(), m.statePath() + ".journal"}
	files = append(files, supervisor.RotatedPaths(m.Paths.Log)...)
	for _, name := range stateFiles {
		files = append(files, filepath.Join(m.Paths.StateDir, name))
	}
	for _, f := range files {
		if err := removeIfExists(f); err != nil {
			return err
		}
	}
	// Temp files of the atomic writes (the store's snapshot, the ledgers) that a crash left, and
	// the unreadable state files a recovery kept (store.Replace: PATH.corrupt-TIME).
	state := filepath.Base(m.statePath())
	for _, pattern := range append(stateTempFiles, state+".corrupt-*", state+".journal.corrupt-*") {
		matches, _ := filepath.Glob(filepath.Join(m.Paths.StateDir, pattern))
		for _, f := range matches {
			if err := removeIfExists(f); err != nil {
				return err
			}
		}
	}
	for _, dir := range []string{m.Paths.RunDir, m.Paths.StateDir} {
		if err := removeEmptyDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// stateFiles are the files the agent writes in its state directory besides the store's snapshot
// and journal (agent/store): the ledgers of what it changed on the host (agent/ipvs, rshost,
// handover) and the health checks' down verdicts (agent/healthcheck).
var stateFiles = []string{
	"ipvs-owned.json", "ipvs-sysctls.json", "rshost.json", "rshost-sysctls.json", "handover-sysctls.json", "health-verdicts.json",
}

// stateTempFiles match the temp files of the agent's atomic writes in its state directory
// (store.Save's ".state-*.json", netconf's ledgers' ".NAME.*").
var stateTempFiles = []string{".state-*.json", ".ipvs-owned.json.*", ".ipvs-sysctls.json.*", ".rshost.json.*", ".rshost-sysctls.json.*", ".handover-sysctls.json.*", ".health-verdicts.json.*"}

// removeEmptyDir removes dir if it exists and is empty; a directory that still holds something
// (not the agent's, or shared like /run) stays.
func removeEmptyDir(dir string) error {
	err := os.Remove(dir)
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
		return nil
	}
	if errors.Is(err, syscall.EBUSY) { // a mount point
		return nil
	}
	return fmt.Errorf("remove %s: %w", dir, err)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

func systemctl(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "systemctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
