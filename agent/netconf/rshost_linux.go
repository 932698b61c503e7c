package netconf

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Fallback tunnel devices: the kernel makes one per namespace when the module loads, and it
// receives every tunnelled packet no configured tunnel claims, which is what IPVS tunnel
// forwarding sends (outer source = director, inner destination = VIP).
const (
	TunnelIPIP   = "tunl0"   // IPv4-in-IPv4 (ipip)
	TunnelIP6IP6 = "ip6tnl0" // IPv6-in-IPv6 (ip6_tunnel)
)

// EnsureTunnelUp makes the fallback tunnel device name (TunnelIPIP or TunnelIP6IP6) exist and
// be up. Asking rtnetlink to create it loads the tunnel module if needed, which creates the
// device (so the create itself then fails with EEXIST, which is fine). It reports whether it
// had to bring the device up.
func (h *Handle) EnsureTunnelUp(name string) (broughtUp bool, err error) {
	l, err := h.nl.LinkByName(name)
	if err != nil {
		var nl netlink.Link
		switch name {
		case TunnelIPIP:
			nl = &netlink.Iptun{LinkAttrs: netlink.LinkAttrs{Name: name}}
		case TunnelIP6IP6:
			nl = &netlink.Ip6tnl{LinkAttrs: netlink.LinkAttrs{Name: name}}
		default:
			return false, fmt.Errorf("netconf: %s is not a fallback tunnel device", name)
		}
		if aerr := h.nl.LinkAdd(nl); aerr != nil && !errors.Is(aerr, unix.EEXIST) {
			return false, fmt.Errorf("netconf: create %s (is the %s module available?): %w", name, tunnelModule(name), aerr)
		}
		if l, err = h.nl.LinkByName(name); err != nil {
			return false, fmt.Errorf("netconf: %s: %w", name, err)
		}
	}
	if l.Attrs().RawFlags&unix.IFF_UP != 0 {
		return false, nil
	}
	if err := h.nl.LinkSetUp(l); err != nil {
		return false, fmt.Errorf("netconf: set %s up: %w", name, err)
	}
	return true, nil
}

func tunnelModule(name string) string {
	if name == TunnelIP6IP6 {
		return "ip6_tunnel"
	}
	return "ipip"
}

// SetLinkDown sets a link down; a missing link is not an error.
func (h *Handle) SetLinkDown(name string) error {
	l, err := h.nl.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("netconf: link %s: %w", name, err)
	}
	if err := h.nl.LinkSetDown(l); err != nil {
		return fmt.Errorf("netconf: set %s down: %w", name, err)
	}
	return nil
}
