package lab

import (
	"context"
	"io"
	"net"
	"os/exec"
	"sync"
	"time"
)

// DialStdio runs argv inside the host (see Command) and returns its stdin and stdout as a
// connection: the agent's API over `lvs-agent dial-stdio`, entered with nsenter instead of
// SSH. Closing it closes the command's stdin and waits for it (5 s at most, then kills it).
func (h *Host) DialStdio(argv ...string) (net.Conn, error) {
	cmd := h.Command(context.Background(), argv...)
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	r, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &cmdConn{cmd: cmd, w: w, r: r}, nil
}

// cmdConn is a net.Conn over a command's stdin and stdout.
type cmdConn struct {
	cmd  *exec.Cmd
	w    io.WriteCloser
	r    io.ReadCloser
	once sync.Once
}

func (c *cmdConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *cmdConn) Write(b []byte) (int, error) { return c.w.Write(b) }
func (c *cmdConn) Close() error {
	c.once.Do(func() {
		_ = c.w.Close()
		done := make(chan struct{})
		go func() { _ = c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = c.cmd.Process.Kill()
			<-done
		}
	})
	return nil
}
func (c *cmdConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (c *cmdConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (c *cmdConn) SetDeadline(time.Time) error      { return nil }
func (c *cmdConn) SetReadDeadline(time.Time) error  { return nil }
func (c *cmdConn) SetWriteDeadline(time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "dial-stdio" }
