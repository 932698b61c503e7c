package hostinstall

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/supervisor"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// tempPaths is a private layout in a temp dir; nothing of the machine's /usr/local/sbin, /run,
// /var/lib, /var/log or systemd directory is touched.
func tempPaths(t *testing.T) Paths {
	t.Helper()
	dir := t.TempDir()
	return Paths{
		Binary:     filepath.Join(dir, "sbin", "lvs-agent"),
		StateDir:   filepath.Join(dir, "lib"),
		RunDir:     filepath.Join(dir, "run"),
		Socket:     filepath.Join(dir, "run", "agent.sock"),
		PIDFile:    filepath.Join(dir, "run", "supervisor.pid"),
		Log:        filepath.Join(dir, "log", "agent.log"),
		SystemdDir: filepath.Join(dir, "systemd"),
	}
}

func TestDefaultPathsAreTheAgentAPIs(t *testing.T) {
	t.Parallel()
	p := DefaultPaths()
	for _, tc := range [][2]string{
		{p.Binary, agentapi.BinaryPath}, {p.StateDir, agentapi.StateDir}, {p.RunDir, agentapi.RunDir},
		{p.Socket, agentapi.SocketPath}, {p.PIDFile, agentapi.SupervisorPID}, {p.Log, agentapi.LogPath},
		{p.SystemdDir, agentapi.SystemdUnitDir},
	} {
		if tc[0] != tc[1] {
			t.Errorf("default path %q, want %q", tc[0], tc[1])
		}
	}
}

