package lab

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRunHelper(t *testing.T) {
	var got []string
	helpers := map[string]Helper{
		"ok":   func(args []string) error { got = args; return nil },
		"fail": func([]string) error { return errors.New("no") },
	}
	if code := runHelper([]string{"ok", "a", "b"}, helpers); code != 0 || strings.Join(got, " ") != "a b" {
		t.Errorf("ok: exit %d, args %q", code, got)
	}
	for _, args := range [][]string{{"fail"}, {"nope"}} {
		if code := runHelper(args, helpers); code != 1 {
			t.Errorf("%q: exit %d, want 1", args, code)
		}
	}
	if code := runHelper(nil, helpers); code != 2 {
		t.Errorf("no helper: exit %d, want 2", code)
	}
}

// TestServeAndDialName: the name comes first, then again for every line, over loopback.
func TestServeAndDialName(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	errc := make(chan error, 1)
	go func() { errc <- ServeName([]string{port, "web1"}, 5*time.Second, true) }()
	addr := net.JoinHostPort("127.0.0.1", port)
	var name string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if name, err = DialName(addr, time.Second); err == nil {
			break
		}
		select {
		case err := <-errc:
			t.Fatalf("ServeName: %v", err)
		default:
		}
	}
	if name != "web1" {
		t.Fatalf("DialName = %q, %v", name, err)
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	for i := range 3 {
		if i > 0 {
			if _, err := io.WriteString(c, "ping\n"); err != nil {
				t.Fatal(err)
			}
		}
		if l, err := r.ReadString('\n'); err != nil || l != "web1\n" {
			t.Fatalf("line %d: %q, %v", i, l, err)
		}
	}
	if err := ServeName([]string{"1"}, time.Second, false); err == nil {
		t.Error("serve without a name: no error")
	}
}
