package agentapi

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// PathVirtualServers is the collection of virtual servers. One virtual server is
// PathVirtualServers + "/" + url.PathEscape(key); its real servers are under
// ".../real-servers/" + url.PathEscape(realServerKey).
const PathVirtualServers = "/v1/virtual-servers"

// PathRealServerBindings is the collection of real-server-role bindings on a real server host
// (VIP on loopback for DR, on the tunnel interface for TUN); one is + "/" + url.PathEscape(id).
const PathRealServerBindings = "/v1/rs-bindings"

// PathIPVS is a director's IPVS report (IPVSReport): the kernel's table merged with the
// configuration, the sync daemons and timeouts, and the drift the agent repaired.
const PathIPVS = "/v1/ipvs"

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

	Scheduler      string   `json:"scheduler"`                 // rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf twos
	SchedulerFlags []string `json:"scheduler_flags,omitempty"` // sh-fallback sh-port mh-fallback mh-port
	// OnePacket schedules each UDP datagram on its own (ipvsadm -o, keepalived's ops).
	OnePacket   bool         `json:"one_packet,omitempty"`
	Persistence *Persistence `json:"persistence,omitempty"`
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
	OnFailure        string       `json:"on_failure,omitempty"` // empty = the virtual server's
	// NotifyUp and NotifyDown are shell commands the agent runs when the health check's verdict
	// on this real server turns up or down (keepalived notify_up / notify_down; the provider's
	// notify.up and notify.down).
	NotifyUp   string `json:"notify_up,omitempty"`
	NotifyDown string `json:"notify_down,omitempty"`
}

// EffectiveOnFailure is what happens to rs within vs when its health check fails: its own
// on_failure, else the virtual server's, else quiesce.
func (vs *VirtualServer) EffectiveOnFailure(rs *RealServer) string {
	switch {
	case rs != nil && rs.OnFailure != "":
		return rs.OnFailure
	case vs.OnFailure != "":
		return vs.OnFailure
	}
	return "quiesce"
}

// MaxNotifyCommand bounds a notify command's length.
const MaxNotifyCommand = 4096

// ValidateNotifyCommand reports why cmd cannot be a notify command (an empty string is no
// command and valid); the error reads after the attribute's name.
func ValidateNotifyCommand(cmd string) error {
	switch {
	case cmd == "":
		return nil
	case strings.TrimSpace(cmd) == "":
		return errors.New("is blank: give a command, or leave the attribute unset")
	case strings.ContainsAny(cmd, "\n\r\x00"):
		return errors.New("holds a line break or NUL: give one command line (call a script for more)")
	case len(cmd) > MaxNotifyCommand:
		return fmt.Errorf("is %d bytes long, over %d: call a script", len(cmd), MaxNotifyCommand)
	}
	return nil
}

// HealthCheck says how a director decides that a real server is up. Durations in milliseconds.
type HealthCheck struct {
	Type         string `json:"type"` // tcp http https exec dns udp smtp none
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
	UDP  *UDPCheck  `json:"udp,omitempty"`
	SMTP *SMTPCheck `json:"smtp,omitempty"`
}

// HTTPCheck is a GET for http and https checks.
type HTTPCheck struct {
	Path           string   `json:"path"`
	ExpectedStatus []string `json:"expected_status,omitempty"` // "200", "200-299"; default 200-299
	Host           string   `json:"host,omitempty"`
	ExpectedBody   string   `json:"expected_body,omitempty"` // RE2 regexp
	TLSServerName  string   `json:"tls_server_name,omitempty"`
	TLSVerify      bool     `json:"tls_verify,omitempty"`
	Digest         string   `json:"digest,omitempty"` // MD5 of the body, lower-case hex (keepalived genhash)
	// URLs, when set, are GETs that must all pass (keepalived's several url blocks); Path,
	// ExpectedStatus, ExpectedBody and Digest are then empty.
	URLs []HTTPURL `json:"urls,omitempty"`
}

// HTTPURL is one GET of a check with several URLs.
type HTTPURL struct {
	Path           string   `json:"path"`
	ExpectedStatus []string `json:"expected_status,omitempty"`
	ExpectedBody   string   `json:"expected_body,omitempty"`
	Digest         string   `json:"digest,omitempty"`
}

