package vrrp

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/netconf/netnstest"
)

// The traffic watch of a Conn sees the packets other hosts send to a watched address on its
// interface, and nothing else: not packets to other addresses, not what it sends itself.
func TestNetnsTrafficWatch(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "IPv4", true: "IPv6"}[v6], func(t *testing.T) {
			hs := netnstest.NewLAN(t, 2)
			a, b := hs[0], hs[1]
			vip, other := netip.MustParsePrefix("198.51.100.100/32"), netip.MustParsePrefix("198.51.100.101/32")
			if v6 {
				vip, other = netip.MustParsePrefix("2001:db8::100/128"), netip.MustParsePrefix("2001:db8::101/128")
			}
			for _, p := range []netip.Prefix{vip, other} {
				if err := a.Net.AddAddress("eth0", p); err != nil {
					t.Fatal(err)
				}
			}
			var c *Conn
			if err := a.Net.Do(func() (err error) { c, err = ListenConn("eth0", v6); return err }); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			lastSeen, stop, err := c.watchTraffic([]netip.Addr{vip.Addr()})
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			send := func(to netip.Prefix) {
				t.Helper()
				if err := b.Net.Do(func() error {
					u, err := net.Dial("udp", net.JoinHostPort(to.Addr().String(), "9"))
					if err != nil {
						return err
					}
					defer u.Close()
					_, err = u.Write([]byte("x"))
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			// Bounded: the first datagram may wait for address resolution.
			for i := 0; i < 50 && lastSeen().IsZero(); i++ {
				send(other)
				send(vip)
				time.Sleep(20 * time.Millisecond)
			}
			seen := lastSeen()
			if seen.IsZero() {
				t.Fatal("no packet for the watched address seen")
			}
			// Only the other address now: the watch must not move.
			for range 5 {
				send(other)
			}
			time.Sleep(100 * time.Millisecond)
			if got := lastSeen(); !got.Equal(seen) {
				t.Fatalf("a packet for an unwatched address counted: %v then %v", seen, got)
			}
			stop()
			if _, _, err := c.watchTraffic([]netip.Addr{other.Addr()}); err != nil {
				t.Fatalf("watch again after stop: %v", err)
			}
		})
	}
}
