package lab

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestServeAndFetch(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, addr, "real1") }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := Fetch(context.Background(), "http://"+addr+"/", 5, time.Second)
	if got["real1"] != 5 || len(got) != 1 {
		t.Fatalf("Fetch = %v, want 5 answers from real1", got)
	}
	if got := Fetch(context.Background(), "http://"+addr+"/healthz", 1, time.Second); got["ok"] != 1 {
		t.Fatalf("healthz = %v", got)
	}
}
