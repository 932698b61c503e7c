// Package remote gives the provider its hosts: the SSH settings of each address, one pooled SSH
// connection per host for the whole provider run, agent API clients over `lvs-agent dial-stdio`,
// and agent install and removal.
//
// It has no Terraform imports, so the provider package stays framework glue only.
package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentinstall"
	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx"
)

// Resolver returns the SSH settings for a host address.
type Resolver func(addr string) (sshx.Config, error)

// Hosts hands out connections and agent clients per host address. It is safe for concurrent use.
type Hosts struct {
	resolve Resolver
	pool    *sshx.Pool

	mu       sync.Mutex // guards the following fields
	agents   map[string]*agentclient.Client
	sessions map[string]int // agent API sessions opened, per host address
	// noStreamLocal: hosts whose sshd does not forward to the agent's socket (see dialAgent).
	noStreamLocal map[string]bool
	onStream      func(ctx context.Context, addr string, n int)
	// down: hosts found unreachable in this run, with the first failure. They are not dialled
	// again until the run ends, so that a powered-off director costs one dial timeout per run,
	// not one per resource read from it.
	down map[string]*DownError
	// runBy: hosts known to be run by keepalived (true) or not (false); see keepalived.go.
	runBy, planRunBy map[string]bool
}

// New returns Hosts that resolve settings with resolve.
func New(resolve Resolver) *Hosts {
	return &Hosts{resolve: resolve, pool: sshx.NewPool(), agents: map[string]*agentclient.Client{}, sessions: map[string]int{},
		noStreamLocal: map[string]bool{}, down: map[string]*DownError{}, runBy: map[string]bool{}, planRunBy: map[string]bool{}}
}

// OnDial sets a function called for every SSH connection opened (the provider logs them, so
// that "one connection per host per run" can be checked). Set it before first use.
func (h *Hosts) OnDial(f func(ctx context.Context, key string, n int)) { h.pool.OnDial = f }

// OnSession sets a function called for every agent API session opened: an SSH session running
// `lvs-agent dial-stdio` on the host's one connection, which costs a process start on the host.
// Set it before first use.
func (h *Hosts) OnSession(f func(ctx context.Context, addr string, n int)) { h.onStream = f }

// Close closes every connection.
func (h *Hosts) Close() error {
	h.mu.Lock()
	for _, a := range h.agents {
		a.Close()
	}
	h.agents = map[string]*agentclient.Client{}
	h.mu.Unlock()
	return h.pool.Close()
}

// Dials reports how many SSH connections were opened, per connection key.
func (h *Hosts) Dials() map[string]int { return h.pool.DialsByKey() }

// SSH returns the pooled SSH client of addr. Once addr was found unreachable (see Unreachable),
// it fails at once with the first failure for the rest of the run.
func (h *Hosts) SSH(ctx context.Context, addr string) (*sshx.Client, error) {
	h.mu.Lock()
	d := h.down[addr]
	h.mu.Unlock()
	if d != nil {
		return nil, d
	}
	cfg, err := h.resolve(addr)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	c, err := h.pool.Get(ctx, cfg)
	var ue *sshx.UnreachableError
	if err != nil && errors.As(err, &ue) {
		h.mu.Lock()
		if h.down[addr] == nil {
			h.down[addr] = &DownError{Addr: addr, At: start, Took: time.Since(start), Err: err}
		}
		d = h.down[addr]
		h.mu.Unlock()
		return nil, d
	}
	return c, err
}

// DownError is the failure that made a host unreachable in this run; later uses of the host
// fail with it at once instead of dialling again.
type DownError struct {
	Addr string
	At   time.Time     // when the dial that failed began
	Took time.Duration // how long it took to fail
	Err  error         // holds an *sshx.UnreachableError
}

func (e *DownError) Error() string {
	return fmt.Sprintf("%v (dialled at %s, failed after %s; not dialled again during this run)", e.Err, e.At.UTC().Format("15:04:05Z"), e.Took.Round(100*time.Millisecond))
}

func (e *DownError) Unwrap() error { return e.Err }

// Down reports the hosts found unreachable in this run.
func (h *Hosts) Down() map[string]*DownError {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]*DownError, len(h.down))
	for k, v := range h.down {
		out[k] = v
	}
	return out
}

func (h *Hosts) installHost(ctx context.Context, addr string) (agentinstall.Host, error) {
	c, err := h.SSH(ctx, addr)
	if err != nil {
		return agentinstall.Host{}, err
	}
	return agentinstall.Host{Address: addr, User: c.User(), Runner: c}, nil
}

