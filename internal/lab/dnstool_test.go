package lab

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func freeAddr(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestServeDNS(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t, "udp")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeDNS(ctx, addr, "www.example.test", netip.MustParseAddr("198.51.100.21")) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeDNS: %v", err)
		}
	}()
	ask := func(name string) dnsmessage.Message {
		t.Helper()
		q := dnsmessage.Message{Header: dnsmessage.Header{ID: 7, RecursionDesired: true},
			Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}}}
		b, err := q.Pack()
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 1500)
		for range 50 { // the server may not be listening yet
			_, _ = c.Write(b)
			_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if n, err := c.Read(buf); err == nil {
				var m dnsmessage.Message
				if err := m.Unpack(buf[:n]); err != nil {
					t.Fatal(err)
				}
				return m
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("no DNS answer")
		return dnsmessage.Message{}
	}
	m := ask("WWW.example.test.")
	if m.ID != 7 || m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 1 ||
		m.Answers[0].Body.(*dnsmessage.AResource).A != [4]byte{198, 51, 100, 21} {
		t.Errorf("answer for the name: %+v", m)
	}
	if m := ask("other.example.test."); m.RCode != dnsmessage.RCodeNameError || len(m.Answers) != 0 {
		t.Errorf("answer for another name: %+v", m)
	}
}

func TestServeTLS(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t, "tcp")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeTLS(ctx, addr, "real1") }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeTLS: %v", err)
		}
	}()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "real1"}}} //nolint:gosec // self-signed test server
	var body string
	for range 50 {
		resp, err := client.Get("https://" + addr + "/healthz")
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if cn := resp.TLS.PeerCertificates[0].DNSNames; len(cn) != 1 || cn[0] != "real1" {
			t.Errorf("certificate names %v", cn)
		}
		body = string(b)
		break
	}
	if strings.TrimSpace(body) != "ok" {
		t.Errorf("GET /healthz over TLS = %q", body)
	}
}

// TestServeUDP: each datagram comes back after the server's name and a space.
func TestServeUDP(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t, "udp")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeUDP(ctx, addr, "real1") }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeUDP: %v", err)
		}
	}()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	for range 50 { // the server may not be listening yet
		_, _ = c.Write([]byte("lvs"))
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(buf); err == nil {
			if got := string(buf[:n]); got != "real1 lvs" {
				t.Fatalf("reply %q, want %q", got, "real1 lvs")
			}
			return
		}
		time.Sleep(20 * time.Millisecond) // refused (ICMP) comes back at once
	}
	t.Fatal("no reply")
}
