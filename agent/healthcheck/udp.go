package healthcheck

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// udpChecker sends one datagram on a connected socket (keepalived UDP_CHECK). An ICMP error
// (port or host unreachable) fails it: the kernel hands it to the connected socket's read. With
// requireReply a reply must come, and match pattern where mask says; without, silence until
// the timeout passes, as in keepalived.
type udpChecker struct {
	addr          string
	payload       []byte // nil: 32 random bytes per check, as keepalived sends without one
	requireReply  bool
	pattern, mask []byte
}

// udpDefaultPayload is the length of keepalived's filler payload.
const udpDefaultPayload = 32

// maxUDPReply is what a check reads of a reply: one datagram, bounded by the IPv4 maximum.
const maxUDPReply = 65535

func newUDPChecker(s *spec) (*udpChecker, error) {
	c := &udpChecker{addr: s.addr}
	u := s.hc.UDP
	if u == nil {
		return c, nil
	}
	var err error
	if u.Payload != "" {
		if c.payload, _, err = agentapi.ParseHex(u.Payload, false); err != nil {
			return nil, fmt.Errorf("health_check.payload: not a hex string: %v", err)
		}
	}
	c.requireReply = u.RequireReply || u.ReplyPattern != ""
	if u.ReplyPattern != "" {
		if c.pattern, c.mask, err = agentapi.ParseHex(u.ReplyPattern, true); err != nil {
			return nil, fmt.Errorf("health_check.reply_pattern: not a hex string: %v", err)
		}
	}
	return c, nil
}

// silenceGrace is how long before the check's timeout a check without require_reply stops
// listening and passes: it must finish before the timeout, which fails it.
func silenceGrace(left time.Duration) time.Duration {
	return min(left/10, 100*time.Millisecond)
}

func (c *udpChecker) Check(ctx context.Context) error {
	payload := c.payload
	if payload == nil {
		payload = make([]byte, udpDefaultPayload)
		_, _ = rand.Read(payload)
	}
	conn, err := dialer.DialContext(ctx, "udp", c.addr)
	if err != nil {
		return connectError(ctx, "udp", c.addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	if !c.requireReply {
		deadline = deadline.Add(-silenceGrace(time.Until(deadline)))
	}
	_ = conn.SetReadDeadline(deadline)
	if _, err := conn.Write(payload); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("udp: send to %s: %v", c.addr, ioReason(err))
	}
	buf := make([]byte, maxUDPReply)
	n, err := conn.Read(buf)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded) && !c.requireReply:
		return nil // no ICMP error within the timeout: keepalived's pass
	case errors.Is(err, os.ErrDeadlineExceeded) && ok:
		// The read deadline was the context's, whose own timer may fire a moment after the
		// socket's: this is the check's timeout, which the Manager tells by the context.
		<-ctx.Done()
		return ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("udp: no reply from %s", c.addr)
	case err != nil:
		// ECONNREFUSED is the ICMP port unreachable, EHOSTUNREACH the host unreachable.
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return fmt.Errorf("udp: %s: %w", c.addr, errno)
		}
		return fmt.Errorf("udp: %s: %v", c.addr, ioReason(err))
	}
	// keepalived compares the shorter of the reply and the pattern.
	for i := range min(n, len(c.pattern)) {
		if (buf[i]^c.pattern[i])&c.mask[i] != 0 {
			return fmt.Errorf("udp: reply from %s does not match the pattern at byte %d (got %02x)", c.addr, i, buf[i])
		}
	}
	return nil
}
