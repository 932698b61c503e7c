package ipvs

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Address families and protocols as the kernel numbers them.
const (
	AFInet   = 2
	AFInet6  = 10
	ProtoTCP = 6
	ProtoUDP = 17
	// ProtoSCTP is IPPROTO_SCTP.
	ProtoSCTP = 132
)

// Service flags (IP_VS_SVC_F_*).
const (
	FlagPersistent = 0x0001
	flagHashed     = 0x0002 // kernel-internal: set on every service in the table
	FlagOnePacket  = 0x0004
	FlagSched1     = 0x0008 // sh-fallback, mh-fallback
	FlagSched2     = 0x0010 // sh-port, mh-port
	FlagSched3     = 0x0020
)

// Forwarding methods (IP_VS_CONN_F_*).
const (
	FwdMasq   = 0x0000
	FwdLocal  = 0x0001
	FwdTunnel = 0x0002
	FwdDroute = 0x0003
	FwdBypass = 0x0004
	fwdMask   = 0x0007
)

// Tunnel types (IP_VS_CONN_F_TUNNEL_TYPE_*).
const (
	TunIPIP = 0
	TunGUE  = 1
	TunGRE  = 2
)

// ServiceKey identifies a service in the kernel: protocol, address and port, or a firewall mark.
type ServiceKey struct {
	Family   uint16
	Protocol uint16 // 0 for fwmark services
	Addr     netip.Addr
	Port     uint16
	FWMark   uint32
}

// String is the agentapi key of the service ("tcp/198.51.100.100:80", "fwmark/inet/1").
func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		fam := agentapi.FamilyInet
		if k.Family == AFInet6 {
			fam = agentapi.FamilyInet6
		}
		return fmt.Sprintf("fwmark/%s/%d", fam, k.FWMark)
	}
	return fmt.Sprintf("%s/%s", protoName(k.Protocol), netip.AddrPortFrom(k.Addr, k.Port))
}

func protoName(p uint16) string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoSCTP:
		return "sctp"
	}
	return fmt.Sprintf("proto%d", p)
}

// Stats are a service's or destination's counters.
type Stats struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
}

// Service is one IPVS service with its destinations.
type Service struct {
	ServiceKey
	Scheduler string
	// Flags are IP_VS_SVC_F_* without the kernel's internal "hashed" bit.
	Flags uint32
	// Timeout is the persistence timeout in seconds (0 unless FlagPersistent).
	Timeout uint32
	// NetmaskBits is the persistence granularity as a prefix length (32 or 128: per client).
	NetmaskBits int
	Dests       []*Dest
	Stats       Stats
}

// Dest is one IPVS destination (real server).
type Dest struct {
	Addr      netip.Addr
	Port      uint16
	FwdMethod uint32 // FwdMasq, FwdTunnel, FwdDroute
	Weight    int
	// Connection limits; 0 means none.
	UpperThreshold, LowerThreshold uint32
	TunType                        uint8
	TunPort                        uint16
	TunFlags                       uint16

	// Read from the kernel only.
	ActiveConns, InactiveConns, PersistConns uint32
	Stats                                    Stats
}

// Key is the destination's identity within its service.
func (d *Dest) Key() netip.AddrPort { return netip.AddrPortFrom(d.Addr, d.Port) }

// Family is the destination's address family.
func (d *Dest) Family() uint16 {
	if d.Addr.Is4() {
		return AFInet
	}
	return AFInet6
}

// Timeouts are the kernel's IPVS connection timeouts in seconds (ipvsadm --set).
type Timeouts struct {
	TCP, TCPFin, UDP uint32
}

// KernelDefaultTimeouts are Linux's compiled-in values, what "0 = kernel default" restores.
var KernelDefaultTimeouts = Timeouts{TCP: 15 * 60, TCPFin: 2 * 60, UDP: 5 * 60}

// Sync daemon states (IP_VS_STATE_*).
const (
	DaemonMaster = 1
	DaemonBackup = 2
)

// Daemon is one connection-sync daemon.
type Daemon struct {
	State     uint32 // DaemonMaster or DaemonBackup
	Interface string
	SyncID    uint32
	// Zero starts the daemon with the kernel's default: maximum message length from the
	// interface's MTU, port 8848, TTL 1, group 224.0.0.81. Read back, the kernel gives what it
	// runs (zero from kernels before 4.3).
	MaxLen uint16
	Port   uint16
	TTL    uint8
	Group  netip.Addr
}

