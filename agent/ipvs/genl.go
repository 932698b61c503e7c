package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// The IPVS generic netlink protocol (include/uapi/linux/ip_vs.h). The encoding lives here, apart
// from the socket (kernel_linux.go), so it is tested on every platform.

const (
	genlName    = "IPVS"
	genlVersion = 1
)

// Commands.
const (
	cmdNewService = 1
	cmdSetService = 2
	cmdDelService = 3
	cmdGetService = 4
	cmdNewDest    = 5
	cmdSetDest    = 6
	cmdDelDest    = 7
	cmdGetDest    = 8
	cmdNewDaemon  = 9
	cmdDelDaemon  = 10
	cmdGetDaemon  = 11
	cmdSetConfig  = 12
	cmdGetConfig  = 13
)

// Command attributes.
const (
	attrService       = 1
	attrDest          = 2
	attrDaemon        = 3
	attrTimeoutTCP    = 4
	attrTimeoutTCPFin = 5
	attrTimeoutUDP    = 6
)

// Service attributes.
const (
	svcAF        = 1
	svcProtocol  = 2
	svcAddr      = 3
	svcPort      = 4
	svcFWMark    = 5
	svcSchedName = 6
	svcFlags     = 7
	svcTimeout   = 8
	svcNetmask   = 9
	svcStats     = 10
	svcStats64   = 12
)

// Destination attributes.
const (
	destAddr         = 1
	destPort         = 2
	destFwdMethod    = 3
	destWeight       = 4
	destUThresh      = 5
	destLThresh      = 6
	destActiveConns  = 7
	destInactConns   = 8
	destPersistConns = 9
	destStats        = 10
	destAddrFamily   = 11
	destStats64      = 12
	destTunType      = 13
	destTunPort      = 14
	destTunFlags     = 15
)

// Daemon attributes.
const (
	daemonState    = 1
	daemonMcastIfn = 2
	daemonSyncID   = 3
	daemonMaxLen   = 4 // the four below since Linux 4.3
	daemonGroup    = 5
	daemonGroup6   = 6
	daemonPort     = 7
	daemonTTL      = 8
)

// Stats attributes (the same numbers in STATS and STATS64).
const (
	statsConns    = 1
	statsInPkts   = 2
	statsOutPkts  = 3
	statsInBytes  = 4
	statsOutBytes = 5
)

const nlaNested = 0x8000

// encoder appends netlink attributes.
type encoder struct{ b []byte }

func (e *encoder) put(typ uint16, data []byte) {
	n := 4 + len(data)
	e.b = binary.NativeEndian.AppendUint16(e.b, uint16(n))
	e.b = binary.NativeEndian.AppendUint16(e.b, typ)
	e.b = append(e.b, data...)
	for len(e.b)%4 != 0 {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) u8(typ uint16, v uint8) { e.put(typ, []byte{v}) }
func (e *encoder) u16(typ uint16, v uint16) {
	e.put(typ, binary.NativeEndian.AppendUint16(nil, v))
}
func (e *encoder) be16(typ uint16, v uint16) { e.put(typ, binary.BigEndian.AppendUint16(nil, v)) }
func (e *encoder) u32(typ uint16, v uint32) {
	e.put(typ, binary.NativeEndian.AppendUint32(nil, v))
}
func (e *encoder) str(typ uint16, s string) { e.put(typ, append([]byte(s), 0)) }

func (e *encoder) nested(typ uint16, f func(*encoder)) {
	start := len(e.b)
	e.b = append(e.b, 0, 0, 0, 0)
	f(e)
	binary.NativeEndian.PutUint16(e.b[start:], uint16(len(e.b)-start))
	binary.NativeEndian.PutUint16(e.b[start+2:], typ|nlaNested)
}

// addr16 is a union nf_inet_addr: IPv4 in the first 4 bytes, the rest zero.
func addr16(a netip.Addr) []byte {
	b := make([]byte, 16)
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
	} else {
		v := a.As16()
		copy(b, v[:])
	}
	return b
}

func addrFrom(b []byte, family uint16) (netip.Addr, error) {
	switch {
	case family == AFInet && len(b) >= 4:
		return netip.AddrFrom4([4]byte(b[:4])), nil
	case family == AFInet6 && len(b) >= 16:
		return netip.AddrFrom16([16]byte(b[:16])), nil
	}
	return netip.Addr{}, fmt.Errorf("ipvs: address of %d bytes for family %d", len(b), family)
}

// netmaskWire encodes the persistence netmask as the kernel keeps it: for IPv4 a mask in network
// byte order, for IPv6 the prefix length as a host-order integer (what ipvsadm sends).
func netmaskWire(family uint16, bits int) []byte {
	if family == AFInet6 {
		return binary.NativeEndian.AppendUint32(nil, uint32(bits))
	}
	var m uint32
	if bits > 0 {
		m = ^uint32(0) << (32 - bits)
	}
	return binary.BigEndian.AppendUint32(nil, m)
}

