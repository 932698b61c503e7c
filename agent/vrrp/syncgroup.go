package vrrp

import (
	"cmp"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// A sync group (keepalived's vrrp_sync_group) is a set of virtual routers of one director
// that fail over together, so that, say, a NAT director's outside and inside addresses are
// never split between the two directors. Each member still runs its own election; the group
// couples the outcomes:
//
//   - a member that leaves MASTER for BACKUP (a better master was heard), for FAULT or INIT
//     makes every member that is MASTER step down (priority 0 first, so that the peer's backup
//     takes over after Skew_Time);
//   - a member takes over only when every member is MASTER or wants to be: its
//     Master_Down_Timer ran out and no master it yields to was heard since (Machine.Wants).
//     Then all of them take over together. As keepalived does, the group prefers BACKUP when
//     its members disagree: a member hearing a better master holds the others back.
//
// FAULT is shared by the caller (agent/ha puts every member in FAULT when one's tracking
// does), and so are tracking weights, so that the members' priorities move together.
//
// Conflicting members (one hears a better master, another a worse one: priorities that
// disagree, a peer with another configuration) cannot make the pair flap: when both
// directors were master and both step down, the director that loses the VRRP tie-break (the
// lower primary address, compared with the master its yielding member heard) waits a
// Master_Down_Interval before its group may take over again, so the other one takes the
// whole group and the first one's yielding member then holds it back.

// MemberView is what a sync group decides on: one member's state.
type MemberView struct {
	State State
	Wants bool
	// Self is the member's primary address, Master the master it last heard (for the
	// tie-break), MasterDown its Master_Down_Interval (the tie-break's wait).
	Self, Master netip.Addr
	MasterDown   time.Duration
}

// ready: the member is master or would be.
func (v MemberView) ready() bool { return v.State == StateMaster || v.Wants }

// SyncCommand is what a sync group tells a member to do.
type SyncCommand uint8

const (
	SyncNone     SyncCommand = iota
	SyncTakeOver             // Machine.TakeOver
	SyncStepDown             // Machine.StepDown
)

// SyncState is the decision logic of one sync group, without I/O or clock: SyncGroup runs it
// for engines, tests for Machines.
type SyncState struct {
	holdoff time.Time // no takeover before this (the tie-break)
}

// Decide returns a command per member (nil views are members not heard from yet, left out)
// and, when a takeover waits for the tie-break, when to decide again.
func (s *SyncState) Decide(now time.Time, views []*MemberView) (cmds []SyncCommand, again time.Time) {
	cmds = make([]SyncCommand, len(views))
	var blocker *MemberView
	wants := false
	for _, v := range views {
		switch {
		case v == nil:
		case !v.ready():
			if blocker == nil || v.State == StateBackup {
				blocker = v
			}
		case v.Wants:
			wants = true
		}
	}
	if blocker != nil {
		down := false
		for i, v := range views {
			if v != nil && v.State == StateMaster {
				cmds[i], down = SyncStepDown, true
			}
		}
		if down && blocker.State == StateBackup && !blocker.Wants && blocker.Master.IsValid() &&
			blocker.Master.Compare(blocker.Self) > 0 {
			// We gave way to a master that would win a tie against us: let it take the
			// whole group first.
			s.holdoff = now.Add(blocker.MasterDown)
		}
		return cmds, time.Time{}
	}
	if !wants {
		return cmds, time.Time{}
	}
	if now.Before(s.holdoff) {
		return cmds, s.holdoff
	}
	for i, v := range views {
		if v != nil && v.Wants {
			cmds[i] = SyncTakeOver
		}
	}
	return cmds, time.Time{}
}

// SyncGroup couples the engines of one sync group (see SyncState). Its methods are safe for
// concurrent use.
type SyncGroup struct {
	name string
	log  *slog.Logger

	mu      sync.Mutex
	members map[*Engine]*MemberView
	st      SyncState
	timer   *time.Timer
	closed  bool
}

// NewSyncGroup returns an empty group.
func NewSyncGroup(name string, log *slog.Logger) *SyncGroup {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SyncGroup{name: name, log: log.With("sync_group", name), members: map[*Engine]*MemberView{}}
}

// Name returns the group's name.
func (g *SyncGroup) Name() string { return g.name }

// Join adds e to the group; it counts once it has reported its state (at once).
func (g *SyncGroup) Join(e *Engine) {
	g.mu.Lock()
	g.members[e] = nil
	g.mu.Unlock()
	e.setGroup(g)
}

// Leave removes e from the group (before it is closed or moved to another group); the others
// go on without it.
func (g *SyncGroup) Leave(e *Engine) {
	e.setGroup(nil)
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.members, e)
	g.evaluateLocked()
}

// Remove takes e out of the group before it is closed: the others go on without it, and e
// stays gated, so that a member that waited for the group does not take over on its way out.
func (g *SyncGroup) Remove(e *Engine) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.members, e)
	g.evaluateLocked()
}

// Len returns the number of members.
func (g *SyncGroup) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.members)
}

// Close stops the group's timer; its members must have left.
func (g *SyncGroup) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	if g.timer != nil {
		g.timer.Stop()
	}
}

// report is a member's new state, from its engine's goroutine.
func (g *SyncGroup) report(e *Engine, v MemberView) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.members[e]; !ok {
		return // left meanwhile
	}
	g.members[e] = &v
	g.evaluateLocked()
}

func (g *SyncGroup) evaluateLocked() {
	if g.closed {
		return
	}
	engines := make([]*Engine, 0, len(g.members))
	for e := range g.members {
		engines = append(engines, e)
	}
	slices.SortFunc(engines, func(a, b *Engine) int { return cmp.Compare(a.id, b.id) })
	views := make([]*MemberView, len(engines))
	for i, e := range engines {
		views[i] = g.members[e]
	}
	cmds, again := g.st.Decide(time.Now(), views)
	for i, c := range cmds {
		if c != SyncNone {
			g.log.Info("vrrp sync group", "vrid", engines[i].vrid, "family", engines[i].fam, "command", map[SyncCommand]string{SyncTakeOver: "take over", SyncStepDown: "step down"}[c])
			engines[i].syncCommand(c)
		}
	}
	if !again.IsZero() {
		if g.timer != nil {
			g.timer.Stop()
		}
		g.timer = time.AfterFunc(time.Until(again), func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.evaluateLocked()
		})
	}
}
