package ipvs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/guard"
	"github.com/lvs-provider/terraform-provider-lvs/agent/netconf"
	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Config configures a Reconciler.
type Config struct {
	Logger *slog.Logger
	// Health overrides configured weights; nil means every real server is healthy.
	Health HealthView
	// StateDir is where the reconciler records what it owns (ipvs-owned.json) and the sysctl
	// values it replaced (ipvs-sysctls.json); empty keeps them in memory only.
	StateDir string
	// Kernel is the IPVS table; nil opens the agent's own on first need.
	Kernel Kernel
	// Sysctls reads and writes sysctls; nil means /proc/sys of the agent's namespace.
	Sysctls netconf.SysctlIO
}

// recentRepairs bounds the repair descriptions kept for the status.
const recentRepairs = 20

// Reconciler keeps the kernel's IPVS table, sync daemons, timeouts and director sysctls as a
// desired state asks. It implements reconcile.Reconciler and reconcile.StatusReporter.
type Reconciler struct {
	log    *slog.Logger
	health HealthView
	keeper *netconf.SysctlKeeper
	sys    netconf.SysctlIO
	ledger string

	mu      sync.Mutex // serialises Apply; guards the following
	loaded  bool
	led     owned
	applied map[ServiceKey]*Service // what the last Apply programmed, per service
	// trusted: the last pass programmed everything it meant to, so applied is what the kernel
	// holds unless someone else changed it since; a change may then be planned from applied.
	trusted bool
	// verified is when the table was last read back, and readTook how long that took: see
	// verifyDue for when a resync reads it back again.
	verified    time.Time
	readTook    time.Duration
	verifyShare int // verifyShare, or 0 in tests that want every resync to read back
	// programmedDests counts the destinations the last pass programmed; up to verifyAlways
	// (the constant, changed by tests) every resync reads the table back.
	programmedDests int
	verifyAlways    int
	now             func() time.Time
	// quiet is the state the last successful pass applied and the health generation it saw.
	quiet struct {
		st        *agentapi.State
		healthGen uint64
	}
	healthGen atomic.Uint64 // counts HealthChanged calls
	quorumUp  map[string]bool
	daemons   []Daemon  // what the last Apply started
	timeouts  *Timeouts // what the last Apply set
	loadTried bool

	kmu    sync.Mutex // guards kernel (also read by reports)
	kernel Kernel

	rmu      sync.Mutex // guards the report state below
	desired  []*desiredService
	svcErrs  map[string]string
	repairs  uint64
	recent   []string
	lastErr  string
	lastPair *agentapi.Pair
	lastRun  *agentapi.IPVSReconcile

	last     *agentapi.State // what the last Apply was given; guarded by mu
	kick     chan struct{}   // HealthChanged → the re-apply loop; holds at most one request
	done     chan struct{}   // closed by Close: stops the re-apply loop
	loopDone chan struct{}   // closed by the re-apply loop when it returns
	lmu      sync.Mutex      // guards looping and closed
	looping  bool            // the re-apply loop was started
	closed   bool            // Close was called: no loop starts any more
}

// owned is what the reconciler has programmed, recorded across restarts.
type owned struct {
	Services []string `json:"services,omitempty"` // service keys
	Daemons  bool     `json:"daemons,omitempty"`  // it started the sync daemons
	Timeouts bool     `json:"timeouts,omitempty"` // it set the timeouts
}

// New returns a Reconciler.
func New(cfg Config) *Reconciler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Health == nil {
		cfg.Health = AllHealthy{}
	}
	if cfg.Sysctls == nil {
		cfg.Sysctls = netconf.ProcSys{}
	}
	r := &Reconciler{
		log:      cfg.Logger.With("part", "ipvs"),
		health:   cfg.Health,
		sys:      cfg.Sysctls,
		kernel:   cfg.Kernel,
		applied:  map[ServiceKey]*Service{},
		quorumUp: map[string]bool{},
		svcErrs:  map[string]string{},
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		loopDone: make(chan struct{}),

		verifyShare:  verifyShare,
		verifyAlways: verifyAlways,
		now:          time.Now,
	}
	sysPath := ""
	if cfg.StateDir != "" {
		r.ledger = filepath.Join(cfg.StateDir, "ipvs-owned.json")
		sysPath = filepath.Join(cfg.StateDir, "ipvs-sysctls.json")
	}
	r.keeper = netconf.NewSysctlKeeper(cfg.Sysctls, sysPath)
	return r
}

