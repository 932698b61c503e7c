package sshx_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx"
)

// dial returns a client for s closed at cleanup.
func dial(t *testing.T, cfg sshx.Config) *sshx.Client {
	t.Helper()
	c, err := sshx.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRun(t *testing.T) {
	t.Parallel()
	s := startSSHD(t)
	c := dial(t, s.Config())
	if c.User() != "root" || c.Key() != "root@"+s.Addr {
		t.Fatalf("User() = %q, Key() = %q", c.User(), c.Key())
	}
	big := bytes.Repeat([]byte("0123456789"), 100_000)

	tests := []struct {
		name       string
		cmd        string
		stdin      io.Reader
		wantOut    string
		wantErrOut string
		wantStatus int // 0: want success
	}{
		{name: "stdout and stderr", cmd: "echo out; echo err >&2", wantOut: "out\n", wantErrOut: "err\n"},
		{name: "stdin", cmd: "wc -c", stdin: bytes.NewReader(big), wantOut: "1000000\n"},
		{name: "exit status", cmd: "echo partial; echo 'it broke' >&2; exit 3",
			wantOut: "partial\n", wantErrOut: "it broke\n", wantStatus: 3},
		{name: "command not found", cmd: "lvs-no-such-command", wantStatus: 127},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, err := c.Run(context.Background(), tt.cmd, tt.stdin)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				var ce *sshx.CommandError
				if !errors.As(err, &ce) || ce.ExitStatus != tt.wantStatus || ce.Cmd != tt.cmd || ce.Host != c.Key() ||
					ce.Stderr != string(errOut) {
					t.Fatalf("err = %#v, want *CommandError with status %d", err, tt.wantStatus)
				}
				if !strings.Contains(err.Error(), strings.TrimSpace(ce.Stderr)) {
					t.Errorf("message %q lacks stderr", err)
				}
			}
			if string(out) != tt.wantOut || (tt.wantErrOut != "" && string(errOut) != tt.wantErrOut) {
				t.Errorf("stdout %q stderr %q, want %q %q", out, errOut, tt.wantOut, tt.wantErrOut)
			}
		})
	}
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	s := startSSHD(t)
	c := dial(t, s.Config())
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := c.Run(ctx, "echo $$ > "+pidFile+"; exec sleep 30", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Run returned %v after the cancel", d)
	}
	// sshd does not deliver signals to root sessions (they need privilege separation), so
	// the sleep outlives the session: stop it here.
	killPidFile(t, pidFile)

	// The connection is still usable.
	if out, _, err := c.Run(context.Background(), "echo alive", nil); err != nil || string(out) != "alive\n" {
		t.Fatalf("Run after cancel: %q, %v", out, err)
	}

	done, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	if _, _, err := c.Run(done, "true", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context: %v", err)
	}
}

// For other users sshd delivers the SIGTERM that cancellation sends: the command stops.
func TestRunCancelStopsNonRootCommand(t *testing.T) {
	t.Parallel()
	user := requireTestUser(t)
	s := startSSHD(t)
	cfg := s.Config()
	cfg.User, cfg.PrivateKey, cfg.Password = user, "", testUserPassword
	c := dial(t, cfg)
	dir, err := os.MkdirTemp("", "lvs-sshx-pid-") // writable by the test user
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777)
	pidFile := filepath.Join(dir, "pid")

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	if _, _, err := c.Run(ctx, "echo $$ > "+pidFile+"; exec sleep 30", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	pid := readPid(t, pidFile)
	waitGone(t, pid)
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	var b []byte
	for range 100 { // the remote shell may not have written it yet
		var err error
		if b, err = os.ReadFile(path); err == nil && len(b) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %s: %q", path, b)
	}
	return pid
}

func killPidFile(t *testing.T, path string) {
	t.Helper()
	syscall.Kill(readPid(t, path), syscall.SIGKILL)
}

