package healthcheck

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// specAt is the spec of hc for a real server at addr ("127.0.0.1:8080").
func specAt(t *testing.T, hc *agentapi.HealthCheck, addr string) *spec {
	t.Helper()
	ap := netip.MustParseAddrPort(addr)
	rs := &agentapi.RealServer{Address: ap.Addr().String(), Port: int(ap.Port()), Weight: 1}
	vs := &agentapi.VirtualServer{VRID: 1, Protocol: "tcp", Address: "198.51.100.100", Port: int(ap.Port())}
	s, err := newSpec(vsKey, ap.String(), vs, rs, hc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runCheck builds the checker of hc for addr and runs one attempt with timeout.
func runCheck(t *testing.T, hc *agentapi.HealthCheck, addr string, timeout time.Duration) error {
	t.Helper()
	c, err := newChecker(specAt(t, hc, addr))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Check(ctx)
}

// wantResult fails unless err is nil for want "" or its text contains want.
func wantResult(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("check failed: %v", err)
	case want != "" && err == nil:
		t.Errorf("check passed, want failure %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("reason %q, want it to contain %q", err, want)
	}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T, network, host string) string {
	t.Helper()
	var addr string
	if network == "udp" {
		c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		addr = c.LocalAddr().String()
		c.Close()
	} else {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		l.Close()
	}
	return addr
}

// silentServer accepts connections and never answers; it holds them until the test ends.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				<-done
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { l.Close(); close(done) })
	return l.Addr().String()
}

func hasIPv6Loopback() bool {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func TestTCPChecker(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	hc := &agentapi.HealthCheck{Type: "tcp"}
	wantResult(t, runCheck(t, hc, l.Addr().String(), 3*time.Second), "")

	refused := closedPort(t, "tcp", "127.0.0.1")
	wantResult(t, runCheck(t, hc, refused, 3*time.Second), "tcp: connect "+refused+": connection refused")

	// connect_port sends the check elsewhere than the real server's port.
	_, port, _ := net.SplitHostPort(l.Addr().String())
	over := &agentapi.HealthCheck{Type: "tcp", ConnectPort: atoi(t, port)}
	wantResult(t, runCheck(t, over, refused, 3*time.Second), "")

	if hasIPv6Loopback() {
		refused6 := closedPort(t, "tcp", "::1")
		wantResult(t, runCheck(t, hc, refused6, 3*time.Second), "tcp: connect "+refused6+": connection refused")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	ap, err := netip.ParseAddrPort("127.0.0.1:" + s)
	if err != nil {
		t.Fatal(err)
	}
	return int(ap.Port())
}
