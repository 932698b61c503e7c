// Package ha is the director's high availability: it turns the pair and its VIPs from the
// desired state into running VRRP engines (agent/vrrp) and keeps them matching it.
//
// Manager is the reconcile.Reconciler of VRRP. Each VIP runs as one virtual router per address
// family on the pair interface; all routers of an interface and family share one raw socket.
// Apply starts, reconfigures and stops engines: a changed priority, interval or address list
// does not drop a VIP this director holds and keeps; a deleted VIP is released with a
// priority 0 advert so the peer takes it over at once. Tracked interfaces (netlink link
// events) and track scripts (periodic, with timeouts, rise/fall and bounded concurrency) move
// a VIP's priority or put it in FAULT; notify commands run on every state change. Stop is
// keepalived's SIGTERM — priority 0 from every master — except that each master keeps its
// addresses until the backup has taken over and the clients have moved to it (no more packets
// for them arrive), so a planned switchover fails no connection.
//
// VIPs with the same SyncGroup (keepalived's vrrp_sync_group) fail over together: their
// instances, of both families, are the members of one vrrp.SyncGroup, and share their tracking
// (a member's FAULT is every member's; the weights of all members' tracked objects add up).
// Membership follows each Apply live, without restarting an engine.
//
// An agent killed with SIGKILL leaves its VIPs on the interface. When it starts again, each
// engine's first act is to remove its addresses (the state machine's Start), so the restarted
// director never holds a VIP alongside the peer that took over.
package ha

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/guard"
	"github.com/lvs-provider/terraform-provider-lvs/agent/netconf"
	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Config configures a Manager.
type Config struct {
	// Net is the namespace to work in; nil opens the agent's own.
	Net    *netconf.Handle
	Logger *slog.Logger
	// ScriptConcurrency bounds how many track scripts run at once; 0 means 8.
	ScriptConcurrency int
	// RepairInterval is passed to every engine (see vrrp.EngineConfig); 0 keeps its default.
	RepairInterval time.Duration
	// Forwarder, if set, is every IPv4 engine's (see vrrp.EngineConfig): after a planned
	// takeover it forwards the previous master's connections back to it (agent/handover).
	Forwarder vrrp.Forwarder
}

// Manager runs the VRRP instances of the desired state. Its methods are safe for concurrent
// use; the server serialises Apply and Stop anyway.
type Manager struct {
	net            *netconf.Handle
	ownNet         bool
	log            *slog.Logger
	sem            chan struct{}
	repairInterval time.Duration
	fwd            vrrp.Forwarder

	// Background goroutines (link watcher, retracking), started by the first Apply.
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup
	// dirty holds VRIDs whose scripts changed state, for the retrack goroutine: scripts must
	// not take mu themselves, since Apply holds it while it stops them.
	dirtyMu sync.Mutex
	dirty   map[int]bool
	dirtyc  chan struct{}

	mu sync.Mutex // guards the following fields
	// links is the latest up/down of every link, from the watcher and each Apply.
	links     map[string]bool
	pairIf    string
	instances map[instKey]*instance
	conns     map[connKey]*connRef
	groups    map[string]*vrrp.SyncGroup // sync groups by name, with their running members
	vips      map[int]*vipRun
	desired   map[int]*agentapi.VIP
	errs      map[int]error // why a VIP does not run
	stopped   bool
	applied   *appliedState // nil until the first Apply
}

// instance is one running engine.
type instance struct {
	key   instKey
	conn  connKey
	ann   *connKey // the announcer of the addresses' interface, when not the pair's
	eng   *vrrp.Engine
	group string // the sync group it is a member of, or ""
}

// vipRun is what runs per VIP besides its engines: tracking and notifications.
type vipRun struct {
	vip      *agentapi.VIP
	scripts  map[string]*script
	notifier *notifier
	// last tracking outcome pushed to the engines.
	weight int
	fault  bool
	reason string
}

type connKey struct {
	ifname  string
	ifindex int
	v6      bool
	// announce: an announcer (vrrp.OpenAnnouncer) of an interface that carries VIP addresses
	// but no adverts.
	announce bool
}

type connRef struct {
	conn *vrrp.Conn
	refs int
}

var errStopped = errors.New("ha: stopped")

