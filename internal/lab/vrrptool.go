package lab

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
)

// Advert is one VRRP packet as a lab host received it: what a test compares between two
// implementations (keepalived's and the agent's adverts on the same hosts).
type Advert struct {
	Source  string `json:"source"`
	TTL     int    `json:"ttl"`
	Payload string `json:"payload"` // the VRRP packet after the IPv4 header, in hex
}

// CaptureVRRP waits up to timeout for an IPv4 VRRP packet from src, on interface ifname
// joined to the VRRP group 224.0.0.18 (unicast adverts to this host come too), and returns the
// first. It is the lab binary's `vrrp-capture` command, run on a host that watches the wire.
func CaptureVRRP(ctx context.Context, ifname string, src netip.Addr, timeout time.Duration) (Advert, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return Advert{}, err
	}
	c, err := net.ListenPacket("ip4:112", "0.0.0.0")
	if err != nil {
		return Advert{}, err
	}
	defer func() { _ = c.Close() }()
	p := ipv4.NewPacketConn(c)
	if err := p.JoinGroup(ifi, &net.IPAddr{IP: net.IPv4(224, 0, 0, 18)}); err != nil {
		return Advert{}, fmt.Errorf("join 224.0.0.18 on %s: %w", ifname, err)
	}
	if err := p.SetControlMessage(ipv4.FlagTTL|ipv4.FlagSrc, true); err != nil {
		return Advert{}, err
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := p.SetReadDeadline(deadline); err != nil {
		return Advert{}, err
	}
	buf := make([]byte, 1500)
	for {
		n, cm, from, err := p.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
				return Advert{}, fmt.Errorf("no VRRP packet from %v within %v", src, timeout)
			}
			return Advert{}, err
		}
		a, ok := from.(*net.IPAddr)
		if !ok {
			continue
		}
		if ip, ok := netip.AddrFromSlice(a.IP); !ok || ip.Unmap() != src {
			continue
		}
		ttl := -1
		if cm != nil {
			ttl = cm.TTL
		}
		return Advert{Source: src.String(), TTL: ttl, Payload: hex.EncodeToString(buf[:n])}, nil
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
