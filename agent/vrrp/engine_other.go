//go:build !linux

package vrrp

import (
	"errors"
	"net/netip"
	"time"
)

// Conn is the raw-socket Transport; only on Linux.
type Conn struct{}

var _ Transport = (*Conn)(nil)

// ListenConn fails: VRRP sockets are only implemented on Linux.
func ListenConn(string, bool) (*Conn, error) {
	return nil, errors.New("vrrp: raw sockets are only implemented on Linux")
}

// OpenAnnouncer fails: packet sockets are only implemented on Linux.
func OpenAnnouncer(string, bool) (*Conn, error) {
	return nil, errors.New("vrrp: packet sockets are only implemented on Linux")
}

// Register implements Transport.
func (c *Conn) Register(uint8, func(Packet)) (func(), error) { return nil, errors.ErrUnsupported }

// Send implements Transport.
func (c *Conn) Send([]byte, netip.Addr, netip.Addr) error { return errors.ErrUnsupported }

// Announce implements Transport.
func (c *Conn) Announce([]netip.Addr, int) error { return errors.ErrUnsupported }

// Handlers returns 0.
func (c *Conn) Handlers() int { return 0 }

// Dropped returns nil.
func (c *Conn) Dropped() map[string]uint64 { return nil }

// Close does nothing.
func (c *Conn) Close() error { return nil }

// preciseSleeper sleeps; elsewhere than Linux only as precisely as Go's timers.
type preciseSleeper struct{}

func newPreciseSleeper() *preciseSleeper { return &preciseSleeper{} }

func (*preciseSleeper) sleep(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}

func (*preciseSleeper) close() {}