// Close stops the health re-apply loop, waits for a re-apply under way to end, and releases the
// kernel handle.
func (r *Reconciler) Close() error {
	r.lmu.Lock()
	first, looping := !r.closed, r.looping
	r.closed = true
	r.lmu.Unlock()
	if first {
		close(r.done)
	}
	if looping {
		<-r.loopDone
	}
	r.kmu.Lock()
	defer r.kmu.Unlock()
	if r.kernel == nil {
		return nil
	}
	err := r.kernel.Close()
	r.kernel = nil
	return err
}

// Repairs returns how many differences the reconciler found and repaired that it had not
// caused itself.
func (r *Reconciler) Repairs() uint64 {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return r.repairs
}

// Apply makes the kernel match st. It is idempotent: with the table already right it only
// reads it.
func (r *Reconciler) Apply(ctx context.Context, st *agentapi.State, why reconcile.Trigger) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = st
	return r.apply(ctx, st, why)
}

// HealthChanged re-programs the table from the last applied state because a health verdict
// changed. It never blocks: verdicts that change while a re-apply runs are folded into the next
// one, so a burst of changes costs at most two passes.
func (r *Reconciler) HealthChanged() {
	r.healthGen.Add(1)
	r.lmu.Lock()
	if !r.looping && !r.closed {
		r.looping = true
		go r.reapplyLoop()
	}
	r.lmu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Reconciler) reapplyLoop() {
	defer close(r.loopDone)
	for {
		select {
		case <-r.done:
			return
		case <-r.kick:
		}
		r.mu.Lock()
		var err error
		if st := r.last; st != nil {
			// A verdict changes only what this reconciler programs: plan from what it last
			// programmed, as for a committed change.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err = guard.Call(r.log, guard.PartIPVS, func() error { return r.apply(ctx, st, reconcile.Change) })
			cancel()
		}
		r.mu.Unlock()
		if err != nil {
			r.log.Warn("re-applying IPVS after a health change", "err", err)
		}
	}
}

// apply does Apply's work; r.mu is held.
func (r *Reconciler) apply(ctx context.Context, st *agentapi.State, why reconcile.Trigger) error {
	if !r.loaded {
		if err := netconf.LoadLedger(r.ledger, &r.led); err != nil {
			return err
		}
		r.loaded = true
	}
	// A resync of the state last applied, with no health verdict changed since and no read-back
	// due, has nothing to do: skipping it is most of what keeps an idle director idle (rebuilding
	// and diffing 10,000 destinations every 5 s cost 0.4% of a CPU in the lab).
	gen := r.healthGen.Load()
	if st != nil && st == r.quiet.st && gen == r.quiet.healthGen && r.trusted && !r.verifyDue(r.now()) {
		return nil
	}
	r.quiet.st = nil
	var pair *agentapi.Pair
	if st != nil {
		pair = st.Pair
	}
	desired := buildDesired(st, r.health, r.quorumUp)
	var errs []error
	for _, d := range desired {
		if d.err != nil {
			errs = append(errs, d.err)
		}
	}
	needKernel := len(desired) > 0 || len(r.led.Services) > 0 || r.led.Daemons || r.led.Timeouts ||
		(pair != nil && (pair.SyncConnections || pair.IPVSTimeouts != nil))
	svcErrs := map[string]string{}
	if needKernel {
		k, err := r.kernelFor(ctx)
		if err != nil {
			errs = append(errs, err)
		} else {
			errs = append(errs, r.applyServices(k, desired, svcErrs, why == reconcile.Change)...)
			errs = append(errs, r.applyDaemons(k, pair), r.applyTimeouts(k, pair))
		}
	}
	errs = append(errs, r.applySysctls(pair, desired))
	err := errors.Join(errs...)

	if err == nil {
		r.quiet.st, r.quiet.healthGen = st, gen
	}
	r.rmu.Lock()
	r.desired = desired
	r.svcErrs = svcErrs
	r.lastPair = pair
	r.lastErr = ""
	if err != nil {
		r.lastErr = err.Error()
	}
	r.rmu.Unlock()
	return err
}

