package ha

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// notifyTimeout bounds each notify command.
const notifyTimeout = 30 * time.Second

// notifier runs a VIP's notify commands one after the other, in the order of the transitions,
// off the engine's goroutine: a slow or hung command delays only later notifications of the
// same VIP, never VRRP. When too many are queued, the oldest are dropped (logged): the latest
// state is what matters.
type notifier struct {
	vrid int
	log  *slog.Logger
	jobs chan notifyJob

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex // guards cfg
	cfg *agentapi.Notify
}

type notifyJob struct {
	state string
	fam   string
}

func newNotifier(vrid int, log *slog.Logger) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	n := &notifier{vrid: vrid, log: log.With("vrid", vrid), jobs: make(chan notifyJob, 16), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go n.run()
	return n
}

func (n *notifier) set(cfg *agentapi.Notify) {
	n.mu.Lock()
	n.cfg = cfg
	n.mu.Unlock()
}

// transition queues the notify command for a state change; it never blocks.
func (n *notifier) transition(t vrrp.Transition, v6 bool) {
	var state string
	switch t.To {
	case vrrp.StateMaster, vrrp.StateBackup, vrrp.StateFault:
		state = t.To.String()
	default:
		return
	}
	fam := "IPv4"
	if v6 {
		fam = "IPv6"
	}
	for {
		select {
		case n.jobs <- notifyJob{state: state, fam: fam}:
			return
		default:
		}
		select {
		case old := <-n.jobs:
			n.log.Warn("notify queue full: dropping an old notification", "state", old.state)
		default:
		}
	}
}

func (n *notifier) run() {
	defer close(n.done)
	for {
		select {
		case <-n.ctx.Done():
			return
		case j := <-n.jobs:
			n.mu.Lock()
			cfg := n.cfg
			n.mu.Unlock()
			if cfg == nil {
				continue
			}
			cmd := map[string]string{"MASTER": cfg.Master, "BACKUP": cfg.Backup, "FAULT": cfg.Fault}[j.state]
			if cmd == "" {
				continue
			}
			env := []string{"LVS_VRRP_STATE=" + j.state, fmt.Sprintf("LVS_VRRP_VRID=%d", n.vrid), "LVS_VRRP_FAMILY=" + j.fam}
			out, err := runCommand(n.ctx, notifyTimeout, cmd, []string{j.state}, env)
			if err != nil && n.ctx.Err() == nil {
				// The command line may carry credentials: it is logged at debug level only.
				n.log.Warn("notify command failed", "state", j.state, "err", err, "output", out)
				n.log.Debug("notify command failed", "state", j.state, "command", cmd)
			} else {
				n.log.Debug("notify command ran", "state", j.state, "command", cmd)
			}
		}
	}
}

// close kills a running command and waits.
func (n *notifier) close() {
	n.cancel()
	<-n.done
}
