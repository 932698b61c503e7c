package healthcheck

import (
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// dnsResponder answers on 127.0.0.1: ok.test → NOERROR with an A record, missing.test →
// NXDOMAIN, broken.test → SERVFAIL, wrongid.test → an answer with another ID, anything else
// → nothing.
func dnsResponder(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			rh := dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired}
			switch strings.ToLower(q.Name.String()) {
			case "ok.test.":
			case "missing.test.":
				rh.RCode = dnsmessage.RCodeNameError
			case "broken.test.":
				rh.RCode = dnsmessage.RCodeServerFailure
			case "wrongid.test.":
				rh.ID++
			default:
				continue
			}
			b := dnsmessage.NewBuilder(nil, rh)
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if rh.RCode == dnsmessage.RCodeSuccess && q.Type == dnsmessage.TypeA {
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
					dnsmessage.AResource{A: [4]byte{198, 51, 100, 21}})
			}
			msg, err := b.Finish()
			if err == nil {
				_, _ = pc.WriteTo(msg, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

func TestDNSChecker(t *testing.T) {
	t.Parallel()
	addr := dnsResponder(t)
	_, portS, _ := net.SplitHostPort(addr)
	port := atoi(t, portS)
	tests := []struct {
		name, qname, qtype string
		want               string
	}{
		{"NOERROR with an answer", "ok.test", "A", ""},
		{"NOERROR without an answer", "ok.test.", "TXT", ""},
		{"default type A, name case-insensitive", "OK.test", "", ""},
		{"NXDOMAIN", "missing.test", "AAAA", "dns: NXDOMAIN for missing.test. AAAA"},
		{"SERVFAIL", "broken.test", "A", "dns: SERVFAIL"},
		{"an answer with another ID is ignored", "wrongid.test", "A", "dns: no matching answer from " + addr + " (1 with a wrong ID or question ignored)"},
		{"no answer", "silent.test", "A", "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hc := &agentapi.HealthCheck{Type: "dns", ConnectPort: port, DNS: &agentapi.DNSCheck{Name: tt.qname, Type: tt.qtype}}
			wantResult(t, runCheck(t, hc, "127.0.0.1:80", 500*time.Millisecond), tt.want)
		})
	}
	t.Run("port 53 unless connect_port", func(t *testing.T) {
		t.Parallel()
		s := specAt(t, &agentapi.HealthCheck{Type: "dns", DNS: &agentapi.DNSCheck{Name: "ok.test"}}, "127.0.0.1:80")
		if s.addr != "127.0.0.1:53" {
			t.Errorf("addr %s", s.addr)
		}
	})
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		closed := closedPort(t, "udp", "127.0.0.1")
		_, p, _ := net.SplitHostPort(closed)
		hc := &agentapi.HealthCheck{Type: "dns", ConnectPort: atoi(t, p), DNS: &agentapi.DNSCheck{Name: "ok.test"}}
		wantResult(t, runCheck(t, hc, "127.0.0.1:80", 2*time.Second), "dns: query "+closed+": connection refused")
	})
}
