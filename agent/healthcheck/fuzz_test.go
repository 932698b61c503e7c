package healthcheck

import (
	"bufio"
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/net/dns/dnsmessage"
)

// statusGrammar is what readStatus must accept (RFC 9112 §4, HTTP/1.x only): "HTTP/1." DIGIT SP
// 3DIGIT, then SP and a reason phrase, or the end of the line (a missing SP is tolerated, as
// servers send "HTTP/1.1 204\r\n"). A bare CR after the code is read as the end of the line.
var statusGrammar = regexp.MustCompile(`^HTTP/1\.[0-9] ([0-9]{3})(?:[ \r\n]|$)`)

// FuzzReadStatus feeds real servers' first bytes to the status-line parser of HTTP checks.
// Beyond not panicking: it accepts exactly the status lines of the grammar above with a code
// 100-999 (never a reason for a check to pass on garbage), reads the same code whatever the
// reads' sizes, and never reads past the first line.
func FuzzReadStatus(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		code, err := readStatus(bufio.NewReaderSize(bytes.NewReader(in), 2048))
		code1, err1 := readStatus(bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(in)), 2048))
		if code != code1 || (err == nil) != (err1 == nil) {
			t.Fatalf("whole reads: %d, %v; one-byte reads: %d, %v", code, err, code1, err1)
		}
		line, _, complete := bytes.Cut(in, []byte("\n"))
		if err != nil {
			if code != 0 {
				t.Fatalf("error %v with code %d", err, code)
			}
			if m := statusGrammar.FindSubmatch(line); complete && len(line) < 2048 && m != nil && m[1][0] != '0' {
				t.Fatalf("rejected the status line %q: %v", line, err)
			}
			return
		}
		if !complete {
			t.Fatalf("accepted %q without its end of line", in)
		}
		m := statusGrammar.FindSubmatch(append(line, '\n'))
		if m == nil {
			t.Fatalf("accepted %q (code %d), which is not an HTTP/1.x status line", line, code)
		}
		if want, _ := strconv.Atoi(string(m[1])); code != want || code < 100 || code > 999 {
			t.Fatalf("%q: code %d, want %s", line, code, m[1])
		}
	})
}

// FuzzDNSMatch feeds datagrams to the matching of dns checks' answers: a datagram counts only
// if it is a response with the query's ID and the query's question (name compared without
// regard to ASCII case only, as DNS does), and then its RCODE is the header's.
func FuzzDNSMatch(f *testing.F) {
	f.Fuzz(func(t *testing.T, msg []byte, id uint16, name string, qtype uint16) {
		if !strings.HasSuffix(name, ".") {
			name += "."
		}
		n, err := dnsmessage.NewName(name)
		if err != nil {
			return
		}
		c := &dnsChecker{question: dnsmessage.Question{Name: n, Type: dnsmessage.Type(qtype), Class: dnsmessage.ClassINET}}
		rcode, ok := c.match(msg, id)
		if !ok {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(msg)
		if err != nil {
			t.Fatalf("matched a message whose header does not parse: %v", err)
		}
		if h.ID != id || !h.Response || h.RCode != rcode {
			t.Fatalf("matched header %+v for ID %d, returned RCODE %v", h, id, rcode)
		}
		q, err := p.Question()
		if err != nil {
			t.Fatalf("matched a message without a question: %v", err)
		}
		if q.Type != c.question.Type || q.Class != dnsmessage.ClassINET || !asciiEqualFold(q.Name.String(), n.String()) {
			t.Fatalf("matched question %v to query %v", q, c.question)
		}
	})
}

// asciiEqualFold is DNS name equality (RFC 4343): only A-Z and a-z are equal across case.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
