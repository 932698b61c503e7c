//go:build !linux

package netconf

// Fallback tunnel device names (see rshost_linux.go).
const (
	TunnelIPIP   = "tunl0"
	TunnelIP6IP6 = "ip6tnl0"
)

// EnsureTunnelUp returns ErrUnsupported.
func (h *Handle) EnsureTunnelUp(string) (bool, error) { return false, ErrUnsupported }

// SetLinkDown returns ErrUnsupported.
func (h *Handle) SetLinkDown(string) error { return ErrUnsupported }