// ExecCheck runs Command on the director; exit 0 is up (keepalived MISC_CHECK).
type ExecCheck struct {
	Command string `json:"command"`
	// DynamicWeight is keepalived's misc_dynamic: exit 0 is up at the configured weight, 1
	// down, 2-255 up with weight status-2.
	DynamicWeight bool `json:"dynamic_weight,omitempty"`
}

// DNSCheck queries the real server for Name of Type (A, AAAA, ...).
type DNSCheck struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// UDPCheck sends Payload to the real server (keepalived UDP_CHECK); an ICMP port unreachable
// fails it. Without RequireReply, silence until the timeout passes; with it, a reply must come
// and, if ReplyPattern is set, start with it.
type UDPCheck struct {
	Payload      string `json:"payload,omitempty"`       // hex; empty: keepalived's default, random bytes
	RequireReply bool   `json:"require_reply,omitempty"` // a reply must come
	ReplyPattern string `json:"reply_pattern,omitempty"` // hex, x = any nibble; implies RequireReply
}

// SMTPCheck is keepalived SMTP_CHECK: a 220 greeting, HELO HeloName answered by 250, QUIT.
type SMTPCheck struct {
	HeloName string `json:"helo_name,omitempty"` // empty: DefaultSMTPHelo
}

// DefaultSMTPHelo is the HELO name of an smtp check that sets none, keepalived's.
const DefaultSMTPHelo = "smtpchecker.keepalived.org"

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
	// Managed is true for services of the agent's configuration; others were made by someone
	// else and are left alone.
	Managed bool `json:"managed"`
	// Missing is true for a configured service the kernel does not have (Error says why).
	Missing bool        `json:"missing,omitempty"`
	Error   string      `json:"error,omitempty"`
	Quorum  *IPVSQuorum `json:"quorum,omitempty"`
}

// IPVSQuorum is the quorum state of a virtual server: up while the summed weight of the live
// real servers holds (see Quorum); while it is down the sorry server, if any, takes the traffic.
type IPVSQuorum struct {
	Up         bool `json:"up"`
	WeightSum  int  `json:"weight_sum"`
	Min        int  `json:"min"`
	Hysteresis int  `json:"hysteresis"`
}

// IPVSReport is what a director's agent reports of IPVS (PathIPVS).
type IPVSReport struct {
	// Services are every service in the kernel plus configured ones it lacks, by key.
	Services []IPVSService `json:"services"`
	// Timeouts are the kernel's connection timeouts now, in seconds.
	Timeouts *IPVSTimeouts `json:"timeouts,omitempty"`
	// SyncDaemons are the kernel's connection-sync daemons now.
	SyncDaemons []IPVSSyncDaemon `json:"sync_daemons,omitempty"`
	// Repairs counts the differences between the kernel and what the agent had programmed
	// (changes by someone else) that the agent put back, since it started.
	Repairs uint64 `json:"repairs"`
	// RecentRepairs describes the last few repairs, newest last.
	RecentRepairs []string `json:"recent_repairs,omitempty"`
	// Sysctls are the director sysctls the agent holds, with their values now.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// LastError is the last Apply's error, empty when it succeeded.
	LastError string `json:"last_error,omitempty"`
	// LastReconcile describes the last comparison of the kernel's table with the configuration.
	LastReconcile *IPVSReconcile `json:"last_reconcile,omitempty"`
}

// IPVSReconcile is one run of the IPVS reconciler: how much it compared, how much it changed,
// and how long it took (read, compare and change).
type IPVSReconcile struct {
	At           string  `json:"at"` // RFC 3339
	TookMS       float64 `json:"took_ms"`
	Services     int     `json:"services"`
	Destinations int     `json:"destinations"`
	Changes      int     `json:"changes"`
	Failed       int     `json:"failed,omitempty"`
	// Verified: the kernel's table was read back and compared (the start, a resync, a refused
	// change); otherwise the pass planned from what the agent last programmed.
	Verified bool `json:"verified,omitempty"`
	// ReadMS is how long reading the table back took, when Verified.
	ReadMS float64 `json:"read_ms,omitempty"`
}

// IPVSSyncDaemon is one IPVS connection-sync daemon (ipvsadm --start-daemon).
type IPVSSyncDaemon struct {
	State     string `json:"state"` // master or backup
	Interface string `json:"interface"`
	SyncID    int    `json:"sync_id"`
	// What the kernel runs it with (zero from kernels before 4.3, which have no such settings).
	Port      int    `json:"port,omitempty"`
	TTL       int    `json:"ttl,omitempty"`
	MaxLength int    `json:"max_length,omitempty"`
	Group     string `json:"group,omitempty"`
}