// Kernel defaults of the sync daemon (IP_VS_SYNC_PORT, IP_VS_SYNC_GROUP, and a TTL of 1).
const (
	DefaultSyncPort = 8848
	DefaultSyncTTL  = 1
)

// DefaultSyncGroup is the kernel's sync multicast group.
var DefaultSyncGroup = netip.AddrFrom4([4]byte{224, 0, 0, 81})

// Runs reports whether the kernel's daemon k runs as d asks: the same interface and id, and
// each setting d gives (a zero one is the kernel's default, which k must then have).
func (d Daemon) Runs(k Daemon) bool {
	if k.Interface != d.Interface || k.SyncID != d.SyncID {
		return false
	}
	if k.Port == 0 && k.TTL == 0 && !k.Group.IsValid() && k.MaxLen == 0 {
		// A kernel before 4.3 reports none of them and cannot run any but the defaults.
		return d.Port == 0 && d.TTL == 0 && !d.Group.IsValid() && d.MaxLen == 0
	}
	want := d
	if want.Port == 0 {
		want.Port = DefaultSyncPort
	}
	if want.TTL == 0 {
		want.TTL = DefaultSyncTTL
	}
	if !want.Group.IsValid() {
		want.Group = DefaultSyncGroup
	}
	// The kernel clamps the length (a backup takes at least 1024, see start_sync_thread) and
	// derives the default from the MTU: only a length asked for is compared, clamped alike.
	if want.MaxLen != 0 {
		want.MaxLen = clampSyncLen(want)
	}
	return k.Port == want.Port && k.TTL == want.TTL && k.Group == want.Group && (want.MaxLen == 0 || k.MaxLen == want.MaxLen)
}

// clampSyncLen is the length the kernel keeps of d.MaxLen (non-zero).
func clampSyncLen(d Daemon) uint16 {
	hlen := 20 + 8
	if d.Group.Is6() {
		hlen = 40 + 8
	}
	lo := 1
	if d.State == DaemonBackup {
		lo = 1024
	}
	return uint16(min(max(int(d.MaxLen), lo), 65535-hlen))
}

// String describes the daemon as the agent's log and repairs name it.
func (d Daemon) String() string {
	s := fmt.Sprintf("%s sync daemon on %s, sync id %d", daemonStateName(d.State), d.Interface, d.SyncID)
	if d.Port != 0 {
		s += fmt.Sprintf(", port %d", d.Port)
	}
	if d.TTL != 0 {
		s += fmt.Sprintf(", ttl %d", d.TTL)
	}
	if d.Group.IsValid() {
		s += ", group " + d.Group.String()
	}
	if d.MaxLen != 0 {
		s += fmt.Sprintf(", maxlen %d", d.MaxLen)
	}
	return s
}

func daemonStateName(s uint32) string {
	switch s {
	case DaemonMaster:
		return "master"
	case DaemonBackup:
		return "backup"
	}
	return fmt.Sprintf("state%d", s)
}

// SyncID is the IPVS sync id of a pair: FNV-1a of its name, mod 255, plus 1. Both directors
// of a pair derive the same id with no coordination, different pairs on one segment almost
// always differ, and it is never 0, which a backup daemon takes as "accept every pair's
// connections".
func SyncID(pairName string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(pairName))
	return h.Sum32()%255 + 1
}

// OpKind is a change to the kernel's table.
type OpKind int

// The changes Plan makes. There is no flush and no "replace": an edit is an Update.
const (
	AddService OpKind = iota
	UpdateService
	DelService
	AddDest
	UpdateDest
	DelDest
)

func (k OpKind) String() string {
	return [...]string{"add service", "update service", "delete service", "add destination", "update destination", "delete destination"}[k]
}

// Op is one change. Dest is nil for service operations.
type Op struct {
	Kind    OpKind
	Service *Service
	Dest    *Dest
}

func (o Op) String() string {
	if o.Dest != nil {
		return fmt.Sprintf("%s %s in %s", o.Kind, o.Dest.Key(), o.Service.ServiceKey)
	}
	return fmt.Sprintf("%s %s", o.Kind, o.Service.ServiceKey)
}

