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

// startSupervisor starts `lvs-agent supervise` detached from the caller's session, with its output
// in the log file, so that the SSH session that ran install can end.
func (m *Manager) startSupervisor() error {
	if err := os.MkdirAll(filepath.Dir(m.Paths.Log), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(m.Paths.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open agent log: %w", err)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	cmd := exec.Command(m.Paths.Binary, "supervise",
		"--pid-file", m.Paths.PIDFile, "--socket", m.Paths.Socket, "--state", filepath.Join(m.Paths.StateDir, "state.json"))
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
	for _, dir := range []string{m.Paths.StateDir, m.Paths.RunDir} {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
	}
	for _, f := range []string{m.Paths.Log, m.Paths.Binary} {
		if err := removeIfExists(f); err != nil {
			return err
		}
	}
	return nil
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
