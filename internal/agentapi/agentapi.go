// Package agentapi holds the wire types of the lvs-agent API, shared by the agent and the provider.
//
// It imports only the standard library so that the provider never depends on agent internals.
// The API is HTTP+JSON on a root-only unix socket, versioned by path prefix (/v1) and by the
// APIVersion header so that a provider and an agent of different majors fail with a clear error.
package agentapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// APIVersion is the major version of this wire format. A change that an older peer would
// misread bumps it.
const APIVersion = 1

// HeaderAPIVersion carries the client's APIVersion on every request.
const HeaderAPIVersion = "X-LVS-API-Version"

// HeaderClientVersion carries the provider's release version (internal/version). An agent
// refuses a client outside the compatibility window (version.Compatible) with CodeVersionSkew;
// a request without it (an older provider, the agent's own CLI) is checked by APIVersion only.
const HeaderClientVersion = "X-LVS-Client-Version"

// HeaderIfNoneMatch set to "*" makes a PUT create-only: when the object exists the agent changes
// nothing and answers CodeExists. Creating a resource thus costs one request, not a read and a
// write, and two creates of one object never both succeed. Every object kind takes it; for the
// pair, "exists" means a pair of another UUID (a retried create of the same pair succeeds).
const HeaderIfNoneMatch = "If-None-Match"

// HeaderPairUUID on DELETE PathPair names the pair the client means to delete: the agent refuses
// (CodeConflict) when the host holds a pair with another UUID, so a stale or mistaken delete
// never wipes another pair.
const HeaderPairUUID = "X-LVS-Pair-UUID"

// Fixed paths on a host. The agent is a single static binary; its state and socket are root-only.
const (
	BinaryPath     = "/usr/local/sbin/lvs-agent"
	StateDir       = "/var/lib/lvs-agent"
	StatePath      = StateDir + "/state.json"
	RunDir         = "/run/lvs-agent"
	SocketPath     = RunDir + "/agent.sock"
	SupervisorPID  = RunDir + "/supervisor.pid"
	LogPath        = "/var/log/lvs-agent.log"
	SystemdUnit    = "lvs-agent.service"
	SystemdUnitDir = "/etc/systemd/system"
)

// Size limits of the API's bodies. Measured (worst case: IPv6 addresses, tunnel forwarding, an
// https health check with every field on each real server): a whole state (PathState) with 10,000
// real servers is 6.6 MB of JSON, a batch of MaxBatch real-server writes 0.2 MB; a status of 10,000
// destinations is of the same order as the state. The limits leave 5x and 10x room.
const (
	// MaxRequestBytes bounds a request body the agent reads.
	MaxRequestBytes = 32 << 20
	// MaxResponseBytes bounds an answer the client reads.
	MaxResponseBytes = 64 << 20
)

// The command-line contract between the provider and the agent binary over SSH.
const (
	// ExitAgentNotRunning is dial-stdio's exit status when nothing listens on the socket.
	ExitAgentNotRunning = 3
	// InstallStarted and InstallUnchanged are the first word of the line `lvs-agent install`
	// prints: whether it started (or restarted) the agent or found it running.
	InstallStarted   = "started"
	InstallUnchanged = "running"
)

// API paths, relative to the socket's HTTP root.
const (
	PathVersion = "/v1/version"
	PathStatus  = "/v1/status"
	// QueryIPVSDest on GET PathStatus narrows the status's IPVS table to the named destinations,
	// each "VIRTUAL_SERVER_KEY,REAL_SERVER_KEY" (repeat it for several): a service is kept with
	// the named destinations it has, the VRRP state and the rest are whole. It lets a drain read
	// a few connection counts without the whole table. An agent that does not know it ignores it
	// and answers the whole table, in which the same destinations are found.
	QueryIPVSDest = "ipvs_dest"
	PathPair      = "/v1/pair"
	// PathState is the whole desired state, used to move a configuration to a replacement
	// director; its body is opaque to the provider.
	PathState = "/v1/state"
)