// New returns a Manager; it opens nothing and starts nothing until Apply.
func New(cfg Config) *Manager {
	m := &Manager{
		net: cfg.Net, log: cfg.Logger, repairInterval: cfg.RepairInterval, fwd: cfg.Forwarder,
		links: map[string]bool{}, instances: map[instKey]*instance{}, conns: map[connKey]*connRef{}, groups: map[string]*vrrp.SyncGroup{},
		vips: map[int]*vipRun{}, errs: map[int]error{}, dirty: map[int]bool{}, dirtyc: make(chan struct{}, 1),
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m.log = m.log.With("part", "vrrp")
	n := cfg.ScriptConcurrency
	if n <= 0 {
		n = 8
	}
	m.sem = make(chan struct{}, n)
	return m
}

// Apply implements reconcile.Reconciler: it makes the running instances match st.
func (m *Manager) Apply(ctx context.Context, st *agentapi.State, why reconcile.Trigger) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return errStopped
	}
	var vips map[int]*agentapi.VIP
	var pair *agentapi.Pair
	if st != nil && st.Pair != nil {
		pair, vips = st.Pair, st.VIPs
	}
	// A committed change that left the pair and every VIP as they were (a real server was
	// written: the state is copy on write, so unchanged objects are the same pointers) needs
	// nothing of VRRP; the start and every resync still go through everything.
	if a := m.applied; why == reconcile.Change && a != nil && a.pair == pair && sameObjects(a.vips, vips) {
		return a.err
	}
	err := m.applyLocked(ctx, pair, vips)
	m.applied = &appliedState{pair: pair, vips: maps.Clone(vips), err: err}
	return err
}

// appliedState is what the last Apply was given, and its outcome.
type appliedState struct {
	pair *agentapi.Pair
	vips map[int]*agentapi.VIP
	err  error
}

