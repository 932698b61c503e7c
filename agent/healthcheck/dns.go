package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsTypes are the query types a dns check knows.
var dnsTypes = map[string]dnsmessage.Type{
	"A": dnsmessage.TypeA, "AAAA": dnsmessage.TypeAAAA, "CNAME": dnsmessage.TypeCNAME,
	"MX": dnsmessage.TypeMX, "NS": dnsmessage.TypeNS, "PTR": dnsmessage.TypePTR,
	"SOA": dnsmessage.TypeSOA, "SRV": dnsmessage.TypeSRV, "TXT": dnsmessage.TypeTXT,
}

// dnsChecker sends one query over UDP and passes on a matching answer with RCODE NOERROR
// (keepalived DNS_CHECK).
type dnsChecker struct {
	addr     string
	question dnsmessage.Question
}

func newDNSChecker(s *spec) (*dnsChecker, error) {
	d := s.hc.DNS
	if d == nil || d.Name == "" {
		return nil, errors.New("health_check.query_name: a dns check needs a query name")
	}
	typ := strings.ToUpper(d.Type)
	if typ == "" {
		typ = "A"
	}
	t, ok := dnsTypes[typ]
	if !ok {
		return nil, fmt.Errorf("health_check.query_type: %q is not one of A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT", d.Type)
	}
	name := d.Name
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return nil, fmt.Errorf("health_check.query_name: %q: %v", d.Name, err)
	}
	return &dnsChecker{addr: s.addr, question: dnsmessage.Question{Name: n, Type: t, Class: dnsmessage.ClassINET}}, nil
}

func (c *dnsChecker) Check(ctx context.Context) error {
	id := uint16(rand.Uint32())
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return fmt.Errorf("dns: build query: %v", err)
	}
	if err := b.Question(c.question); err != nil {
		return fmt.Errorf("dns: build query: %v", err)
	}
	query, err := b.Finish()
	if err != nil {
		return fmt.Errorf("dns: build query: %v", err)
	}

	conn, err := dialer.DialContext(ctx, "udp", c.addr)
	if err != nil {
		return connectError(ctx, "dns", c.addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(query); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("dns: send query to %s: %v", c.addr, ioReason(err))
	}
	buf := make([]byte, 1500)
	var ignored int
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if ctx.Err() != nil && ignored > 0 {
				return fmt.Errorf("dns: no matching answer from %s (%d with a wrong ID or question ignored)", c.addr, ignored)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("dns: query %s: %v", c.addr, ioReason(err))
		}
		rcode, ok := c.match(buf[:n], id)
		if !ok {
			ignored++ // a late answer to an earlier query, or spoofed: wait for ours
			continue
		}
		if rcode != dnsmessage.RCodeSuccess {
			return fmt.Errorf("dns: %s for %s %s", rcodeName(rcode), c.question.Name, strings.TrimPrefix(c.question.Type.String(), "Type"))
		}
		return nil
	}
}

// match reports the RCODE of msg if it answers the query with this id and question.
func (c *dnsChecker) match(msg []byte, id uint16) (dnsmessage.RCode, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || h.ID != id || !h.Response {
		return 0, false
	}
	q, err := p.Question()
	if err != nil {
		return 0, false
	}
	if q.Type != c.question.Type || q.Class != c.question.Class || !dnsNameEqual(q.Name, c.question.Name) {
		return 0, false
	}
	return h.RCode, true
}

// dnsNameEqual compares names as DNS does (RFC 4343): A-Z and a-z are equal, every other byte
// only to itself. (strings.EqualFold folds Unicode: "K." would answer a query for "k.".)
func dnsNameEqual(a, b dnsmessage.Name) bool {
	if a.Length != b.Length {
		return false
	}
	for i := range int(a.Length) {
		x, y := a.Data[i], b.Data[i]
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

func rcodeName(r dnsmessage.RCode) string {
	switch r {
	case dnsmessage.RCodeFormatError:
		return "FORMERR"
	case dnsmessage.RCodeServerFailure:
		return "SERVFAIL"
	case dnsmessage.RCodeNameError:
		return "NXDOMAIN"
	case dnsmessage.RCodeNotImplemented:
		return "NOTIMP"
	case dnsmessage.RCodeRefused:
		return "REFUSED"
	}
	return fmt.Sprintf("RCODE %d", r)
}