// Agent returns the API client of the agent on addr. Each HTTP stream is an SSH session on the
// host's one pooled connection.
func (h *Hosts) Agent(addr string) *agentclient.Client {
	h.mu.Lock()
	defer h.mu.Unlock()
	if a, ok := h.agents[addr]; ok {
		return a
	}
	a := agentclient.New(addr, func(ctx context.Context) (net.Conn, error) {
		if h.RunByKeepalived(addr) {
			return nil, ErrRunByKeepalived
		}
		ih, err := h.installHost(ctx, addr)
		if err != nil {
			return nil, err
		}
		conn, err := h.dialAgent(ctx, ih)
		if err == nil {
			h.mu.Lock()
			h.sessions[addr]++
			n, f := h.sessions[addr], h.onStream
			h.mu.Unlock()
			if f != nil {
				f(ctx, addr, n)
			}
		}
		return conn, err
	})
	// A refresh reads every object: answer those reads from one read of the whole state.
	a.EnableSnapshotReads(2 * time.Second)
	h.agents[addr] = a
	return a
}

// dialAgent opens one stream to the agent on a host. As root it connects to the agent's socket
// through the SSH connection itself: no `lvs-agent dial-stdio` process per stream, and one copy
// fewer per byte on the host, which at a thousand requests per apply is much of what sshd and the
// host spend on them. Otherwise it runs `lvs-agent dial-stdio`, which also waits for an agent
// that is restarting; and when that works where the socket did not, this sshd does not forward
// to sockets, and the host is reached through dial-stdio from then on.
func (h *Hosts) dialAgent(ctx context.Context, ih agentinstall.Host) (net.Conn, error) {
	c := ih.Runner.(*sshx.Client)
	h.mu.Lock()
	direct := ih.User == "root" && !h.noStreamLocal[ih.Address]
	h.mu.Unlock()
	if direct {
		if conn, err := c.DialUnix(ctx, agentapi.SocketPath); err == nil {
			return conn, nil
		}
	}
	conn, err := c.Stream(ctx, agentinstall.DialCommand(ih))
	if err == nil && direct {
		h.mu.Lock()
		h.noStreamLocal[ih.Address] = true
		h.mu.Unlock()
	}
	return conn, err
}

// Install makes addr run the bundled agent; see agentinstall.Install.
func (h *Hosts) Install(ctx context.Context, addr string) (agentinstall.Result, error) {
	ih, err := h.installHost(ctx, addr)
	if err != nil {
		return agentinstall.Result{}, err
	}
	res, err := agentinstall.Install(ctx, ih)
	if res.Started {
		h.dropAgent(addr) // streams to the old agent are dead
	}
	return res, err
}

// Uninstall removes the agent and everything it programmed from addr; a host without an agent
// is not an error.
func (h *Hosts) Uninstall(ctx context.Context, addr string) error {
	ih, err := h.installHost(ctx, addr)
	if err != nil {
		return err
	}
	h.dropAgent(addr)
	if err := agentinstall.Uninstall(ctx, ih); err != nil && !errors.Is(err, agentinstall.ErrNotInstalled) {
		return err
	}
	return nil
}

func (h *Hosts) dropAgent(addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if a, ok := h.agents[addr]; ok {
		a.Close()
		delete(h.agents, addr)
	}
}

// Installed reports whether an agent binary is on addr, by one SSH command and without opening
// an agent session: a create on fresh hosts then opens none to an agent that is not there, and
// its one session goes to the agent it installs.
func (h *Hosts) Installed(ctx context.Context, addr string) (bool, error) {
	p, err := h.probeHost(ctx, addr)
	return p.InstalledHash != "", err
}

// probeHost runs agentinstall.ProbeHost on addr: one SSH command, no agent session.
func (h *Hosts) probeHost(ctx context.Context, addr string) (agentinstall.Probe, error) {
	ih, err := h.installHost(ctx, addr)
	if err != nil {
		return agentinstall.Probe{}, err
	}
	return agentinstall.ProbeHost(ctx, ih)
}

// AgentState is what Probe found on a host.
type AgentState string

const (
	AgentReady   AgentState = "ready"         // running and answering
	AgentMissing AgentState = "agent_missing" // no agent binary on the host
	AgentStopped AgentState = "agent_stopped" // installed but not answering
)

// Probe tells whether the agent on addr answers, and its version when it does. SSH failures
// are returned as errors; callers tell an unreachable host (Unreachable), which they report as
// such and go on without, from the failures that stop the run (authentication, host key, sudo).
func (h *Hosts) Probe(ctx context.Context, addr string) (AgentState, *agentapi.VersionInfo, error) {
	v, err := h.Agent(addr).Version(ctx)
	if err == nil {
		return AgentReady, v, nil
	}
	if !errors.Is(err, agentclient.ErrUnreachable) {
		return "", nil, err
	}
	if sshErr := SSHFailure(err); sshErr != nil {
		return "", nil, sshErr
	}
	// The stream opened but no agent answered: tell a missing binary from a stopped service.
	p, perr := h.probeHost(ctx, addr)
	if perr != nil {
		return "", nil, perr
	}
	if p.InstalledHash == "" {
		return AgentMissing, nil, nil
	}
	return AgentStopped, nil, nil
}

