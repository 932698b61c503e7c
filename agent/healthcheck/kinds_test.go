//go:build unix

package healthcheck

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

func md5hex(s string) string {
	h := md5.Sum([]byte(s)) //nolint:gosec // keepalived's digest
	return hex.EncodeToString(h[:])
}

// TestHTTPURLsAndDigest: every URL must pass; the digest is the MD5 of the body, whatever the
// transfer encoding, as genhash prints it.
func TestHTTPURLsAndDigest(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/a", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "alpha\n") })
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "part one, ")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "part two\n")
	})
	mux.HandleFunc("/missing", http.NotFound)
	addr := serveHTTP(t, mux)
	tests := []struct {
		name string
		http *agentapi.HTTPCheck
		want string
	}{
		{"single digest passes", &agentapi.HTTPCheck{Path: "/a", Digest: md5hex("alpha\n")}, ""},
		{"upper-case digest passes", &agentapi.HTTPCheck{Path: "/a", Digest: strings.ToUpper(md5hex("alpha\n"))}, ""},
		{"chunked body digest passes", &agentapi.HTTPCheck{Path: "/chunked", Digest: md5hex("part one, part two\n")}, ""},
		{"wrong digest fails", &agentapi.HTTPCheck{Path: "/a", Digest: md5hex("beta\n")},
			"http: body digest " + md5hex("alpha\n") + ", expected " + md5hex("beta\n") + " (6 bytes)"},
		{"digest and regexp both", &agentapi.HTTPCheck{Path: "/a", Digest: md5hex("alpha\n"), ExpectedBody: "^beta"}, `body does not match "^beta"`},
		{"all urls pass", &agentapi.HTTPCheck{URLs: []agentapi.HTTPURL{
			{Path: "/a", Digest: md5hex("alpha\n")}, {Path: "/missing", ExpectedStatus: []string{"404"}}, {Path: "/chunked", ExpectedBody: "two"}}}, ""},
		{"one url fails", &agentapi.HTTPCheck{URLs: []agentapi.HTTPURL{
			{Path: "/a"}, {Path: "/missing"}}}, "http: status 404, expected 200-299 (url /missing)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hc := &agentapi.HealthCheck{Type: "http", HTTP: tt.http}
			wantResult(t, runCheck(t, hc, addr, 5*time.Second), tt.want)
		})
	}
}

func serveHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// udpServer answers each datagram with reply(payload) (nil: no answer) on a loopback port.
func udpServer(t *testing.T, reply func([]byte) []byte) (addr string, got func() [][]byte) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	var mu sync.Mutex
	var seen [][]byte
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			p := append([]byte(nil), buf[:n]...)
			mu.Lock()
			seen = append(seen, p)
			mu.Unlock()
			if r := reply(p); r != nil {
				_, _ = pc.WriteTo(r, from)
			}
		}
	}()
	return pc.LocalAddr().String(), func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return append([][]byte(nil), seen...)
	}
}