// sameObjects reports whether a and b hold the same objects under the same keys.
func sameObjects[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func (m *Manager) applyLocked(ctx context.Context, pair *agentapi.Pair, vips map[int]*agentapi.VIP) error {
	m.desired = vips
	if pair == nil || len(vips) == 0 {
		m.stopAllLocked()
		return nil
	}
	if m.net == nil {
		h, err := netconf.Open()
		if err != nil {
			return err
		}
		m.net, m.ownNet = h, true
	}
	ifname := pair.Directors[pair.Self].Interface
	m.pairIf = ifname
	m.ensureBackgroundLocked()
	m.refreshLinksLocked()

	var errs []error
	if err := m.net.PrepareVIPInterface(ifname); err != nil {
		errs = append(errs, err)
	}
	specs, vipErrs := instanceSpecs(pair, vips, hostEnvOf{m.net})
	m.errs = vipErrs
	link, linkErr := m.net.Link(ifname)
	// The VIPs' own interfaces: one missing on this host keeps its VIP from running (the
	// server refuses such a VIP; this is for a link removed since).
	annKeys := map[instKey]*connKey{}
	missing := map[int]bool{}
	prepared := map[string]bool{ifname: true}
	for _, k := range sortedKeys(specs) {
		spec := specs[k]
		if spec.AddrInterface == "" || spec.AddrInterface == spec.Interface {
			continue
		}
		l, err := m.net.Link(spec.AddrInterface)
		if err != nil {
			missing[k.vrid] = true
			m.errs[k.vrid] = fmt.Errorf("interface %s (lvs_vip.interface) is not on this host: %w", spec.AddrInterface, err)
			continue
		}
		if !prepared[spec.AddrInterface] {
			prepared[spec.AddrInterface] = true
			if err := m.net.PrepareVIPInterface(spec.AddrInterface); err != nil {
				errs = append(errs, err)
			}
		}
		annKeys[k] = &connKey{ifname: spec.AddrInterface, ifindex: l.Index, v6: k.v6, announce: true}
	}
	for vrid := range missing {
		// Neither family runs: the addresses of both would go on the missing link.
		delete(specs, instKey{vrid, false})
		delete(specs, instKey{vrid, true})
	}

	// Engines no longer wanted go first (handing their VIPs over): a VRID that moves to
	// another interface must leave the old socket before it registers on the new one.
	for k, in := range m.instances {
		spec, ok := specs[k]
		if !ok || linkErr != nil || in.conn != (connKey{ifname: spec.Interface, ifindex: link.Index, v6: k.v6}) || !sameConnKey(in.ann, annKeys[k]) {
			m.stopInstanceLocked(in)
		}
	}
	// Then tracking and notify, so that a new engine starts with its tracking outcome.
	for vrid, vr := range m.vips {
		if !hasVRID(specs, vrid) {
			vr.close()
			delete(m.vips, vrid)
		}
	}
	for vrid, v := range vips {
		if hasVRID(specs, vrid) {
			m.updateVIPLocked(context.WithoutCancel(ctx), vrid, v)
		}
	}
	if linkErr != nil && len(specs) > 0 {
		errs = append(errs, linkErr)
	} else {
		for _, k := range sortedKeys(specs) {
			spec := specs[k]
			spec.RepairInterval = m.repairInterval
			spec.Logger = m.log
			if !k.v6 {
				spec.Forwarder = m.fwd
			}
			if ak := annKeys[k]; ak != nil {
				if cr := m.conns[*ak]; cr != nil {
					spec.Announcer = cr.conn
				}
			}
			vr := m.vips[k.vrid]
			v6 := k.v6
			spec.OnTransition = func(t vrrp.Transition) { vr.notifier.transition(t, v6) }
			if in := m.instances[k]; in != nil {
				cur := in.eng.Config()
				if !cur.Equal(&spec) {
					if err := in.eng.Reconfigure(spec); err != nil {
						errs = append(errs, fmt.Errorf("vip %s: %w", k, err))
					}
				}
				continue
			}
			if err := m.startInstanceLocked(k, spec, connKey{ifname: spec.Interface, ifindex: link.Index, v6: k.v6}, annKeys[k]); err != nil {
				errs = append(errs, fmt.Errorf("vip %s: %w", k, err))
				m.errs[k.vrid] = err
			}
		}
	}
	m.syncGroupsLocked()
	for _, vrid := range slices.Sorted(maps.Keys(vipErrs)) {
		errs = append(errs, fmt.Errorf("vip %d: %w", vrid, vipErrs[vrid]))
	}
	return errors.Join(errs...)
}

// syncGroupsLocked puts every running instance in its VIP's sync group (both families of a VIP
// are members), moving those whose group changed, and drops empty groups. Regrouping is live:
// an engine keeps its state, and the group's next decision includes it.
func (m *Manager) syncGroupsLocked() {
	for _, k := range slices.SortedFunc(maps.Keys(m.instances), cmpInstKey) {
		in := m.instances[k]
		want := ""
		if v := m.desired[k.vrid]; v != nil {
			want = v.SyncGroup
		}
		if in.group == want {
			continue
		}
		m.leaveGroupLocked(in, false)
		if want != "" {
			g := m.groups[want]
			if g == nil {
				g = vrrp.NewSyncGroup(want, m.log)
				m.groups[want] = g
			}
			g.Join(in.eng)
			in.group = want
			m.log.Info("vrrp sync group joined", "instance", k.String(), "sync_group", want)
		}
	}
	// Tracking is shared in a group: recompute every VIP's.
	for vrid, vr := range m.vips {
		m.trackLocked(vrid, vr)
	}
}

// leaveGroupLocked takes an instance out of its sync group, if any: to run on its own, or, when
// closing, before it is stopped (it stays gated: a member that waited for the group must not
// take over on its way out).
func (m *Manager) leaveGroupLocked(in *instance, closing bool) {
	if in.group == "" {
		return
	}
	if g := m.groups[in.group]; g != nil {
		if closing {
			g.Remove(in.eng)
		} else {
			g.Leave(in.eng)
		}
		if g.Len() == 0 {
			g.Close()
			delete(m.groups, in.group)
		}
	}
	in.group = ""
}

func cmpInstKey(a, b instKey) int {
	if a.vrid != b.vrid {
		return a.vrid - b.vrid
	}
	if a.v6 == b.v6 {
		return 0
	}
	if !a.v6 {
		return -1
	}
	return 1
}

func hasVRID(specs map[instKey]vrrp.EngineConfig, vrid int) bool {
	_, a := specs[instKey{vrid, false}]
	_, b := specs[instKey{vrid, true}]
	return a || b
}

func sortedKeys(specs map[instKey]vrrp.EngineConfig) []instKey {
	keys := slices.Collect(maps.Keys(specs))
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].vrid != keys[j].vrid {
			return keys[i].vrid < keys[j].vrid
		}
		return !keys[i].v6 && keys[j].v6
	})
	return keys
}