// kernelFor returns the kernel handle, opening it (and loading ip_vs, once) if needed.
func (r *Reconciler) kernelFor(ctx context.Context) (Kernel, error) {
	r.kmu.Lock()
	defer r.kmu.Unlock()
	if r.kernel != nil {
		return r.kernel, nil
	}
	k, err := Open(ctx, !r.loadTried)
	r.loadTried = true
	if err != nil {
		return nil, err
	}
	r.kernel = k
	return k, nil
}

// dropKernel closes a handle that failed, so that the next Apply opens a fresh one.
func (r *Reconciler) dropKernel(k Kernel) {
	r.kmu.Lock()
	defer r.kmu.Unlock()
	if r.kernel == k {
		_ = k.Close()
		r.kernel = nil
	}
}

func (r *Reconciler) saveLedger() error {
	if len(r.led.Services) == 0 && !r.led.Daemons && !r.led.Timeouts {
		return netconf.RemoveLedger(r.ledger)
	}
	return netconf.SaveLedger(r.ledger, &r.led)
}

func (r *Reconciler) repaired(what string, args ...any) {
	r.log.Warn("IPVS drift repaired: "+what, args...)
	r.rmu.Lock()
	r.repairs++
	r.recent = append(r.recent, time.Now().UTC().Format(time.RFC3339)+" "+fmt.Sprintf("%s %v", what, args))
	if len(r.recent) > recentRepairs {
		r.recent = r.recent[len(r.recent)-recentRepairs:]
	}
	r.rmu.Unlock()
}