// Unreachable returns the failure inside err when it is one that degrades instead of stopping
// the run: no SSH server could be reached at the host (TCP connection refused or timed out, no
// route to the host, its name does not resolve, the bastion could not open a channel to it, or
// the SSH handshake did not finish within the timeout): a host that is down, or cut off. It
// returns nil for every other error, notably authentication failures, unknown or mismatching
// host keys and sudo refusals: a host that answers but refuses us, or a host that is not the
// one we know, is misconfiguration or an attack, never a reason to go on without it.
func Unreachable(err error) error {
	var d *DownError
	if errors.As(err, &d) {
		return d
	}
	var ue *sshx.UnreachableError
	if errors.As(err, &ue) {
		return ue
	}
	return nil
}

// SSHFailure returns the SSH-level error inside err, if the agent could not be reached because
// the host itself could not be (unreachable, authentication, host key, sudo).
func SSHFailure(err error) error {
	var (
		unreach  *sshx.UnreachableError
		auth     *sshx.AuthError
		unknown  *sshx.UnknownHostKeyError
		mismatch *sshx.HostKeyMismatchError
		sudo     *sshx.SudoError
	)
	switch {
	case errors.As(err, &unreach):
		return Unreachable(err)
	case errors.As(err, &auth):
		return auth
	case errors.As(err, &unknown):
		return unknown
	case errors.As(err, &mismatch):
		return mismatch
	case errors.As(err, &sudo):
		return withSudoRule(sudo)
	}
	return nil
}

// withSudoRule makes a sudo failure quote the rule the provider needs, wherever it came from
// (an install step, or an agent stream whose `sudo -n lvs-agent dial-stdio` was refused).
func withSudoRule(e *sshx.SudoError) *sshx.SudoError {
	if e.Rule == "" {
		e.Rule = agentinstall.SudoersRule(e.User)
	}
	return e
}

// Describe turns an error from this package into a one-line summary and a detail for a
// diagnostic.
func Describe(addr string, err error) (summary, detail string) {
	var (
		unreach  *sshx.UnreachableError
		auth     *sshx.AuthError
		unknown  *sshx.UnknownHostKeyError
		mismatch *sshx.HostKeyMismatchError
		sudo     *sshx.SudoError
		ae       *agentapi.Error
	)
	switch {
	case errors.As(err, &unreach):
		return "Host Unreachable", err.Error()
	case errors.As(err, &auth):
		return "SSH Authentication Failed", err.Error()
	case errors.As(err, &unknown):
		return "Unknown SSH Host Key", err.Error()
	case errors.As(err, &mismatch):
		return "SSH Host Key Mismatch", err.Error()
	case errors.As(err, &sudo):
		// The sudo error itself: messages wrapped around it were formatted without the rule.
		return "Sudo Not Usable", withSudoRule(sudo).Error()
	case errors.As(err, &ae) && ae.Code == agentapi.CodeVersionSkew:
		return "Agent Version Skew", fmt.Sprintf("The lvs-agent on %s and this provider do not work together: %v.", addr, err)
	case errors.As(err, &ae) && ae.Code == agentapi.CodeStateCorrupt:
		return "Agent State Corrupt", fmt.Sprintf("The lvs-agent on %s cannot read its stored state and refuses changes; it keeps what the kernel holds and serves traffic as it is. %s", addr, ae.Message)
	case errors.As(err, &ae) && ae.Code == agentapi.CodeValidation:
		return "Agent Rejected The Configuration", fmt.Sprintf("The agent on %s rejected %s: %s", addr, ae.Field, ae.Message)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The request may have reached the agent, which finishes a write it received.
		return "Agent Request Interrupted", fmt.Sprintf("The request to the lvs-agent on %s was interrupted before its answer came (%v). "+
			"A write it carried may still have been applied: the next plan reads what the host holds and shows any difference.", addr, err)
	case errors.Is(err, agentclient.ErrUnreachable):
		return "Agent Not Answering", fmt.Sprintf("The lvs-agent on %s did not answer: %v. Apply installs and starts it; `lvs-agent status` on the host shows its state, and %s its log.", addr, err, agentapi.LogPath)
	}
	return "Host Operation Failed", fmt.Sprintf("On %s: %v", addr, strings.TrimSpace(err.Error()))
}