// updateVIPLocked creates or updates a VIP's notify and track scripts and recomputes its
// tracking outcome.
func (m *Manager) updateVIPLocked(ctx context.Context, vrid int, v *agentapi.VIP) {
	vr := m.vips[vrid]
	if vr == nil {
		vr = &vipRun{scripts: map[string]*script{}, notifier: newNotifier(vrid, m.log)}
		m.vips[vrid] = vr
	}
	vr.vip = v
	vr.notifier.set(v.Notify)
	// Scripts: keep those whose definition did not change (and their rise/fall state).
	want := map[string]agentapi.TrackScript{}
	for _, s := range v.TrackScripts {
		want[s.Name] = s
	}
	for name, s := range vr.scripts {
		if w, ok := want[name]; !ok || w != s.spec {
			s.stop()
			delete(vr.scripts, name)
		}
	}
	var fresh []*script
	for _, spec := range v.TrackScripts {
		if vr.scripts[spec.Name] != nil {
			continue
		}
		s := newScript(spec, m.sem, func() { m.markDirty(vrid) }, m.log.With("vrid", vrid))
		vr.scripts[spec.Name] = s
		fresh = append(fresh, s)
	}
	// New scripts run once before their result counts, concurrently, bounded by their
	// timeouts (and the shared concurrency limit).
	var wg sync.WaitGroup
	for _, s := range fresh {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.first(ctx)
		}()
	}
	wg.Wait()
	for _, s := range fresh {
		s.start()
	}
	m.trackLocked(vrid, vr)
}

// markDirty is a script's change callback; it never blocks.
func (m *Manager) markDirty(vrid int) {
	m.dirtyMu.Lock()
	m.dirty[vrid] = true
	m.dirtyMu.Unlock()
	select {
	case m.dirtyc <- struct{}{}:
	default:
	}
}

// retrack recomputes the tracking of the VIPs whose scripts changed, until ctx ends.
func (m *Manager) retrack(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.dirtyc:
		}
		m.dirtyMu.Lock()
		dirty := m.dirty
		m.dirty = map[int]bool{}
		m.dirtyMu.Unlock()
		m.mu.Lock()
		for vrid := range dirty {
			if vr := m.vips[vrid]; vr != nil && !m.stopped {
				m.trackLocked(vrid, vr)
			}
		}
		m.mu.Unlock()
	}
}

// trackLocked recomputes a VIP's tracking outcome and hands it to its engines when it changed.
// The members of a sync group share it (see groupOutcomeLocked); a change of one member's is
// handed to them all.
func (m *Manager) trackLocked(vrid int, vr *vipRun) {
	if g := vr.vip.SyncGroup; g != "" {
		w, f, why := m.groupOutcomeLocked(g)
		for _, id := range slices.Sorted(maps.Keys(m.vips)) {
			if o := m.vips[id]; o.vip.SyncGroup == g {
				m.setTrackingLocked(id, o, w, f, why)
			}
		}
		return
	}
	w, f, why := m.ownOutcomeLocked(vr)
	m.setTrackingLocked(vrid, vr, w, f, why)
}

func (m *Manager) ownOutcomeLocked(vr *vipRun) (int, bool, string) {
	linkUp := func(name string) bool { return m.links[name] }
	scriptOK := func(name string) bool { s := vr.scripts[name]; return s != nil && s.healthy() }
	return outcome(m.pairIf, vr.vip.TrackInterfaces, vr.vip.TrackScripts, linkUp, scriptOK)
}