// OpError is a change the kernel refused.
type OpError struct {
	Op  Op
	Err error
}

func (e *OpError) Error() string { return fmt.Sprintf("ipvs: %s: %v", e.Op, e.Err) }
func (e *OpError) Unwrap() error { return e.Err }

// Kernel is the IPVS table of one network namespace.
type Kernel interface {
	// Services returns every service with its destinations and counters.
	Services() ([]*Service, error)
	// Exec applies ops in order and returns one error (or nil) per op; a refused op does not
	// stop the following ones.
	Exec(ops []Op) []error
	Timeouts() (Timeouts, error)
	// SetTimeouts sets the non-zero timeouts.
	SetTimeouts(Timeouts) error
	Daemons() ([]Daemon, error)
	StartDaemon(Daemon) error
	StopDaemon(state uint32) error
	Close() error
}

// fwdMethod maps an agentapi forwarding method to the kernel's.
func fwdMethod(m agentapi.Forwarding) uint32 {
	switch m {
	case agentapi.ForwardNAT:
		return FwdMasq
	case agentapi.ForwardTunnel:
		return FwdTunnel
	}
	return FwdDroute
}

func fwdName(f uint32) string {
	switch f & fwdMask {
	case FwdMasq:
		return string(agentapi.ForwardNAT)
	case FwdTunnel:
		return string(agentapi.ForwardTunnel)
	case FwdDroute:
		return string(agentapi.ForwardDR)
	case FwdLocal:
		return "local"
	case FwdBypass:
		return "bypass"
	}
	return fmt.Sprintf("fwd%d", f&fwdMask)
}

// flagNames renders service flags as the API names them.
func flagNames(sched string, f uint32) []string {
	var out []string
	if f&FlagOnePacket != 0 {
		out = append(out, "one-packet")
	}
	prefix := sched
	if sched != "sh" && sched != "mh" {
		prefix = "sched"
	}
	if f&FlagSched1 != 0 {
		if prefix == "sched" {
			out = append(out, "sched-flag-1")
		} else {
			out = append(out, prefix+"-fallback")
		}
	}
	if f&FlagSched2 != 0 {
		if prefix == "sched" {
			out = append(out, "sched-flag-2")
		} else {
			out = append(out, prefix+"-port")
		}
	}
	if f&FlagSched3 != 0 {
		out = append(out, "sched-flag-3")
	}
	return out
}

func schedFlags(names []string) uint32 {
	var f uint32
	for _, n := range names {
		switch {
		case strings.HasSuffix(n, "-fallback"):
			f |= FlagSched1
		case strings.HasSuffix(n, "-port"):
			f |= FlagSched2
		}
	}
	return f
}

// serviceKeyOf converts a validated virtual server to its kernel key.
func serviceKeyOf(vs *agentapi.VirtualServer) (ServiceKey, error) {
	if vs.IsFWMark() {
		k := ServiceKey{Family: AFInet, FWMark: vs.FWMark}
		if vs.Family == agentapi.FamilyInet6 {
			k.Family = AFInet6
		}
		return k, nil
	}
	a, err := netip.ParseAddr(vs.Address)
	if err != nil {
		return ServiceKey{}, fmt.Errorf("address %q: %w", vs.Address, err)
	}
	k := ServiceKey{Family: AFInet, Addr: a, Port: uint16(vs.Port)}
	if a.Is6() {
		k.Family = AFInet6
	}
	switch vs.Protocol {
	case "tcp":
		k.Protocol = ProtoTCP
	case "udp":
		k.Protocol = ProtoUDP
	case "sctp":
		k.Protocol = ProtoSCTP
	default:
		return ServiceKey{}, fmt.Errorf("protocol %q", vs.Protocol)
	}
	return k, nil
}

// sortServices orders services by key, for deterministic plans and reports.
func sortServices(ss []*Service) {
	slices.SortFunc(ss, func(a, b *Service) int { return strings.Compare(a.String(), b.String()) })
}

func sortDests(ds []*Dest) {
	slices.SortFunc(ds, func(a, b *Dest) int { return a.Key().Compare(b.Key()) })
}

// ErrNoIPVS means the kernel has no IPVS (module ip_vs not loaded or not built).
var ErrNoIPVS = errors.New("ipvs: the kernel has no IPVS (load the ip_vs module)")
