package healthcheck

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds on what a check reads: the headers, and the body when a regexp must match it.
const (
	maxHeaderBytes = 64 << 10
	maxBodyBytes   = 64 << 10
)

// httpChecker sends one GET on a new connection (no keep-alive: every check tests the
// connect, like keepalived HTTP_GET/SSL_GET) and checks the status and, optionally, the body.
type httpChecker struct {
	kind    string // http or https
	addr    string
	request []byte // the whole request, built once
	status  []statusRange
	want    string // the expected statuses as written, for reasons
	body    *regexp.Regexp
	tls     *tls.Config // nil for http; shared by every check, never mutated
}

type statusRange struct{ lo, hi int }

// newHTTPChecker builds the checker of an http or https check.
func newHTTPChecker(s *spec) (*httpChecker, error) {
	return buildHTTPChecker(s, nil)
}

// buildHTTPChecker builds it with roots as the trusted CAs (nil: the system's).
func buildHTTPChecker(s *spec, roots *x509.CertPool) (*httpChecker, error) {
	h := s.hc.HTTP
	path := "/"
	var host, serverName, bodyRE string
	var statuses []string
	verify := false
	if h != nil {
		path, host, serverName, bodyRE, statuses, verify = h.Path, h.Host, h.TLSServerName, h.ExpectedBody, h.ExpectedStatus, h.TLSVerify
	}
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") || hasCTLOrSpace(path) {
		return nil, fmt.Errorf("health_check.path: %q must start with / and hold no spaces or control characters (percent-encode them)", path)
	}
	if hasCTLOrSpace(host) {
		return nil, fmt.Errorf("health_check.host: %q holds spaces or control characters", host)
	}
	c := &httpChecker{kind: s.hc.Type, addr: s.addr}
	if host == "" {
		host = hostHeader(s.addr, c.kind)
	}
	c.request = []byte("GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUser-Agent: lvs-agent-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n")
	if len(statuses) == 0 {
		statuses = []string{"200-299"}
	}
	for i, st := range statuses {
		r, err := parseStatusRange(st)
		if err != nil {
			return nil, fmt.Errorf("health_check.expected_status[%d]: %w", i, err)
		}
		c.status = append(c.status, r)
	}
	c.want = strings.Join(statuses, ",")
	if bodyRE != "" {
		re, err := regexp.Compile(bodyRE)
		if err != nil {
			return nil, fmt.Errorf("health_check.expected_body: not an RE2 regular expression: %v", err)
		}
		c.body = re
	}
	if c.kind == "https" {
		if serverName == "" {
			serverName, _, _ = strings.Cut(host, ":")
			if strings.HasPrefix(host, "[") {
				serverName = strings.Trim(host[:strings.LastIndex(host, "]")+1], "[]")
			}
		}
		// Verification is off unless asked for, as in keepalived: real servers often carry
		// certificates for the service name, not for their own address.
		c.tls = &tls.Config{ServerName: serverName, InsecureSkipVerify: !verify, RootCAs: roots} //nolint:gosec // an explicit, documented opt-in
	}
	return c, nil
}

// hostHeader is the Host of a request to addr without a host setting: the address, with the
// port unless it is the scheme's default.
func hostHeader(addr, kind string) string {
	h, p, _ := net.SplitHostPort(addr)
	if (kind == "http" && p == "80") || (kind == "https" && p == "443") {
		if strings.Contains(h, ":") {
			return "[" + h + "]"
		}
		return h
	}
	return addr
}

func hasCTLOrSpace(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

func parseStatusRange(s string) (statusRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err1 := strconv.Atoi(lo)
	b := a
	var err2 error
	if isRange {
		b, err2 = strconv.Atoi(hi)
	}
	if err1 != nil || err2 != nil || a < 100 || b > 599 || b < a {
		return statusRange{}, fmt.Errorf("%q is not a status (200) or range (200-299) within 100-599", s)
	}
	return statusRange{a, b}, nil
}

// readers are reused between checks: most of a check's garbage would otherwise be its buffer.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 2048) }}

func (c *httpChecker) Check(ctx context.Context) error {
	conn, err := dialTCP(ctx, c.addr)
	if err != nil {
		return connectError(ctx, c.kind, c.addr, err)
	}
	defer closeReset(conn)
	// The timeout (or Stop) unblocks whatever I/O is under way. Only the context's end does,
	// so that the Manager tells a timeout by the context.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var rw io.ReadWriter = conn
	if c.tls != nil {
		tc := tls.Client(conn, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("https: TLS handshake with %s: %v", c.addr, err)
		}
		rw = tc
	}
	if _, err := rw.Write(c.request); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: send request to %s: %v", c.kind, c.addr, ioReason(err))
	}
	br := readers.Get().(*bufio.Reader)
	defer readers.Put(br)
	lr := &io.LimitedReader{R: rw, N: maxHeaderBytes + maxBodyBytes}
	br.Reset(lr)
	defer br.Reset(nil)
	if c.body == nil {
		// The status line is all a check without a body regexp needs: parsing no headers
		// keeps thousands of checks a second cheap.
		code, err := readStatus(br)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s: read response from %s: %v", c.kind, c.addr, err)
		}
		if !c.statusOK(code) {
			return fmt.Errorf("%s: status %d, expected %s", c.kind, code, c.want)
		}
		return nil
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: read response from %s: %v", c.kind, c.addr, ioReason(err))
	}
	defer resp.Body.Close()
	if !c.statusOK(resp.StatusCode) {
		return fmt.Errorf("%s: status %d, expected %s", c.kind, resp.StatusCode, c.want)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil && !c.body.Match(body) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: read body from %s: %v", c.kind, c.addr, ioReason(err))
	}
	if !c.body.Match(body) {
		return fmt.Errorf("%s: body does not match %q (read %d bytes)", c.kind, c.body.String(), len(body))
	}
	return nil
}

// readStatus reads an HTTP/1.x status line ("HTTP/1.1 200 OK") and returns its code.
func readStatus(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return 0, errors.New("status line too long")
		}
		return 0, errors.New(ioReason(err))
	}
	// "HTTP/1.1 200" at least (RFC 9112 §4: "HTTP/1." DIGIT SP 3DIGIT); the reason phrase may
	// be empty.
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || !isDigit(line[7]) || line[8] != ' ' ||
		!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) ||
		(len(line) > 12 && line[12] != ' ' && line[12] != '\r' && line[12] != '\n') {
		return 0, fmt.Errorf("not an HTTP/1.x status line: %q", bytes.TrimSpace(line[:min(len(line), 40)]))
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil || code < 100 || code > 999 {
		return 0, fmt.Errorf("not an HTTP/1.x status line: %q", bytes.TrimSpace(line[:min(len(line), 40)]))
	}
	return code, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (c *httpChecker) statusOK(code int) bool {
	for _, r := range c.status {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}

// ioReason is the system's word for a failed read or write ("connection reset by peer").
func ioReason(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "connection closed before a complete response"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}