// groupOutcomeLocked is the tracking outcome of a sync group: a member's FAULT is every
// member's, and the weights of all members' tracked objects add up, so that the members'
// priorities move together and the group's elections agree (keepalived's global_tracking).
func (m *Manager) groupOutcomeLocked(group string) (weight int, fault bool, reason string) {
	var why []string
	for _, id := range slices.Sorted(maps.Keys(m.vips)) {
		vr := m.vips[id]
		if vr.vip.SyncGroup != group {
			continue
		}
		w, f, r := m.ownOutcomeLocked(vr)
		weight += w
		fault = fault || f
		if w != 0 || f {
			why = append(why, fmt.Sprintf("vrid %d: %s", id, r))
		}
	}
	if len(why) == 0 {
		return weight, fault, "all tracked objects up"
	}
	return weight, fault, "sync group " + group + ": " + strings.Join(why, "; ")
}

// setTrackingLocked hands a VIP's tracking outcome to its engines when it changed.
func (m *Manager) setTrackingLocked(vrid int, vr *vipRun, w int, f bool, why string) {
	if w == vr.weight && f == vr.fault && why == vr.reason {
		return
	}
	vr.weight, vr.fault, vr.reason = w, f, why
	m.log.Info("vrrp tracking", "vrid", vrid, "weight", w, "fault", f, "reason", why)
	for _, v6 := range []bool{false, true} {
		if in := m.instances[instKey{vrid, v6}]; in != nil {
			in.eng.SetTracking(w, f, why)
		}
	}
}

