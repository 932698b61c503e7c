package sshx

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Dial connects to the host cfg describes, through its bastion when cfg.Bastion is set. Closing
// the returned client also closes the bastion connection. Most callers want a [Pool] instead.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	return dial(ctx, cfg, func(ctx context.Context, b Config) (*Client, bool, error) {
		c, err := Dial(ctx, b)
		return c, true, err
	})
}

// bastionFunc returns the client to tunnel through and whether the caller owns (closes) it.
type bastionFunc func(ctx context.Context, cfg Config) (c *Client, owned bool, err error)

func dial(ctx context.Context, cfg Config, bastion bastionFunc) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	hostKeyCB, hostKeyAlgos, err := cfg.hostKeyCheck()
	if err != nil {
		return nil, err
	}
	methods, methodNames, closeAgent, err := cfg.authMethods()
	if err != nil {
		return nil, err
	}
	defer closeAgent()

	var via *Client
	var owned bool
	if cfg.Bastion != nil {
		via, owned, err = bastion(ctx, *cfg.Bastion)
		if err != nil {
			return nil, fmt.Errorf("reaching %s through its bastion: %w", cfg.Key(), err)
		}
	}
	sc, err := connect(ctx, cfg, via, hostKeyCB, hostKeyAlgos, methods, methodNames)
	if err != nil {
		if owned {
			via.Close()
		}
		return nil, err
	}
	if !owned {
		via = nil
	}
	return newClient(cfg, sc, via), nil
}

// handshakeState records how far the SSH handshake got, so that its failure can be classified
// without reading x/crypto's error text.
type handshakeState struct {
	mu          sync.Mutex
	hostKeyErr  error
	hostKeyOK   bool
	authStarted bool
	allowed     []string
}

func connect(ctx context.Context, cfg Config, via *Client, hostKeyCB ssh.HostKeyCallback,
	hostKeyAlgos []string, methods []ssh.AuthMethod, methodNames []string) (*ssh.Client, error) {
	addr := cfg.addr()
	viaKey := ""
	if via != nil {
		viaKey = via.key
	}

	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var conn net.Conn
	var err error
	if via == nil {
		conn, err = (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	} else {
		conn, err = via.ssh.DialContext(dctx, "tcp", addr)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connecting to %s: %w", addr, ctx.Err())
		}
		if dctx.Err() != nil {
			err = fmt.Errorf("no answer within %s: %w", cfg.Timeout, err)
		}
		return nil, &UnreachableError{Addr: addr, Via: viaKey, Err: err}
	}

	// Bound the handshake by the remaining timeout and by ctx. Closing the connection is the only
	// way to interrupt it (tunnelled connections have no deadlines).
	var timedOut atomic.Bool
	timer := time.AfterFunc(time.Until(deadline(dctx)), func() { timedOut.Store(true); conn.Close() })
	stopCtx := context.AfterFunc(ctx, func() { conn.Close() })

	st := &handshakeState{}
	clientCfg := &ssh.ClientConfig{
		User: cfg.User,
		Auth: methods,
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			err := hostKeyCB(hostname, remote, key)
			st.mu.Lock()
			defer st.mu.Unlock()
			st.hostKeyErr, st.hostKeyOK = err, err == nil
			return err
		},
		HostKeyAlgorithms: hostKeyAlgos,
		// Called before each authentication attempt: records that the handshake reached the
		// authentication phase and what the server accepts, then lets x/crypto pick from Auth.
		AuthCallback: func(ac *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
			st.mu.Lock()
			defer st.mu.Unlock()
			st.authStarted, st.allowed = true, ac.AllowedMethods
			return nil, nil
		},
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, clientCfg)
	timerStopped, ctxStopped := timer.Stop(), stopCtx()
	interrupted := !timerStopped || !ctxStopped
	if err == nil && interrupted {
		sc.Close()
		err = fmt.Errorf("handshake interrupted")
	}
	if err != nil {
		conn.Close()
		st.mu.Lock()
		defer st.mu.Unlock()
		switch {
		case st.hostKeyErr != nil:
			return nil, st.hostKeyErr
		case ctx.Err() != nil:
			return nil, fmt.Errorf("SSH handshake with %s: %w", addr, ctx.Err())
		case timedOut.Load():
			return nil, &UnreachableError{Addr: addr, Via: viaKey,
				Err: fmt.Errorf("SSH handshake did not finish within %s: %w", cfg.Timeout, err)}
		case st.hostKeyOK && st.authStarted:
			return nil, &AuthError{User: cfg.User, Addr: addr, Methods: methodNames, Allowed: st.allowed, Err: err}
		default:
			return nil, fmt.Errorf("SSH handshake with %s failed (is it an SSH server?): %w", addr, err)
		}
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline() // always set: dctx has a timeout
	return d
}
