package healthcheck

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
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

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Bounds on what a check reads: the headers, and the body when a regexp must match it.
const (
	maxHeaderBytes = 64 << 10
	maxBodyBytes   = 64 << 10
)

// httpChecker sends one GET per URL, each on a new connection (no keep-alive: every check
// tests the connect, like keepalived HTTP_GET/SSL_GET), and checks the status and, optionally,
// the body against a regexp and an MD5 digest. Every URL must pass, as keepalived's url blocks.
type httpChecker struct {
	kind string // http or https
	addr string
	urls []urlCheck
	tls  *tls.Config // nil for http; shared by every check, never mutated
}

// urlCheck is one GET of an http check.
type urlCheck struct {
	path    string // for reasons, when there are several
	request []byte // the whole request, built once
	status  []statusRange
	want    string // the expected statuses as written, for reasons
	body    *regexp.Regexp
	digest  string // lower-case hex MD5 of the body, or empty
}

type statusRange struct{ lo, hi int }

// newHTTPChecker builds the checker of an http or https check.
func newHTTPChecker(s *spec) (*httpChecker, error) {
	return buildHTTPChecker(s, nil)
}

// buildHTTPChecker builds it with roots as the trusted CAs (nil: the system's).
func buildHTTPChecker(s *spec, roots *x509.CertPool) (*httpChecker, error) {
	h := s.hc.HTTP
	if h == nil {
		h = &agentapi.HTTPCheck{}
	}
	urls := h.URLs
	prefix := func(i int) string { return fmt.Sprintf("health_check.urls[%d].", i) }
	if len(urls) == 0 {
		urls = []agentapi.HTTPURL{{Path: h.Path, ExpectedStatus: h.ExpectedStatus, ExpectedBody: h.ExpectedBody, Digest: h.Digest}}
		prefix = func(int) string { return "health_check." }
	}
	host := h.Host
	if hasCTLOrSpace(host) {
		return nil, fmt.Errorf("health_check.host: %q holds spaces or control characters", host)
	}
	c := &httpChecker{kind: s.hc.Type, addr: s.addr}
	if host == "" {
		host = hostHeader(s.addr, c.kind)
	}
	for i, u := range urls {
		uc, err := buildURLCheck(u, host, prefix(i))
		if err != nil {
			return nil, err
		}
		c.urls = append(c.urls, uc)
	}
	if c.kind == "https" {
		serverName := h.TLSServerName
		if serverName == "" {
			serverName, _, _ = strings.Cut(host, ":")
			if strings.HasPrefix(host, "[") {
				serverName = strings.Trim(host[:strings.LastIndex(host, "]")+1], "[]")
			}
		}
		// Verification is off unless asked for, as in keepalived: real servers often carry
		// certificates for the service name, not for their own address.
		c.tls = &tls.Config{ServerName: serverName, InsecureSkipVerify: !h.TLSVerify, RootCAs: roots} //nolint:gosec // an explicit, documented opt-in
	}
	return c, nil
}

// buildURLCheck builds one GET; errors name the field by prefix ("health_check.urls[1].").
func buildURLCheck(u agentapi.HTTPURL, host, prefix string) (urlCheck, error) {
	path := u.Path
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") || hasCTLOrSpace(path) {
		return urlCheck{}, fmt.Errorf("%spath: %q must start with / and hold no spaces or control characters (percent-encode them)", prefix, path)
	}
	c := urlCheck{path: path}
	c.request = []byte("GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUser-Agent: lvs-agent-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n")
	statuses := u.ExpectedStatus
	if len(statuses) == 0 {
		statuses = []string{"200-299"}
	}
	for i, st := range statuses {
		r, err := parseStatusRange(st)
		if err != nil {
			return urlCheck{}, fmt.Errorf("%sexpected_status[%d]: %w", prefix, i, err)
		}
		c.status = append(c.status, r)
	}
	c.want = strings.Join(statuses, ",")
	if u.ExpectedBody != "" {
		re, err := regexp.Compile(u.ExpectedBody)
		if err != nil {
			return urlCheck{}, fmt.Errorf("%sexpected_body: not an RE2 regular expression: %v", prefix, err)
		}
		c.body = re
	}
	if u.Digest != "" {
		if !agentapi.ValidDigest(u.Digest) {
			return urlCheck{}, fmt.Errorf("%sdigest: %q is not an MD5 digest (32 hex digits)", prefix, u.Digest)
		}
		c.digest = strings.ToLower(u.Digest)
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
	for i := range c.urls {
		if err := c.get(ctx, &c.urls[i]); err != nil {
			if len(c.urls) > 1 && ctx.Err() == nil {
				// Which URL failed; the connect error already names the address.
				return fmt.Errorf("%w (url %s)", err, c.urls[i].path)
			}
			return err
		}
	}
	return nil
}

