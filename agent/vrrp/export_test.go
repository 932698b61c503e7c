package vrrp

import "net/netip"

// WithLinkVerifier returns tr with the linkVerifier that f implements: the neighbour table of
// the engine tests, which have no network.
func WithLinkVerifier(tr Transport, f func(known []netip.Addr, cand netip.Addr) (bool, error)) Transport {
	return verifyingTransport{tr, f}
}

type verifyingTransport struct {
	Transport
	f func(known []netip.Addr, cand netip.Addr) (bool, error)
}

func (v verifyingTransport) sameLink(known []netip.Addr, cand netip.Addr) (bool, error) {
	return v.f(known, cand)
}
