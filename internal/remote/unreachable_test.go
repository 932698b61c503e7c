package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx"
)

// TestUnreachableClassifies: only a host that cannot be reached degrades; a host that answers
// but refuses us, or presents another key, never does, however the error is wrapped.
func TestUnreachableClassifies(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error {
		return fmt.Errorf("agent on h: %w", &agentclient.TransportError{Host: "h", Err: err})
	}
	degrade := []error{
		&sshx.UnreachableError{Addr: "198.51.100.11:22", Err: errors.New("connect: connection refused")},
		&sshx.UnreachableError{Addr: "198.51.100.11:22", Err: errors.New("connect: no route to host")},
		&sshx.UnreachableError{Addr: "198.51.100.11:22", Via: "bastion:22", Err: errors.New("no answer within 30s")},
		&DownError{Addr: "198.51.100.11", At: time.Now(), Err: &sshx.UnreachableError{Addr: "198.51.100.11:22", Err: errors.New("i/o timeout")}},
	}
	for _, err := range degrade {
		if Unreachable(wrap(err)) == nil {
			t.Errorf("%v: not unreachable", err)
		}
	}
	hard := []error{
		&sshx.AuthError{User: "root", Addr: "198.51.100.11:22", Err: errors.New("no supported methods remain")},
		&sshx.UnknownHostKeyError{Host: "198.51.100.11:22"},
		&sshx.HostKeyMismatchError{Host: "198.51.100.11:22"},
		&sshx.SudoError{User: "deploy", Reason: sshx.ErrSudoPassword, Err: &sshx.CommandError{}},
		errors.New("SSH handshake with 198.51.100.11:22 failed (is it an SSH server?): EOF"),
		context.DeadlineExceeded,
	}
	for _, err := range hard {
		if got := Unreachable(wrap(err)); got != nil {
			t.Errorf("%v: degrades as %v; it must stop the run", err, got)
		}
	}
}

// TestUnreachableHostFailsFast: a host found unreachable is dialled once per run; every later
// use fails at once with the first failure, which still reads as unreachable and says so.
func TestUnreachableHostFailsFast(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now: connection refused
	h := New(func(addr string) (sshx.Config, error) {
		return sshx.Config{Host: addr, Port: port, User: "root", Password: "x", InsecureSkipHostKeyVerification: true, Timeout: 5 * time.Second}, nil
	})
	t.Cleanup(func() { h.Close() })
	ctx := context.Background()
	_, _, err = h.Probe(ctx, "127.0.0.1")
	if Unreachable(err) == nil {
		t.Fatalf("first probe: %v; want unreachable", err)
	}
	start := time.Now()
	for i := 0; i < 20; i++ {
		if _, err := h.Agent("127.0.0.1").Pair(ctx); Unreachable(err) == nil || !strings.Contains(err.Error(), "not dialled again") {
			t.Fatalf("read %d: %v; want the remembered failure", i, err)
		}
	}
	if _, err := h.Install(ctx, "127.0.0.1"); Unreachable(err) == nil {
		t.Fatalf("install: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("20 reads of a down host took %s", d)
	}
	if n := h.Dials()["root@127.0.0.1:"+fmt.Sprint(port)]; n != 1 {
		t.Errorf("dials %v; want exactly one to the down host", h.Dials())
	}
	if d := h.Down(); d["127.0.0.1"] == nil {
		t.Errorf("Down() = %v", d)
	}
}
