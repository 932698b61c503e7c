package lab

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHoldMany: n connections on loopback exchange GETs until the stop file appears, then close
// cleanly; a server that resets its connections shows as resets, not as new dials.
func TestHoldMany(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = serveOn(ctx, ln, "real1") }()
	stop := filepath.Join(t.TempDir(), "stop")
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = os.WriteFile(stop, nil, 0o600)
	}()
	res := HoldMany(ctx, ln.Addr().String(), "/keep", 5, 50*time.Millisecond, time.Minute, stop)
	if res.Stopped != "file" || res.Failed != 0 || res.Resets != 0 || res.Clean != 5 || res.Answers["real1"] < 10 {
		t.Fatalf("got %+v, want 5 clean connections answered by real1 until the stop file", res)
	}

	// A server that resets every connection after its first answer.
	rst, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rst.Close()
	go func() {
		for {
			c, err := rst.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nreal2\n"))
				_, _ = c.Read(buf)
				_ = c.(*net.TCPConn).SetLinger(0)
				_ = c.Close()
			}()
		}
	}()
	res = HoldMany(ctx, rst.Addr().String(), "/keep", 3, 50*time.Millisecond, 500*time.Millisecond, "")
	if res.Stopped != "duration" || res.Failed != 3 || res.Resets != 3 || res.Answers["real2"] != 3 {
		t.Fatalf("got %+v, want 3 connections reset after one answer each", res)
	}
}
