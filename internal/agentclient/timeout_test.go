package agentclient_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
)

// rawAgent listens on a unix socket and hands each connection to serve.
func rawAgent(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return sock
}

// TestStuckAgentTimesOut: an agent that reads the request and never answers makes every call
// fail at its deadline, with an error naming the host and the operation, instead of hanging
// terraform forever.
func TestStuckAgentTimesOut(t *testing.T) {
	t.Parallel()
	sock := rawAgent(t, func(c net.Conn) {
		_, _ = http.ReadRequest(bufio.NewReader(c)) // and never answer
		time.Sleep(time.Minute)
		c.Close()
	})
	cl := agentclient.New("198.51.100.11", agentclient.Unix(sock))
	defer cl.Close()
	for _, tc := range []struct {
		op   string
		call func(ctx context.Context) error
	}{
		{"GET /v1/status", func(ctx context.Context) error { _, err := cl.Status(ctx); return err }},
		{"PUT /v1/vips/7", func(ctx context.Context) error {
			_, err := cl.PutVIP(ctx, &agentapi.VIP{VRID: 7})
			return err
		}},
		{"DELETE /v1/pair", func(ctx context.Context) error { return cl.DeletePair(ctx) }},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		err := tc.call(ctx)
		took := time.Since(start)
		cancel()
		if err == nil {
			t.Fatalf("%s: a stuck agent answered", tc.op)
		}
		if took > 3*time.Second {
			t.Errorf("%s: failed after %v, want about the 300ms deadline", tc.op, took)
		}
		for _, want := range []string{"198.51.100.11", tc.op, "within"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", tc.op, err, want)
			}
		}
		if !errors.Is(err, agentclient.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: error %v is not an unreachable agent's deadline", tc.op, err)
		}
	}
}

// TestHugeAnswerIsRefused: the client reads at most agentapi.MaxResponseBytes of an answer and
// says so, instead of reading whatever a broken agent sends into memory.
func TestHugeAnswerIsRefused(t *testing.T) {
	t.Parallel()
	sock := rawAgent(t, func(c net.Conn) {
		defer c.Close()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n\""))
		chunk := []byte(strings.Repeat("a", 1<<20))
		for i := 0; i <= agentapi.MaxResponseBytes>>20; i++ {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	})
	cl := agentclient.New("198.51.100.12", agentclient.Unix(sock))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := cl.Status(ctx)
	if err == nil || !strings.Contains(err.Error(), "larger than") || !strings.Contains(err.Error(), "198.51.100.12") || !strings.Contains(err.Error(), "GET /v1/status") {
		t.Fatalf("huge answer: %v, want a refusal naming the host, the operation and the limit", err)
	}
}