func TestUDPChecker(t *testing.T) {
	t.Parallel()
	echo := func(p []byte) []byte { return append([]byte("OK"), p...) }
	silent := func([]byte) []byte { return nil }
	tests := []struct {
		name  string
		reply func([]byte) []byte
		udp   *agentapi.UDPCheck
		want  string
		check func(t *testing.T, sent [][]byte)
	}{
		{"silence passes without require_reply", silent, nil, "", func(t *testing.T, sent [][]byte) {
			if len(sent) != 1 || len(sent[0]) != udpDefaultPayload {
				t.Errorf("sent %d datagrams (%v), want one of %d random bytes", len(sent), sent, udpDefaultPayload)
			}
		}},
		{"silence fails with require_reply", silent, &agentapi.UDPCheck{RequireReply: true}, "timeout", nil},
		{"the payload is sent as hex says", echo, &agentapi.UDPCheck{Payload: "4c56 5 3", RequireReply: true}, "", func(t *testing.T, sent [][]byte) {
			if len(sent) != 1 || string(sent[0]) != "LV\x05\x03" {
				t.Errorf("sent %q, want LV 05 03", sent)
			}
		}},
		{"a reply matching the pattern passes", echo, &agentapi.UDPCheck{Payload: "01", ReplyPattern: "4f4b 01"}, "", nil},
		{"x skips a nibble", echo, &agentapi.UDPCheck{Payload: "07", ReplyPattern: "4f4b 0x"}, "", nil},
		{"a reply against the pattern fails", echo, &agentapi.UDPCheck{Payload: "01", ReplyPattern: "4f4b 02"}, "does not match the pattern at byte 2 (got 01)", nil},
		{"a shorter reply is compared as far as it goes (keepalived)", func([]byte) []byte { return []byte("O") }, &agentapi.UDPCheck{ReplyPattern: "4f4b"}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr, sent := udpServer(t, tt.reply)
			hc := &agentapi.HealthCheck{Type: "udp", UDP: tt.udp}
			start := time.Now()
			err := runCheck(t, hc, addr, 300*time.Millisecond)
			if tt.want == "timeout" {
				// The Manager words a timeout; the checker hands the context's error back.
				if err == nil || ctxErr(err) == nil {
					t.Errorf("got %v, want the context's deadline", err)
				}
			} else {
				wantResult(t, err, tt.want)
			}
			if time.Since(start) > 2*time.Second {
				t.Errorf("check took %v", time.Since(start))
			}
			if tt.check != nil {
				tt.check(t, sent())
			}
		})
	}
	t.Run("ICMP port unreachable fails at once", func(t *testing.T) {
		t.Parallel()
		hc := &agentapi.HealthCheck{Type: "udp"}
		start := time.Now()
		err := runCheck(t, hc, closedPort(t, "udp", "127.0.0.1"), 3*time.Second)
		if err == nil || !strings.HasSuffix(err.Error(), ": connection refused") || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("got %v, want udp: ADDR: connection refused", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("refused after %v, want well before the 3s timeout", took)
		}
	})
}

func ctxErr(err error) error {
	if err == context.DeadlineExceeded {
		return err
	}
	return nil
}

// smtpServer runs a scripted SMTP server on loopback: greet is the greeting, heloReply the
// answer to HELO; it records the HELO line.
func smtpServer(t *testing.T, greet, heloReply string) (addr string, helo func() string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var mu sync.Mutex
	var last string
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.WriteString(c, greet)
				br := bufio.NewReader(c)
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				mu.Lock()
				last = line
				mu.Unlock()
				_, _ = io.WriteString(c, heloReply)
				if l, _ := br.ReadString('\n'); l == "QUIT\r\n" {
					_, _ = io.WriteString(c, "221 bye\r\n")
				}
			}()
		}
	}()
	return ln.Addr().String(), func() string {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

func TestSMTPChecker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, greet, heloReply, heloName, want, wantHelo string
	}{
		{"greeting and HELO pass", "220 mx.example.test ESMTP\r\n", "250 hello\r\n", "", "", "HELO smtpchecker.keepalived.org\r\n"},
		{"helo_name is sent", "220 mx\r\n", "250 hello\r\n", "lb1.example.test", "", "HELO lb1.example.test\r\n"},
		{"a multi-line greeting passes", "220-mx.example.test\r\n220 ready\r\n", "250-hello\r\n250 SIZE 1000\r\n", "", "", "HELO smtpchecker.keepalived.org\r\n"},
		{"a 554 greeting fails", "554 no service\r\n", "", "", `smtp: greeting from 127.0.0.1:`, ""},
		{"a refused HELO fails", "220 mx\r\n", "501 bad name\r\n", "", `"501 bad name", expected 250`, ""},
		{"not SMTP fails", "HTTP/1.1 400 Bad Request\r\n", "", "", "not an SMTP reply", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr, helo := smtpServer(t, tt.greet, tt.heloReply)
			hc := &agentapi.HealthCheck{Type: "smtp"}
			if tt.heloName != "" {
				hc.SMTP = &agentapi.SMTPCheck{HeloName: tt.heloName}
			}
			wantResult(t, runCheck(t, hc, addr, 3*time.Second), tt.want)
			if tt.wantHelo != "" && helo() != tt.wantHelo {
				t.Errorf("server got %q, want %q", helo(), tt.wantHelo)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		wantResult(t, runCheck(t, &agentapi.HealthCheck{Type: "smtp"}, closedPort(t, "tcp", "127.0.0.1"), 3*time.Second), "connection refused")
	})
	t.Run("port 0 defaults to 25", func(t *testing.T) {
		t.Parallel()
		rs := &agentapi.RealServer{Address: "127.0.0.1", Port: 0, Weight: 1}
		vs := &agentapi.VirtualServer{VRID: 1, FWMark: 7}
		s, err := newSpec(vsKey, "127.0.0.1:0", vs, rs, &agentapi.HealthCheck{Type: "smtp"})
		if err != nil || s.addr != "127.0.0.1:25" {
			t.Errorf("addr %q, %v; want 127.0.0.1:25", s.addr, err)
		}
	})
}

