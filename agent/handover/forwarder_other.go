//go:build !linux

package handover

import (
	"errors"
	"net/netip"
)

var errUnsupported = errors.New("handover: forwarding needs Linux")

// Forward is Linux only.
func (f *Forwarder) Forward(string, netip.Addr, []netip.Addr) (func(), error) {
	return nil, errUnsupported
}

// Cleanup is Linux only; elsewhere there is nothing to clean.
func (f *Forwarder) Cleanup() error { return nil }

// SilenceARP is Linux only.
func (f *Forwarder) SilenceARP(string, []netip.Addr) (func(), error) {
	return nil, errUnsupported
}
