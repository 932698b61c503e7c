package netconf

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Handle performs operations in one network namespace. It is safe for concurrent use.
type Handle struct {
	nl *netlink.Handle
	// ns is the namespace to switch into for operations that are not netlink requests
	// (sysctls, opening sockets); it is closed (None) for the agent's own namespace.
	ns netns.NsHandle
}

// Open returns a Handle on the calling process's network namespace.
func Open() (*Handle, error) {
	// NETLINK_ROUTE only: without a family netlink opens XFRM and netfilter sockets too, which
	// kernels without those (the lab's UML kernel) refuse.
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netconf: open netlink: %w", err)
	}
	return &Handle{nl: h, ns: netns.None()}, nil
}

// OpenNetns returns a Handle on the network namespace at path, e.g. /run/netns/NAME.
func OpenNetns(path string) (*Handle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("netconf: open netns %s: %w", path, err)
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		_ = ns.Close()
		return nil, fmt.Errorf("netconf: open netlink in %s: %w", path, err)
	}
	return &Handle{nl: h, ns: ns}, nil
}

// Close releases the handle's sockets.
func (h *Handle) Close() error {
	h.nl.Close()
	if h.ns.IsOpen() {
		return h.ns.Close()
	}
	return nil
}

// Do runs f on an OS thread that is in the handle's network namespace, so that sockets f opens
// and /proc/sys files it reads belong to that namespace. For the agent's own namespace it
// simply calls f.
func (h *Handle) Do(f func() error) error {
	if !h.ns.IsOpen() {
		return f()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netconf: current netns: %w", err)
	}
	defer func() { _ = orig.Close() }()
	if err := netns.Set(h.ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netconf: enter netns: %w", err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// The thread is stuck in the other namespace: leaving it locked makes the runtime
		// discard it when this goroutine ends, instead of reusing it.
		return errors.Join(ferr, fmt.Errorf("netconf: leave netns: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}