// TestExecDynamicWeight: with dynamic_weight the exit status sets the weight (keepalived
// misc_dynamic); without, 2-255 are failures.
func TestExecDynamicWeight(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status  int
		dynamic bool
		weight  int
		fails   bool
	}{
		{0, true, -1, false}, {1, true, -1, true}, {2, true, 0, false}, {9, true, 7, false}, {255, true, 253, false},
		{0, false, -1, false}, {9, false, -1, true},
	} {
		t.Run(fmt.Sprintf("exit %d dynamic %v", tt.status, tt.dynamic), func(t *testing.T) {
			t.Parallel()
			hc := &agentapi.HealthCheck{Type: "exec", Exec: &agentapi.ExecCheck{Command: fmt.Sprintf("exit %d", tt.status), DynamicWeight: tt.dynamic}}
			c, err := newChecker(specAt(t, hc, "127.0.0.1:8080"))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			w, err := c.(weighter).CheckWeight(ctx)
			if w != tt.weight || (err != nil) != tt.fails {
				t.Errorf("weight %d, err %v; want %d, failure %v", w, err, tt.weight, tt.fails)
			}
		})
	}
}

// TestManagerDynamicWeight: the Manager weighs an up server by its check, says so in the
// reason, leaves a drained one at 0, and goes back to the configured weight on exit 0.
func TestManagerDynamicWeight(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	status := filepath.Join(dir, "status")
	write := func(s string) {
		if err := os.WriteFile(status, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("9")
	changes := make(chan struct{}, 100)
	m := New(Config{OnChange: func() { changes <- struct{}{} }})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
	})
	hc := &agentapi.HealthCheck{Type: "exec", IntervalMS: 20, TimeoutMS: 2000, Rise: 1, Fall: 1,
		Exec: &agentapi.ExecCheck{Command: "exit $(cat " + status + ")", DynamicWeight: true}}
	st := oneVS("quiesce", hc, nil, "127.0.0.1", "127.0.0.2")
	st.VirtualServers[vsKey].RealServers["127.0.0.2:80"].Weight = 0 // drained
	if err := m.Apply(context.Background(), st, reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	weightIs := func(rs string, want int) func() bool {
		return func() bool {
			w, ok := m.Weight(vsKey, rs, st.VirtualServers[vsKey].RealServers[rs].Weight)
			return ok && w == want
		}
	}
	waitFor(t, "weight 7 from exit 9", weightIs("127.0.0.1:80", 7))
	if _, why := m.Health(vsKey, "127.0.0.1:80"); why != "weight 7 set by the check (exit status 9)" {
		t.Errorf("reason %q", why)
	}
	if w, _ := m.Weight(vsKey, "127.0.0.2:80", 0); w != 0 {
		t.Errorf("drained server weighs %d, want 0", w)
	}
	select {
	case <-changes:
	case <-time.After(10 * time.Second):
		t.Error("no OnChange for the new weight")
	}
	write("1")
	waitFor(t, "down on exit 1", healthIs(m, "127.0.0.1:80", StateDown))
	waitFor(t, "weight 0 while down", weightIs("127.0.0.1:80", 0))
	write("0")
	waitFor(t, "the configured weight on exit 0", weightIs("127.0.0.1:80", 10))
	if s, why := m.Health(vsKey, "127.0.0.1:80"); s != StateUp || why != "" {
		t.Errorf("health %s %q after exit 0", s, why)
	}
}