// sameConnKey reports whether two optional announcer keys are the same.
func sameConnKey(a, b *connKey) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// connLocked returns the socket of ck, opening it if none is open yet (refs unchanged).
func (m *Manager) connLocked(ck connKey) (*connRef, error) {
	if cr := m.conns[ck]; cr != nil {
		return cr, nil
	}
	var c *vrrp.Conn
	err := m.net.Do(func() (err error) {
		if ck.announce {
			c, err = vrrp.OpenAnnouncer(ck.ifname, ck.v6)
		} else {
			c, err = vrrp.ListenConn(ck.ifname, ck.v6)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	cr := &connRef{conn: c}
	m.conns[ck] = cr
	return cr, nil
}

func (m *Manager) startInstanceLocked(k instKey, spec vrrp.EngineConfig, ck connKey, ak *connKey) error {
	cr, err := m.connLocked(ck)
	if err != nil {
		return err
	}
	var ar *connRef
	if ak != nil {
		if ar, err = m.connLocked(*ak); err != nil {
			m.releaseConnLocked(ck, cr)
			return err
		}
		spec.Announcer = ar.conn
	}
	eng, err := vrrp.NewEngine(spec, cr.conn, m.net)
	if err == nil {
		vr := m.vips[k.vrid]
		eng.SetTracking(vr.weight, vr.fault, vr.reason)
		err = eng.Start()
	}
	if err != nil {
		m.releaseConnLocked(ck, cr)
		if ar != nil {
			m.releaseConnLocked(*ak, ar)
		}
		return err
	}
	cr.refs++
	if ar != nil {
		ar.refs++
	}
	m.instances[k] = &instance{key: k, conn: ck, ann: ak, eng: eng}
	delete(m.errs, k.vrid)
	m.log.Info("vrrp instance started", "vrid", k.vrid, "instance", k.String(), "priority", spec.Router.Priority)
	return nil
}

func (m *Manager) releaseConnLocked(ck connKey, cr *connRef) {
	if cr.refs > 0 {
		return
	}
	_ = cr.conn.Close()
	delete(m.conns, ck)
}

// stopInstanceLocked shuts an engine down gracefully (priority 0 if master, addresses
// removed) and releases its socket.
func (m *Manager) stopInstanceLocked(in *instance) {
	m.leaveGroupLocked(in, true) // the others go on without it
	_ = in.eng.Close()
	delete(m.instances, in.key)
	if cr := m.conns[in.conn]; cr != nil {
		cr.refs--
		m.releaseConnLocked(in.conn, cr)
	}
	if in.ann != nil {
		if cr := m.conns[*in.ann]; cr != nil {
			cr.refs--
			m.releaseConnLocked(*in.ann, cr)
		}
	}
	m.log.Info("vrrp instance stopped", "instance", in.key.String())
}

// stopAllLocked stops every engine at once (each master's priority 0 goes out without
// waiting for the others), then the VIPs' scripts and notifiers.
func (m *Manager) stopAllLocked() {
	// Out of their groups first: each master hands over on its own, none is stepped down.
	for _, in := range m.instances {
		m.leaveGroupLocked(in, true)
	}
	var wg sync.WaitGroup
	for _, in := range m.instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = in.eng.Close()
		}()
	}
	wg.Wait()
	for _, in := range m.instances {
		m.stopInstanceLocked(in)
	}
	for vrid, vr := range m.vips {
		vr.close()
		delete(m.vips, vrid)
	}
	m.errs = map[int]error{}
}

func (vr *vipRun) close() {
	for _, s := range vr.scripts {
		s.stop()
	}
	vr.notifier.close()
}

// Stop implements reconcile.Stopper: the graceful stop of keepalived on SIGTERM.
func (m *Manager) Stop(ctx context.Context) error {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return nil
	}
	m.stopAllLocked()
	m.stopped = true
	cancel := m.bgCancel
	m.mu.Unlock()
	if cancel != nil {
		cancel()
		done := make(chan struct{})
		go func() {
			m.bgWG.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if m.ownNet {
		return m.net.Close()
	}
	return nil
}

var (
	_ reconcile.Reconciler     = (*Manager)(nil)
	_ reconcile.StatusReporter = (*Manager)(nil)
	_ reconcile.Stopper        = (*Manager)(nil)
)

// ensureBackgroundLocked starts following link changes and script results.
func (m *Manager) ensureBackgroundLocked() {
	if m.bgCancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.bgCancel = cancel
	m.bgWG.Add(2)
	go func() {
		defer m.bgWG.Done()
		m.retrack(ctx)
	}()
	go func() {
		defer m.bgWG.Done()
		err := m.net.WatchLinks(ctx, m.linkChanged)
		if err != nil {
			m.log.Error("vrrp: cannot follow link changes; interface tracking only sees them on resync", "err", err)
		}
	}()
}

func (m *Manager) linkChanged(l netconf.Link) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.links[l.Name] == l.Up {
		if _, known := m.links[l.Name]; known {
			return
		}
	}
	m.links[l.Name] = l.Up
	if m.stopped {
		return
	}
	m.log.Info("link state", "link", l.Name, "up", l.Up)
	for vrid, vr := range m.vips {
		m.trackLocked(vrid, vr)
	}
}

// refreshLinksLocked reads every link's state, in case an event was missed.
func (m *Manager) refreshLinksLocked() {
	ls, err := m.net.Links()
	if err != nil {
		m.log.Warn("vrrp: list links", "err", err)
		return
	}
	seen := map[string]bool{}
	for _, l := range ls {
		seen[l.Name] = true
		m.links[l.Name] = l.Up
	}
	for name := range m.links {
		if !seen[name] {
			m.links[name] = false
		}
	}
}

// hostEnvOf is the hostEnv of a namespace.
type hostEnvOf struct{ h *netconf.Handle }

func (e hostEnvOf) primary(ifname string, v6 bool, self string, vips []netip.Addr) (netip.Addr, error) {
	if v6 {
		return e.h.PrimaryAddress(ifname, netconf.IPv6, nil)
	}
	// The director's own address, when it is on the interface, is what the peer knows it by.
	if a, err := netip.ParseAddr(self); err == nil && a.Unmap().Is4() {
		if ps, err := e.h.Addresses(ifname); err == nil && slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Addr() == a.Unmap() }) {
			return a.Unmap(), nil
		}
	}
	return e.h.PrimaryAddress(ifname, netconf.IPv4, func(a netip.Addr) bool { return slices.Contains(vips, a) })
}

func (e hostEnvOf) holds(ifname string, a netip.Addr) (bool, error) {
	ps, err := e.h.Addresses(ifname)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Addr().Unmap() == a }), nil
}

func (hostEnvOf) resolve(host string, v6 bool) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.Is6() != v6 {
			return netip.Addr{}, fmt.Errorf("%s is not an %s address; give the director's host as a name that resolves to both families, or do not mix families with vrrp_unicast", host, famName(v6))
		}
		return a, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	network := "ip4"
	if v6 {
		network = "ip6"
	}
	as, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(as) == 0 {
		return netip.Addr{}, fmt.Errorf("%s has no %s address", host, famName(v6))
	}
	return as[0].Unmap(), nil
}

