package healthcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Checker runs one attempt of a check against one real server. It returns nil when the server
// passed, else an error whose text is the reason an operator reads ("http: status 503, expected
// 200-299"). It must give up when ctx ends: the Manager sets the check's timeout on it.
type Checker interface {
	Check(ctx context.Context) error
}

// weighter is a Checker whose passed attempts also set the real server's weight (an exec check
// with dynamic_weight, keepalived misc_dynamic): -1 is the configured weight.
type weighter interface {
	CheckWeight(ctx context.Context) (weight int, err error)
}

// spec is everything a checker of one real server is built from.
type spec struct {
	vsKey, rsKey string
	vs           *agentapi.VirtualServer
	rs           *agentapi.RealServer
	hc           *agentapi.HealthCheck
	p            params
	// addr is where the check connects: connect_address/connect_port applied, the real
	// server's otherwise (port 53 for dns, 80/443 for http(s) when the real server has port 0).
	addr string
}

// effectiveCheck is the check of rs within vs: its own, else the virtual server's; nil when it
// is not checked.
func effectiveCheck(vs *agentapi.VirtualServer, rs *agentapi.RealServer) *agentapi.HealthCheck {
	hc := rs.HealthCheck
	if hc == nil {
		hc = vs.HealthCheck
	}
	if hc == nil || hc.Type == "none" || hc.Type == "" {
		return nil
	}
	return hc
}

// paramsOf applies the defaults to the timing and counts of hc. A default timeout longer than
// the interval is cut to it, so that a check never outlives its period.
func paramsOf(hc *agentapi.HealthCheck) params {
	ms := func(v int, def time.Duration) time.Duration {
		if v <= 0 {
			return def
		}
		return time.Duration(v) * time.Millisecond
	}
	n := func(v, def int) int {
		if v <= 0 {
			return def
		}
		return v
	}
	p := params{
		interval: ms(hc.IntervalMS, defaultInterval),
		timeout:  ms(hc.TimeoutMS, defaultTimeout),
		// Retries and retry delay are taken as written: 0 is a real choice (no retry, retry at
		// once), and the provider always sends them.
		retryDelay: time.Duration(max(hc.RetryDelayMS, 0)) * time.Millisecond,
		retries:    max(hc.Retries, 0),
		rise:       n(hc.Rise, defaultRise),
		fall:       n(hc.Fall, defaultFall),
	}
	if hc.TimeoutMS <= 0 && p.timeout > p.interval {
		p.timeout = p.interval
	}
	return p
}

// newSpec resolves where the check of rs connects and its parameters.
func newSpec(vsKey, rsKey string, vs *agentapi.VirtualServer, rs *agentapi.RealServer, hc *agentapi.HealthCheck) (*spec, error) {
	s := &spec{vsKey: vsKey, rsKey: rsKey, vs: vs, rs: rs, hc: hc, p: paramsOf(hc)}
	host := rs.Address
	if hc.ConnectAddress != "" {
		host = hc.ConnectAddress
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("health_check.connect_address: %q is not an IP address", host)
	}
	port := rs.Port
	switch {
	case hc.ConnectPort != 0:
		port = hc.ConnectPort
	case hc.Type == "dns":
		port = 53
	case port == 0 && hc.Type == "http":
		port = 80
	case port == 0 && hc.Type == "https":
		port = 443
	case port == 0 && hc.Type == "smtp":
		port = 25
	}
	if port <= 0 || port > 65535 {
		if hc.Type != "exec" {
			return nil, fmt.Errorf("health_check.connect_port: the real server has port %d; set connect_port for a %s check", rs.Port, hc.Type)
		}
		port = 0
	}
	s.addr = net.JoinHostPort(a.Unmap().String(), strconv.Itoa(port))
	return s, nil
}

// fingerprint identifies what the checker depends on: when it changes, the checker restarts.
// start_down only matters to a new real server and on_failure only to the weight, so neither
// restarts it.
func (s *spec) fingerprint() string {
	hc := *s.hc
	hc.StartDown = false
	b, _ := json.Marshal(struct {
		HC   agentapi.HealthCheck
		Addr string
		RS   string
		VS   string
	}{hc, s.addr, s.rsKey, s.vsKey})
	return string(b)
}

// newChecker builds the checker of s; errors name the field at fault.
func newChecker(s *spec) (Checker, error) {
	switch s.hc.Type {
	case "tcp":
		return &tcpChecker{addr: s.addr}, nil
	case "http", "https":
		return newHTTPChecker(s)
	case "exec":
		return newExecChecker(s)
	case "dns":
		return newDNSChecker(s)
	case "udp":
		return newUDPChecker(s)
	case "smtp":
		return newSMTPChecker(s), nil
	}
	return nil, fmt.Errorf("health_check.type: %q is not one of tcp, http, https, exec, dns, udp, smtp, none", s.hc.Type)
}
