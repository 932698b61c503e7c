package healthcheck

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/shellcmd"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Notify commands (keepalived notify_up / notify_down) run on each director when the verdict
// on a real server flips, and notify_down also when an up real server leaves the configuration
// (as keepalived does on a reload). They never run for the verdict a real server starts with,
// which the agent assumes (or kept from its previous run) rather than decides, so that restarts
// and upgrades of the agent notify nothing; and they never change a verdict.
//
// The commands of one real server run one at a time, in the order of its verdicts, each bounded
// by DefaultNotifyTimeout (its process group is killed then); different real servers' run side
// by side. When a real server's notifications pile up (a script slower than the server flaps),
// the newest maxNotifyQueue wait and older ones are dropped, logged and counted.

// DefaultNotifyTimeout bounds each notify command.
const DefaultNotifyTimeout = 30 * time.Second

// notifyGrace bounds how long Stop waits for queued notify commands (keepalived gives each a
// second at shutdown); the agent's whole stop has 5 s.
const notifyGrace = 2 * time.Second

// maxNotifyQueue bounds the notifications waiting per real server.
const maxNotifyQueue = 8

// maxNotifyOutput bounds what is kept of a notify command's output, for the log.
const maxNotifyOutput = 512

// Notify results, as Config.OnNotify gets them.
const (
	NotifyOK      = "ok"
	NotifyFailed  = "failed"  // a non-zero exit, or the command could not start
	NotifyTimeout = "timeout" // killed after the timeout
	NotifyDropped = "dropped" // never run: too many were waiting
)

// ReasonRemoved is the reason notify_down gets when an up real server leaves the configuration.
const ReasonRemoved = "removed from the configuration"

// notifyJob is one notification of one real server.
type notifyJob struct {
	id      rsID
	state   agentapi.HealthState // up or down
	command string
	env     []string
}

// notifyQueue holds a real server's waiting notifications; running says a goroutine drains it.
type notifyQueue struct {
	id      rsID
	jobs    []notifyJob
	running bool
}

// notifyLocked queues the command of t for its verdict turning to state (nothing when t has no
// command for it). Called with m.mu held, so that the notifications of a real server queue in
// the order of its verdicts; it never blocks.
func (m *Manager) notifyLocked(t *target, state agentapi.HealthState, reason string) {
	cmd := t.notifyDown
	if state == StateUp {
		cmd = t.notifyUp
	}
	if cmd == "" || m.stopped || m.ctx.Err() != nil {
		return
	}
	env := append(rsEnv(t.spec), "LVS_RS_STATE="+string(state), "LVS_RS_REASON="+reason)
	j := notifyJob{id: t.id, state: state, command: cmd, env: env}
	m.nmu.Lock()
	defer m.nmu.Unlock()
	q := m.notifies[t.id]
	if q == nil {
		q = &notifyQueue{id: t.id}
		m.notifies[t.id] = q
	}
	if len(q.jobs) >= maxNotifyQueue {
		old := q.jobs[0]
		q.jobs = q.jobs[1:]
		m.log.Warn("real server notify dropped: too many waiting (the command is slower than the verdicts change)",
			"vs", old.id.vs, "rs", old.id.rs, "health", old.state)
		m.notifyCounts.add(NotifyDropped)
		if m.onNotify != nil {
			m.onNotify(old.id.vs, old.id.rs, string(old.state), NotifyDropped)
		}
	}
	q.jobs = append(q.jobs, j)
	if !q.running {
		q.running = true
		m.wg.Add(1)
		go m.runNotifies(q)
	}
}