// applyServices makes the kernel's table hold the desired services. With change set (a committed
// change or a health verdict, not the start or a resync) and a trusted last pass, it plans from
// what that pass programmed instead of reading the whole table back: creating n real servers one
// by one then costs n small changes, not n dumps of a growing table. If the kernel refuses one of
// those changes, the table is read back and planned again at once.
func (r *Reconciler) applyServices(k Kernel, desired []*desiredService, svcErrs map[string]string, change bool) []error {
	start := r.now()
	ownedKeys := map[ServiceKey]bool{}
	ownedNames := map[ServiceKey]string{}
	for _, name := range r.led.Services {
		vs, err := agentapi.ParseVirtualServerKey(name)
		if err != nil {
			continue
		}
		if key, err := serviceKeyOf(vs); err == nil {
			ownedKeys[key] = true
			ownedNames[key] = name
		}
	}
	have, fromLast := r.programmed(ownedKeys)
	if fromLast && !change && r.verifyDue(start) {
		fromLast = false
	}
	var readTook time.Duration
	if !fromLast {
		var err error
		if have, err = k.Services(); err != nil {
			r.trusted = false
			r.dropKernel(k)
			return []error{err}
		}
		readTook = r.now().Sub(start)
		r.verified, r.readTook = start, readTook
	}
	kernelByKey := make(map[ServiceKey]*Service, len(have))
	for _, s := range have {
		kernelByKey[s.ServiceKey] = s
	}
	var want []*Service
	for _, d := range desired {
		if d.svc != nil {
			want = append(want, d.svc)
		}
	}
	ops, diffs := Plan(have, want, ownedKeys)
	for _, d := range diffs {
		if r.isDrift(d, kernelByKey) {
			args := []any{"service", d.Service.String()}
			if d.Dest.IsValid() {
				args = append(args, "destination", d.Dest.String())
			}
			r.repaired(d.What, args...)
		} else {
			args := []any{"service", d.Service.String()}
			if d.Dest.IsValid() {
				args = append(args, "destination", d.Dest.String())
			}
			r.log.Info("IPVS change: "+d.What, args...)
		}
	}
	var errs []error
	failed := map[ServiceKey]bool{}
	if len(ops) > 0 {
		for i, err := range k.Exec(ops) {
			if err != nil {
				errs = append(errs, err)
				failed[ops[i].Service.ServiceKey] = true
				key := ops[i].Service.String()
				if _, seen := svcErrs[key]; !seen {
					svcErrs[key] = err.Error()
				}
			}
		}
	}
	if fromLast && len(errs) > 0 {
		// The kernel is not what the last pass left (someone changed it): compare with it.
		r.log.Info("IPVS table differs from what was last programmed; reading it back", "failed", len(errs), "first", errs[0])
		r.trusted = false
		clear(svcErrs)
		return r.applyServices(k, desired, svcErrs, false)
	}
	r.trusted = len(errs) == 0
	run := &agentapi.IPVSReconcile{At: start.UTC().Format(time.RFC3339Nano), TookMS: float64(time.Since(start).Microseconds()) / 1000,
		Services: len(want), Changes: len(ops), Failed: len(errs), Verified: !fromLast}
	if !fromLast {
		run.ReadMS = float64(readTook.Microseconds()) / 1000
	}
	for _, s := range want {
		run.Destinations += len(s.Dests)
	}
	r.programmedDests = run.Destinations
	if len(ops) > 0 {
		r.log.Info("IPVS changes applied", "changes", len(ops), "failed", len(errs), "took", time.Since(start))
	}
	r.rmu.Lock()
	r.lastRun = run
	r.rmu.Unlock()
	// The record of what was programmed: a service with a failed op is forgotten, so that its
	// next repair is not taken for drift.
	next := map[ServiceKey]*Service{}
	var names []string
	for _, s := range want {
		names = append(names, s.String())
		if !failed[s.ServiceKey] {
			next[s.ServiceKey] = s
		}
	}
	for _, o := range ops {
		if o.Kind == DelService && failed[o.Service.ServiceKey] {
			names = append(names, ownedNames[o.Service.ServiceKey]) // still ours: retry
		}
	}
	r.applied = next
	sort.Strings(names)
	names = slices.Compact(names)
	if !slices.Equal(names, r.led.Services) {
		r.led.Services = names
		if err := r.saveLedger(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Reading the whole table back is what drift repair costs, and with tens of thousands of
// destinations it is not free (160-250 ms for 10,000 in the lab's kernel): done at every 5 s
// resync it alone would take 3% of a CPU on an idle director. A table of up to verifyAlways
// destinations is read back at every resync, so that drift there is repaired within seconds
// however slow a loaded host makes the read; a bigger one only once verifyShare times what the
// last read took has passed, and at least every maxVerifyEvery: a table of 10,000 about every
// minute, and idle CPU stays under 0.5%.
const (
	verifyAlways   = 1000
	verifyShare    = 400 // a read-back may take 1/400 of a CPU: 0.25%
	maxVerifyEvery = time.Minute
)

// verifyDue reports whether a resync at now should read the table back.
func (r *Reconciler) verifyDue(now time.Time) bool {
	if r.programmedDests <= r.verifyAlways {
		return true
	}
	return now.Sub(r.verified) >= min(time.Duration(r.verifyShare)*r.readTook, maxVerifyEvery)
}

// programmed returns the table the last pass left in the kernel, and whether it can be trusted
// to be the kernel's: the pass succeeded and every service this reconciler owns is in it.
func (r *Reconciler) programmed(owned map[ServiceKey]bool) ([]*Service, bool) {
	if !r.trusted {
		return nil, false
	}
	for key := range owned {
		if r.applied[key] == nil {
			return nil, false
		}
	}
	out := make([]*Service, 0, len(r.applied))
	for _, s := range r.applied {
		out = append(out, s)
	}
	return out, true
}

// isDrift tells a difference someone else caused (the kernel no longer has what the last Apply
// programmed) from one the configuration or health caused.
func (r *Reconciler) isDrift(d Diff, kernel map[ServiceKey]*Service) bool {
	a := r.applied[d.Service]
	if a == nil {
		return false
	}
	k := kernel[d.Service]
	if !d.Dest.IsValid() {
		switch {
		case k == nil:
			return true // we made it and it is gone
		case d.Kind == DiffUnwanted:
			return false
		}
		return serviceDiff(k, a) != ""
	}
	var ad, kd *Dest
	for _, x := range a.Dests {
		if x.Key() == d.Dest {
			ad = x
		}
	}
	if k != nil {
		for _, x := range k.Dests {
			if x.Key() == d.Dest {
				kd = x
			}
		}
	}
	switch {
	case ad == nil:
		return kd != nil // someone added it
	case kd == nil:
		return true // we added it and it is gone
	}
	return destDiff(kd, ad) != ""
}

func (r *Reconciler) applyDaemons(k Kernel, pair *agentapi.Pair) error {
	var want []Daemon
	if pair != nil && pair.SyncConnections && pair.Self >= 0 && pair.Self < len(pair.Directors) {
		d := syncDaemon(pair)
		// Both daemons on both directors: each sends the connections it handles and receives
		// its peer's, so whichever holds the VIP, the other is ready to take over. The kernel
		// runs a master and a backup side by side for exactly this.
		m, b := d, d
		m.State, b.State = DaemonMaster, DaemonBackup
		want = []Daemon{m, b}
	}
	if len(want) == 0 && !r.led.Daemons {
		return nil
	}
	have, err := k.Daemons()
	if err != nil {
		return err
	}
	byState := map[uint32]Daemon{}
	for _, d := range have {
		byState[d.State] = d
	}
	var errs []error
	for _, state := range []uint32{DaemonMaster, DaemonBackup} {
		h, has := byState[state]
		var w *Daemon
		for i := range want {
			if want[i].State == state {
				w = &want[i]
			}
		}
		switch {
		case w == nil && has:
			r.log.Info("IPVS sync daemon stopped", "state", daemonStateName(state), "interface", h.Interface)
			if err := k.StopDaemon(state); err != nil {
				errs = append(errs, err)
			}
		case w != nil && (!has || !w.Runs(h)):
			wasOurs := slices.Contains(r.daemons, *w)
			if has {
				if err := k.StopDaemon(state); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			what := w.String()
			if has {
				what += fmt.Sprintf(" (was: %s)", h)
			}
			if wasOurs {
				r.repaired("restarted "+what, "service", "sync daemon")
			} else {
				r.log.Info("IPVS sync daemon started: " + what)
			}
			if err := k.StartDaemon(*w); err != nil {
				errs = append(errs, err)
			}
		}
	}
	r.daemons = want
	if r.led.Daemons != (len(want) > 0) {
		r.led.Daemons = len(want) > 0
		errs = append(errs, r.saveLedger())
	}
	return errors.Join(errs...)
}

// syncDaemon is the sync daemon the pair asks of this director (State unset): the pair's
// sync_daemon settings, with the director's interface and the pair's SyncID by default.
func syncDaemon(pair *agentapi.Pair) Daemon {
	d := Daemon{Interface: pair.Directors[pair.Self].Interface, SyncID: SyncID(pair.Name)}
	if c := pair.SyncDaemon; c != nil {
		if c.Interface != "" {
			d.Interface = c.Interface
		}
		if c.ID != nil {
			d.SyncID = uint32(*c.ID)
		}
		d.Port, d.TTL, d.MaxLen = uint16(c.Port), uint8(c.TTL), uint16(c.MaxLength)
		if g, err := netip.ParseAddr(c.Group); err == nil {
			d.Group = g.Unmap()
		}
	}
	return d
}

func (r *Reconciler) applyTimeouts(k Kernel, pair *agentapi.Pair) error {
	var want *Timeouts
	if pair != nil && pair.IPVSTimeouts != nil {
		t := KernelDefaultTimeouts
		if c := pair.IPVSTimeouts; c != nil {
			if c.TCP > 0 {
				t.TCP = uint32(c.TCP)
			}
			if c.TCPFin > 0 {
				t.TCPFin = uint32(c.TCPFin)
			}
			if c.UDP > 0 {
				t.UDP = uint32(c.UDP)
			}
		}
		want = &t
	} else if r.led.Timeouts {
		// No longer configured: give the kernel its defaults back.
		t := KernelDefaultTimeouts
		want = &t
	}
	if want == nil {
		return nil
	}
	have, err := k.Timeouts()
	if err != nil {
		return err
	}
	var errs []error
	if have != *want {
		if r.timeouts != nil && *r.timeouts == *want {
			r.repaired(fmt.Sprintf("timeouts tcp %d tcpfin %d udp %d, want %d %d %d", have.TCP, have.TCPFin, have.UDP, want.TCP, want.TCPFin, want.UDP), "service", "timeouts")
		} else {
			r.log.Info("IPVS timeouts set", "tcp", want.TCP, "tcpfin", want.TCPFin, "udp", want.UDP)
		}
		if err := k.SetTimeouts(*want); err != nil {
			errs = append(errs, err)
		}
	}
	managed := pair != nil && pair.IPVSTimeouts != nil
	if managed {
		r.timeouts = want
	} else {
		r.timeouts = nil
	}
	if r.led.Timeouts != managed {
		r.led.Timeouts = managed
		errs = append(errs, r.saveLedger())
	}
	return errors.Join(errs...)
}

// directorSysctls are the sysctls the configured forwarding methods need.
//
// Only NAT needs any: the director routes the real servers' replies, so it must forward, and as
// replies leave by the interface they came in on it must not send ICMP redirects to the real
// servers (they would then bypass it and the clients would see the real servers' addresses).
// When netfilter's connection tracking is loaded, IPVS must keep conntrack entries for NAT
// connections (vs.conntrack) or a stateful firewall drops the replies as INVALID. DR and tunnel
// hand packets to the real servers below routing and need nothing.
func (r *Reconciler) directorSysctls(pair *agentapi.Pair, desired []*desiredService) map[string]string {
	want := map[string]string{}
	var nat4, nat6, oneWay bool
	for _, d := range desired {
		if d.svc == nil {
			continue
		}
		for _, dst := range d.svc.Dests {
			switch {
			case dst.FwdMethod == FwdMasq && dst.Addr.Is4():
				nat4 = true
			case dst.FwdMethod == FwdMasq:
				nat6 = true
			default:
				oneWay = true
			}
		}
	}
	// A DR or tunnel director sees only the client's half of a connection, so IPVS's entry of a
	// closed one ends in FIN_WAIT, never TIME_WAIT, and stays for the tcp_fin timeout (2 min).
	// With the kernel's default conn_reuse_mode=1, a new connection from a client port reused
	// within that time (clients reuse ports within seconds) follows the old entry to the old
	// real server instead of being scheduled: weights are not kept, and a server just added
	// gets none of them. Mode 3 also schedules those afresh. It is left alone where NAT runs
	// too: with IPVS's conntrack on, rescheduling drops the first SYN (a 1 s delay).
	if oneWay && !nat4 && !nat6 {
		if _, err := r.sys.Sysctl("net.ipv4.vs.conn_reuse_mode"); err == nil {
			want["net.ipv4.vs.conn_reuse_mode"] = "3"
		}
	}
	if nat4 {
		want["net.ipv4.ip_forward"] = "1"
		want["net.ipv4.conf.all.send_redirects"] = "0"
		if pair != nil && pair.Self >= 0 && pair.Self < len(pair.Directors) {
			if iface := pair.Directors[pair.Self].Interface; iface != "" && !strings.ContainsAny(iface, "/.") {
				want["net.ipv4.conf."+iface+".send_redirects"] = "0"
			}
		}
	}
	if nat6 {
		want["net.ipv6.conf.all.forwarding"] = "1"
	}
	if nat4 || nat6 {
		if _, err := r.sys.Sysctl("net.netfilter.nf_conntrack_max"); err == nil {
			want["net.ipv4.vs.conntrack"] = "1"
		}
	}
	if len(desired) > 0 {
		// Health checks take servers out and put sorry servers in and out. Without these, a
		// connection (or a reused client port) whose server left the table hangs until its
		// entry times out, and a persistent client sticks to a quiesced server; with them the
		// next packet is scheduled afresh. kube-proxy's IPVS mode sets the same.
		for _, name := range []string{"net.ipv4.vs.expire_nodest_conn", "net.ipv4.vs.expire_quiescent_template"} {
			if _, err := r.sys.Sysctl(name); err == nil {
				want[name] = "1"
			}
		}
	}
	return want
}

func (r *Reconciler) applySysctls(pair *agentapi.Pair, desired []*desiredService) error {
	changes, err := r.keeper.Hold(r.directorSysctls(pair, desired))
	for _, c := range changes {
		if c.Drift {
			r.repaired(c.String(), "service", "sysctl")
		} else {
			r.log.Info("director sysctl: " + c.String())
		}
	}
	return err
}

// PartName names the part for the status (reconcile.Named).
func (r *Reconciler) PartName() string { return guard.PartIPVS }
