package sshx

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"

	"golang.org/x/crypto/ssh"
)

// stderrCap bounds the stderr kept from a stream for error messages.
const stderrCap = 64 << 10

// Stream starts cmd and returns its stdin and stdout as a net.Conn: Read is the command's
// stdout, Write its stdin, Close closes stdin and the session (the command's session slot is
// freed once the command exits, see Run about signals). It is how the provider speaks
// HTTP to `lvs-agent dial-stdio`, like `docker system dial-stdio`. When the command exits with
// an error, Read returns a *CommandError carrying its stderr instead of io.EOF. Deadlines are
// supported. ctx bounds only the start: once returned, its expiry does not affect the stream,
// as with net.Dialer.DialContext.
func (c *Client) Stream(ctx context.Context, cmd string) (net.Conn, error) {
	s, release, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (net.Conn, error) {
		s.Close()
		release()
		return nil, fmt.Errorf("starting %q on %s: %w", cmd, c.key, err)
	}
	stdin, err := s.StdinPipe()
	if err != nil {
		return fail(err)
	}
	stdout, err := s.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	stderr := &cappedBuffer{max: stderrCap}
	s.Stderr = stderr
	if err := s.Start(cmd); err != nil {
		return fail(err)
	}

	// net.Pipe gives the returned conn deadlines and net.Conn semantics; two pumps copy between
	// its far end and the session.
	local, far := net.Pipe()
	sc := &streamConn{Conn: local, sess: s, addr: sshAddr(c.key)}
	c.spawn(func() {
		_, _ = io.Copy(far, stdout)
		// stdout ended: the command is done (or the session was closed); report how it ended.
		err := c.exitError(cmd, s.Wait(), stderr.String())
		sc.mu.Lock()
		sc.exitErr = err
		sc.mu.Unlock()
		far.Close()
		s.Close()
		release() // sshd frees the session only now, once the command exited
	})
	c.spawn(func() {
		_, _ = io.Copy(stdin, far)
		stdin.Close() // the command sees EOF on its stdin
	})
	return sc, nil
}

type streamConn struct {
	net.Conn // local end of the pipe
	sess     *ssh.Session
	addr     net.Addr

	mu      sync.Mutex
	exitErr error // set when the command ended with an error

	closeOnce sync.Once
}

func (sc *streamConn) Read(p []byte) (int, error) {
	n, err := sc.Conn.Read(p)
	if err == io.EOF {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		if sc.exitErr != nil {
			return n, sc.exitErr
		}
	}
	return n, err
}

func (sc *streamConn) Close() error {
	sc.closeOnce.Do(func() {
		sc.Conn.Close() // the stdin pump sees EOF and closes the command's stdin
		_ = sc.sess.Signal(ssh.SIGTERM)
		sc.sess.Close()
	})
	return nil
}

func (sc *streamConn) RemoteAddr() net.Addr { return sc.addr }

// sshAddr names the connection a stream runs on.
type sshAddr string

func (a sshAddr) Network() string { return "ssh" }
func (a sshAddr) String() string  { return string(a) }

// cappedBuffer keeps the first max bytes written to it; safe for concurrent use.
type cappedBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// DialUnix connects to the unix socket at path on the host through the SSH connection itself
// (OpenSSH's direct-streamlocal channel, as `ssh -L` to a socket does): unlike Stream, no process
// starts on the host and the bytes take one hop fewer. sshd opens the socket as the login user;
// it answers a missing socket and forwarding it does not allow (AllowStreamLocalForwarding no)
// alike, "connect failed". ctx bounds only the connect.
func (c *Client) DialUnix(ctx context.Context, path string) (net.Conn, error) {
	if err := c.dead(); err != nil {
		return nil, err
	}
	conn, err := c.ssh.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("unix socket %s on %s: %w", path, c.key, err)
	}
	return conn, nil
}
