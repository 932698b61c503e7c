package sshx_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx"
)

// One SSH connection per host per run: concurrent Gets and Runs share one dial, and a
// connection killed on the server side is re-dialled by the next Get.
func TestPoolReusesOneConnection(t *testing.T) {
	t.Parallel()
	s := startSSHD(t)
	p := sshx.NewPool()
	defer p.Close()

	const n = 20
	clients := make([]*sshx.Client, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := p.Get(context.Background(), s.Config())
			if err != nil {
				errs[i] = err
				return
			}
			clients[i] = c
			out, _, err := c.Run(context.Background(), fmt.Sprintf("echo %d", i), nil)
			if err == nil && string(out) != fmt.Sprintf("%d\n", i) {
				err = fmt.Errorf("output %q", out)
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("goroutine %d: %v", i, err)
		}
		if clients[i] != clients[0] {
			t.Fatalf("goroutine %d got another client", i)
		}
	}
	if d := p.Dials(); d != 1 {
		t.Fatalf("Dials() = %d after %d concurrent Gets, want 1", d, n)
	}

	s.KillConnections(t)
	select {
	case <-clients[0].Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client did not notice the server killed the connection")
	}
	c, err := p.Get(context.Background(), s.Config())
	if err != nil {
		t.Fatal(err)
	}
	if c == clients[0] {
		t.Fatal("Get returned the dead client")
	}
	if out, _, err := c.Run(context.Background(), "echo again", nil); err != nil || string(out) != "again\n" {
		t.Fatalf("Run on the re-dialled client: %q, %v", out, err)
	}
	if d := p.DialsByKey()[s.Config().Key()]; d != 2 {
		t.Fatalf("dials = %d after the re-dial, want 2", d)
	}

	p.Close()
	if _, err := p.Get(context.Background(), s.Config()); !errors.Is(err, sshx.ErrPoolClosed) {
		t.Fatalf("Get after Close: %v, want ErrPoolClosed", err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Close left a connection open")
	}
}

// Concurrent Gets for an unreachable host wait for one dial and share its error.
func TestPoolSharesFailedDial(t *testing.T) {
	t.Parallel()
	requireSSHD(t)
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never speaks
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	cfg := sshx.Config{Host: "127.0.0.1", Port: silent.Addr().(*net.TCPAddr).Port, PrivateKey: clientKey().PEM,
		InsecureSkipHostKeyVerification: true, Timeout: time.Second}

	p := sshx.NewPool()
	defer p.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.Get(context.Background(), cfg)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		var unreachable *sshx.UnreachableError
		if !errors.As(err, &unreachable) {
			t.Fatalf("err = %v, want *UnreachableError", err)
		}
	}
	if d := p.Dials(); d != 1 {
		t.Fatalf("Dials() = %d, want 1", d)
	}

	// A caller that gives up does not cancel the dial for the others.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Get(ctx, cfg); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get with a short context: %v", err)
	}
}
