package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// tcpChecker passes when a TCP connection to addr opens (keepalived TCP_CHECK).
type tcpChecker struct{ addr string }

func (c *tcpChecker) Check(ctx context.Context) error {
	conn, err := dialTCP(ctx, c.addr)
	if err != nil {
		return connectError(ctx, "tcp", c.addr, err)
	}
	closeReset(conn)
	return nil
}

// dialer is shared: it holds no state. A check's connection lives for one request, so TCP
// keep-alive (four setsockopt calls per connection) is off.
var dialer = net.Dialer{KeepAlive: -1}

func dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	return dialer.DialContext(ctx, "tcp", addr)
}

// closeReset closes a check's connection with a reset rather than a FIN, as HAProxy does for
// its checks: no TIME_WAIT is left on the director, whose ports thousands of checks a second
// would otherwise exhaust.
func closeReset(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// connectError says why a connection to addr failed in the words of the system
// ("connection refused", "no route to host"), or returns the context's error when it ended. The
// system's error is wrapped, for errors.Is (the metrics class failures by it).
func connectError(ctx context.Context, kind, addr string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Errorf("%s: connect %s: %w", kind, addr, errno)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return fmt.Errorf("%s: connect %s: %w", kind, addr, op.Err)
	}
	return fmt.Errorf("%s: connect %s: %w", kind, addr, err)
}
