package vrrp

import (
	"slices"
	"time"
)

// The engine's side of a sync group (syncgroup.go): it reports its Machine's view to the group
// after every event and carries out the group's commands in its own goroutine.

// setGroup makes the engine a member of g (nil: of none); the loop gates its Machine and
// reports to g.
func (e *Engine) setGroup(g *SyncGroup) {
	e.group.Store(g)
	e.poke()
}

// syncCommand queues a command of the group; the latest wins.
func (e *Engine) syncCommand(c SyncCommand) {
	e.mu.Lock()
	e.synccmd = c
	e.mu.Unlock()
	e.poke()
}

func (e *Engine) poke() {
	select {
	case e.syncc <- struct{}{}:
	default:
	}
}

// SyncGroupName returns the name of the engine's sync group, or "".
func (e *Engine) SyncGroupName() string {
	if g := e.group.Load(); g != nil {
		return g.Name()
	}
	return ""
}

// syncReport gates the Machine as its membership says and reports a changed view to the group.
func (e *Engine) syncReport() {
	g := e.group.Load()
	e.m.SetGated(e.now(), g != nil)
	if g == nil {
		e.syncGroup = nil
		return
	}
	v := e.m.View()
	if g == e.syncGroup && v == e.syncView {
		return
	}
	e.syncGroup, e.syncView = g, v
	g.report(e, v)
}

// syncDo carries out the pending command of the group, if the Machine is still in the state
// it was given for.
func (e *Engine) syncDo() {
	e.mu.Lock()
	c := e.synccmd
	e.synccmd = SyncNone
	e.mu.Unlock()
	g := e.group.Load()
	if g == nil {
		return
	}
	switch c {
	case SyncTakeOver:
		if !e.m.Wants() {
			return
		}
		fired := time.Now()
		prev := e.takeoverCause()
		e.cause = "sync group " + g.Name() + ": every member takes over (" + e.cause + ")"
		e.takeover(e.m.TakeOver(e.now()), prev, fired, "sync_group", g.Name())
	case SyncStepDown:
		if e.m.State() != StateMaster {
			return
		}
		e.cause = "sync group " + g.Name() + ": another member left MASTER"
		acts := e.m.StepDown(e.now())
		// Keep serving while the peer takes over and the clients move, as when giving way.
		acts = slices.DeleteFunc(acts, func(a Action) bool { _, ok := a.(RemoveVIPs); return ok })
		e.holdForClients()
		e.execute(acts, true)
	}
}
