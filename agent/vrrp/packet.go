package vrrp

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// IPProto is the IP protocol number of VRRP.
const IPProto = 112

// TTL is the only IPv4 TTL / IPv6 hop limit a VRRP packet may carry
// (RFC 5798 §5.1.1.3, §5.1.2.3), which proves it was not routed.
const TTL = 255

// Multicast destinations of VRRP advertisements (RFC 5798 §5.1.1.2, §5.1.2.2).
var (
	MulticastIPv4 = netip.MustParseAddr("224.0.0.18")
	MulticastIPv6 = netip.MustParseAddr("ff02::12")
)

// Priorities with a protocol meaning.
const (
	PriorityStop  = 0   // sent by a master that is stopping: backups take over after Skew_Time
	PriorityOwner = 255 // the router that owns the virtual addresses
)

// AuthType is the VRRPv2 authentication type (RFC 3768 §5.3.6, RFC 2338).
// VRRPv3 has no authentication; the field is reserved.
type AuthType uint8

// VRRPv2 authentication types. AH (2) is recognised only to be rejected: it
// was removed by RFC 3768 and keepalived builds normally leave it out.
const (
	AuthNone AuthType = 0
	AuthPass AuthType = 1
	AuthAH   AuthType = 2
)

func (t AuthType) String() string {
	switch t {
	case AuthNone:
		return "none"
	case AuthPass:
		return "PASS"
	case AuthAH:
		return "AH"
	}
	return fmt.Sprintf("auth(%d)", uint8(t))
}

// Errors returned by Parse, Marshal, CheckTTL and Advert.Authenticate. They are
// wrapped with details; use errors.Is so that the engine can count each kind
// (the RFC 5798 MIB has a counter per reason).
var (
	ErrTruncated = errors.New("vrrp: packet truncated")
	ErrLength    = errors.New("vrrp: packet longer than its address count")
	ErrVersion   = errors.New("vrrp: unsupported version")
	ErrType      = errors.New("vrrp: not an advertisement")
	ErrChecksum  = errors.New("vrrp: bad checksum")
	ErrFamily    = errors.New("vrrp: address family mismatch")
	ErrAuthType  = errors.New("vrrp: unsupported authentication type")
	ErrAuth      = errors.New("vrrp: authentication failed")
	ErrInterval  = errors.New("vrrp: invalid advertisement interval")
	ErrTTL       = errors.New("vrrp: TTL/hop limit is not 255")
	ErrTooMany   = errors.New("vrrp: too many addresses")
)

// Header geometry.
const (
	headerLen   = 8
	authDataLen = 8 // VRRPv2 only, after the addresses
	typeAdvert  = 1
)

// Advert is a VRRP ADVERTISEMENT.
type Advert struct {
	// Version is 2 or 3.
	Version uint8
	VRID    uint8
	// Priority is 1-254, 255 for the address owner, 0 for a master that stops.
	Priority uint8
	// AuthType and AuthData are VRRPv2 only. AuthData is the zero-padded
	// simple password when AuthType is AuthPass; it is ignored (and sent as
	// zeros) for AuthNone, as RFC 3768 §5.3.10 asks.
	AuthType AuthType
	AuthData [8]byte
	// AdvertInterval is in seconds (8 bits) for VRRPv2 and in centiseconds
	// (12 bits) for VRRPv3; see Interval.
	AdvertInterval uint16
	// Addresses are the virtual addresses, all of the packet's family.
	Addresses []netip.Addr

	// Checksum is the checksum as received; Marshal computes its own.
	Checksum uint16
	// MulticastChecksum reports that Parse only accepted a VRRPv3 IPv4
	// unicast packet by computing its pseudo-header with 224.0.0.18 as the
	// destination, as keepalived did before 1.3.6 (its
	// "unicast_chksum_compat"). To answer such a peer, Marshal with
	// MulticastIPv4 as dst.
	MulticastChecksum bool
}

// Interval returns the advertisement interval as a duration.
func (a *Advert) Interval() time.Duration {
	if a.Version == 2 {
		return time.Duration(a.AdvertInterval) * time.Second
	}
	return time.Duration(a.AdvertInterval) * 10 * time.Millisecond
}

// IntervalField converts an advertisement interval to the packet field of
// the given version: whole seconds (1-255) for v2, centiseconds (1-4095) for v3.
func IntervalField(version uint8, d time.Duration) (uint16, error) {
	switch version {
	case 2:
		if d%time.Second != 0 || d < time.Second || d > 255*time.Second {
			return 0, fmt.Errorf("%w: VRRPv2 needs whole seconds 1-255, got %v", ErrInterval, d)
		}
		return uint16(d / time.Second), nil
	case 3:
		cs := 10 * time.Millisecond
		if d%cs != 0 || d < cs || d > 4095*cs {
			return 0, fmt.Errorf("%w: VRRPv3 needs a multiple of 10ms in 10ms-40.95s, got %v", ErrInterval, d)
		}
		return uint16(d / cs), nil
	}
	return 0, fmt.Errorf("%w: %d", ErrVersion, version)
}

