package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/guard"
	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Config holds what a Manager needs.
type Config struct {
	Logger *slog.Logger // nil = discard
	// OnChange is called whenever a real server's up/down verdict changes; may be nil. It runs
	// on a goroutine of its own, never under a lock, and calls that come while it runs are
	// folded into one more call, so a slow OnChange never holds the checks up.
	OnChange func()
	// MaxInFlight bounds the checks running at once (each holds a socket or a process);
	// 0 = half the open-file limit, which New raises to the hard limit.
	MaxInFlight int
	// StatePath, if set, is the file that keeps the down verdicts across restarts (persist.go).
	StatePath string
	// OnResult, if set, is told of every finished attempt (for metrics): the virtual and real
	// server's state keys, the check type, how long it took and its error (nil: passed; a
	// context.DeadlineExceeded: timed out). It runs on the check's goroutine: it must be quick.
	OnResult func(vs, rs, checkType string, took time.Duration, err error)
	// OnNotify, if set, is told of every notify command's outcome (for metrics): the virtual and
	// real server's state keys, the verdict it was for (up, down) and a Notify* result. It may
	// be called with the Manager's locks held: it must be quick and must not call the Manager.
	OnNotify func(vs, rs, state, result string)
	// NotifyTimeout bounds each notify command; 0 = DefaultNotifyTimeout.
	NotifyTimeout time.Duration
}

// Bounds of the default in-flight limit.
const (
	minInFlight = 64
	maxInFlight = 65536
	maxProcs    = 256 // exec checks at once: each is a process and a pipe
)

// rsID names one real server of one virtual server, by their state keys.
type rsID struct{ vs, rs string }

// target is the check of one real server.
type target struct {
	id     rsID
	spec   *spec
	fp     string
	check  Checker // nil when the check could not be built (v says why)
	remove bool    // on_failure = remove (the real server's, else the virtual server's)
	// The notify commands; like remove, they change without restarting the check.
	notifyUp, notifyDown string

	// Guarded by Manager.mu.
	v          verdict
	weight     int       // set by the last passed attempt of a dynamic check; -1: the configured one
	due        time.Time // next attempt
	checkStart time.Time // due time of the first attempt of the check under way
	idx        int       // in Manager.queue; -1 while an attempt runs or once stopped
	live       bool      // false once replaced or removed: results of its attempts are dropped
}

// begin is called as an attempt starts.
func (t *target) begin() {
	if t.v.attempt == 0 {
		t.checkStart = t.due
	}
}

// finish records the outcome of an attempt at now (reason empty = passed) and sets when the
// next one is due: after retry_delay for a retry, an interval after the check began otherwise.
func (t *target) finish(now time.Time, reason string) (changed bool) {
	done, changed := t.v.record(reason, t.spec.p)
	if !done {
		t.due = now.Add(t.spec.p.retryDelay)
		return changed
	}
	t.due = t.checkStart.Add(t.spec.p.interval)
	if t.due.Before(now) {
		// The check outlasted its interval (a timeout longer than the interval, or retries):
		// the next one comes an interval after this one ended, as keepalived schedules
		// delay_loop after a check, so that a dead server is not probed back to back.
		t.due = now.Add(t.spec.p.interval)
	}
	return changed
}

// Manager runs the health checks of every real server and answers what they decided.
type Manager struct {
	log        *slog.Logger
	onChange   func()
	newChecker func(*spec) (Checker, error)
	slots      chan struct{} // one per running check: bounds sockets and processes
	procs      chan struct{} // one per running exec check

	ctx     context.Context // ends at Stop
	cancel  context.CancelFunc
	work    chan *target  // attempts for idle workers (unbuffered: a send finds one or none)
	wake    chan struct{} // the queue has an earlier due time
	changed chan struct{} // a verdict changed: OnChange is due
	wg      sync.WaitGroup
	applyMu sync.Mutex // serialises Apply

	checks   atomic.Uint64            // finished attempts, for benchmarks
	observe  func(took time.Duration) // if set (benchmarks), told how long each attempt took
	onResult func(vs, rs, checkType string, took time.Duration, err error)

	mu       sync.Mutex // guards the following fields and those of targets marked so
	targets  map[rsID]*target
	queue    dueHeap
	nextWake time.Time // when the scheduler wakes next
	started  bool
	stopped  bool

	// Notify commands (notify.go): the queues of the real servers that have some waiting or
	// running, and the outcomes so far, guarded by nmu (taken after mu when both are).
	nmu           sync.Mutex
	notifies      map[rsID]*notifyQueue
	notifyCounts  NotifyCounts
	notifyTimeout time.Duration
	onNotify      func(vs, rs, state, result string)

	statePath string
	persistc  chan struct{}
	// restored holds the verdicts saved by an earlier run, until the first Apply uses them.
	restored map[rsID]string
}

