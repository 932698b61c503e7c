package vrrp

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
)

// neighWait bounds how long sameLink waits for the neighbour table to resolve an address: the
// kernel gives up on one that does not answer after 3 probes 1 s apart.
const neighWait = 3500 * time.Millisecond

var _ linkVerifier = (*Conn)(nil)

// sameLink implements linkVerifier with the neighbour table of the Conn's namespace: cand and
// the known addresses are resolved (ARP or neighbour discovery, started as `ip neigh replace
// ADDR dev DEV use` does when the table lacks them) and their link-layer addresses compared.
func (c *Conn) sameLink(known []netip.Addr, cand netip.Addr) (bool, error) {
	deadline := time.Now().Add(neighWait)
	var (
		wg   sync.WaitGroup
		macs = make([]net.HardwareAddr, len(known))
		errs = make([]error, len(known))
	)
	for i, a := range known {
		wg.Add(1)
		go func() {
			defer wg.Done()
			macs[i], errs[i] = c.resolveMAC(a, deadline)
		}()
	}
	mac, err := c.resolveMAC(cand, deadline)
	wg.Wait()
	if err != nil {
		return false, err
	}
	for _, m := range macs {
		if m != nil && bytes.Equal(m, mac) {
			return true, nil
		}
	}
	if errors.Join(errs...) != nil && !hasMAC(macs) {
		return false, fmt.Errorf("the peer's link-layer address is unknown: %w", errors.Join(errs...))
	}
	return false, fmt.Errorf("%v is at %v, not at the peer's", cand, mac)
}

func hasMAC(macs []net.HardwareAddr) bool {
	for _, m := range macs {
		if m != nil {
			return true
		}
	}
	return false
}

// resolveMAC returns addr's link-layer address on the Conn's interface from the neighbour
// table, asking the kernel to resolve it if the table lacks it, until deadline.
func (c *Conn) resolveMAC(addr netip.Addr, deadline time.Time) (net.HardwareAddr, error) {
	if c.nl == nil {
		return nil, errors.New("no netlink handle")
	}
	addr = addr.Unmap().WithZone("")
	fam := netlink.FAMILY_V6
	if addr.Is4() {
		fam = netlink.FAMILY_V4
	}
	lookup := func() net.HardwareAddr {
		ns, err := c.nl.NeighList(c.ifindex, fam)
		if err != nil {
			return nil
		}
		for _, n := range ns {
			ip, _ := netip.AddrFromSlice(n.IP)
			if ip.Unmap() == addr && len(n.HardwareAddr) > 0 &&
				n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) == 0 && n.State != netlink.NUD_NONE {
				return n.HardwareAddr
			}
		}
		return nil
	}
	if mac := lookup(); mac != nil {
		return mac, nil
	}
	if err := c.nl.NeighSet(&netlink.Neigh{LinkIndex: c.ifindex, Family: fam, IP: addr.AsSlice(), Flags: netlink.NTF_USE}); err != nil {
		return nil, fmt.Errorf("resolve %v: %w", addr, err)
	}
	// A neighbour answers within a millisecond or two, or not at all: poll often at first,
	// then seldom, so that checks of forged sources (which never resolve) cost little.
	for wait := time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 200*time.Millisecond) {
		time.Sleep(min(wait, time.Until(deadline)))
		if mac := lookup(); mac != nil {
			return mac, nil
		}
	}
	return nil, fmt.Errorf("%v did not answer neighbour resolution on %s", addr, c.ifname)
}
