package agentinstall

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/bundle"
	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx"
	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx/sshdtest"
	"github.com/lvs-provider/terraform-provider-lvs/internal/testreq"
)

func TestMain(m *testing.M) {
	code := m.Run()
	sshdtest.RemoveTestUser()
	os.Exit(code)
}

// layout is a private agent layout in a temp dir, standing in for the host's real paths: the
// agent's binary directory (for /usr/local/sbin), its socket and its state.
type layout struct {
	dir, sbin, bin, socket, state, pidfile string
}

func newLayout(t *testing.T) layout {
	t.Helper()
	dir := t.TempDir()
	// sudo's target user must be able to reach it as well, and a non-root login (which checks
	// the staged upload's checksum itself) too.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	l := layout{dir: dir, sbin: filepath.Join(dir, "sbin"), socket: filepath.Join(dir, "run", "agent.sock"), state: filepath.Join(dir, "lib", "state.json")}
	l.bin = filepath.Join(l.sbin, "lvs-agent")
	l.pidfile = filepath.Join(dir, "run", "supervisor.pid")
	t.Cleanup(func() {
		// Never leave an agent behind, whatever the test did: every process running the
		// layout's binary goes.
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

// layoutRunner runs the package's commands over a real SSH connection with the host's paths
// moved into a layout: the binary's directory becomes the layout's sbin, and the agent's
// install, stop and uninstall get the layout's socket and state (so the agent keeps every file
// under the layout and is supervised, never a systemd unit). A command that would still touch
// a real path of the agent is refused.
type layoutRunner struct {
	c *sshx.Client
	l layout
}

func (r layoutRunner) Run(ctx context.Context, cmd string, stdin io.Reader) ([]byte, []byte, error) {
	cmd, err := r.rewrite(cmd)
	if err != nil {
		return nil, nil, err
	}
	return r.c.Run(ctx, cmd, stdin)
}

// Stream is sshx.Client.Stream with the command moved into the layout, as Run does.
func (r layoutRunner) Stream(ctx context.Context, cmd string) (net.Conn, error) {
	cmd, err := r.rewrite(cmd)
	if err != nil {
		return nil, err
	}
	return r.c.Stream(ctx, cmd)
}

// rewrite moves a command (or a sudoers rule, so that it names the commands that really run)
// into the layout.
func (r layoutRunner) rewrite(cmd string) (string, error) {
	flags := " --socket " + r.l.socket + " --state " + r.l.state
	for _, sub := range []string{" install", " uninstall", " stop", " dial-stdio"} {
		cmd = strings.ReplaceAll(cmd, agentapi.BinaryPath+sub, agentapi.BinaryPath+sub+flags)
	}
	cmd = strings.ReplaceAll(cmd, path.Dir(agentapi.BinaryPath), r.l.sbin)
	for _, real := range []string{path.Dir(agentapi.BinaryPath), agentapi.StateDir, agentapi.RunDir, agentapi.LogPath, agentapi.SystemdUnitDir} {
		if strings.Contains(cmd, real) {
			return "", fmt.Errorf("test runner refuses a command on the machine's own %s: %q", real, cmd)
		}
	}
	return cmd, nil
}

func dial(t *testing.T, cfg sshx.Config) *sshx.Client {
	t.Helper()
	c, err := sshx.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func bundled(t *testing.T) *bundle.Agent {
	t.Helper()
	a, err := bundle.For(runtime.GOARCH)
	if err != nil {
		testreq.Missing(t, fmt.Sprintf("needs the bundled agent for this machine (make build): %v", err))
	}
	return a
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// noTempLeft checks that no upload temp file stays beside the binary.
func noTempLeft(t *testing.T, l layout) {
	t.Helper()
	if m, _ := filepath.Glob(filepath.Join(l.sbin, ".lvs-agent.*")); len(m) > 0 {
		t.Errorf("upload temp files left behind: %v", m)
	}
}

// TestInstallOverSSH installs, re-installs, repairs and uninstalls the bundled agent through a
// real sshd as root: the same scripts, the same checksum check on the host, the agent's own
// install and uninstall, in a private layout.
func TestInstallOverSSH(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	a := bundled(t)
	l := newLayout(t)
	h := Host{Address: "127.0.0.1", User: "root", Runner: layoutRunner{dial(t, s.Config()), l}}
	ctx := context.Background()

	p, err := ProbeHost(ctx, h)
	if err != nil || p.Arch != runtime.GOARCH || p.InstalledHash != "" || !p.Gzip {
		t.Fatalf("probe of a fresh host: %+v, %v", p, err)
	}
	res, err := Install(ctx, h)
	if err != nil || res != (Result{Arch: runtime.GOARCH, Uploaded: true, Started: true}) {
		t.Fatalf("first install: %+v, %v", res, err)
	}
	if got := fileSHA(t, l.bin); got != a.SHA256 {
		t.Fatalf("installed binary has SHA-256 %s, want the bundled %s", got, a.SHA256)
	}
	if fi, err := os.Stat(l.bin); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("installed binary: %v, %v; want mode 0755", fi.Mode(), err)
	}
	noTempLeft(t, l)
	cl := agentclient.New("test", agentclient.Unix(l.socket))
	defer cl.Close()
	if v, err := cl.Version(ctx); err != nil || v.APIVersion != agentapi.APIVersion {
		t.Fatalf("the installed agent does not answer: %+v, %v", v, err)
	}
	if p, err := ProbeHost(ctx, h); err != nil || p.InstalledHash != a.SHA256 {
		t.Fatalf("probe after install: %+v, %v", p, err)
	}

	// Again: nothing to do.
	res, err = Install(ctx, h)
	if err != nil || res.Changed() {
		t.Fatalf("second install changed something: %+v, %v", res, err)
	}

	// A binary that is not the bundled one (a damaged or other version) is replaced and the
	// agent restarted.
	if err := os.WriteFile(l.bin+".new", []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(l.bin+".new", l.bin); err != nil { // the running one stays busy
		t.Fatal(err)
	}
	res, err = Install(ctx, h)
	if err != nil || !res.Uploaded || !res.Started {
		t.Fatalf("install over a foreign binary: %+v, %v", res, err)
	}
	if got := fileSHA(t, l.bin); got != a.SHA256 {
		t.Fatalf("binary not replaced: %s", got)
	}
	waitAnswer(t, cl)

	if err := Uninstall(ctx, h); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	for _, f := range []string{l.bin, l.socket, l.state} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after uninstall (%v)", f, err)
		}
	}
	if err := Uninstall(ctx, h); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("second uninstall: %v, want ErrNotInstalled", err)
	}
}

func waitAnswer(t *testing.T, cl *agentclient.Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := cl.Version(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent does not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUploadOverSSH covers the upload on its own, on a real host: both encodings, and the
// failures an operator meets, none of which may leave a broken binary in place.
func TestUploadOverSSH(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	a := bundled(t)
	c := dial(t, s.Config())
	ctx := context.Background()

	t.Run("raw and gzipped", func(t *testing.T) {
		for _, gz := range []bool{false, true} {
			l := newLayout(t)
			if err := upload(ctx, Host{Address: "127.0.0.1", Runner: layoutRunner{c, l}}, a, gz); err != nil {
				t.Fatalf("gzip %v: %v", gz, err)
			}
			if got := fileSHA(t, l.bin); got != a.SHA256 {
				t.Fatalf("gzip %v: uploaded binary has SHA-256 %s, want %s", gz, got, a.SHA256)
			}
			noTempLeft(t, l)
		}
	})

	t.Run("checksum mismatch", func(t *testing.T) {
		l := newLayout(t)
		if err := os.MkdirAll(l.sbin, 0o755); err != nil {
			t.Fatal(err)
		}
		old := []byte("the agent that works\n")
		if err := os.WriteFile(l.bin, old, 0o755); err != nil {
			t.Fatal(err)
		}
		bad := &bundle.Agent{Arch: a.Arch, Gzip: a.Gzip, SHA256: strings.Repeat("0", 64)} // a transfer that arrives changed
		err := upload(ctx, Host{Address: "127.0.0.1", Runner: layoutRunner{c, l}}, bad, true)
		var ce *sshx.CommandError
		if !errors.As(err, &ce) || ce.ExitStatus != 65 || !strings.Contains(err.Error(), "checksum of the uploaded agent does not match: transfer corrupted") ||
			!strings.Contains(err.Error(), "upload lvs-agent (linux/"+a.Arch) {
			t.Fatalf("err = %v, want exit 65 and the checksum message", err)
		}
		if b, _ := os.ReadFile(l.bin); string(b) != string(old) {
			t.Error("a failed upload replaced the installed binary")
		}
		noTempLeft(t, l)
	})

	t.Run("directory cannot be made", func(t *testing.T) {
		l := newLayout(t)
		if err := os.WriteFile(l.sbin, nil, 0o644); err != nil { // a file where the directory goes
			t.Fatal(err)
		}
		h := Host{Address: "127.0.0.1", User: "root", Runner: layoutRunner{c, l}}
		res, err := Install(ctx, h)
		if err == nil || !strings.Contains(err.Error(), "upload lvs-agent (linux/"+a.Arch) || !strings.Contains(err.Error(), "to 127.0.0.1:"+agentapi.BinaryPath) || res.Changed() {
			t.Fatalf("Install = %+v, %v; want an upload error naming host and path", res, err)
		}
	})
}

// TestInstallThroughSudo: a non-root login whose only sudo rule is SudoersRule (moved into the
// test's layout) installs the agent, talks to it through `sudo -n lvs-agent dial-stdio`, stops
// and uninstalls it; the rule allows nothing else. Without the rule, or with one that lacks a
// command, the step fails as sshx.ErrSudoPassword with the rule quoted, before anything changed.
func TestInstallThroughSudo(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/bin/sudo"); err != nil {
		testreq.Missing(t, "needs sudo (apt-get install sudo)")
	}
	user := sshdtest.RequireTestUser(t)
	s := sshdtest.Start(t)
	a := bundled(t)
	cfg := s.Config()
	cfg.User, cfg.PrivateKey, cfg.Password = user, "", sshdtest.TestUserPassword
	c := dial(t, cfg)
	l := newLayout(t)
	r := layoutRunner{c, l}
	h := Host{Address: "127.0.0.1", User: user, Runner: r}
	ctx := context.Background()

	ruleFile := "/etc/sudoers.d/" + user
	t.Cleanup(func() { os.Remove(ruleFile) })
	setRule := func(rule string) {
		t.Helper()
		if err := os.WriteFile(ruleFile, []byte(rule+"\n"), 0o440); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("visudo", "-cf", ruleFile).CombinedOutput(); err != nil {
			t.Fatalf("visudo rejects the rule %q: %v: %s", rule, err, out)
		}
	}
	wantSudoErr := func(what string, err error) {
		t.Helper()
		var se *sshx.SudoError
		if !errors.Is(err, sshx.ErrSudoPassword) || !errors.As(err, &se) || se.User != user ||
			!strings.Contains(err.Error(), SudoersRule(user)) {
			t.Fatalf("%s: err = %v; want sshx.ErrSudoPassword quoting the rule %q", what, err, SudoersRule(user))
		}
	}
	// dialAgent opens an agent API stream as the provider does (remote.dialAgent for non-root).
	dialAgent := func(ctx context.Context) (net.Conn, error) { return r.Stream(ctx, DialCommand(h)) }
	streamErr := func() error {
		conn, err := dialAgent(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadAll(conn)
		return SudoHint(h, err)
	}

	// No rule: the upload is refused by sudo, and nothing is installed.
	res, err := Install(ctx, h)
	wantSudoErr("Install without a sudo rule", err)
	if !strings.Contains(err.Error(), "upload lvs-agent") || res.Changed() {
		t.Fatalf("Install without a sudo rule = %+v, %v; want the upload to fail", res, err)
	}
	if _, err := os.Stat(l.bin); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a binary was installed without sudo (%v)", err)
	}

	rule, err := r.rewrite(SudoersRule(user))
	if err != nil {
		t.Fatal(err)
	}
	setRule(rule)
	// The rule allows the provider's commands and nothing else.
	if _, _, err := c.Run(ctx, "sudo -n -- id -u", nil); !errors.Is(err, sshx.ErrSudoPassword) {
		t.Fatalf("sudo id under the agent's rule: %v, want it refused", err)
	}
	res, err = Install(ctx, h)
	if err != nil || !res.Uploaded || !res.Started {
		t.Fatalf("Install through sudo: %+v, %v", res, err)
	}
	if fi, err := os.Stat(l.bin); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 || fi.Mode().Perm() != 0o755 {
		t.Fatalf("binary not installed as root with mode 0755: %v", err)
	}
	if got := fileSHA(t, l.bin); got != a.SHA256 {
		t.Fatalf("installed binary has SHA-256 %s, want %s", got, a.SHA256)
	}
	noTempLeft(t, l)
	cl := agentclient.New("test", dialAgent)
	defer cl.Close()
	waitAnswer(t, cl)
	if res, err := Install(ctx, h); err != nil || res.Changed() {
		t.Fatalf("second Install through sudo: %+v, %v", res, err)
	}
	if err := Stop(ctx, h); err != nil {
		t.Fatalf("Stop through sudo: %v", err)
	}

	// A rule without dial-stdio (the last command): the stream fails as a sudo error too.
	setRule(rule[:strings.LastIndex(rule, ", ")])
	wantSudoErr("dial-stdio without its rule", streamErr())

	setRule(rule)
	if err := Uninstall(ctx, h); err != nil {
		t.Fatalf("Uninstall through sudo: %v", err)
	}
	if _, err := os.Stat(l.bin); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("binary left after Uninstall (%v)", err)
	}
}