// New returns a Manager with no checks; Apply starts them.
func New(cfg Config) *Manager {
	return newManager(cfg, newChecker)
}

func newManager(cfg Config, build func(*spec) (Checker, error)) *Manager {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n := cfg.MaxInFlight
	if n <= 0 {
		n = 1024
		if lim := openFileLimit(); lim > 0 {
			n = int(min(max(lim/2, minInFlight), maxInFlight))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		log:        log.With("part", "healthcheck"),
		onChange:   cfg.OnChange,
		onResult:   cfg.OnResult,
		newChecker: build,
		slots:      make(chan struct{}, n),
		procs:      make(chan struct{}, max(1, min(n/4, maxProcs))),
		ctx:        ctx,
		cancel:     cancel,
		work:       make(chan *target),
		wake:       make(chan struct{}, 1),
		changed:    make(chan struct{}, 1),
		targets:    map[rsID]*target{},
		statePath:  cfg.StatePath,
		persistc:   make(chan struct{}, 1),

		notifies:      map[rsID]*notifyQueue{},
		notifyTimeout: cfg.NotifyTimeout,
		onNotify:      cfg.OnNotify,
	}
	if m.notifyTimeout <= 0 {
		m.notifyTimeout = DefaultNotifyTimeout
	}
	if m.statePath != "" {
		m.restored = m.loadVerdicts()
		m.wg.Add(1)
		go m.saver()
	}
	return m
}

// wanted is a checked real server of the desired state.
type wanted struct {
	spec                 *spec
	fp                   string
	startDown            bool
	remove               bool
	notifyUp, notifyDown string
	err                  error // the check cannot be built
}

// Apply starts, restarts and stops checks to match st. It never waits for a check: a new real
// server is up at once, or down with start_down; a real server whose check changed keeps its
// verdict while the new check starts over.
func (m *Manager) Apply(_ context.Context, st *agentapi.State, _ reconcile.Trigger) error {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()

	want := map[rsID]*wanted{}
	present := map[rsID]bool{} // every real server of st, checked or not
	var errs []error
	if st != nil {
		for vsKey, vs := range st.VirtualServers {
			if vs == nil {
				continue
			}
			for rsKey, rs := range vs.RealServers {
				if rs == nil {
					continue
				}
				present[rsID{vsKey, rsKey}] = true
				hc := effectiveCheck(vs, rs)
				if hc == nil {
					continue
				}
				w := &wanted{startDown: hc.StartDown, remove: vs.EffectiveOnFailure(rs) == "remove",
					notifyUp: rs.NotifyUp, notifyDown: rs.NotifyDown}
				w.spec, w.err = newSpec(vsKey, rsKey, vs, rs, hc)
				if w.err == nil {
					w.fp = w.spec.fingerprint()
				} else {
					w.spec = &spec{vsKey: vsKey, rsKey: rsKey, vs: vs, rs: rs, hc: hc, p: paramsOf(hc)}
				}
				want[rsID{vsKey, rsKey}] = w
			}
		}
	}

	// Build the checkers that are new or changed without holding the lock the checks need.
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return errors.New("healthcheck: apply after stop")
	}
	build := map[rsID]*wanted{}
	for id, w := range want {
		if old := m.targets[id]; old == nil || old.check == nil || w.err != nil || old.fp != w.fp {
			build[id] = w
		}
	}
	m.mu.Unlock()
	checkers := map[rsID]Checker{}
	for id, w := range build {
		if w.err == nil {
			checkers[id], w.err = m.newChecker(w.spec)
		}
		if w.err != nil {
			errs = append(errs, fmt.Errorf("health check of real server %s of %s: %w", id.rs, id.vs, w.err))
		}
	}

	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, old := range m.targets {
		if _, ok := want[id]; !ok {
			m.dropLocked(old)
			delete(m.targets, id)
			// An up real server that leaves the configuration leaves the table: keepalived runs
			// its notify_down then too. One that only lost its check stays in, and is not told.
			if !present[id] && old.check != nil && old.v.up {
				m.notifyLocked(old, StateDown, ReasonRemoved)
			}
		}
	}
	for id, w := range want {
		old := m.targets[id]
		if _, rebuild := build[id]; !rebuild {
			old.remove, old.notifyUp, old.notifyDown = w.remove, w.notifyUp, w.notifyDown
			continue
		}
		t := &target{id: id, spec: w.spec, fp: w.fp, check: checkers[id], remove: w.remove, idx: -1, live: true, weight: -1,
			notifyUp: w.notifyUp, notifyDown: w.notifyDown}
		switch {
		case old != nil && old.check != nil:
			t.v = old.v.restarted()
			if e := w.spec.hc.Exec; e != nil && e.DynamicWeight {
				t.weight = old.weight // still dynamic: keep the weight until the next pass says
			}
		default:
			t.v = newVerdict(w.startDown)
			if why, ok := m.restored[id]; ok {
				t.v = verdict{reason: "down before the agent restarted, until its checks pass: " + why}
			}
		}
		if old != nil {
			m.dropLocked(old)
		}
		m.targets[id] = t
		if t.check == nil {
			t.v = verdict{reason: fmt.Sprintf("health check not run: %v", w.err)}
			continue
		}
		// A random start within the interval, so that checks do not fire in lock-step.
		t.due = now.Add(rand.N(t.spec.p.interval))
		m.queue.push(t)
	}
	if !m.started && len(m.queue) > 0 {
		m.started = true
		m.wg.Add(2)
		go m.schedule()
		go m.notifier()
	}
	m.wakeLocked()
	// An earlier run's verdicts count for the first Apply only: the real servers it does not
	// know are gone for good.
	m.restored = nil
	m.persist()
	return errors.Join(errs...)
}

