package netconf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func linkOf(l netlink.Link) Link {
	a := l.Attrs()
	return Link{
		Name:  a.Name,
		Index: a.Index,
		MAC:   append(net.HardwareAddr(nil), a.HardwareAddr...),
		Up:    a.RawFlags&unix.IFF_UP != 0 && a.RawFlags&unix.IFF_RUNNING != 0,
	}
}

// Link returns the named link.
func (h *Handle) Link(name string) (Link, error) {
	l, err := h.nl.LinkByName(name)
	if err != nil {
		return Link{}, fmt.Errorf("netconf: link %s: %w", name, err)
	}
	return linkOf(l), nil
}

// Links returns every link of the namespace.
func (h *Handle) Links() ([]Link, error) {
	var ls []netlink.Link
	err := retryDump(func() (err error) { ls, err = h.nl.LinkList(); return err })
	if err != nil {
		return nil, fmt.Errorf("netconf: list links: %w", err)
	}
	out := make([]Link, len(ls))
	for i, l := range ls {
		out[i] = linkOf(l)
	}
	return out, nil
}

// retryDump repeats a netlink dump interrupted by a concurrent change (NLM_F_DUMP_INTR), a few
// times, as the kernel asks.
func retryDump(dump func() error) error {
	var err error
	for range 5 {
		if err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
	}
	return err
}

// LinkLocal returns the interface's IPv6 link-local address, once it has passed duplicate
// address detection (a tentative address cannot be a source).
func (h *Handle) LinkLocal(ifname string) (netip.Addr, error) {
	as, err := h.addrs(ifname, netlink.FAMILY_V6)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range as {
		ip, ok := netip.AddrFromSlice(a.IP)
		if ok && ip.IsLinkLocalUnicast() && a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
			return ip.WithZone(ifname), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("netconf: %s has no usable IPv6 link-local address (yet)", ifname)
}

// PrimaryAddress returns the first global unicast address of the family on the interface for
// which skip returns false (the caller skips its own virtual addresses), or, for IPv6, the
// link-local address, which is what VRRP sends from (RFC 5798 §5.1.2.1).
func (h *Handle) PrimaryAddress(ifname string, f Family, skip func(netip.Addr) bool) (netip.Addr, error) {
	if f == IPv6 {
		return h.LinkLocal(ifname)
	}
	as, err := h.addrs(ifname, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range as {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		// Primary (not secondary) addresses first: the kernel lists them first anyway.
		if ip.Is4() && ip.IsGlobalUnicast() && (skip == nil || !skip(ip)) {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("netconf: %s has no IPv4 address to send VRRP from", ifname)
}

// WatchLinks calls fn with every link as it is now and then with each change, until ctx ends.
// It returns early only if the netlink subscription cannot be set up; a broken subscription
// is re-established after a pause (fn then sees every link again).
func (h *Handle) WatchLinks(ctx context.Context, fn func(Link)) error {
	first := true
	for {
		ch := make(chan netlink.LinkUpdate, 64)
		done := make(chan struct{})
		// Without an ErrorCallback the subscription ends (closes ch) on a receive error and
		// skips bad messages, which is what we want.
		opts := netlink.LinkSubscribeOptions{ListExisting: true}
		if h.ns.IsOpen() {
			opts.Namespace = &h.ns
		}
		if err := netlink.LinkSubscribeWithOptions(ch, done, opts); err != nil {
			close(done)
			if first {
				return fmt.Errorf("netconf: subscribe to link changes: %w", err)
			}
		} else {
			first = false
			pump(ctx, ch, fn)
			close(done)
			// Drain so the subscription's goroutine can see done and exit.
			go func() {
				for range ch {
				}
			}()
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func pump(ctx context.Context, ch <-chan netlink.LinkUpdate, fn func(Link)) {
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-ch:
			if !ok {
				return
			}
			l := linkOf(u.Link)
			if u.Header.Type == unix.RTM_DELLINK {
				l.Up = false
			}
			fn(l)
		}
	}
}
