package netconf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func (h *Handle) addrs(ifname string, family int) ([]netlink.Addr, error) {
	l, err := h.nl.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("netconf: link %s: %w", ifname, err)
	}
	var as []netlink.Addr
	err = retryDump(func() (err error) { as, err = h.nl.AddrList(l, family); return err })
	if err != nil {
		return nil, fmt.Errorf("netconf: addresses of %s: %w", ifname, err)
	}
	return as, nil
}

func toPrefix(a netlink.Addr) (netip.Prefix, bool) {
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := a.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones), true
}

// Addresses returns every address on the interface, both families, with its prefix length.
func (h *Handle) Addresses(ifname string) ([]netip.Prefix, error) {
	as, err := h.addrs(ifname, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, 0, len(as))
	for _, a := range as {
		if p, ok := toPrefix(a); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// AddAddress configures the virtual address p on the interface. IPv6 addresses skip duplicate
// address detection (IFA_F_NODAD) so that they are usable at once: the VRRP election already
// decided that nobody else holds them. An address already present is not an error.
func (h *Handle) AddAddress(ifname string, p netip.Prefix) error {
	l, err := h.nl.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("netconf: link %s: %w", ifname, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := h.nl.AddrAdd(l, a); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("netconf: add %s to %s: %w", p, ifname, err)
	}
	return nil
}

// RemoveAddress removes the address p.Addr() from the interface, whatever its prefix length
// (a run with another configuration may have left it with a different one). An absent address
// or interface is not an error: the goal is that the address is not there.
func (h *Handle) RemoveAddress(ifname string, p netip.Prefix) error {
	as, err := h.addrs(ifname, netlink.FAMILY_ALL)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, a := range as {
		got, ok := toPrefix(a)
		if !ok || got.Addr() != p.Addr().Unmap() {
			continue
		}
		if err := h.nl.AddrDel(nil, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("netconf: remove %s from %s: %w", got, ifname, err)
		}
	}
	return nil
}

// PrepareVIPInterface sets the sysctls an interface that carries VIPs needs:
// promote_secondaries, so that removing a VIP that happens to be the first address of its
// subnet does not take the other addresses of that subnet with it (keepalived sets it too);
// and arp_announce 2, so that the director's own ARP requests name its own address, never a
// VIP it holds: a request "who has C? tell VIP" moves C's entry for the VIP to this director,
// which would pull clients back from the new master while both hold the VIP during a handover.
func (h *Handle) PrepareVIPInterface(ifname string) error {
	return errors.Join(h.SetSysctl("net/ipv4/conf/"+ifname+"/promote_secondaries", "1"),
		h.SetSysctl("net/ipv4/conf/"+ifname+"/arp_announce", "2"))
}

// IPv6Forwarding reports whether the interface forwards IPv6, which decides the Router flag of
// the neighbour advertisements sent for its VIPs (RFC 4861 §7.2.4).
func (h *Handle) IPv6Forwarding(ifname string) bool {
	v, err := h.Sysctl("net/ipv6/conf/" + ifname + "/forwarding")
	return err == nil && v == "1"
}