// waitGone waits for process pid to exit.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("remote command %d still runs 5s later", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// More concurrent commands than sshd's MaxSessions all succeed: the client queues them.
func TestRunManySessions(t *testing.T) {
	t.Parallel()
	s := startSSHD(t, "MaxSessions 3")
	c := dial(t, s.Config())
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := "echo " + strings.Repeat("x", i%5+1)
			out, _, err := c.Run(context.Background(), cmd, nil)
			if err == nil && string(out) != strings.TrimPrefix(cmd, "echo ")+"\n" {
				err = errors.New("wrong output " + string(out))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	s := startSSHD(t)
	c := dial(t, s.Config())

	t.Run("echo through cat", func(t *testing.T) {
		t.Parallel()
		conn, err := c.Stream(context.Background(), "cat")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		data := make([]byte, 1<<20)
		rand.Read(data)
		go func() { conn.Write(data) }()
		got := make([]byte, len(data))
		if _, err := io.ReadFull(conn, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatal("echoed bytes differ")
		}
		if conn.RemoteAddr().String() != c.Key() {
			t.Errorf("RemoteAddr = %v", conn.RemoteAddr())
		}
	})

	t.Run("EOF after the command exits", func(t *testing.T) {
		t.Parallel()
		conn, err := c.Stream(context.Background(), "head -c 5")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("hello world")); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(conn)
		if err != nil || string(got) != "hello" {
			t.Fatalf("ReadAll = %q, %v", got, err)
		}
	})

	t.Run("command error with stderr", func(t *testing.T) {
		t.Parallel()
		conn, err := c.Stream(context.Background(), "echo 'agent not installed' >&2; exit 3")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = io.ReadAll(conn)
		var ce *sshx.CommandError
		if !errors.As(err, &ce) || ce.ExitStatus != 3 || !strings.Contains(ce.Stderr, "agent not installed") {
			t.Fatalf("ReadAll err = %v, want *CommandError with the stderr", err)
		}
	})

	t.Run("read deadline", func(t *testing.T) {
		t.Parallel()
		conn, err := c.Stream(context.Background(), "cat")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		var ne net.Error
		if _, err := conn.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("Read past the deadline: %v, want a timeout", err)
		}
		conn.SetReadDeadline(time.Time{})
		if _, err := conn.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(conn, b); err != nil || b[0] != 'x' {
			t.Fatalf("Read after clearing the deadline: %q, %v", b, err)
		}
	})

	// Like lvs-agent dial-stdio, cat exits on EOF: Close ends the remote command.
	t.Run("close ends a command reading stdin", func(t *testing.T) {
		t.Parallel()
		conn, err := c.Stream(context.Background(), "echo $$; exec cat")
		if err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("pid line %q", line)
		}
		conn.Close()
		waitGone(t, pid)
		if _, err := conn.Read(make([]byte, 1)); err == nil {
			t.Fatal("Read after Close succeeded")
		}
	})

	t.Run("close returns at once when the command ignores stdin", func(t *testing.T) {
		t.Parallel()
		pidFile := filepath.Join(t.TempDir(), "pid")
		conn, err := c.Stream(context.Background(), "echo $$ > "+pidFile+"; exec sleep 30")
		if err != nil {
			t.Fatal(err)
		}
		defer killPidFile(t, pidFile) // root session: sshd does not deliver the SIGTERM
		start := time.Now()
		conn.Close()
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Close took %v", d)
		}
	})

	// What the provider does with `lvs-agent dial-stdio`: HTTP over the stream.
	t.Run("HTTP over the stream", func(t *testing.T) {
		t.Parallel()
		// A one-shot HTTP responder in sh: read the request head, answer, exit.
		const server = `while IFS= read -r line; do [ "$line" = "$(printf '\r')" ] && break; done; ` +
			`printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{"ok":true}'`
		client := &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return c.Stream(ctx, server)
			},
		}}
		defer client.CloseIdleConnections()
		resp, err := client.Get("http://lvs-agent/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || string(body) != `{"ok":true}` {
			t.Fatalf("status %d body %q err %v", resp.StatusCode, body, err)
		}
	})
}