// IPVSDestination is one real server as the kernel has it, with its health.
type IPVSDestination struct {
	Key              string    `json:"key"`
	ForwardingMethod string    `json:"forwarding_method"`
	Weight           int       `json:"weight"`            // in the kernel now
	ConfiguredWeight int       `json:"configured_weight"` // as configured
	ActiveConns      int       `json:"active_conns"`
	InactiveConns    int       `json:"inactive_conns"`
	Health           string    `json:"health"` // a HealthState: up, down, unchecked, sorry
	HealthReason     string    `json:"health_reason,omitempty"`
	Stats            IPVSStats `json:"stats"`
	PersistentConns  int       `json:"persistent_conns,omitempty"`
	UpperThreshold   int       `json:"upper_threshold,omitempty"`
	LowerThreshold   int       `json:"lower_threshold,omitempty"`
	// Managed is false for a destination the configuration does not hold (it goes at the
	// next repair when its service is managed).
	Managed bool `json:"managed"`

	// HealthPending: the destination has a health check none of whose runs has finished since
	// the agent started, so Health is the assumed initial verdict (up, or down with start_down).
	HealthPending bool `json:"health_pending,omitempty"`
}

// IPVSStats are the kernel's counters.
type IPVSStats struct {
	Connections uint64 `json:"connections"`
	PacketsIn   uint64 `json:"packets_in"`
	PacketsOut  uint64 `json:"packets_out"`
	BytesIn     uint64 `json:"bytes_in"`
	BytesOut    uint64 `json:"bytes_out"`
}

// Schedulers are the IPVS schedulers a virtual server may use.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos"}

// SchedulerFlags are the scheduler flags and the scheduler each belongs to (the kernel's
// IP_VS_SVC_F_SCHED1/2 mean different things to sh and mh).
var SchedulerFlags = map[string]string{
	"sh-fallback": "sh", "sh-port": "sh",
	"mh-fallback": "mh", "mh-port": "mh",
}

// Forwarding is a forwarding method, as the forwarding_method fields carry it.
type Forwarding string

// The forwarding methods.
const (
	ForwardDR     Forwarding = "dr"
	ForwardNAT    Forwarding = "nat"
	ForwardTunnel Forwarding = "tunnel"
)

// HealthState is a real server's health, as IPVSDestination.Health carries it.
type HealthState string

// The health states.
const (
	HealthUp        HealthState = "up"
	HealthDown      HealthState = "down"
	HealthUnchecked HealthState = "unchecked" // no health check
	HealthSorry     HealthState = "sorry"     // the sorry server, in while every real server is out
)

// Protocols, forwarding methods and on_failure values.
var (
	Protocols         = []string{"tcp", "udp", "sctp"}
	ForwardingMethods = []string{string(ForwardDR), string(ForwardNAT), string(ForwardTunnel)}
	OnFailureActions  = []string{"quiesce", "remove"}
	HealthCheckTypes  = []string{"tcp", "http", "https", "exec", "dns", "udp", "smtp", "none"}
)

// Address families of fwmark services.
const (
	FamilyInet  = "inet"
	FamilyInet6 = "inet6"
)

// The agent's own firewall marks: after a planned takeover the new master marks the connections
// it does not know (agent/handover) and an IPVS fwmark service with a mark of this range takes them
// back to the old master; the agent removes every such service it finds. A virtual server may not
// use a mark of the range.
const (
	ReservedFWMarkBase uint32 = 0x4c560000 // "LV"
	ReservedFWMarkMask uint32 = 0xffff0000
)

// IsReservedFWMark reports whether mark is in the agent's own range (ReservedFWMarkBase).
func IsReservedFWMark(mark uint32) bool { return mark&ReservedFWMarkMask == ReservedFWMarkBase }

// MaxPersistenceTimeoutS bounds persistence.timeout: the kernel keeps it in jiffies in 32 bits.
const MaxPersistenceTimeoutS = 30 * 24 * 3600

