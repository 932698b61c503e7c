package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
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
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
)

// layout is a private agent layout in a temp dir: the real binary, run as the provider runs it,
// without touching the machine's /run or /var/lib.
type layout struct {
	bin, socket, state, pidfile string
}

func build(t *testing.T) layout {
	t.Helper()
	dir := t.TempDir()
	l := layout{
		bin:    filepath.Join(dir, "lvs-agent"),
		socket: filepath.Join(dir, "run", "agent.sock"),
		state:  filepath.Join(dir, "lib", "state.json"),
	}
	l.pidfile = filepath.Join(dir, "run", "supervisor.pid")
	out, err := exec.Command("go", "build", "-o", l.bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		// Never leave a supervisor or its server behind, whatever the test did: every process
		// running this test's binary goes.
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && strings.HasPrefix(string(cmd), l.bin+"\x00") {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return l
}

func (l layout) run(t *testing.T, args ...string) string {
	t.Helper()
	args = append(args, "--socket", l.socket, "--state", l.state)
	out, err := exec.Command(l.bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("lvs-agent %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestInstallIdempotentRestartAndUninstall(t *testing.T) {
	l := build(t)
	l.run(t, "install")
	pid1, ok := supervisor.Alive(l.pidfile)
	if !ok {
		t.Fatal("no supervisor after install")
	}
	l.run(t, "install")
	if pid, _ := supervisor.Alive(l.pidfile); pid != pid1 {
		t.Fatalf("install on a running agent restarted it: pid %d -> %d", pid1, pid)
	}

	ctx := context.Background()
	cl := agentclient.New("local", agentclient.Unix(l.socket))
	defer cl.Close()
	p := &agentapi.Pair{Name: "edge", Directors: []agentapi.Director{{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"}}}
	if _, err := cl.PutPair(ctx, p); err != nil {
		t.Fatal(err)
	}
	if out := l.run(t, "status"); !strings.Contains(out, `director pair "edge"`) || !strings.Contains(out, "198.51.100.11 on eth0  <- this host") {
		t.Fatalf("status does not show the pair:\n%s", out)
	}

	l.run(t, "install", "--restart")
	pid2, ok := supervisor.Alive(l.pidfile)
	if !ok || pid2 == pid1 {
		t.Fatalf("restart did not replace the supervisor: %d -> %d (%v)", pid1, pid2, ok)
	}
	if got, err := cl.Pair(ctx); err != nil || got.Name != "edge" {
		t.Fatalf("state lost across restart: %+v %v", got, err)
	}

	// A crashed server is restarted by the supervisor.
	killServer(t, pid2)
	waitFor(t, 10*time.Second, func() bool { _, err := cl.Version(ctx); return err == nil })

	l.run(t, "uninstall")
	if _, ok := supervisor.Alive(l.pidfile); ok {
		t.Fatal("supervisor still alive after uninstall")
	}
	for _, f := range []string{l.bin, l.state, l.socket, filepath.Dir(l.state)} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s left behind", f)
		}
	}
}

// killServer SIGKILLs the serve child of the supervisor, as a crash would.
func killServer(t *testing.T, supervisorPID int) {
	t.Helper()
	killed := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Field 4 of stat, after the parenthesised command name, is the parent pid.
		rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
		if f := strings.Fields(rest); len(f) > 1 && f[1] == strconv.Itoa(supervisorPID) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			killed++
		}
	}
	if killed == 0 {
		t.Fatal("supervisor has no child")
	}
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDialStdioSpeaksHTTP drives dial-stdio exactly as the provider does over SSH: an HTTP request
// on stdin, the answer on stdout.
func TestDialStdioSpeaksHTTP(t *testing.T) {
	l := build(t)
	l.run(t, "install")
	defer l.run(t, "uninstall")
	cmd := exec.Command(l.bin, "dial-stdio", "--socket", l.socket)
	cmd.Stdin = strings.NewReader("GET " + agentapi.PathVersion + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dial-stdio: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
	if err != nil {
		t.Fatalf("answer is not HTTP: %v\n%s", err, out)
	}
	defer resp.Body.Close()
	var info agentapi.VersionInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || info.APIVersion != agentapi.APIVersion {
		t.Fatalf("version answer %+v %v", info, err)
	}
}

func TestDialStdioWithoutAgentExits3(t *testing.T) {
	l := build(t)
	err := exec.Command(l.bin, "dial-stdio", "--socket", l.socket).Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("want exit 3 when no agent runs, got %v", err)
	}
}