// TestWriteUnit: the unit runs the manager's binary, is written once, and is rewritten when it
// differs.
func TestWriteUnit(t *testing.T) {
	t.Parallel()
	p := tempPaths(t)
	if err := os.MkdirAll(p.SystemdDir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := &Manager{Paths: p, Init: InitSystemd}
	unitPath := filepath.Join(p.SystemdDir, agentapi.SystemdUnit)
	if err := m.writeUnit(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	if !strings.Contains(unit, "ExecStart="+p.Binary+" serve\n") || strings.Contains(unit, agentapi.BinaryPath) {
		t.Fatalf("unit does not run %s serve:\n%s", p.Binary, unit)
	}
	for _, want := range []string{"Restart=always", "KillMode=mixed", "WantedBy=multi-user.target"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	fi, _ := os.Stat(unitPath)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("unit mode %v, want 0644", fi.Mode().Perm())
	}
	// Unchanged: not rewritten (the file stays the same inode).
	before := fi.Sys().(*syscall.Stat_t).Ino
	if err := m.writeUnit(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(unitPath); fi.Sys().(*syscall.Stat_t).Ino != before {
		t.Error("an unchanged unit was rewritten")
	}
	// Edited by hand: put back.
	if err := os.WriteFile(unitPath, []byte("[Service]\nExecStart=/bin/false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.writeUnit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(unitPath); string(b) != unit {
		t.Errorf("an edited unit was not restored:\n%s", b)
	}
	if _, err := os.Stat(unitPath + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temp unit left behind: %v", err)
	}
	// A missing directory is an error, not a panic.
	m.Paths.SystemdDir = filepath.Join(p.SystemdDir, "missing")
	if err := m.writeUnit(); err == nil || !strings.Contains(err.Error(), "write systemd unit") {
		t.Errorf("writeUnit into a missing directory: %v", err)
	}
}

// buildAgent builds lvs-agent into the layout's binary path.
func buildAgent(t *testing.T, p Paths) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", p.Binary, "../cmd/lvs-agent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build lvs-agent: %v\n%s", err, out)
	}
	t.Cleanup(func() { killAll(p.Binary) })
}

// killAll kills every process running bin, so that no agent outlives the test.
func killAll(bin string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && strings.HasPrefix(string(cmd), bin+"\x00") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// TestSupervisorLifecycle runs install's and uninstall's steps with the supervisor, as on a
// host without systemd: start, start again (no change), restart, stop, uninstall.
func TestSupervisorLifecycle(t *testing.T) {
	t.Parallel()
	p := tempPaths(t)
	buildAgent(t, p)
	m := &Manager{Paths: p, Init: InitSupervisor, ReadyTimeout: 20 * time.Second}
	ctx := context.Background()

	if m.Running(ctx) {
		t.Fatal("running before start")
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatalf("stop when not running: %v", err)
	}
	changed, err := m.Start(ctx, false)
	if err != nil || !changed {
		t.Fatalf("first start: changed %v, %v", changed, err)
	}
	pid1, ok := supervisor.Alive(p.PIDFile)
	if !ok || !m.Running(ctx) {
		t.Fatal("no supervisor after start")
	}
	if fi, err := os.Stat(p.Log); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log %s: %v; want mode 0600", p.Log, err)
	}
	changed, err = m.Start(ctx, false)
	if pid, _ := supervisor.Alive(p.PIDFile); err != nil || changed || pid != pid1 {
		t.Fatalf("start of a running agent: changed %v, pid %d -> %d, %v", changed, pid1, pid, err)
	}
	changed, err = m.Start(ctx, true)
	pid2, ok := supervisor.Alive(p.PIDFile)
	if err != nil || !changed || !ok || pid2 == pid1 {
		t.Fatalf("restart: changed %v, pid %d -> %d (%v), %v", changed, pid1, pid2, ok, err)
	}
	if alive(pid1) {
		t.Errorf("the old supervisor %d still runs after the restart", pid1)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if m.Running(ctx) {
		t.Fatal("running after stop")
	}
	if _, err := os.Stat(p.Binary); err != nil {
		t.Fatalf("stop removed the binary: %v", err)
	}
	if _, err := m.Start(ctx, false); err != nil {
		t.Fatalf("start after stop: %v", err)
	}
	if err := m.Uninstall(ctx); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	if m.Running(ctx) {
		t.Fatal("running after uninstall")
	}
	for _, f := range []string{p.Binary, p.StateDir, p.RunDir, p.Log} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left after uninstall (%v)", f, err)
		}
	}
	if err := m.Uninstall(ctx); err != nil {
		t.Errorf("uninstall of an uninstalled agent: %v", err)
	}
}

// alive reports whether pid runs. The test process is the supervisors' parent here (on a host
// it is `lvs-agent install`, which exits), so a stopped one stays a zombie until reaped.
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// TestStartFailures: what an operator sees when the agent cannot start.
func TestStartFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("no binary", func(t *testing.T) {
		t.Parallel()
		m := &Manager{Paths: tempPaths(t), Init: InitSupervisor, ReadyTimeout: time.Second}
		if _, err := m.Start(ctx, false); err == nil || !strings.Contains(err.Error(), "start supervisor") {
			t.Fatalf("start without a binary: %v", err)
		}
	})

	t.Run("never opens its socket", func(t *testing.T) {
		t.Parallel()
		p := tempPaths(t)
		if err := os.MkdirAll(filepath.Dir(p.Binary), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p.Binary, []byte("#!/bin/sh\necho agent broke >&2\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		m := &Manager{Paths: p, Init: InitSupervisor, ReadyTimeout: 300 * time.Millisecond}
		_, err := m.Start(ctx, false)
		if err == nil || !strings.Contains(err.Error(), "agent did not open "+p.Socket+" within 300ms (see "+p.Log+")") {
			t.Fatalf("start of an agent that dies: %v", err)
		}
		if b, _ := os.ReadFile(p.Log); !strings.Contains(string(b), "agent broke") {
			t.Errorf("the agent's output is not in its log: %q", b)
		}
	})

	t.Run("log cannot be made", func(t *testing.T) {
		t.Parallel()
		p := tempPaths(t)
		if err := os.WriteFile(filepath.Dir(p.Log), nil, 0o644); err != nil { // a file where the log's directory goes
			t.Fatal(err)
		}
		m := &Manager{Paths: p, Init: InitSupervisor, ReadyTimeout: time.Second}
		if _, err := m.Start(ctx, false); err == nil {
			t.Fatal("start with no place for the log succeeded")
		}
	})

	t.Run("cancelled wait", func(t *testing.T) {
		t.Parallel()
		m := &Manager{Paths: tempPaths(t), ReadyTimeout: time.Minute}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := m.waitReady(cctx); err != context.Canceled {
			t.Fatalf("waitReady on a cancelled context: %v", err)
		}
	})
}

// TestUninstallRemovesOnlyTheAgentsFiles: `lvs-agent uninstall --socket /run/x.sock` made the
// agent's run directory /run, and Uninstall removed it whole. Now it removes the agent's files
// and a directory only once nothing else is left in it.
func TestUninstallRemovesOnlyTheAgentsFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	shared := filepath.Join(dir, "run")    // as /run: others' files beside the socket
	sharedLib := filepath.Join(dir, "lib") // as /var/lib for --state /var/lib/state.json
	p := Paths{
		Binary:     filepath.Join(dir, "sbin", "lvs-agent"),
		StateDir:   sharedLib,
		RunDir:     shared,
		Socket:     filepath.Join(shared, "x.sock"),
		PIDFile:    filepath.Join(shared, "supervisor.pid"),
		Log:        filepath.Join(sharedLib, "agent.log"),
		SystemdDir: filepath.Join(dir, "systemd"),
	}
	others := []string{filepath.Join(shared, "sshd.pid"), filepath.Join(shared, "lock", "other"), filepath.Join(sharedLib, "dpkg", "status")}
	agents := []string{p.Binary, p.Socket, p.PIDFile, p.Log, p.Log + ".1", filepath.Join(sharedLib, "state.json"), filepath.Join(sharedLib, "state.json.journal"),
		filepath.Join(sharedLib, "ipvs-owned.json"), filepath.Join(sharedLib, ".state-123.json"), filepath.Join(sharedLib, "health-verdicts.json"),
		filepath.Join(sharedLib, ".health-verdicts.json.42"), filepath.Join(sharedLib, "state.json.corrupt-1765000000"), filepath.Join(sharedLib, "state.json.journal.corrupt-1765000000")}
	for _, f := range append(others, agents...) {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m := &Manager{Paths: p, Init: InitSupervisor}
	if err := m.Uninstall(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, f := range others {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("uninstall removed %s, which is not the agent's: %v", f, err)
		}
	}
	for _, f := range agents {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("uninstall left the agent's %s (%v)", f, err)
		}
	}
	// Once nothing else is in them, the directories go too.
	for _, f := range others {
		if err := os.RemoveAll(filepath.Dir(f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(shared, "sshd.pid")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if err := m.Uninstall(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{shared, sharedLib} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("empty agent directory %s left (%v)", d, err)
		}
	}
}

// TestLogIsNeverFollowed: a symlink, a FIFO or someone else's file at the log's path (keepalived's
// CVE-2018-19044) makes start fail with a message naming it; the link's target is not created.
func TestLogIsNeverFollowed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("symlink", func(t *testing.T) {
		t.Parallel()
		p := tempPaths(t)
		buildAgent(t, p)
		target := filepath.Join(t.TempDir(), "shadow")
		if err := os.MkdirAll(filepath.Dir(p.Log), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p.Log); err != nil {
			t.Fatal(err)
		}
		m := &Manager{Paths: p, Init: InitSupervisor, ReadyTimeout: 5 * time.Second}
		_, err := m.Start(ctx, false)
		if err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("start with a symlinked log: %v, want a refusal naming the link", err)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("the agent wrote through the symlink: %s exists (%v)", target, err)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		t.Parallel()
		p := tempPaths(t)
		if err := os.MkdirAll(filepath.Dir(p.Log), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(p.Log, 0o600); err != nil {
			t.Fatal(err)
		}
		m := &Manager{Paths: p, Init: InitSupervisor, ReadyTimeout: time.Second}
		if _, err := m.Start(ctx, false); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("start with a FIFO as log: %v", err)
		}
	})
	t.Run("hard link", func(t *testing.T) {
		t.Parallel()
		p := tempPaths(t)
		other := filepath.Join(t.TempDir(), "passwd")
		if err := os.WriteFile(other, []byte("root:x:0:0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(p.Log), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(other, p.Log); err != nil {
			t.Skipf("cannot hard-link across temp dirs: %v", err)
		}
		m := &Manager{Paths: p, Init: InitSupervisor, ReadyTimeout: time.Second}
		if _, err := m.Start(ctx, false); err == nil || !strings.Contains(err.Error(), "hard links") {
			t.Errorf("start with a hard-linked log: %v", err)
		}
		if b, _ := os.ReadFile(other); string(b) != "root:x:0:0\n" {
			t.Errorf("the linked file changed: %q", b)
		}
	})
	t.Run("not ours", func(t *testing.T) {
		t.Parallel()
		if os.Geteuid() != 0 {
			t.Skip("needs root to chown")
		}
		p := tempPaths(t)
		if err := os.MkdirAll(filepath.Dir(p.Log), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p.Log, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p.Log, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		m := &Manager{Paths: p, Init: InitSupervisor, ReadyTimeout: time.Second}
		if _, err := m.Start(ctx, false); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("start with another user's log: %v", err)
		}
	})
}