// VirtualServerKey is the key of vs: "PROTO/ADDR:PORT" or "fwmark/FAMILY/MARK". Addresses are
// in canonical form (IPv6 compressed, lower case), so equal services have equal keys.
func VirtualServerKey(vs *VirtualServer) string {
	if vs.FWMark != 0 || vs.Protocol == "fwmark" {
		fam := vs.Family
		if fam == "" {
			fam = FamilyInet
		}
		return fmt.Sprintf("fwmark/%s/%d", fam, vs.FWMark)
	}
	addr := vs.Address
	if a, err := netip.ParseAddr(vs.Address); err == nil {
		addr = a.String()
		if a.Is6() {
			addr = "[" + addr + "]"
		}
	}
	return fmt.Sprintf("%s/%s:%d", vs.Protocol, addr, vs.Port)
}

// ParseVirtualServerKey parses a virtual server key into a VirtualServer with only its identity
// (Protocol, Address, Port or FWMark, Family) set.
func ParseVirtualServerKey(key string) (*VirtualServer, error) {
	proto, rest, ok := strings.Cut(key, "/")
	if !ok {
		return nil, fmt.Errorf("virtual server key %q is not PROTO/ADDR:PORT or fwmark/FAMILY/MARK", key)
	}
	if proto == "fwmark" {
		fam, mark, ok := strings.Cut(rest, "/")
		if !ok || (fam != FamilyInet && fam != FamilyInet6) {
			return nil, fmt.Errorf("virtual server key %q: want fwmark/inet/MARK or fwmark/inet6/MARK", key)
		}
		m, err := strconv.ParseUint(mark, 10, 32)
		if err != nil || m == 0 || strconv.FormatUint(m, 10) != mark {
			return nil, fmt.Errorf("virtual server key %q: mark %q is not a number from 1 to 4294967295", key, mark)
		}
		return &VirtualServer{FWMark: uint32(m), Family: fam}, nil
	}
	if !slices.Contains(Protocols, proto) {
		return nil, fmt.Errorf("virtual server key %q: protocol %q is not one of %s", key, proto, strings.Join(Protocols, ", "))
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil {
		return nil, fmt.Errorf("virtual server key %q: %q is not ADDR:PORT ([ADDR]:PORT for IPv6)", key, rest)
	}
	return &VirtualServer{Protocol: proto, Address: ap.Addr().String(), Port: int(ap.Port())}, nil
}

// CanonicalVirtualServerKey returns key in canonical form, or an error if it is not a key.
func CanonicalVirtualServerKey(key string) (string, error) {
	vs, err := ParseVirtualServerKey(key)
	if err != nil {
		return "", err
	}
	return VirtualServerKey(vs), nil
}

// RealServerKey is the key of rs: "ADDR:PORT", "[ADDR]:PORT" for IPv6, address canonical.
func RealServerKey(rs *RealServer) string {
	if a, err := netip.ParseAddr(rs.Address); err == nil && rs.Port >= 0 && rs.Port <= 65535 {
		return netip.AddrPortFrom(a, uint16(rs.Port)).String()
	}
	return fmt.Sprintf("%s:%d", rs.Address, rs.Port)
}

// ParseRealServerKey parses a real server key.
func ParseRealServerKey(key string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(key)
	if err != nil || ap.Addr().Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("real server key %q is not ADDR:PORT ([ADDR]:PORT for IPv6)", key)
	}
	return ap, nil
}

// CanonicalRealServerKey returns key in canonical form, or an error if it is not a key.
func CanonicalRealServerKey(key string) (string, error) {
	ap, err := ParseRealServerKey(key)
	if err != nil {
		return "", err
	}
	return ap.String(), nil
}

// IsFWMark reports whether vs is a firewall-mark service.
func (vs *VirtualServer) IsFWMark() bool { return vs.FWMark != 0 }

// IsIPv6 reports whether vs is an IPv6 service (only meaningful once Validate passed).
func (vs *VirtualServer) IsIPv6() bool {
	if vs.IsFWMark() {
		return vs.Family == FamilyInet6
	}
	a, err := netip.ParseAddr(vs.Address)
	return err == nil && a.Is6()
}

// EffectiveForwardingMethod is the method of rs within vs: its own, else the virtual
// server's, else dr.
func (vs *VirtualServer) EffectiveForwardingMethod(rs *RealServer) string {
	switch {
	case rs != nil && rs.ForwardingMethod != "":
		return rs.ForwardingMethod
	case vs.ForwardingMethod != "":
		return vs.ForwardingMethod
	}
	return string(ForwardDR)
}

// unicast parses s as a unicast address of either family that can carry a service.
func unicast(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, fmt.Errorf("%q is not an IPv4 or IPv6 address", s)
	}
	if a.Zone() != "" || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() || a.IsLinkLocalUnicast() || a.IsLoopback() {
		return a, fmt.Errorf("%s cannot be used here: give a global unicast address (IPv4 without ::ffff:)", s)
	}
	return a, nil
}