// PassAuthData turns a VRRPv2 simple password into the 8-byte, zero-padded
// authentication data. keepalived silently truncates longer passwords; we
// refuse them so that a configuration never means something else on the wire.
func PassAuthData(pass string) ([8]byte, error) {
	var d [8]byte
	if len(pass) == 0 || len(pass) > len(d) {
		return d, fmt.Errorf("vrrp: PASS authentication needs 1-8 bytes, got %d", len(pass))
	}
	copy(d[:], pass)
	return d, nil
}

// Authenticate checks a VRRPv2 advert against the locally configured
// authentication (RFC 3768 §7.1). The password is compared in constant time.
// VRRPv3 adverts always pass.
func (a *Advert) Authenticate(t AuthType, data [8]byte) error {
	if a.Version != 2 {
		return nil
	}
	if a.AuthType != t {
		return fmt.Errorf("%w: received %v, expect %v", ErrAuth, a.AuthType, t)
	}
	if t == AuthPass && subtle.ConstantTimeCompare(a.AuthData[:], data[:]) != 1 {
		return fmt.Errorf("%w: wrong password", ErrAuth)
	}
	return nil
}

// CheckTTL enforces RFC 5798 §7.1: a received advertisement whose IPv4 TTL or
// IPv6 hop limit is not 255 has crossed a router and must be discarded.
// (keepalived skips this for unicast peers, which may be routed; the engine
// decides whether to call it.)
func CheckTTL(ttl int) error {
	if ttl != TTL {
		return fmt.Errorf("%w: got %d", ErrTTL, ttl)
	}
	return nil
}

// family returns 4 or 6 for a pair of valid addresses of one family.
func family(src, dst netip.Addr) (int, error) {
	if !src.IsValid() || !dst.IsValid() {
		return 0, fmt.Errorf("%w: source %v, destination %v", ErrFamily, src, dst)
	}
	if src.Is4() != dst.Is4() {
		return 0, fmt.Errorf("%w: source %v, destination %v", ErrFamily, src, dst)
	}
	if src.Is4() {
		return 4, nil
	}
	return 6, nil
}

// Marshal encodes the advertisement as the payload of an IP packet from src
// to dst (the IP header is not included). The checksum is computed as
// keepalived 2.2.7 does:
//
//   - VRRPv2: over the VRRP message only (RFC 3768 §5.3.8);
//   - VRRPv3: over the message and the IPv4 or IPv6 pseudo-header
//     (RFC 5798 §5.2.8) built from the packet's real source and destination,
//     that is the peer's address when sending unicast.
func (a *Advert) Marshal(src, dst netip.Addr) ([]byte, error) {
	src, dst = src.Unmap(), dst.Unmap()
	fam, err := family(src, dst)
	if err != nil {
		return nil, err
	}
	if len(a.Addresses) > 255 {
		return nil, fmt.Errorf("%w: %d", ErrTooMany, len(a.Addresses))
	}
	alen := 4
	if fam == 6 {
		alen = 16
	}
	n := headerLen + alen*len(a.Addresses)
	b := make([]byte, n, n+authDataLen)

	b[1] = a.VRID
	b[2] = a.Priority
	b[3] = uint8(len(a.Addresses))
	switch a.Version {
	case 2:
		if fam != 4 {
			return nil, fmt.Errorf("%w: VRRPv2 is IPv4 only", ErrFamily)
		}
		if a.AuthType != AuthNone && a.AuthType != AuthPass {
			return nil, fmt.Errorf("%w: %v", ErrAuthType, a.AuthType)
		}
		if a.AdvertInterval == 0 || a.AdvertInterval > 0xff {
			return nil, fmt.Errorf("%w: %d s", ErrInterval, a.AdvertInterval)
		}
		b[0] = 2<<4 | typeAdvert
		b[4] = uint8(a.AuthType)
		b[5] = uint8(a.AdvertInterval)
	case 3:
		if a.AdvertInterval == 0 || a.AdvertInterval > 0x0fff {
			return nil, fmt.Errorf("%w: %d cs", ErrInterval, a.AdvertInterval)
		}
		b[0] = 3<<4 | typeAdvert
		binary.BigEndian.PutUint16(b[4:], a.AdvertInterval) // reserved nibble 0
	default:
		return nil, fmt.Errorf("%w: %d", ErrVersion, a.Version)
	}
	for i, ip := range a.Addresses {
		ip = ip.Unmap()
		if !ip.IsValid() || (fam == 4) != ip.Is4() {
			return nil, fmt.Errorf("%w: virtual address %v in an IPv%d advert", ErrFamily, ip, fam)
		}
		copy(b[headerLen+i*alen:], ip.AsSlice())
	}
	if a.Version == 2 {
		b = b[:n+authDataLen]
		if a.AuthType == AuthPass {
			copy(b[n:], a.AuthData[:])
		}
	}
	binary.BigEndian.PutUint16(b[6:], checksum(a.Version, src, dst, b))
	return b, nil
}