// maxDigestBytes bounds the body a digest is computed over: it is hashed as it comes, never
// held, so the bound only stops an endless body.
const maxDigestBytes = 16 << 20

// get runs the GET of u on a new connection.
func (c *httpChecker) get(ctx context.Context, u *urlCheck) error {
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
	if _, err := rw.Write(u.request); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: send request to %s: %v", c.kind, c.addr, ioReason(err))
	}
	br := readers.Get().(*bufio.Reader)
	defer readers.Put(br)
	limit := int64(maxHeaderBytes + maxBodyBytes)
	if u.digest != "" {
		limit = maxHeaderBytes + 2*maxDigestBytes // room for chunked framing
	}
	lr := &io.LimitedReader{R: rw, N: limit}
	br.Reset(lr)
	defer br.Reset(nil)
	if u.body == nil && u.digest == "" {
		// The status line is all a check without a body regexp needs: parsing no headers
		// keeps thousands of checks a second cheap.
		code, err := readStatus(br)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s: read response from %s: %v", c.kind, c.addr, err)
		}
		if !u.statusOK(code) {
			return fmt.Errorf("%s: status %d, expected %s", c.kind, code, u.want)
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
	if !u.statusOK(resp.StatusCode) {
		return fmt.Errorf("%s: status %d, expected %s", c.kind, resp.StatusCode, u.want)
	}
	if u.digest != "" {
		return c.checkDigest(ctx, u, resp.Body)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil && !u.body.Match(body) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: read body from %s: %v", c.kind, c.addr, ioReason(err))
	}
	if !u.body.Match(body) {
		return fmt.Errorf("%s: body does not match %q (read %d bytes)", c.kind, u.body.String(), len(body))
	}
	return nil
}

// checkDigest reads the whole body into an MD5 (keepalived genhash's digest: of the body,
// without the headers) and, with a regexp too, matches its first maxBodyBytes.
func (c *httpChecker) checkDigest(ctx context.Context, u *urlCheck, body io.Reader) error {
	h := md5.New() //nolint:gosec // keepalived's digest is MD5: a checksum of a page, not a security measure
	head := &capWriter{max: maxBodyBytes}
	var w io.Writer = h
	if u.body != nil {
		w = io.MultiWriter(h, head)
	}
	n, err := io.Copy(w, io.LimitReader(body, maxDigestBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: read body from %s: %v", c.kind, c.addr, ioReason(err))
	}
	if n > maxDigestBytes {
		return fmt.Errorf("%s: body longer than %d MiB: no digest taken", c.kind, maxDigestBytes>>20)
	}
	if u.body != nil && !u.body.Match(head.b) {
		return fmt.Errorf("%s: body does not match %q (read %d bytes)", c.kind, u.body.String(), len(head.b))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != u.digest {
		return fmt.Errorf("%s: body digest %s, expected %s (%d bytes)", c.kind, got, u.digest, n)
	}
	return nil
}

// capWriter keeps the first max bytes written to it.
type capWriter struct {
	b   []byte
	max int
}

func (w *capWriter) Write(p []byte) (int, error) {
	if room := w.max - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
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

func (c *urlCheck) statusOK(code int) bool {
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