// drainNotifies waits until no notify command is queued or running, for up to notifyGrace (or
// the notify timeout, if shorter) and while ctx lasts. Nothing new is queued once m.stopped.
func (m *Manager) drainNotifies(ctx context.Context) {
	deadline := time.Now().Add(min(notifyGrace, m.notifyTimeout))
	for time.Now().Before(deadline) && ctx.Err() == nil {
		m.nmu.Lock()
		n := len(m.notifies)
		m.nmu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runNotifies runs q's notifications in order until it is empty or the Manager stops.
func (m *Manager) runNotifies(q *notifyQueue) {
	defer m.wg.Done()
	for {
		m.nmu.Lock()
		if len(q.jobs) == 0 || m.ctx.Err() != nil {
			q.running = false
			if len(q.jobs) == 0 {
				delete(m.notifies, q.id)
			}
			m.nmu.Unlock()
			return
		}
		j := q.jobs[0]
		q.jobs = q.jobs[1:]
		m.nmu.Unlock()
		m.runNotify(j)
	}
}

// runNotify runs one notification and logs and counts its outcome. The command line may carry
// credentials: it is logged at debug level only.
func (m *Manager) runNotify(j notifyJob) {
	ctx, cancel := context.WithTimeout(m.ctx, m.notifyTimeout)
	defer cancel()
	began := time.Now()
	out, err := shellcmd.Run(ctx, j.command, nil, j.env, maxNotifyOutput)
	log := m.log.With("vs", j.id.vs, "rs", j.id.rs, "health", j.state, "took", time.Since(began).Round(time.Millisecond))
	var ee *exec.ExitError
	switch {
	case m.ctx.Err() != nil:
		return // stopping: the command was killed, which says nothing of it
	case err == nil:
		log.Debug("real server notify ran", "command", j.command)
		m.notified(j, NotifyOK)
	case ctx.Err() != nil:
		log.Warn("real server notify killed after its timeout", "timeout", m.notifyTimeout, "output", firstLine(out))
		log.Debug("real server notify killed", "command", j.command)
		m.notified(j, NotifyTimeout)
	default:
		if errors.As(err, &ee) {
			err = ee
		}
		log.Warn("real server notify failed", "err", err, "output", firstLine(out))
		log.Debug("real server notify failed", "command", j.command)
		m.notified(j, NotifyFailed)
	}
}

// notified counts a notification's outcome and tells Config.OnNotify.
func (m *Manager) notified(j notifyJob, result string) {
	m.nmu.Lock()
	m.notifyCounts.add(result)
	m.nmu.Unlock()
	if m.onNotify != nil {
		m.onNotify(j.id.vs, j.id.rs, string(j.state), result)
	}
}

// NotifyCounts are the notify commands' outcomes since the agent started.
type NotifyCounts struct {
	OK, Failed, TimedOut, Dropped uint64
}

func (c *NotifyCounts) add(result string) {
	switch result {
	case NotifyOK:
		c.OK++
	case NotifyFailed:
		c.Failed++
	case NotifyTimeout:
		c.TimedOut++
	case NotifyDropped:
		c.Dropped++
	}
}

// Notifies returns the notify commands' outcomes so far (guarded by nmu).
func (m *Manager) Notifies() NotifyCounts {
	m.nmu.Lock()
	defer m.nmu.Unlock()
	return m.notifyCounts
}

// rsEnv is the environment that tells a command (an exec check, a notify) which real server of
// which virtual server it is about.
func rsEnv(s *spec) []string {
	host, port := s.rs.Address, ""
	if h, p, err := net.SplitHostPort(s.addr); err == nil {
		host, port = h, p
	}
	return []string{
		"LVS_RS_ADDRESS=" + s.rs.Address,
		"LVS_RS_PORT=" + strconv.Itoa(s.rs.Port),
		"LVS_CHECK_ADDRESS=" + host,
		"LVS_CHECK_PORT=" + port,
		"LVS_VS=" + s.vsKey,
		"LVS_VS_PROTOCOL=" + s.vs.Protocol,
		"LVS_VS_ADDRESS=" + s.vs.Address,
		"LVS_VS_PORT=" + strconv.Itoa(s.vs.Port),
		"LVS_VS_FWMARK=" + strconv.FormatUint(uint64(s.vs.FWMark), 10),
	}
}
