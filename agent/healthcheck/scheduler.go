package healthcheck

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/guard"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// slack lets the scheduler start attempts due within it in one wake-up: with thousands of
// checks, waking for each one costs more than starting some a millisecond early.
const slack = time.Millisecond

// schedule starts attempts as they fall due, until Stop. It never waits for a check: each
// attempt runs on a worker goroutine of its own, which takes an in-flight slot first.
func (m *Manager) schedule() {
	defer m.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		m.mu.Lock()
		now := time.Now()
		for len(m.queue) > 0 && !m.queue[0].due.After(now.Add(slack)) {
			t := heap.Pop(&m.queue).(*target)
			t.begin()
			m.dispatchLocked(t)
		}
		wait := time.Hour
		if len(m.queue) > 0 {
			wait = m.queue[0].due.Sub(now)
		}
		m.nextWake = now.Add(wait)
		m.mu.Unlock()

		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-m.wake:
		case <-m.ctx.Done():
			return
		}
	}
}

// workerIdle is how long a worker goroutine waits for another attempt before it exits.
const workerIdle = 5 * time.Second

// dispatchLocked hands t to an idle worker, or starts one. Workers outlive their attempt for a
// while: a fresh goroutine per attempt would grow its stack again every time, which costs
// more CPU at thousands of checks a second than the attempt's own work outside the kernel.
func (m *Manager) dispatchLocked(t *target) {
	select {
	case m.work <- t:
	default:
		m.wg.Add(1)
		go m.worker(t)
	}
}

// worker runs attempts until none comes for workerIdle or the Manager stops.
func (m *Manager) worker(t *target) {
	defer m.wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		m.attempt(t)
		idle.Reset(workerIdle)
		select {
		case t = <-m.work:
		case <-idle.C:
			return
		case <-m.ctx.Done():
			return
		}
	}
}

// attempt runs one attempt of t's check and records it.
func (m *Manager) attempt(t *target) {
	select {
	case m.slots <- struct{}{}:
	case <-m.ctx.Done():
		return
	}
	release := func() { <-m.slots }
	if t.spec.hc.Type == "exec" {
		select {
		case m.procs <- struct{}{}:
			release = func() { <-m.procs; <-m.slots }
		case <-m.ctx.Done():
			<-m.slots
			return
		}
	}
	p := t.spec.p
	ctx, cancel := context.WithTimeout(m.ctx, p.timeout)
	began := time.Now()
	weight, err, panicked := m.runCheck(ctx, t)
	if panicked {
		cancel()
		release()
		m.restartChecker(t)
		return
	}
	took := time.Since(began)
	if m.observe != nil {
		m.observe(took)
	}
	// Checkers return the context's error when it ended; any other error says more.
	timedOut := errors.Is(err, context.DeadlineExceeded)
	cancel()
	release()
	if m.ctx.Err() != nil {
		return // stopping: an interrupted check says nothing about the server
	}
	m.checks.Add(1)
	if m.onResult != nil {
		m.onResult(t.id.vs, t.id.rs, t.spec.hc.Type, took, err)
	}

	reason := ""
	switch {
	case timedOut && t.spec.hc.Type == "exec":
		reason = fmt.Sprintf("exec: timeout after %v (process group killed)", p.timeout)
	case timedOut:
		reason = fmt.Sprintf("%s: timeout after %v", t.spec.hc.Type, p.timeout)
	case err != nil:
		reason = err.Error()
	}

	m.mu.Lock()
	if !t.live {
		m.mu.Unlock()
		return
	}
	changed := t.finish(time.Now(), reason)
	reweighed := reason == "" && weight != t.weight
	if reason == "" {
		t.weight = weight
	}
	m.queue.push(t)
	m.wakeLocked()
	var state agentapi.HealthState
	var why string
	if changed {
		state, why = t.v.state(p)
		m.notifyLocked(t, state, why)
	}
	m.mu.Unlock()

	if changed {
		m.log.Info("real server health changed", "vs", t.id.vs, "rs", t.id.rs, "health", state, "reason", why)
		m.notify()
		m.persist()
	} else if reweighed {
		m.log.Info("real server weight set by its check", "vs", t.id.vs, "rs", t.id.rs, "weight", weight)
		m.notify()
	}
}

// runCheck runs one attempt of t's check; a panic in the checker is recovered (and logged with
// its stack) instead of taking the agent down.
// The weight is what a weighter's pass set (-1: the configured weight).
func (m *Manager) runCheck(ctx context.Context, t *target) (weight int, err error, panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			_ = guard.Recovered(m.log.With("vs", t.id.vs, "rs", t.id.rs), guard.PartHealthcheck, v)
			panicked = true
		}
	}()
	guard.Inject(guard.PartHealthcheck)
	if w, ok := t.check.(weighter); ok {
		weight, err = w.CheckWeight(ctx)
		return weight, err, false
	}
	return -1, t.check.Check(ctx), false
}

// restartChecker replaces the checker of t after it panicked, keeping the verdict: a panic says
// nothing about the real server. The next attempt is due an interval later.
func (m *Manager) restartChecker(t *target) {
	c, err := m.newChecker(t.spec)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !t.live || m.ctx.Err() != nil {
		return
	}
	if err == nil {
		t.check = c
	}
	t.v.attempt = 0
	t.due = time.Now().Add(t.spec.p.interval)
	m.queue.push(t)
	m.wakeLocked()
}

// dueHeap orders targets by due time; each knows its index so that it can be removed.
type dueHeap []*target

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}

func (h *dueHeap) Push(x any) {
	t := x.(*target)
	t.idx = len(*h)
	*h = append(*h, t)
}

func (h *dueHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.idx = -1
	*h = old[:len(old)-1]
	return t
}

func (h *dueHeap) push(t *target)   { heap.Push(h, t) }
func (h *dueHeap) remove(t *target) { heap.Remove(h, t.idx) }