// ParseNetmask parses a persistence netmask for the family: a dotted IPv4 mask or prefix length
// ("255.255.255.0", "24") or an IPv6 prefix length ("64", "/64"). It returns the prefix length.
func ParseNetmask(s string, ipv6 bool) (int, error) {
	s = strings.TrimPrefix(s, "/")
	if n, err := strconv.Atoi(s); err == nil {
		max := 32
		if ipv6 {
			max = 128
		}
		if n < 1 || n > max {
			return 0, fmt.Errorf("prefix length %d is outside 1-%d", n, max)
		}
		return n, nil
	}
	if ipv6 {
		return 0, fmt.Errorf("%q: an IPv6 service takes a prefix length (1-128)", s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, fmt.Errorf("%q is not a dotted IPv4 mask or a prefix length", s)
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for n < 32 && v&(1<<(31-n)) != 0 {
		n++
	}
	if n == 0 || (n < 32 && v<<n != 0) {
		return 0, fmt.Errorf("%q is not a contiguous netmask", s)
	}
	return n, nil
}

// Validate reports the first field of the virtual server that cannot be applied, named as the
// lvs_virtual_server attribute; its real servers are checked too (an error on one names
// real_servers, with the real server and its lvs_real_server attribute in the message).
func (vs *VirtualServer) Validate() error {
	if vs.VRID < 1 || vs.VRID > 255 {
		return Invalid("vip_id", fmt.Sprintf("virtual_router_id %d is outside 1-255", vs.VRID))
	}
	ipv6 := false
	if vs.IsFWMark() {
		if vs.Protocol != "" || vs.Address != "" || vs.Port != 0 {
			return Invalid("fwmark", "a fwmark service has no protocol, address or port: the mark selects the packets")
		}
		if IsReservedFWMark(vs.FWMark) {
			return Invalid("fwmark", fmt.Sprintf("%d (%#x) is in %#x-%#x, the marks lvs-agent keeps for its own handover services after a planned takeover (it removes any service there); choose a mark outside that range",
				vs.FWMark, vs.FWMark, ReservedFWMarkBase, ReservedFWMarkBase|^ReservedFWMarkMask))
		}
		switch vs.Family {
		case FamilyInet, "":
		case FamilyInet6:
			ipv6 = true
		default:
			return Invalid("family", fmt.Sprintf("%q is not inet or inet6", vs.Family))
		}
	} else {
		if !slices.Contains(Protocols, vs.Protocol) {
			return Invalid("protocol", fmt.Sprintf("%q is not one of %s (or set fwmark)", vs.Protocol, strings.Join(Protocols, ", ")))
		}
		if vs.Family != "" {
			return Invalid("family", "only fwmark services take a family; the address gives it")
		}
		a, err := unicast(vs.Address)
		if err != nil {
			return Invalid("address", err.Error())
		}
		ipv6 = a.Is6()
		if vs.Port < 0 || vs.Port > 65535 {
			return Invalid("port", fmt.Sprintf("%d is outside 0-65535", vs.Port))
		}
		if vs.Port == 0 && vs.Persistence == nil {
			return Invalid("port", "port 0 (every port) needs persistence, as in ipvsadm")
		}
	}
	if !slices.Contains(Schedulers, vs.Scheduler) {
		return Invalid("scheduler", fmt.Sprintf("%q is not one of %s", vs.Scheduler, strings.Join(Schedulers, " ")))
	}
	if vs.OnePacket && (vs.Protocol == "tcp" || vs.Protocol == "sctp") {
		return Invalid("one_packet_scheduling", fmt.Sprintf("is for UDP services, and this one's protocol is %s: remove it, or set protocol = \"udp\"", vs.Protocol))
	}
	seen := map[string]bool{}
	for i, f := range vs.SchedulerFlags {
		sched, ok := SchedulerFlags[f]
		switch {
		case !ok:
			return Invalid(fmt.Sprintf("scheduler_flags[%d]", i), fmt.Sprintf("%q is not one of sh-fallback, sh-port, mh-fallback, mh-port", f))
		case sched != vs.Scheduler:
			return Invalid(fmt.Sprintf("scheduler_flags[%d]", i), fmt.Sprintf("%s is only valid with scheduler %s, not %s", f, sched, vs.Scheduler))
		case seen[f]:
			return Invalid(fmt.Sprintf("scheduler_flags[%d]", i), fmt.Sprintf("%s is listed twice", f))
		}
		seen[f] = true
	}
	if p := vs.Persistence; p != nil {
		if p.TimeoutS < 1 || p.TimeoutS > MaxPersistenceTimeoutS {
			return Invalid("persistence.timeout", fmt.Sprintf("%ds is outside 1s-%ds", p.TimeoutS, MaxPersistenceTimeoutS))
		}
		if p.Netmask != "" {
			if _, err := ParseNetmask(p.Netmask, ipv6); err != nil {
				return Invalid("persistence.netmask", err.Error())
			}
		}
	}
	if vs.ForwardingMethod != "" && !slices.Contains(ForwardingMethods, vs.ForwardingMethod) {
		return Invalid("forwarding_method", fmt.Sprintf("%q is not one of dr, nat, tunnel", vs.ForwardingMethod))
	}
	if vs.OnFailure != "" && !slices.Contains(OnFailureActions, vs.OnFailure) {
		return Invalid("on_failure", fmt.Sprintf("%q is not quiesce or remove", vs.OnFailure))
	}
	if err := vs.HealthCheck.validate("health_check"); err != nil {
		return err
	}
	if s := vs.SorryServer; s != nil {
		rs := &RealServer{Address: s.Address, Port: s.Port, ForwardingMethod: s.ForwardingMethod, Weight: 1}
		if err := vs.validateDestination(rs, "sorry_server."); err != nil {
			return err
		}
		if _, ok := vs.RealServers[RealServerKey(rs)]; ok {
			return Invalid("sorry_server.address", fmt.Sprintf("%s is also a real server of this virtual server", RealServerKey(rs)))
		}
	}
	if q := vs.Quorum; q != nil {
		if q.Min < 1 {
			return Invalid("quorum.min", "must be at least 1 (the summed weight of live real servers)")
		}
		if q.Hysteresis < 0 || q.Hysteresis >= q.Min {
			return Invalid("quorum.hysteresis", fmt.Sprintf("must be from 0 to min-1 (%d)", q.Min-1))
		}
	}
	// By key, so that one configuration always gets the same error.
	for _, key := range slices.Sorted(maps.Keys(vs.RealServers)) {
		rs := vs.RealServers[key]
		if rs == nil {
			return Invalid("real_servers", fmt.Sprintf("entry %s is empty", key))
		}
		if err := vs.ValidateRealServer(rs); err != nil {
			// Named on real_servers with the key in the text: keys hold dots, which attribute
			// paths cannot carry.
			var e *Error
			if errors.As(err, &e) && e.Field != "" {
				return Invalid("real_servers", fmt.Sprintf("real server %s: %s: %s", key, e.Field, e.Message))
			}
			return err
		}
		if got := RealServerKey(rs); got != key {
			return Invalid("real_servers", fmt.Sprintf("entry %s holds real server %s", key, got))
		}
	}
	return nil
}

// ValidateRealServer reports the first field of rs, a real server of vs, that cannot be
// applied, named as the lvs_real_server attribute.
func (vs *VirtualServer) ValidateRealServer(rs *RealServer) error {
	if err := vs.validateDestination(rs, ""); err != nil {
		return err
	}
	if rs.Weight < 0 || rs.Weight > 65535 {
		return Invalid("weight", fmt.Sprintf("%d is outside 0-65535", rs.Weight))
	}
	if rs.UpperThreshold < 0 || int64(rs.UpperThreshold) > 1<<32-1 {
		return Invalid("thresholds.upper", "must be from 0 (no limit) to 4294967295")
	}
	if rs.LowerThreshold < 0 || int64(rs.LowerThreshold) > 1<<32-1 {
		return Invalid("thresholds.lower", "must be from 0 (none) to 4294967295")
	}
	if rs.UpperThreshold > 0 && rs.LowerThreshold > rs.UpperThreshold {
		return Invalid("thresholds.lower", fmt.Sprintf("%d is above the upper threshold %d", rs.LowerThreshold, rs.UpperThreshold))
	}
	if rs.OnFailure != "" && !slices.Contains(OnFailureActions, rs.OnFailure) {
		return Invalid("on_failure", fmt.Sprintf("%q is not quiesce or remove (or leave it unset for the virtual server's)", rs.OnFailure))
	}
	if err := ValidateNotifyCommand(rs.NotifyUp); err != nil {
		return Invalid("notify.up", err.Error())
	}
	if err := ValidateNotifyCommand(rs.NotifyDown); err != nil {
		return Invalid("notify.down", err.Error())
	}
	return rs.HealthCheck.validate("health_check")
}

// validateDestination checks what real servers and the sorry server share: address, port and
// forwarding method within vs.
func (vs *VirtualServer) validateDestination(rs *RealServer, prefix string) error {
	a, err := unicast(rs.Address)
	if err != nil {
		return Invalid(prefix+"address", err.Error())
	}
	if rs.Port < 0 || rs.Port > 65535 {
		return Invalid(prefix+"port", fmt.Sprintf("%d is outside 0-65535", rs.Port))
	}
	if rs.ForwardingMethod != "" && !slices.Contains(ForwardingMethods, rs.ForwardingMethod) {
		return Invalid(prefix+"forwarding_method", fmt.Sprintf("%q is not one of dr, nat, tunnel", rs.ForwardingMethod))
	}
	method := Forwarding(vs.EffectiveForwardingMethod(rs))
	if a.Is6() != vs.IsIPv6() && method != ForwardTunnel {
		return Invalid(prefix+"address", fmt.Sprintf("%s is not of the virtual server's address family; only tunnel forwarding mixes families", a))
	}
	if method != ForwardNAT && !vs.IsFWMark() && vs.Port != 0 && rs.Port != vs.Port {
		return Invalid(prefix+"port", fmt.Sprintf("with forwarding_method %s the packet keeps its port: the real server must use port %d (port mapping needs nat)", method, vs.Port))
	}
	return nil
}

var statusRange = regexp.MustCompile(`^([1-5][0-9][0-9])(?:-([1-5][0-9][0-9]))?$`)

// validate checks a health_check block: durations, counts, and that the type-specific fields fit
// the type. Zero interval, timeout, rise and fall mean the checker's defaults; zero retries and
// retry delay mean none. A nil block is valid.
func (h *HealthCheck) validate(prefix string) error {
	if h == nil {
		return nil
	}
	f := func(n string) string { return prefix + "." + n }
	if !slices.Contains(HealthCheckTypes, h.Type) {
		return Invalid(f("type"), fmt.Sprintf("%q is not one of %s", h.Type, strings.Join(HealthCheckTypes, ", ")))
	}
	for _, c := range []struct {
		name string
		v    int
	}{{"interval", h.IntervalMS}, {"timeout", h.TimeoutMS}, {"retries", h.Retries}, {"retry_delay", h.RetryDelayMS}, {"rise", h.Rise}, {"fall", h.Fall}} {
		if c.v < 0 {
			return Invalid(f(c.name), "must not be negative")
		}
	}
	if h.IntervalMS > 0 && h.IntervalMS < 10 {
		return Invalid(f("interval"), "must be at least 10ms")
	}
	if h.ConnectAddress != "" {
		if _, err := unicast(h.ConnectAddress); err != nil {
			return Invalid(f("connect_address"), err.Error())
		}
	}
	if h.ConnectPort < 0 || h.ConnectPort > 65535 {
		return Invalid(f("connect_port"), fmt.Sprintf("%d is outside 0-65535", h.ConnectPort))
	}
	isHTTP := h.Type == "http" || h.Type == "https"
	switch {
	case h.HTTP != nil && !isHTTP:
		return Invalid(f("path"), fmt.Sprintf("http settings do not apply to a %s check", h.Type))
	case h.Exec != nil && h.Type != "exec":
		return Invalid(f("command"), fmt.Sprintf("a command does not apply to a %s check", h.Type))
	case h.DNS != nil && h.Type != "dns":
		return Invalid(f("query_name"), fmt.Sprintf("DNS settings do not apply to a %s check", h.Type))
	case h.Type == "exec" && (h.Exec == nil || strings.TrimSpace(h.Exec.Command) == ""):
		return Invalid(f("command"), "an exec check needs a command")
	case h.Type == "dns" && (h.DNS == nil || h.DNS.Name == ""):
		return Invalid(f("query_name"), "a dns check needs a query name")
	case h.UDP != nil && h.Type != "udp":
		return Invalid(f("payload"), fmt.Sprintf("UDP settings do not apply to a %s check", h.Type))
	case h.SMTP != nil && h.Type != "smtp":
		return Invalid(f("helo_name"), fmt.Sprintf("SMTP settings do not apply to a %s check", h.Type))
	case h.Type == "none" && (h.ConnectAddress != "" || h.ConnectPort != 0):
		return Invalid(f("connect_address"), "a none check connects nowhere")
	}
	if h.DNS != nil && h.DNS.Type != "" && !slices.Contains([]string{"A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT"}, strings.ToUpper(h.DNS.Type)) {
		return Invalid(f("query_type"), fmt.Sprintf("%q is not a DNS record type this check knows (A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT)", h.DNS.Type))
	}
	if hc := h.HTTP; hc != nil {
		if len(hc.URLs) > 0 && (hc.Path != "" || len(hc.ExpectedStatus) > 0 || hc.ExpectedBody != "" || hc.Digest != "") {
			return Invalid(f("urls"), "set either urls or path, expected_status, expected_body and digest, not both")
		}
		if err := validateURL(f(""), HTTPURL{Path: hc.Path, ExpectedStatus: hc.ExpectedStatus, ExpectedBody: hc.ExpectedBody, Digest: hc.Digest}, len(hc.URLs) > 0); err != nil {
			return err
		}
		for i, u := range hc.URLs {
			if err := validateURL(fmt.Sprintf("%s[%d].", f("urls"), i), u, false); err != nil {
				return err
			}
		}
		if h.Type == "http" && (hc.TLSServerName != "" || hc.TLSVerify) {
			return Invalid(f("tls_server_name"), "TLS settings need type https")
		}
	}
	if u := h.UDP; u != nil {
		if u.Payload != "" {
			if _, _, err := ParseHex(u.Payload, false); err != nil {
				return Invalid(f("payload"), "not a hex string: "+err.Error())
			}
		}
		if u.ReplyPattern != "" {
			if _, _, err := ParseHex(u.ReplyPattern, true); err != nil {
				return Invalid(f("reply_pattern"), "not a hex string (x for any digit): "+err.Error())
			}
		}
	}
	if s := h.SMTP; s != nil && (s.HeloName != strings.TrimSpace(s.HeloName) || strings.ContainsAny(s.HeloName, " \t\r\n")) {
		return Invalid(f("helo_name"), fmt.Sprintf("%q must be one word: no spaces or line breaks", s.HeloName))
	}
	if e := h.Exec; e != nil && e.DynamicWeight && h.Type != "exec" {
		return Invalid(f("dynamic_weight"), "needs type exec")
	}
	return nil
}

// validateURL checks one GET of an http check; prefix ends with a dot. With several URLs the
// single-URL fields are empty (inURLs).
func validateURL(prefix string, u HTTPURL, inURLs bool) error {
	if inURLs {
		return nil
	}
	if u.Path == "" || !strings.HasPrefix(u.Path, "/") {
		return Invalid(prefix+"path", fmt.Sprintf("%q must start with /", u.Path))
	}
	for i, st := range u.ExpectedStatus {
		m := statusRange.FindStringSubmatch(st)
		if m == nil || (m[2] != "" && m[2] < m[1]) {
			return Invalid(fmt.Sprintf("%sexpected_status[%d]", prefix, i), fmt.Sprintf("%q is not a status (200) or range (200-299) within 100-599", st))
		}
	}
	if u.ExpectedBody != "" {
		if _, err := regexp.Compile(u.ExpectedBody); err != nil {
			return Invalid(prefix+"expected_body", fmt.Sprintf("not an RE2 regular expression: %v", err))
		}
	}
	if u.Digest != "" && !ValidDigest(u.Digest) {
		return Invalid(prefix+"digest", fmt.Sprintf("%q is not an MD5 digest: 32 hex digits, as keepalived's genhash prints", u.Digest))
	}
	return nil
}

// ValidDigest reports whether s is an MD5 digest in hex (32 digits, either case).
func ValidDigest(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// Validate reports the first field of the binding that cannot be applied.
func (b *RealServerBinding) Validate() error {
	if _, err := unicast(b.VIP); err != nil {
		return Invalid("vip", err.Error())
	}
	switch Forwarding(b.ForwardingMethod) {
	case ForwardDR, ForwardTunnel:
	case ForwardNAT:
		return Invalid("forwarding_method", "nat needs no real-server binding: route the real server's replies through the director instead")
	default:
		return Invalid("forwarding_method", fmt.Sprintf("%q is not dr or tunnel", b.ForwardingMethod))
	}
	return nil
}