// Parse decodes and validates a VRRP payload received in an IP packet from
// src to dst, as RFC 5798 §7.1 and RFC 3768 §7.1 require of every packet:
// version, type, length against the address count, checksum, family,
// authentication type and a non-zero interval. Checks that need local
// configuration (VRID, interval for v2, password, address list) belong to
// Machine.HandleAdvert; the TTL is checked with CheckTTL.
//
// The returned Advert does not alias b.
func Parse(b []byte, src, dst netip.Addr) (*Advert, error) {
	src, dst = src.Unmap(), dst.Unmap()
	if len(b) < headerLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrTruncated, len(b))
	}
	a := &Advert{
		Version:  b[0] >> 4,
		VRID:     b[1],
		Priority: b[2],
		Checksum: binary.BigEndian.Uint16(b[6:]),
	}
	if a.Version != 2 && a.Version != 3 {
		return nil, fmt.Errorf("%w: %d", ErrVersion, a.Version)
	}
	if t := b[0] & 0x0f; t != typeAdvert {
		return nil, fmt.Errorf("%w: type %d", ErrType, t)
	}
	fam, err := family(src, dst)
	if err != nil {
		return nil, err
	}
	if a.Version == 2 && fam != 4 {
		return nil, fmt.Errorf("%w: VRRPv2 over IPv6", ErrFamily)
	}
	alen := 4
	if fam == 6 {
		alen = 16
	}
	count := int(b[3])
	want := headerLen + count*alen
	if a.Version == 2 {
		want += authDataLen
	}
	if len(b) < want {
		return nil, fmt.Errorf("%w: %d bytes for %d addresses, need %d", ErrTruncated, len(b), count, want)
	}
	if len(b) > want {
		return nil, fmt.Errorf("%w: %d bytes for %d addresses, expect %d", ErrLength, len(b), count, want)
	}
	if checksum(a.Version, src, dst, b) != 0 {
		// keepalived < 1.3.6 put the multicast group in the pseudo-header of
		// unicast VRRPv3/IPv4 adverts; 2.x still accepts that (and answers in
		// kind), so do we, flagging it.
		if a.Version == 3 && fam == 4 && dst != MulticastIPv4 &&
			checksum(a.Version, src, MulticastIPv4, b) == 0 {
			a.MulticastChecksum = true
		} else {
			return nil, fmt.Errorf("%w: 0x%04x", ErrChecksum, a.Checksum)
		}
	}
	if a.Version == 2 {
		a.AuthType = AuthType(b[4])
		a.AdvertInterval = uint16(b[5])
		switch a.AuthType {
		case AuthNone:
		case AuthPass:
			copy(a.AuthData[:], b[want-authDataLen:])
		default:
			return nil, fmt.Errorf("%w: %v", ErrAuthType, a.AuthType)
		}
	} else {
		// The top 4 bits are reserved: sent as 0, ignored on receipt.
		a.AdvertInterval = binary.BigEndian.Uint16(b[4:]) & 0x0fff
	}
	if a.AdvertInterval == 0 {
		// Not excluded by the RFCs, but a zero interval collapses
		// Master_Down_Interval to Skew_Time: no conforming router sends it.
		return nil, fmt.Errorf("%w: 0", ErrInterval)
	}
	if count > 0 {
		a.Addresses = make([]netip.Addr, count)
		for i := range a.Addresses {
			off := headerLen + i*alen
			if alen == 4 {
				a.Addresses[i] = netip.AddrFrom4([4]byte(b[off : off+4]))
			} else {
				a.Addresses[i] = netip.AddrFrom16([16]byte(b[off : off+16]))
				// An IPv4-mapped address is an IPv4 address: no IPv6 VRID carries one, and
				// Marshal, which unmaps addresses, refuses it in an IPv6 advert.
				if a.Addresses[i].Is4In6() {
					return nil, fmt.Errorf("%w: IPv4-mapped virtual address %v in an IPv6 advert", ErrFamily, a.Addresses[i])
				}
			}
		}
	}
	return a, nil
}

// checksum returns the Internet checksum of the VRRP message b (its checksum
// field included), preceded for VRRPv3 by the pseudo-header of src and dst.
// Over a message that carries a correct checksum it returns 0; over one whose
// checksum field is zero it returns the value to put there.
func checksum(version uint8, src, dst netip.Addr, b []byte) uint16 {
	var sum uint32
	if version == 3 {
		sum = pseudoHeaderSum(src, dst, IPProto, len(b))
	}
	return fold(sumBytes(sum, b))
}

// pseudoHeaderSum sums the IPv4 (RFC 768 style) or IPv6 (RFC 8200 §8.1)
// pseudo-header. The two layouts differ but their 16-bit word sums are
// the same: addresses, protocol and upper-layer length.
func pseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	var sum uint32
	s, d := src.AsSlice(), dst.AsSlice()
	sum = sumBytes(sum, s)
	sum = sumBytes(sum, d)
	sum += uint32(proto)
	sum += uint32(length>>16) + uint32(length&0xffff)
	return sum
}

func sumBytes(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
