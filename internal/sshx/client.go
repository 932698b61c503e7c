package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Client is one SSH connection. It is safe for concurrent use: each Run, Stream and Upload
// opens its own session on the shared connection.
type Client struct {
	cfg   Config // defaults applied
	key   string
	ssh   *ssh.Client
	owned *Client       // bastion connection closed with this one (set by Dial, not by Pool)
	sem   chan struct{} // one slot per open session, see Config.MaxSessions
	done  chan struct{} // closed once the connection is gone

	mu      sync.Mutex // guards the following fields
	deadErr error      // why the connection ended
	closing bool       // Close is waiting for wg: spawn must not Add

	closeOnce sync.Once
	wg        sync.WaitGroup // the connection's goroutines
}

func newClient(cfg Config, sc *ssh.Client, owned *Client) *Client {
	c := &Client{
		owned: owned,
		cfg:   cfg,
		key:   cfg.Key(),
		ssh:   sc,
		sem:   make(chan struct{}, cfg.MaxSessions),
		done:  make(chan struct{}),
	}
	c.spawn(func() {
		err := sc.Wait()
		c.setDead(fmt.Errorf("SSH connection to %s ended: %v", c.key, err))
		sc.Close()
		if c.owned != nil {
			c.owned.Close()
		}
		close(c.done)
	})
	c.spawn(c.keepAlive)
	return c
}

// spawn runs f on a goroutine that Close waits for. Once Close is waiting, f runs untracked:
// the connection is closed by then, so f ends promptly.
func (c *Client) spawn(f func()) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		go f()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// keepAlive sends keepalive@openssh.com requests and closes the connection when one stays
// unanswered for keepAliveCountMax intervals, so that a host that vanished (no FIN, no RST)
// is noticed and the Pool re-dials instead of hanging.
func (c *Client) keepAlive() {
	interval := c.cfg.KeepAlive
	if interval < 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var pending chan error // answer to the request in flight, nil when none
	missed := 0
	for {
		select {
		case <-c.done:
			return
		case err := <-pending:
			pending, missed = nil, 0
			if err != nil {
				c.ssh.Close()
				return
			}
		case <-t.C:
			if pending != nil {
				if missed++; missed >= keepAliveCountMax {
					c.setDead(fmt.Errorf("SSH connection to %s closed: no answer to keepalives for %s",
						c.key, time.Duration(missed)*interval))
					c.ssh.Close()
					return
				}
				continue
			}
			ch := make(chan error, 1)
			pending = ch
			c.spawn(func() {
				// OpenSSH answers with a failure reply; any answer proves the server is alive.
				_, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil)
				ch <- err
			})
		}
	}
}

func (c *Client) setDead(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deadErr == nil {
		c.deadErr = err
	}
}

func (c *Client) dead() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadErr
}

// Done is closed when the connection is gone (closed, dropped by the server, or keepalives
// unanswered).
func (c *Client) Done() <-chan struct{} { return c.done }

// Key is the Config.Key the client was dialled with.
func (c *Client) Key() string { return c.key }

// User is the login user.
func (c *Client) User() string { return c.cfg.User }

// Close closes the connection (and the bastion connection Dial opened for it) and waits for its
// goroutines. Clients from a Pool are closed by Pool.Close.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.setDead(fmt.Errorf("SSH connection to %s is closed", c.key))
		c.ssh.Close()
		if c.owned != nil {
			c.owned.Close()
		}
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		c.wg.Wait()
	})
	<-c.done
	return nil
}

const sudoPrefix = "sudo -n -- sh -c "

// Sudo wraps cmd so that it runs as root: unchanged for root, otherwise through non-interactive
// sudo (sudo -n -- sh -c 'cmd'), so that pipes and redirections in cmd run as root too. Run,
// Stream and Upload report a sudo that wants a password as a *SudoError matching ErrSudoPassword.
func (c *Client) Sudo(cmd string) string { return sudoWrap(c.cfg.User, cmd) }

func sudoWrap(user, cmd string) string {
	if user == "root" {
		return cmd
	}
	return sudoPrefix + shellQuote(cmd)
}

// sudoInvocation matches `sudo -n` as a command anywhere in a command line: at its start, after a
// pipe, a list operator, a newline or `exec`. Every command that gains root runs it so (Sudo
// makes one form; agentinstall runs `sudo -n -- lvs-agent dial-stdio`, `... | sudo -n -- install
// ...`), and sudo's failures are recognised for all of them.
var sudoInvocation = regexp.MustCompile(`(^|[\s;&|(])sudo\s+-n\s`)