// dropLocked stops the checks of t; an attempt under way finishes unheard.
func (m *Manager) dropLocked(t *target) {
	t.live = false
	if t.idx >= 0 {
		m.queue.remove(t)
	}
}

// wakeLocked makes the scheduler look at the queue again if its head is due before it wakes.
func (m *Manager) wakeLocked() {
	if len(m.queue) > 0 && m.queue[0].due.Before(m.nextWake) {
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}

// Stop stops every check and waits for those under way (exec checks are killed). Notify
// commands already queued (the notify_down of real servers just removed, as when the pair is
// uninstalled) get up to notifyGrace to run first; what is left then is killed.
func (m *Manager) Stop(ctx context.Context) error {
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	m.drainNotifies(ctx)
	m.cancel()
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("healthcheck: checks still running at stop: %w", ctx.Err())
	}
	if m.statePath != "" && m.restored == nil {
		// The last word, in case the saver had not written a change yet.
		m.mu.Lock()
		down := m.downLocked()
		m.mu.Unlock()
		return m.saveVerdicts(down)
	}
	return nil
}

// Weight implements ipvs.HealthView: the configured weight while the real server is up or
// not checked; when it is down, 0 (on_failure quiesce) or out of the table (remove). An exec
// check with dynamic_weight sets the weight of an up server by its exit status, except that a
// drained one (configured weight 0) stays at 0.
func (m *Manager) Weight(vsKey, rsKey string, configured int) (int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.targets[rsID{vsKey, rsKey}]
	switch {
	case t == nil:
		return configured, true
	case t.v.up && t.weight >= 0 && configured > 0:
		return t.weight, true
	case t.v.up:
		return configured, true
	case t.remove:
		return 0, false
	}
	return 0, true
}

// Health implements ipvs.HealthStatuser: up, down or unchecked, and why.
func (m *Manager) Health(vsKey, rsKey string) (state agentapi.HealthState, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.targets[rsID{vsKey, rsKey}]
	if t == nil {
		return StateUnchecked, ""
	}
	state, reason = t.v.state(t.spec.p)
	if state == StateUp && t.weight >= 0 {
		w := fmt.Sprintf("weight %d set by the check (exit status %d)", t.weight, t.weight+2)
		if reason == "" {
			return state, w
		}
		return state, reason + "; " + w
	}
	return state, reason
}

// HealthPending implements ipvs.HealthPender: the real server has a check, and no run of it
// has finished since the agent started.
func (m *Manager) HealthPending(vsKey, rsKey string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.targets[rsID{vsKey, rsKey}]
	return t != nil && t.check != nil && t.v.checks == 0
}

// Report implements reconcile.StatusReporter. The IPVS report already carries each destination's
// health and reason (through Health), so there is nothing to add.
func (m *Manager) Report(*agentapi.Status) {}

// notify asks for an OnChange call; calls asked for while one runs fold into one.
func (m *Manager) notify() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

func (m *Manager) notifier() {
	defer m.wg.Done()
	for {
		select {
		case <-m.changed:
			if m.onChange != nil {
				m.onChange()
			}
		case <-m.ctx.Done():
			return
		}
	}
}

// PartName names the part for the status (reconcile.Named).
func (m *Manager) PartName() string { return guard.PartHealthcheck }
