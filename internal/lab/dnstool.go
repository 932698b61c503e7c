package lab

import (
	"context"
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// ServeDNS answers DNS over UDP on addr until ctx ends, standing in for a real server's resolver
// in dns health checks: an A or AAAA query for name gets ip, any other name NXDOMAIN.
func ServeDNS(ctx context.Context, addr, name string, ip netip.Addr) error {
	want := strings.ToLower(strings.TrimSuffix(name, ".")) + "."
	return serveDatagrams(ctx, addr, func(req []byte) []byte { return dnsAnswer(req, want, ip) })
}

// dnsAnswer builds the response to one query, or nil for a packet that is not a query.
func dnsAnswer(req []byte, want string, ip netip.Addr) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil || h.Response {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	if strings.ToLower(q.Name.String()) != want {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil
	}
	if rh.RCode == dnsmessage.RCodeSuccess {
		hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 30}
		switch {
		case q.Type == dnsmessage.TypeA && ip.Is4():
			_ = b.AResource(hdr, dnsmessage.AResource{A: ip.As4()})
		case q.Type == dnsmessage.TypeAAAA && ip.Is6():
			_ = b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: ip.As16()})
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}