func netmaskFromWire(family uint16, b []byte) int {
	if len(b) < 4 {
		return 0
	}
	if family == AFInet6 {
		return int(binary.NativeEndian.Uint32(b))
	}
	m := binary.BigEndian.Uint32(b)
	n := 0
	for n < 32 && m&(1<<(31-n)) != 0 {
		n++
	}
	return n
}

// encodeServiceKey writes the IPVS_CMD_ATTR_SERVICE of s; with full set it carries every
// setting, as NEW_SERVICE and SET_SERVICE need.
func encodeService(e *encoder, s *Service, full bool) {
	e.nested(attrService, func(e *encoder) {
		e.u16(svcAF, s.Family)
		if s.FWMark != 0 {
			e.u32(svcFWMark, s.FWMark)
		} else {
			e.u16(svcProtocol, s.Protocol)
			e.put(svcAddr, addr16(s.Addr))
			e.be16(svcPort, s.Port)
		}
		if !full {
			return
		}
		e.str(svcSchedName, s.Scheduler)
		// struct ip_vs_flags { flags, mask }: a full mask makes the kernel take every bit
		// as given instead of merging with the service's current flags.
		fl := binary.NativeEndian.AppendUint32(nil, s.Flags)
		fl = binary.NativeEndian.AppendUint32(fl, ^uint32(0))
		e.put(svcFlags, fl)
		e.u32(svcTimeout, s.Timeout)
		bits := s.NetmaskBits
		if bits == 0 {
			bits = 32
			if s.Family == AFInet6 {
				bits = 128
			}
		}
		e.put(svcNetmask, netmaskWire(s.Family, bits))
	})
}

func encodeDest(e *encoder, d *Dest, full bool) {
	e.nested(attrDest, func(e *encoder) {
		e.put(destAddr, addr16(d.Addr))
		e.be16(destPort, d.Port)
		e.u16(destAddrFamily, d.Family())
		if !full {
			return
		}
		e.u32(destFwdMethod, d.FwdMethod&fwdMask)
		e.u32(destWeight, uint32(d.Weight))
		e.u32(destUThresh, d.UpperThreshold)
		e.u32(destLThresh, d.LowerThreshold)
		if d.FwdMethod&fwdMask == FwdTunnel {
			e.u8(destTunType, d.TunType)
			e.be16(destTunPort, d.TunPort)
			e.u16(destTunFlags, d.TunFlags)
		}
	})
}

// opCommand is the command and attributes of an op.
func opCommand(o Op) (uint8, []byte) {
	var e encoder
	switch o.Kind {
	case AddService:
		encodeService(&e, o.Service, true)
		return cmdNewService, e.b
	case UpdateService:
		encodeService(&e, o.Service, true)
		return cmdSetService, e.b
	case DelService:
		encodeService(&e, o.Service, false)
		return cmdDelService, e.b
	case AddDest:
		encodeService(&e, o.Service, false)
		encodeDest(&e, o.Dest, true)
		return cmdNewDest, e.b
	case UpdateDest:
		encodeService(&e, o.Service, false)
		encodeDest(&e, o.Dest, true)
		return cmdSetDest, e.b
	case DelDest:
		encodeService(&e, o.Service, false)
		encodeDest(&e, o.Dest, false)
		return cmdDelDest, e.b
	}
	panic(fmt.Sprintf("ipvs: unknown op kind %d", o.Kind))
}

// attrs are parsed netlink attributes by type (nested and byte-order bits cleared).
type attrs map[uint16][]byte

var errShortAttr = errors.New("ipvs: truncated netlink attribute")

func parseAttrs(b []byte) (attrs, error) {
	out := attrs{}
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:]) & 0x3fff
		if n < 4 || n > len(b) {
			return nil, errShortAttr
		}
		out[typ] = b[4:n]
		adv := (n + 3) &^ 3
		if adv > len(b) {
			adv = len(b)
		}
		b = b[adv:]
	}
	return out, nil
}

func (a attrs) u8(t uint16) uint8 {
	if v := a[t]; len(v) >= 1 {
		return v[0]
	}
	return 0
}

func (a attrs) u16(t uint16) uint16 {
	if v := a[t]; len(v) >= 2 {
		return binary.NativeEndian.Uint16(v)
	}
	return 0
}