// VersionInfo identifies a running agent.
type VersionInfo struct {
	Version    string `json:"version"`
	APIVersion int    `json:"api_version"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	// BinarySHA256 is the hex SHA-256 of the running binary, which the provider compares with
	// the one it bundles to tell whether an install would change anything. Empty from agents
	// before it existed.
	BinarySHA256 string `json:"binary_sha256,omitempty"`
}

// Director is one of the two hosts of a pair.
type Director struct {
	Host      string `json:"host"`
	Interface string `json:"interface"`
	// VRRPAddress, when set, is the IP address on Interface the director's adverts are sent
	// from and the peer sends its unicast adverts to, for VRRP instances of its family
	// (keepalived's unicast_src_ip / unicast_peer); otherwise Host is used.
	VRRPAddress string `json:"vrrp_address,omitempty"`
}

// SyncDaemon sets the IPVS connection sync daemon (ipvsadm --start-daemon, keepalived's
// lvs_sync_daemon); a zero field keeps the default: Interface the director's interface, ID
// SyncID of the pair's name, the others the kernel's (port 8848, TTL 1, group 224.0.0.81,
// maximum length from the interface's MTU).
type SyncDaemon struct {
	Interface string `json:"interface,omitempty"`
	// ID is the sync id (0-255); nil is the default. A backup daemon with id 0 takes every
	// master's connections.
	ID        *int   `json:"id,omitempty"`
	Port      int    `json:"port,omitempty"`
	TTL       int    `json:"ttl,omitempty"`
	MaxLength int    `json:"max_length,omitempty"`
	Group     string `json:"group,omitempty"`
}

// Validate reports the first field that cannot be applied, named under sync_daemon.
func (s *SyncDaemon) Validate() error {
	if s.Interface != "" {
		if err := ValidateInterfaceName(s.Interface); err != nil {
			return Invalid("sync_daemon.interface", err.Error())
		}
	}
	for _, f := range []struct {
		name     string
		v        int
		min, max int
		set      bool
	}{
		{"id", deref(s.ID), 0, 255, s.ID != nil},
		{"port", s.Port, 1, 65535, s.Port != 0},
		{"ttl", s.TTL, 1, 255, s.TTL != 0},
		{"max_length", s.MaxLength, 1, MaxSyncLength, s.MaxLength != 0},
	} {
		if f.set && (f.v < f.min || f.v > f.max) {
			return Invalid("sync_daemon."+f.name, fmt.Sprintf("%d is outside %d-%d", f.v, f.min, f.max))
		}
	}
	if s.Group != "" {
		if err := ValidateSyncDaemonGroup(s.Group); err != nil {
			return Invalid("sync_daemon.group", err.Error())
		}
	}
	return nil
}

// MaxSyncLength is the longest sync message: a UDP payload in an IPv4 packet (65535 less the
// IPv4 and UDP headers), as keepalived's maxlen.
const MaxSyncLength = 65535 - 20 - 8

// ValidateSyncDaemonGroup reports why s cannot be the sync daemon's multicast group.
func ValidateSyncDaemonGroup(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return fmt.Errorf("%q is not an IP address", s)
	}
	if !a.Unmap().IsMulticast() {
		return fmt.Errorf("%s is not a multicast address (224.0.0.0/4 or ff00::/8; the kernel's default is 224.0.0.81)", s)
	}
	return nil
}

// ValidateVRRPAddress reports why s cannot be a director's vrrp_address: an IP literal of
// one host, which the agent puts in adverts as their source.
func ValidateVRRPAddress(s string) error {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil || a.Zone() != "":
		return fmt.Errorf("%q is not an IP address", s)
	case a.Is4In6():
		return fmt.Errorf("%s is an IPv4-mapped IPv6 address: write the IPv4 address", s)
	case a.IsUnspecified(), a.IsMulticast(), a.IsLoopback(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%s is not the address of one host on the VRRP link", s)
	case a.Is6() && a.IsLinkLocalUnicast():
		return fmt.Errorf("%s is link-local: IPv6 adverts already come from the link-local address; give a global or unique-local address of the link, or leave vrrp_address unset", s)
	}
	return nil
}

// VRRPAddressPair reports why a and b (both valid) cannot be the two directors' vrrp_address:
// they are one address, or of two families (the peer of one would be of the other's family).
func VRRPAddressPair(a, b string) error {
	x, err1 := netip.ParseAddr(a)
	y, err2 := netip.ParseAddr(b)
	switch {
	case err1 != nil || err2 != nil:
		return nil // reported on its own
	case x == y:
		return fmt.Errorf("%s is directors[0].vrrp_address too: each director needs its own", b)
	case x.Is4() != y.Is4():
		return fmt.Errorf("%s and %s are of different families: the two directors' VRRP addresses must be on one link, of one family", a, b)
	}
	return nil
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// IPVSTimeouts are the kernel's IPVS connection timeouts in seconds (ipvsadm --set); zero keeps
// the kernel's value.
type IPVSTimeouts struct {
	TCP    int `json:"tcp"`
	TCPFin int `json:"tcp_fin"`
	UDP    int `json:"udp"`
}

// Pair is the director pair as one agent holds it. Self is the index in Directors of the host that
// stores it, so each agent knows its peer.
//
// UUID identifies the pair for its whole life: the provider makes it at create and keeps it in
// Terraform state, and the agent refuses a create, update or delete of the pair by a client
// holding another UUID (see OwnerClash). A pair stored before UUIDs existed has none (legacy)
// and is adopted by the first update carrying its name.
type Pair struct {
	Name string `json:"name"`
	UUID string `json:"uuid,omitempty"`
	// CreatedBy is free text the creator records (the provider: user@machine that ran
	// terraform); CreatedAt (RFC 3339, UTC) is set by the agent. Both are kept across updates.
	CreatedBy       string        `json:"created_by,omitempty"`
	CreatedAt       string        `json:"created_at,omitempty"`
	Directors       []Director    `json:"directors"`
	Self            int           `json:"self"`
	SyncConnections bool          `json:"sync_connections"`
	IPVSTimeouts    *IPVSTimeouts `json:"ipvs_timeouts,omitempty"`
	// SyncDaemon sets the sync daemon that SyncConnections runs; nil keeps every default.
	SyncDaemon  *SyncDaemon `json:"sync_daemon,omitempty"`
	VRRPUnicast bool        `json:"vrrp_unicast"`
	// MetricsListen is the HOST:PORT (HOST an IP literal or empty for every address) on which
	// the agent serves Prometheus metrics at /metrics; empty serves none.
	MetricsListen string `json:"metrics_listen,omitempty"`
	// LogLevel is the agent's log level (LogLevels); empty is "info".
	LogLevel string `json:"log_level,omitempty"`
}

// LogLevels are the agent's log levels, least to most severe.
var LogLevels = []string{"debug", "info", "warn", "error"}

// DefaultMetricsPort is the port the documentation and examples use for the agent's metrics.
const DefaultMetricsPort = 9469

// ValidateMetricsListen reports why s cannot be the metrics listen address: HOST:PORT with HOST
// an IP literal (IPv6 in brackets) or empty, and PORT 1-65535. A host name is refused: it
// would be resolved at every agent start, and could then name an address the host lacks.
func ValidateMetricsListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT (e.g. \":%d\" for every address, or \"198.51.100.1:%d\")", s, DefaultMetricsPort, DefaultMetricsPort)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q of %q is not a number in 1-65535", port, s)
	}
	if host != "" {
		if a, err := netip.ParseAddr(host); err != nil || a.Zone() != "" {
			return fmt.Errorf("host %q of %q is not an IP address (leave it empty, as in \":%s\", to listen on every address)", host, s, port)
		}
	}
	return nil
}

// Validate reports the first field that cannot be applied, as a *Error with Field set.
func (p *Pair) Validate() error {
	if p.Name == "" {
		return Invalid("name", "must not be empty")
	}
	if len(p.Directors) != 2 {
		return Invalid("directors", fmt.Sprintf("must hold exactly two directors, got %d", len(p.Directors)))
	}
	for i, d := range p.Directors {
		if d.Host == "" {
			return Invalid(fmt.Sprintf("directors[%d].host", i), "must not be empty")
		}
		if err := ValidateInterfaceName(d.Interface); err != nil {
			return Invalid(fmt.Sprintf("directors[%d].interface", i), err.Error())
		}
		if d.VRRPAddress != "" {
			if err := ValidateVRRPAddress(d.VRRPAddress); err != nil {
				return Invalid(fmt.Sprintf("directors[%d].vrrp_address", i), err.Error())
			}
		}
	}
	if p.Directors[0].Host == p.Directors[1].Host {
		return Invalid("directors[1].host", "must differ from directors[0].host")
	}
	if a, b := p.Directors[0].VRRPAddress, p.Directors[1].VRRPAddress; a != "" && b != "" {
		if err := VRRPAddressPair(a, b); err != nil {
			return Invalid("directors[1].vrrp_address", err.Error())
		}
	}
	if p.SyncDaemon != nil {
		if err := p.SyncDaemon.Validate(); err != nil {
			return err
		}
	}
	if len(p.UUID) > MaxUUIDLen || strings.IndexFunc(p.UUID, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		return Invalid("pair_uuid", fmt.Sprintf("must be at most %d printable ASCII characters without spaces", MaxUUIDLen))
	}
	if len(p.CreatedBy) > 256 {
		return Invalid("created_by", "must be at most 256 bytes")
	}
	if p.MetricsListen != "" {
		if err := ValidateMetricsListen(p.MetricsListen); err != nil {
			return Invalid("metrics.listen", err.Error())
		}
	}
	if p.LogLevel != "" && !slices.Contains(LogLevels, p.LogLevel) {
		return Invalid("log_level", fmt.Sprintf("%q is not one of %s", p.LogLevel, strings.Join(LogLevels, ", ")))
	}
	if p.Self < 0 || p.Self > 1 {
		return Invalid("self", "must be 0 or 1")
	}
	if t := p.IPVSTimeouts; t != nil {
		// In a fixed order, so that one configuration always gets the same error.
		for _, f := range []struct {
			name string
			v    int
		}{{"tcp", t.TCP}, {"tcp_fin", t.TCPFin}, {"udp", t.UDP}} {
			if f.v < 0 {
				return Invalid("ipvs_timeouts."+f.name, "must not be negative")
			}
		}
	}
	return nil
}

// MaxUUIDLen bounds Pair.UUID (the provider's are 36 characters).
const MaxUUIDLen = 64

// Describe names the pair for an operator: name, UUID, directors and creator.
func (p *Pair) Describe() string {
	var hosts []string
	for _, d := range p.Directors {
		hosts = append(hosts, d.Host)
	}
	s := fmt.Sprintf("director pair %q (directors %s", p.Name, strings.Join(hosts, ", "))
	if p.UUID != "" {
		s += ", pair_uuid " + p.UUID
	} else {
		s += ", no pair_uuid: stored before pairs had one"
	}
	if p.CreatedBy != "" {
		s += ", created by " + p.CreatedBy
	}
	if p.CreatedAt != "" {
		s += " at " + p.CreatedAt
	}
	return s + ")"
}

// ImportID is the lvs_director_pair import ID of the pair: NAME@HOST1,HOST2.
func (p *Pair) ImportID() string {
	var hosts []string
	for _, d := range p.Directors {
		hosts = append(hosts, d.Host)
	}
	return p.Name + "@" + strings.Join(hosts, ",")
}

// OwnerClash reports whether writing next over held (the pair a host holds) would take the host
// from another pair. A pair with the same UUID is the same pair. A legacy pair (no UUID) is the
// same pair when the names match, unless createOnly: a create never adopts, so that a pair made
// by an older provider is taken over only by importing it.
func OwnerClash(held, next *Pair, createOnly bool) bool {
	switch {
	case held == nil:
		return false
	case held.UUID != "":
		return held.UUID != next.UUID
	default:
		return createOnly || held.Name != next.Name
	}
}

// MaxInterfaceNameLen is the longest Linux interface name (IFNAMSIZ - 1).
const MaxInterfaceNameLen = 15

// ValidateInterfaceName reports why name cannot be the name of one network interface. Besides
// what the kernel refuses (dev_valid_name: empty, longer than 15 bytes, ".", "..", '/', ':' or
// white space), it refuses "all" and "default": under /proc/sys/net/*/conf they are not an
// interface but every interface (and the template of new ones), so a sysctl the agent sets on
// "the interface" would change the whole host.
func ValidateInterfaceName(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case len(name) > MaxInterfaceNameLen:
		return fmt.Errorf("%q is longer than %d bytes, the longest Linux interface name", name, MaxInterfaceNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("%q is not a Linux interface name", name)
	case name == "all" || name == "default":
		return fmt.Errorf("%q is not an interface: net.ipv4.conf.%s stands for every interface of the host; name the interface itself, e.g. eth0", name, name)
	}
	for _, r := range name {
		if r == '/' || r == ':' || r <= ' ' || r > '~' {
			return fmt.Errorf("%q is not a Linux interface name: printable ASCII without '/', ':' or white space", name)
		}
	}
	return nil
}

// State is everything an agent has been asked to keep on its host: the document the agent stores
// on disk and the body of PathState.
type State struct {
	// Serial increases with every stored change.
	Serial uint64 `json:"serial"`
	Pair   *Pair  `json:"pair,omitempty"`
	// VIPs by VRID.
	VIPs map[int]*VIP `json:"vips,omitempty"`
	// VirtualServers by key (see VirtualServer).
	VirtualServers map[string]*VirtualServer `json:"virtual_servers,omitempty"`
	// RealServerBindings by id, on real server hosts.
	RealServerBindings map[string]*RealServerBinding `json:"real_server_bindings,omitempty"`
}

// Clone returns a deep copy, so a holder can hand out its state without sharing memory.
func (s *State) Clone() *State {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("agentapi: state does not marshal: %v", err)) // plain data: cannot fail
	}
	var c State
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("agentapi: state does not unmarshal: %v", err))
	}
	return &c
}

// Status is what `lvs-agent status` and the lvs_director_status data source show.
type Status struct {
	Version   VersionInfo `json:"version"`
	StartedAt string      `json:"started_at"`
	// Serial counts the stored changes since the state was created.
	Serial uint64 `json:"serial"`
	Pair   *Pair  `json:"pair,omitempty"`
	// VIPs is the live VRRP state of every VIP.
	VIPs []VIPStatus `json:"vips,omitempty"`
	// IPVS is the kernel's table as read now, merged with the configuration and health.
	IPVS []IPVSService `json:"ipvs,omitempty"`
	// Bindings are the real-server-role VIPs this host holds.
	Bindings []RealServerBinding `json:"bindings,omitempty"`
	// StateError is why the stored state could not be read (CodeStateCorrupt): the agent then
	// keeps the kernel as it is, runs no VRRP and refuses writes until it is recovered.
	StateError string `json:"state_error,omitempty"`
	// Panics lists the parts of the agent that panicked and were restarted, by part.
	Panics []PartPanics `json:"panics,omitempty"`
}

// PartPanics counts the recovered panics of one part of the agent (healthcheck, ipvs, vrrp,
// ...); each one restarted that part alone.
type PartPanics struct {
	Part  string `json:"part"`
	Count uint64 `json:"count"`
	// Last is the last panic's value; LastAt when it happened (RFC 3339). Its stack is in the log.
	Last   string `json:"last"`
	LastAt string `json:"last_at"`
}

// ErrorCode classifies an API error so clients branch with errors.Is, never on message text.
type ErrorCode string

const (
	CodeNotFound    ErrorCode = "not_found"
	CodeConflict    ErrorCode = "conflict"
	CodeExists      ErrorCode = "exists" // a create-only write (HeaderIfNoneMatch) found the object there
	CodeVersionSkew ErrorCode = "version_skew"
	CodeValidation  ErrorCode = "validation"
	CodeInternal    ErrorCode = "internal"
	// CodeStateCorrupt refuses a write while the agent's stored state cannot be read; the
	// message says how to recover (a whole state put at PathState replaces it).
	CodeStateCorrupt ErrorCode = "state_corrupt"
)

// Sentinels for errors.Is on an *Error.
var (
	ErrNotFound     = &Error{Code: CodeNotFound}
	ErrConflict     = &Error{Code: CodeConflict}
	ErrExists       = &Error{Code: CodeExists}
	ErrVersionSkew  = &Error{Code: CodeVersionSkew}
	ErrValidation   = &Error{Code: CodeValidation}
	ErrStateCorrupt = &Error{Code: CodeStateCorrupt}
)

// Error is the body of every non-2xx answer.
type Error struct {
	Code    ErrorCode `json:"code"`
	Message string    `json:"message"`
	// Field names the attribute at fault for CodeValidation, in the provider's attribute syntax.
	Field string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Is matches on Code so that errors.Is(err, ErrNotFound) works for any not-found error.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

// HTTPStatus is the status code the agent answers with for this error.
func (e *Error) HTTPStatus() int {
	switch e.Code {
	case CodeNotFound:
		return http.StatusNotFound
	case CodeConflict, CodeExists:
		return http.StatusConflict
	case CodeVersionSkew:
		return http.StatusPreconditionFailed
	case CodeValidation:
		return http.StatusUnprocessableEntity
	case CodeStateCorrupt:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Invalid builds a validation error for field.
func Invalid(field, msg string) *Error {
	return &Error{Code: CodeValidation, Field: field, Message: msg}
}

// NotFound builds a not-found error.
func NotFound(msg string) *Error { return &Error{Code: CodeNotFound, Message: msg} }
