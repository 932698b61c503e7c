package vrrp

import (
	"fmt"
	"net/netip"
)

// ipv4HeaderLen is the length of an IPv4 header without options.
const ipv4HeaderLen = 20

// frameIPv4 splits an IPv4 packet as a raw IPv4 socket delivers it (header included) into the
// VRRP payload, the TTL and the addresses. It checks the framing only; Parse checks the payload.
// The payload aliases b.
func frameIPv4(b []byte) (payload []byte, ttl int, src, dst netip.Addr, err error) {
	if len(b) < ipv4HeaderLen {
		return nil, 0, src, dst, fmt.Errorf("%w: IPv4 packet of %d bytes", ErrTruncated, len(b))
	}
	hl := int(b[0]&0x0f) << 2
	if hl < ipv4HeaderLen || len(b) < hl {
		return nil, 0, src, dst, fmt.Errorf("%w: IPv4 header of %d bytes in %d", ErrTruncated, hl, len(b))
	}
	src = netip.AddrFrom4([4]byte(b[12:16]))
	dst = netip.AddrFrom4([4]byte(b[16:20]))
	return b[hl:], int(b[8]), src, dst, nil
}
