package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// HoldManyResult is what HoldMany saw, per connection and summed.
type HoldManyResult struct {
	Conns    []HeldConn     `json:"conns"`
	Answers  map[string]int `json:"answers"`   // answers over every connection, by first line
	Failed   int            `json:"failed"`    // connections that failed (one failure ends a connection)
	Resets   int            `json:"resets"`    // of which by a reset (ECONNRESET, or EOF before the answer)
	Clean    int            `json:"clean"`     // connections closed cleanly: our FIN, then the server's
	Stopped  string         `json:"stopped"`   // "file" (the stop file appeared) or "duration"
	StopAt   string         `json:"stop_at"`   // RFC 3339, when the stop began
	ClosedAt string         `json:"closed_at"` // RFC 3339, when every connection had closed
}

// HeldConn is one connection of HoldMany.
type HeldConn struct {
	Local    string `json:"local"`
	Server   string `json:"server"` // who answered first
	Requests int    `json:"requests"`
	OK       int    `json:"ok"`
	Error    string `json:"error,omitempty"` // the failure that ended it, with its time
	Reset    bool   `json:"reset,omitempty"`
	Close    string `json:"close,omitempty"` // "clean", or how the close went wrong
}

// HoldMany opens n TCP connections to addr (host:port) at once and sends a GET of path on each
// every interval (HTTP/1.1 keep-alive, on the connection it opened: it never dials again, so a
// reset shows as a failed connection), until the file stop exists or duration passes. Then it
// closes each from its own side: its FIN, then it reads until the server's FIN (a clean close)
// or a reset. It is the long-lived clients of a drain: they go on exchanging data while their
// real server is quiesced and end on their own.
func HoldMany(ctx context.Context, addr, path string, n int, interval, duration time.Duration, stop string) HoldManyResult {
	res := HoldManyResult{Conns: make([]HeldConn, n), Answers: map[string]int{}}
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	for i := range conns {
		c, err := dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			res.Conns[i].Error = now() + " dial: " + err.Error()
			continue
		}
		conns[i], readers[i] = c, bufio.NewReader(c)
		res.Conns[i].Local = c.LocalAddr().String()
	}
	end := time.Now().Add(duration)
	exchange := func(i int) {
		hc := &res.Conns[i]
		c := conns[i]
		if c == nil || hc.Error != "" {
			return
		}
		hc.Requests++
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		ans, err := getOn(c, readers[i], addr, path)
		if err != nil {
			hc.Error = now() + " " + err.Error()
			hc.Reset = errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
			return
		}
		hc.OK++
		if hc.Server == "" {
			hc.Server = ans
		}
		if ans != hc.Server {
			hc.Error = now() + " answered by " + ans + " after " + hc.Server
		}
	}
	for {
		var wg sync.WaitGroup
		for i := range conns {
			wg.Add(1)
			go func() { defer wg.Done(); exchange(i) }()
		}
		wg.Wait()
		if _, err := os.Stat(stop); stop != "" && err == nil {
			res.Stopped = "file"
			break
		}
		if !time.Now().Before(end) || ctx.Err() != nil {
			res.Stopped = "duration"
			break
		}
		time.Sleep(min(interval, time.Until(end)))
	}
	res.StopAt = now()
	var wg sync.WaitGroup
	for i, c := range conns {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res.Conns[i].Close = closeCleanly(c.(*net.TCPConn), readers[i])
		}()
	}
	wg.Wait()
	res.ClosedAt = now()
	for _, hc := range res.Conns {
		if hc.Server != "" {
			res.Answers[hc.Server] += hc.OK
		}
		if hc.Error != "" {
			res.Failed++
		}
		if hc.Reset {
			res.Resets++
		}
		if hc.Close == "clean" {
			res.Clean++
		}
	}
	return res
}

func now() string { return time.Now().Format(time.RFC3339Nano) }

// getOn sends one GET on c and reads the whole answer, returning its first line.
func getOn(c net.Conn, r *bufio.Reader, host, path string) (string, error) {
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line), nil
}

// closeCleanly half-closes c and waits for the server's FIN: "clean" when it came with nothing
// unread before it, otherwise what happened.
func closeCleanly(c *net.TCPConn, r *bufio.Reader) string {
	defer func() { _ = c.Close() }()
	if err := c.CloseWrite(); err != nil {
		return "close: " + err.Error()
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, r)
	switch {
	case err != nil && errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case err != nil:
		return "read: " + err.Error()
	case n > 0:
		return fmt.Sprintf("%d unexpected bytes before the FIN", n)
	}
	return "clean"
}
