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
	"net/http"
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
// write.
const HeaderIfNoneMatch = "If-None-Match"

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
	PathPair    = "/v1/pair"
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
type Pair struct {
	Name            string        `json:"name"`
	Directors       []Director    `json:"directors"`
	Self            int           `json:"self"`
	SyncConnections bool          `json:"sync_connections"`
	IPVSTimeouts    *IPVSTimeouts `json:"ipvs_timeouts,omitempty"`
	VRRPUnicast     bool          `json:"vrrp_unicast"`
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
	}
	if p.Directors[0].Host == p.Directors[1].Host {
		return Invalid("directors[1].host", "must differ from directors[0].host")
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
)

// Sentinels for errors.Is on an *Error.
var (
	ErrNotFound    = &Error{Code: CodeNotFound}
	ErrConflict    = &Error{Code: CodeConflict}
	ErrExists      = &Error{Code: CodeExists}
	ErrVersionSkew = &Error{Code: CodeVersionSkew}
	ErrValidation  = &Error{Code: CodeValidation}
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
