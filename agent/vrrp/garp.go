package vrrp

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Sizes of the frames built here.
const (
	GratuitousARPLen = 14 + 28      // Ethernet + ARP, unpadded as keepalived sends it
	naLen            = 24 + 8       // ICMPv6 NA with a target link-layer address option
	NAFrameLen       = 14 + 40 + 32 // Ethernet + IPv6 + NA
)

var allNodes = netip.MustParseAddr("ff02::1")

// GratuitousARP returns the Ethernet frame keepalived broadcasts to move a
// virtual IPv4 address to mac: an ARP request (RFC 5227 §3 "ARP
// Announcement") with the sender and target protocol addresses both ip and
// the target hardware address ff:ff:ff:ff:ff:ff, to the broadcast address.
// Requests rather than replies because every Linux neighbour table updates an
// existing entry from a request. It returns nil unless mac is 6 bytes and ip
// is IPv4.
func GratuitousARP(mac net.HardwareAddr, ip netip.Addr) []byte {
	ip = ip.Unmap()
	if len(mac) != 6 || !ip.Is4() {
		return nil
	}
	f := make([]byte, GratuitousARPLen)
	copy(f[0:6], broadcastMAC)
	copy(f[6:12], mac)
	binary.BigEndian.PutUint16(f[12:], 0x0806) // ARP
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:], 1)      // hardware: Ethernet
	binary.BigEndian.PutUint16(a[2:], 0x0800) // protocol: IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1) // request
	ip4 := ip.As4()
	copy(a[8:14], mac)
	copy(a[14:18], ip4[:])
	copy(a[18:24], broadcastMAC)
	copy(a[24:28], ip4[:])
	return f
}

var broadcastMAC = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// UnsolicitedNA returns the ICMPv6 Neighbor Advertisement (RFC 4861 §4.4,
// §7.2.6) that moves the virtual IPv6 address ip to mac: target ip, Override
// set, Solicited and Router clear, with a target link-layer address option.
// Its checksum is computed for the IPv6 source ip and destination ff02::1,
// which is what keepalived sends (a raw ICMPv6 socket recomputes it anyway).
// It returns nil unless mac is 6 bytes and ip is IPv6.
func UnsolicitedNA(mac net.HardwareAddr, ip netip.Addr) []byte {
	return unsolicitedNA(mac, ip, false)
}

func unsolicitedNA(mac net.HardwareAddr, ip netip.Addr, router bool) []byte {
	if len(mac) != 6 || !ip.Is6() || ip.Is4In6() {
		return nil
	}
	b := make([]byte, naLen)
	b[0] = 136  // Neighbor Advertisement
	b[4] = 0x20 // Override
	if router {
		b[4] |= 0x80
	}
	t := ip.As16()
	copy(b[8:24], t[:])
	b[24], b[25] = 2, 1 // target link-layer address, 1×8 bytes
	copy(b[26:32], mac)
	sum := pseudoHeaderSum(ip, allNodes, 58, len(b))
	binary.BigEndian.PutUint16(b[2:], fold(sumBytes(sum, b)))
	return b
}

// UnsolicitedNAFrame returns the whole Ethernet frame keepalived writes to a
// packet socket for UnsolicitedNA: to 33:33:00:00:00:01 from mac, IPv6 from
// ip to ff02::1 with hop limit 255 (RFC 4861 §7.1.2 makes receivers drop
// anything else). router sets the Router flag, which keepalived sets when
// IPv6 forwarding is enabled on the interface.
func UnsolicitedNAFrame(mac net.HardwareAddr, ip netip.Addr, router bool) []byte {
	na := unsolicitedNA(mac, ip, router)
	if na == nil {
		return nil
	}
	f := make([]byte, NAFrameLen)
	copy(f[0:6], []byte{0x33, 0x33, 0, 0, 0, 1})
	copy(f[6:12], mac)
	binary.BigEndian.PutUint16(f[12:], 0x86dd) // IPv6
	h := f[14:54]
	h[0] = 6 << 4
	binary.BigEndian.PutUint16(h[4:], uint16(len(na)))
	h[6] = 58 // ICMPv6
	h[7] = 255
	s, d := ip.As16(), allNodes.As16()
	copy(h[8:24], s[:])
	copy(h[24:40], d[:])
	copy(f[54:], na)
	return f
}
