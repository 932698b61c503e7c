//go:build !linux

package netconf

import (
	"context"
	"net/netip"
)

// Handle performs operations in one network namespace; only on Linux.
type Handle struct{}

// Open returns ErrUnsupported.
func Open() (*Handle, error) { return nil, ErrUnsupported }

// OpenNetns returns ErrUnsupported.
func OpenNetns(string) (*Handle, error) { return nil, ErrUnsupported }

// Close does nothing.
func (h *Handle) Close() error { return nil }

// Do returns ErrUnsupported.
func (h *Handle) Do(func() error) error { return ErrUnsupported }

// Link returns ErrUnsupported.
func (h *Handle) Link(string) (Link, error) { return Link{}, ErrUnsupported }

// Links returns ErrUnsupported.
func (h *Handle) Links() ([]Link, error) { return nil, ErrUnsupported }

// LinkLocal returns ErrUnsupported.
func (h *Handle) LinkLocal(string) (netip.Addr, error) { return netip.Addr{}, ErrUnsupported }

// PrimaryAddress returns ErrUnsupported.
func (h *Handle) PrimaryAddress(string, Family, func(netip.Addr) bool) (netip.Addr, error) {
	return netip.Addr{}, ErrUnsupported
}

// WatchLinks returns ErrUnsupported.
func (h *Handle) WatchLinks(context.Context, func(Link)) error { return ErrUnsupported }

// Addresses returns ErrUnsupported.
func (h *Handle) Addresses(string) ([]netip.Prefix, error) { return nil, ErrUnsupported }

// AddAddress returns ErrUnsupported.
func (h *Handle) AddAddress(string, netip.Prefix) error { return ErrUnsupported }

// RemoveAddress returns ErrUnsupported.
func (h *Handle) RemoveAddress(string, netip.Prefix) error { return ErrUnsupported }

// PrepareVIPInterface returns ErrUnsupported.
func (h *Handle) PrepareVIPInterface(string) error { return ErrUnsupported }

// IPv6Forwarding returns false.
func (h *Handle) IPv6Forwarding(string) bool { return false }

// Sysctl returns ErrUnsupported.
func (h *Handle) Sysctl(string) (string, error) { return "", ErrUnsupported }

// SetSysctl returns ErrUnsupported.
func (h *Handle) SetSysctl(string, string) error { return ErrUnsupported }