func (a attrs) be16(t uint16) uint16 {
	if v := a[t]; len(v) >= 2 {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (a attrs) u32(t uint16) uint32 {
	if v := a[t]; len(v) >= 4 {
		return binary.NativeEndian.Uint32(v)
	}
	return 0
}

// uint reads a counter of 4 or 8 bytes.
func (a attrs) uint(t uint16) uint64 {
	switch v := a[t]; {
	case len(v) >= 8:
		return binary.NativeEndian.Uint64(v)
	case len(v) >= 4:
		return uint64(binary.NativeEndian.Uint32(v))
	}
	return 0
}

func (a attrs) str(t uint16) string {
	v := a[t]
	for i, c := range v {
		if c == 0 {
			return string(v[:i])
		}
	}
	return string(v)
}

func parseStats(a attrs, s64, s32 uint16) Stats {
	b, ok := a[s64]
	if !ok {
		b = a[s32]
	}
	st, err := parseAttrs(b)
	if err != nil {
		return Stats{}
	}
	return Stats{Conns: st.uint(statsConns), InPkts: st.uint(statsInPkts), OutPkts: st.uint(statsOutPkts),
		InBytes: st.uint(statsInBytes), OutBytes: st.uint(statsOutBytes)}
}

// decodeService parses the attributes of a GET_SERVICE answer.
func decodeService(msg []byte) (*Service, error) {
	top, err := parseAttrs(msg)
	if err != nil {
		return nil, err
	}
	a, err := parseAttrs(top[attrService])
	if err != nil {
		return nil, err
	}
	s := &Service{}
	s.Family = a.u16(svcAF)
	if m := a.u32(svcFWMark); m != 0 {
		s.FWMark = m
	} else {
		s.Protocol = a.u16(svcProtocol)
		if s.Addr, err = addrFrom(a[svcAddr], s.Family); err != nil {
			return nil, err
		}
		s.Port = a.be16(svcPort)
	}
	s.Scheduler = a.str(svcSchedName)
	if fl := a[svcFlags]; len(fl) >= 4 {
		s.Flags = binary.NativeEndian.Uint32(fl) &^ flagHashed
	}
	s.Timeout = a.u32(svcTimeout)
	s.NetmaskBits = netmaskFromWire(s.Family, a[svcNetmask])
	s.Stats = parseStats(a, svcStats64, svcStats)
	return s, nil
}

// decodeDest parses the attributes of a GET_DEST answer; family is the service's, used when
// the kernel does not say the destination's own.
func decodeDest(msg []byte, family uint16) (*Dest, error) {
	top, err := parseAttrs(msg)
	if err != nil {
		return nil, err
	}
	a, err := parseAttrs(top[attrDest])
	if err != nil {
		return nil, err
	}
	if f := a.u16(destAddrFamily); f != 0 {
		family = f
	}
	d := &Dest{}
	if d.Addr, err = addrFrom(a[destAddr], family); err != nil {
		return nil, err
	}
	d.Port = a.be16(destPort)
	d.FwdMethod = a.u32(destFwdMethod) & fwdMask
	d.Weight = int(int32(a.u32(destWeight)))
	d.UpperThreshold = a.u32(destUThresh)
	d.LowerThreshold = a.u32(destLThresh)
	d.ActiveConns = a.u32(destActiveConns)
	d.InactiveConns = a.u32(destInactConns)
	d.PersistConns = a.u32(destPersistConns)
	d.TunType = a.u8(destTunType)
	d.TunPort = a.be16(destTunPort)
	d.TunFlags = a.u16(destTunFlags)
	d.Stats = parseStats(a, destStats64, destStats)
	return d, nil
}

func encodeDaemon(d Daemon, full bool) []byte {
	var e encoder
	e.nested(attrDaemon, func(e *encoder) {
		e.u32(daemonState, d.State)
		if full {
			e.str(daemonMcastIfn, d.Interface)
			e.u32(daemonSyncID, d.SyncID)
			// Only the settings asked for: a kernel before 4.3 takes the defaults alone.
			if d.MaxLen != 0 {
				e.u16(daemonMaxLen, d.MaxLen)
			}
			if d.Port != 0 {
				e.u16(daemonPort, d.Port)
			}
			if d.TTL != 0 {
				e.u8(daemonTTL, d.TTL)
			}
			switch g := d.Group.Unmap(); {
			case g.Is4():
				e.put(daemonGroup, g.AsSlice())
			case g.Is6():
				e.put(daemonGroup6, g.AsSlice())
			}
		}
	})
	return e.b
}

func decodeDaemon(msg []byte) (Daemon, error) {
	top, err := parseAttrs(msg)
	if err != nil {
		return Daemon{}, err
	}
	a, err := parseAttrs(top[attrDaemon])
	if err != nil {
		return Daemon{}, err
	}
	d := Daemon{State: a.u32(daemonState), Interface: a.str(daemonMcastIfn), SyncID: a.u32(daemonSyncID),
		MaxLen: a.u16(daemonMaxLen), Port: a.u16(daemonPort), TTL: a.u8(daemonTTL)}
	if g, err := addrFrom(a[daemonGroup6], AFInet6); err == nil {
		d.Group = g
	} else if g, err := addrFrom(a[daemonGroup], AFInet); err == nil {
		d.Group = g
	}
	return d, nil
}

func encodeTimeouts(t Timeouts) []byte {
	var e encoder
	// Zero attributes are left out: the kernel keeps the timeouts it is not given.
	if t.TCP != 0 {
		e.u32(attrTimeoutTCP, t.TCP)
	}
	if t.TCPFin != 0 {
		e.u32(attrTimeoutTCPFin, t.TCPFin)
	}
	if t.UDP != 0 {
		e.u32(attrTimeoutUDP, t.UDP)
	}
	return e.b
}

func decodeTimeouts(msg []byte) (Timeouts, error) {
	a, err := parseAttrs(msg)
	if err != nil {
		return Timeouts{}, err
	}
	return Timeouts{TCP: a.u32(attrTimeoutTCP), TCPFin: a.u32(attrTimeoutTCPFin), UDP: a.u32(attrTimeoutUDP)}, nil
}