func invokesSudo(cmd string) bool { return sudoInvocation.MatchString(cmd) }

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// session opens a session, waiting for a free slot (Config.MaxSessions) and retrying while the
// server refuses more sessions. release must be called once the session is closed.
func (c *Client) session(ctx context.Context) (s *ssh.Session, release func(), err error) {
	if err := c.dead(); err != nil {
		return nil, nil, err
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-c.done:
		return nil, nil, c.dead()
	}
	release = func() { <-c.sem }
	backoff := 10 * time.Millisecond
	giveUp := time.Now().Add(c.cfg.Timeout)
	for {
		s, err = c.newSession(ctx)
		var refused *ssh.OpenChannelError
		// sshd refuses sessions beyond its MaxSessions ("open failed"), which may be lower than
		// ours, and frees a slot only after the close handshake of an ended session: wait for one.
		if errors.As(err, &refused) && time.Now().Before(giveUp) {
			select {
			case <-time.After(backoff):
				backoff = min(2*backoff, 500*time.Millisecond)
				continue
			case <-ctx.Done():
				err = ctx.Err()
			case <-c.done:
			}
		}
		if err != nil {
			release()
			if d := c.dead(); d != nil {
				return nil, nil, d
			}
			return nil, nil, fmt.Errorf("opening an SSH session on %s: %w", c.key, err)
		}
		return s, release, nil
	}
}

// newSession is NewSession bounded by ctx.
func (c *Client) newSession(ctx context.Context) (*ssh.Session, error) {
	type result struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan result, 1)
	c.spawn(func() {
		s, err := c.ssh.NewSession()
		select {
		case ch <- result{s, err}:
		case <-ctx.Done():
			if s != nil {
				s.Close()
			}
		}
	})
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Run runs cmd, feeding it stdin (may be nil), and returns its output. A command that does not
// exit 0 returns *CommandError (or *SudoError when sudo refused). Cancelling ctx closes the
// session and returns at once; sshd then stops the command only if it delivers the SIGTERM sent
// first, which OpenSSH does for non-root logins only (signals need privilege separation).
func (c *Client) Run(ctx context.Context, cmd string, stdin io.Reader) (stdout, stderr []byte, err error) {
	s, release, err := c.session(ctx)
	if err != nil {
		return nil, nil, err
	}
	var outBuf, errBuf bytes.Buffer
	s.Stdin, s.Stdout, s.Stderr = stdin, &outBuf, &errBuf
	if err := s.Start(cmd); err != nil {
		s.Close()
		release()
		return nil, nil, fmt.Errorf("starting %q on %s: %w", cmd, c.key, err)
	}
	waitc := make(chan error, 1)
	// The session holds its slot until sshd closes it, which it does only once the command
	// has exited: release the slot then, even if Run returned earlier on cancellation.
	c.spawn(func() {
		err := s.Wait()
		s.Close()
		release()
		waitc <- err
	})
	select {
	case err = <-waitc:
		return outBuf.Bytes(), errBuf.Bytes(), c.exitError(cmd, err, errBuf.String())
	case <-ctx.Done():
		_ = s.Signal(ssh.SIGTERM)
		s.Close()
		return nil, nil, fmt.Errorf("command %q on %s: %w", cmd, c.key, ctx.Err())
	}
}

// exitError turns the result of Session.Wait into the package's errors.
func (c *Client) exitError(cmd string, err error, stderr string) error {
	if err == nil {
		return nil
	}
	var exit *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case errors.As(err, &exit):
		ce := &CommandError{Host: c.key, Cmd: cmd, ExitStatus: exit.ExitStatus(), Signal: exit.Signal(), Stderr: stderr}
		if invokesSudo(cmd) {
			if reason := sudoFailure(ce.ExitStatus, stderr); reason != nil {
				return &SudoError{User: c.cfg.User, Host: c.key, Reason: reason, Err: ce}
			}
		}
		return ce
	case errors.As(err, &missing):
		if d := c.dead(); d != nil {
			return fmt.Errorf("command %q on %s: %w", cmd, c.key, d)
		}
		return &CommandError{Host: c.key, Cmd: cmd, ExitStatus: -1, Stderr: stderr}
	}
	if d := c.dead(); d != nil {
		return fmt.Errorf("command %q on %s: %w", cmd, c.key, d)
	}
	return fmt.Errorf("command %q on %s: %w", cmd, c.key, err)
}

// Upload writes r to path on the host with the given permission bits, as root (through Sudo for
// other users). The file is created with umask 077 and chmod-ed once complete, and removed if
// the transfer fails; callers upload to a temporary name, verify a checksum and rename.
func (c *Client) Upload(ctx context.Context, path string, r io.Reader, mode os.FileMode) error {
	q := shellQuote(path)
	script := fmt.Sprintf("umask 077 && { cat > %s && chmod %04o %s; } || { rc=$?; rm -f %s; exit $rc; }",
		q, uint32(mode.Perm()), q, q)
	_, _, err := c.Run(ctx, c.Sudo(script), r)
	if err != nil {
		return fmt.Errorf("uploading %s to %s: %w", path, c.key, err)
	}
	return nil
}