func famName(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// Status returns the VRRP status of every configured VIP, by VRID.
func (m *Manager) Status() []agentapi.VIPStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []agentapi.VIPStatus
	// The addresses of each interface the VIPs live on, read once.
	heldOn := map[string][]netip.Prefix{}
	addrsOf := func(ifname string) []netip.Prefix {
		if ifname == "" || m.net == nil {
			return nil
		}
		ps, ok := heldOn[ifname]
		if !ok {
			ps, _ = m.net.Addresses(ifname)
			heldOn[ifname] = ps
		}
		return ps
	}
	for _, vrid := range slices.Sorted(maps.Keys(m.desired)) {
		d := m.desired[vrid]
		vs := agentapi.VIPStatus{VRID: vrid, State: vrrp.StateInit.String(), Addresses: slices.Clone(d.Addresses), Dropped: map[string]uint64{}, SyncGroup: d.SyncGroup}
		vs.Interface = m.pairIf
		if d.Interface != "" {
			vs.Interface = d.Interface
		}
		held := addrsOf(vs.Interface)
		var stray []netip.Prefix
		if vs.Interface != m.pairIf {
			stray = addrsOf(m.pairIf)
		}
		vr := m.vips[vrid]
		if vr == nil {
			vr = &vipRun{}
		}
		var states, masters []string
		var last time.Time
		for _, v6 := range []bool{false, true} {
			in := m.instances[instKey{vrid, v6}]
			if in == nil {
				continue
			}
			es := in.eng.Status()
			prefix := ""
			if m.instances[instKey{vrid, !v6}] != nil {
				prefix = famName(v6) + " "
			}
			states = append(states, prefix+es.State.String())
			if es.Master.IsValid() {
				masters = append(masters, fmt.Sprintf("%s%v (priority %d)", prefix, es.Master, es.MasterPriority))
			}
			vs.Priority = int(es.Priority)
			if es.LastTransition.After(last) {
				last = es.LastTransition
				vs.Reason = es.Reason
			}
			vs.AdvertsIn += es.AdvertsIn
			vs.AdvertsOut += es.AdvertsOut
			vs.Transitions += es.Transitions
			vs.MasterDownFired += es.MasterDownFired
			vs.MasterDownLateSeconds += es.MasterDownLate.Seconds()
			for k, n := range es.Dropped {
				vs.Dropped[k] += n
			}
			cfg := in.eng.Config()
			vs.GARP = garpOf(cfg.Router.GARP)
			for _, a := range cfg.Addresses {
				if slices.ContainsFunc(held, func(p netip.Prefix) bool { return p.Addr() == a.Addr() }) {
					vs.HeldAddresses = append(vs.HeldAddresses, a.String())
				}
				if slices.ContainsFunc(stray, func(p netip.Prefix) bool { return p.Addr() == a.Addr() }) {
					vs.StrayAddresses = append(vs.StrayAddresses, a.String()+" on "+m.pairIf)
				}
			}
		}
		if len(states) > 0 {
			vs.State = combineStates(states)
		}
		vs.Master = strings.Join(masters, ", ")
		if !last.IsZero() {
			vs.LastTransition = last.UTC().Format(time.RFC3339Nano)
		}
		if err := m.errs[vrid]; err != nil {
			vs.Reason = "not running: " + err.Error()
		} else if vr.reason != "" && vr.reason != "all tracked objects up" {
			vs.Reason = strings.TrimSpace(vs.Reason + "; tracking: " + vr.reason)
		}
		if len(vs.Dropped) == 0 {
			vs.Dropped = nil
		}
		out = append(out, vs)
	}
	return out
}

// combineStates gives one state for a VIP's instances: theirs when they agree, else each
// with its family.
func combineStates(states []string) string {
	plain := make([]string, len(states))
	for i, s := range states {
		plain[i] = s[strings.LastIndex(s, " ")+1:]
	}
	if len(slices.Compact(plain)) == 1 {
		return plain[0]
	}
	return strings.Join(states, ", ")
}

// Report implements reconcile.StatusReporter.
func (m *Manager) Report(st *agentapi.Status) {
	st.VIPs = m.Status()
}

// PartName names the part for the status (reconcile.Named).
func (m *Manager) PartName() string { return guard.PartVRRP }
