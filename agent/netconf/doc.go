// Package netconf is the agent's view of the host's network configuration: the addresses,
// links and sysctls it reads and changes, through netlink and /proc/sys rather than by running
// ip(8) or sysctl(8).
//
// Everything goes through a Handle bound to one network namespace: the agent's own (Open) or,
// in tests, one made for the test (OpenNetns). Files are split by concern — vip_linux.go for
// virtual addresses, link_linux.go for links, sysctl_linux.go for sysctls — and the platform
// code lives in _linux.go files; elsewhere every operation returns ErrUnsupported so that the
// module still builds and vets.
package netconf

import (
	"errors"
	"net"
	"net/netip"
)

// ErrUnsupported is returned by every operation on platforms other than Linux.
var ErrUnsupported = errors.New("netconf: only supported on Linux")

// Link is what the agent needs to know of a network interface.
type Link struct {
	Name  string
	Index int
	MAC   net.HardwareAddr
	// Up is true when the link is administratively up and has carrier (IFF_UP and
	// IFF_RUNNING): what VRRP interface tracking means by "up".
	Up bool
}

// Family selects IPv4 or IPv6 where an operation needs one.
type Family int

// Address families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// FamilyOf returns the family of a.
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

func (f Family) String() string {
	if f == IPv4 {
		return "IPv4"
	}
	return "IPv6"
}
