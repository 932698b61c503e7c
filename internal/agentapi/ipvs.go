package agentapi

// PathVirtualServers is the collection of virtual servers. One virtual server is
// PathVirtualServers + "/" + url.PathEscape(key); its real servers are under
// ".../real-servers/" + url.PathEscape(realServerKey).
const PathVirtualServers = "/v1/virtual-servers"

// PathRealServerBindings is the collection of real-server-role bindings on a real server host
// (VIP on loopback for DR, on the tunnel interface for TUN); one is + "/" + url.PathEscape(id).
const PathRealServerBindings = "/v1/rs-bindings"

// VirtualServer is one IPVS service on both directors, with its real servers.
//
// Its key is "PROTO/ADDR:PORT" ("tcp/198.51.100.100:80", "udp/[2001:db8::100]:53") or
// "fwmark/FAMILY/MARK" ("fwmark/inet/1").
type VirtualServer struct {
	VRID     int    `json:"vrid"`               // the VIP this service belongs to
	Protocol string `json:"protocol,omitempty"` // tcp, udp or sctp; empty for fwmark services
	Address  string `json:"address,omitempty"`  // one of the VIP's addresses
	Port     int    `json:"port,omitempty"`     // 0 = all ports (persistent services only)
	FWMark   uint32 `json:"fwmark,omitempty"`
	Family   string `json:"family,omitempty"` // inet or inet6, for fwmark services

	Scheduler      string       `json:"scheduler"`                 // rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf twos
	SchedulerFlags []string     `json:"scheduler_flags,omitempty"` // sh-fallback sh-port mh-fallback mh-port
	Persistence    *Persistence `json:"persistence,omitempty"`
	// ForwardingMethod is the default for real servers: dr, nat or tunnel.
	ForwardingMethod string       `json:"forwarding_method"`
	HealthCheck      *HealthCheck `json:"health_check,omitempty"`
	OnFailure        string       `json:"on_failure,omitempty"` // quiesce (weight 0, default) or remove
	SorryServer      *SorryServer `json:"sorry_server,omitempty"`
	Quorum           *Quorum      `json:"quorum,omitempty"`

	RealServers map[string]*RealServer `json:"real_servers,omitempty"` // by RealServer key
}

// Persistence keeps a client on one real server (ipvsadm -p / -M).
type Persistence struct {
	TimeoutS int    `json:"timeout_s"`
	Netmask  string `json:"netmask,omitempty"` // IPv4 dotted mask or IPv6 prefix length
}

// SorryServer takes the traffic only while every real server is down.
type SorryServer struct {
	Address          string `json:"address"`
	Port             int    `json:"port"`
	ForwardingMethod string `json:"forwarding_method,omitempty"`
}

// Quorum: the service is "up" while the summed weight of healthy real servers is at least Min;
// it goes down below Min-Hysteresis and up again at Min+Hysteresis.
type Quorum struct {
	Min        int `json:"min"`
	Hysteresis int `json:"hysteresis,omitempty"`
}

// RealServer is one IPVS destination. Its key is "ADDR:PORT" ("198.51.100.21:8080",
// "[2001:db8::21]:80").
type RealServer struct {
	Address          string       `json:"address"`
	Port             int          `json:"port"`
	Weight           int          `json:"weight"`                      // 0-65535; 0 = drain
	ForwardingMethod string       `json:"forwarding_method,omitempty"` // empty = the virtual server's
	HealthCheck      *HealthCheck `json:"health_check,omitempty"`      // nil = the virtual server's
	UpperThreshold   int          `json:"upper_threshold,omitempty"`   // connection limits, 0 = none
	LowerThreshold   int          `json:"lower_threshold,omitempty"`
}

// HealthCheck says how a director decides that a real server is up. Durations in milliseconds.
type HealthCheck struct {
	Type         string `json:"type"` // tcp http https exec dns none
	IntervalMS   int    `json:"interval_ms"`
	TimeoutMS    int    `json:"timeout_ms"`
	Retries      int    `json:"retries"`
	RetryDelayMS int    `json:"retry_delay_ms"`
	Rise         int    `json:"rise"`
	Fall         int    `json:"fall"`
	// StartDown makes a new real server start as down until its first success (keepalived alpha).
	StartDown      bool   `json:"start_down,omitempty"`
	ConnectAddress string `json:"connect_address,omitempty"`
	ConnectPort    int    `json:"connect_port,omitempty"`

	HTTP *HTTPCheck `json:"http,omitempty"`
	Exec *ExecCheck `json:"exec,omitempty"`
	DNS  *DNSCheck  `json:"dns,omitempty"`
}

// HTTPCheck is a GET for http and https checks.
type HTTPCheck struct {
	Path           string   `json:"path"`
	ExpectedStatus []string `json:"expected_status,omitempty"` // "200", "200-299"; default 200-299
	Host           string   `json:"host,omitempty"`
	ExpectedBody   string   `json:"expected_body,omitempty"` // RE2 regexp
	TLSServerName  string   `json:"tls_server_name,omitempty"`
	TLSVerify      bool     `json:"tls_verify,omitempty"`
}

// ExecCheck runs Command on the director; exit 0 is up (keepalived MISC_CHECK).
type ExecCheck struct {
	Command string `json:"command"`
}

// DNSCheck queries the real server for Name of Type (A, AAAA, ...).
type DNSCheck struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// RealServerBinding asks a real server host to accept traffic for VIP: on loopback with ARP
// suppression for DR, on an ipip tunnel interface for tunnel. Several bindings may share a VIP;
// it stays until the last one is gone.
type RealServerBinding struct {
	VIP              string `json:"vip"`
	ForwardingMethod string `json:"forwarding_method"` // dr or tunnel
}

// IPVSService is one service as the kernel has it, with live counters.
type IPVSService struct {
	Key          string            `json:"key"`
	Scheduler    string            `json:"scheduler"`
	Flags        []string          `json:"flags,omitempty"`
	Persistence  *Persistence      `json:"persistence,omitempty"`
	Destinations []IPVSDestination `json:"destinations"`
	Stats        IPVSStats         `json:"stats"`
}

// IPVSDestination is one real server as the kernel has it, with its health.
type IPVSDestination struct {
	Key              string    `json:"key"`
	ForwardingMethod string    `json:"forwarding_method"`
	Weight           int       `json:"weight"`            // in the kernel now
	ConfiguredWeight int       `json:"configured_weight"` // as configured
	ActiveConns      int       `json:"active_conns"`
	InactiveConns    int       `json:"inactive_conns"`
	Health           string    `json:"health"` // up, down, unchecked, sorry
	HealthReason     string    `json:"health_reason,omitempty"`
	Stats            IPVSStats `json:"stats"`
}

// IPVSStats are the kernel's counters.
type IPVSStats struct {
	Connections uint64 `json:"connections"`
	PacketsIn   uint64 `json:"packets_in"`
	PacketsOut  uint64 `json:"packets_out"`
	BytesIn     uint64 `json:"bytes_in"`
	BytesOut    uint64 `json:"bytes_out"`
}