func TestUpload(t *testing.T) {
	t.Parallel()
	s := startSSHD(t)
	c := dial(t, s.Config())
	dir := t.TempDir()

	data := make([]byte, 5<<20)
	rand.Read(data)
	sum := sha256.Sum256(data)
	path := filepath.Join(dir, "lvs-agent.tmp")
	if err := c.Upload(context.Background(), path, bytes.NewReader(data), 0o750); err != nil {
		t.Fatal(err)
	}
	out, _, err := c.Run(context.Background(), "sha256sum "+path+" && stat -c %a "+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || strings.Fields(lines[0])[0] != hex.EncodeToString(sum[:]) || lines[1] != "750" {
		t.Fatalf("remote sha256sum and mode: %q, want %x and 750", out, sum)
	}

	// A failing upload leaves nothing behind and says why.
	bad := filepath.Join(dir, "missing-dir", "file")
	err = c.Upload(context.Background(), bad, strings.NewReader("x"), 0o644)
	var ce *sshx.CommandError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("upload into a missing directory: %v, want *CommandError naming the path", err)
	}

	// A name with spaces and quotes is passed intact.
	odd := filepath.Join(dir, "it's a file")
	if err := c.Upload(context.Background(), odd, strings.NewReader("odd"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(odd); err != nil || string(got) != "odd" {
		t.Fatalf("odd name: %q, %v", got, err)
	}
}

// fakeSudo writes a sudo to binDir that behaves like sudo -n for a user without NOPASSWD.
func fakeSudo(t *testing.T) string {
	t.Helper()
	// The test user must reach it: not under the 0700 t.TempDir.
	dir, err := os.MkdirTemp("", "lvs-sshx-fakesudo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	script := "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "sudo"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSudo(t *testing.T) {
	t.Parallel()
	user := requireTestUser(t)

	t.Run("root needs no sudo", func(t *testing.T) {
		t.Parallel()
		s := startSSHD(t)
		c := dial(t, s.Config())
		if got := c.Sudo("id -u"); got != "id -u" {
			t.Fatalf("Sudo for root = %q", got)
		}
	})

	t.Run("sudo wants a password", func(t *testing.T) {
		t.Parallel()
		s := startSSHDPath(t, fakeSudo(t))
		cfg := s.Config()
		cfg.User, cfg.PrivateKey, cfg.Password = user, "", testUserPassword
		c := dial(t, cfg)
		cmd := c.Sudo("id -u")
		if !strings.HasPrefix(cmd, "sudo -n ") {
			t.Fatalf("Sudo for %s = %q, want sudo -n", user, cmd)
		}
		_, _, err := c.Run(context.Background(), cmd, nil)
		var se *sshx.SudoError
		var ce *sshx.CommandError
		if !errors.Is(err, sshx.ErrSudoPassword) || !errors.As(err, &se) || !errors.As(err, &ce) || se.User != user {
			t.Fatalf("err = %v, want *SudoError matching ErrSudoPassword", err)
		}
		for _, w := range []string{user, "NOPASSWD", "log in as root"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("message lacks %q: %v", w, err)
			}
		}
		// Upload goes through sudo on its own.
		err = c.Upload(context.Background(), "/tmp/lvs-sshx-never-written", strings.NewReader("x"), 0o644)
		if !errors.Is(err, sshx.ErrSudoPassword) {
			t.Fatalf("Upload as %s: %v, want ErrSudoPassword", user, err)
		}
	})

	t.Run("real sudo", func(t *testing.T) {
		t.Parallel()
		s := startSSHD(t)
		cfg := s.Config()
		cfg.User, cfg.PrivateKey, cfg.Password = user, "", testUserPassword
		c := dial(t, cfg)
		if _, err := os.Stat("/usr/bin/sudo"); err != nil {
			// Without sudo on the host the error must say so.
			_, _, err := c.Run(context.Background(), c.Sudo("id -u"), nil)
			if !errors.Is(err, sshx.ErrSudoMissing) || !strings.Contains(err.Error(), "sudo is not installed") {
				t.Fatalf("err = %v, want ErrSudoMissing", err)
			}
			return
		}
		rule := "/etc/sudoers.d/" + user
		if err := os.WriteFile(rule, []byte(user+" ALL=(root) NOPASSWD: ALL\n"), 0o440); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(rule) })
		out, _, err := c.Run(context.Background(), c.Sudo("id -u; echo \"it's\" | cat"), nil)
		if err != nil || string(out) != "0\nit's\n" {
			t.Fatalf("sudo run: %q, %v", out, err)
		}
	})
}

// TestDialUnix: a unix socket on the host is reached through the SSH connection itself; a missing
// socket and an sshd that does not forward to sockets are errors.
func TestDialUnix(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "echo.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer conn.Close(); _, _ = io.Copy(conn, conn) }()
		}
	}()

	c := dial(t, startSSHD(t).Config())
	conn, err := c.DialUnix(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 256<<10)
	rand.Read(data)
	go func() { _, _ = conn.Write(data) }()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(conn, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("echo through the socket: %v", err)
	}
	conn.Close()

	if _, err := c.DialUnix(context.Background(), sock+".missing"); err == nil {
		t.Error("a missing socket connected")
	}
	refusing := dial(t, startSSHD(t, "AllowStreamLocalForwarding no").Config())
	if _, err := refusing.DialUnix(context.Background(), sock); err == nil {
		t.Error("an sshd without socket forwarding connected")
	}
}
