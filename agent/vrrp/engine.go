package vrrp

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/guard"
)

// Packet is a received VRRP packet with the IP header fields the engine checks.
type Packet struct {
	Payload  []byte
	Src, Dst netip.Addr // without zone
	TTL      int        // IPv4 TTL or IPv6 hop limit
	// At is when the kernel received it, on the Go clock (with its monotonic reading); the
	// zero time means unknown: when it is handled.
	At time.Time
}

// Transport is the VRRP socket of one interface and address family, shared by the engines of
// every virtual router on it: it hands each received packet to the engine registered for the
// VRID the packet carries, sends advertisements, and announces addresses with gratuitous ARPs
// (IPv4) or unsolicited neighbour advertisements (IPv6). *Conn is the raw-socket
// implementation; tests use an in-memory one.
type Transport interface {
	// Register delivers the packets for vrid to deliver, which must not block, until
	// unregister is called. One engine per VRID.
	Register(vrid uint8, deliver func(Packet)) (unregister func(), err error)
	// Send sends a VRRP payload (Advert.Marshal's output) from src to dst with TTL 255.
	Send(payload []byte, src, dst netip.Addr) error
	// Announce sends count gratuitous ARPs or unsolicited NAs for each address.
	Announce(addrs []netip.Addr, count int) error
}

// trafficWatcher is implemented by transports that can tell when the interface last received
// packets for some addresses (*Conn): a router handing its addresses over keeps them until its
// clients have moved to the successor. watchTraffic's lastSeen returns the zero time while
// nothing arrived.
type trafficWatcher interface {
	watchTraffic(addrs []netip.Addr) (lastSeen func() time.Time, stop func(), err error)
}

// flusher is implemented by transports whose received packets can wait in a queue the engine
// does not see (*Conn: the kernel's socket buffer, read by its own goroutine): Flush delivers
// them before it returns.
type flusher interface {
	Flush()
}

// Forwarder forwards, for a while after a planned takeover, the packets of connections that the
// previous master still serves back to it (agent/handover implements it): they reach the new
// master once the clients follow its gratuitous ARPs, and it has no socket for them.
type Forwarder interface {
	// Forward starts forwarding to prev, the previous master's address, the packets for addrs
	// arriving on interface ifname that belong to connections this host does not know; stop
	// ends it.
	Forward(ifname string, prev netip.Addr, addrs []netip.Addr) (stop func(), err error)
	// SilenceARP stops this host answering ARP requests for addrs on interface ifname until
	// stop is called: the other half of a planned handover, on the previous master, which
	// can then keep its addresses (and serve what the new master forwards) for the whole
	// window without drawing clients back to it.
	SilenceARP(ifname string, addrs []netip.Addr) (stop func(), err error)
}

// AddrOps configures the virtual addresses on the interface; *netconf.Handle implements it.
type AddrOps interface {
	AddAddress(ifname string, p netip.Prefix) error
	// RemoveAddress succeeds when the address is absent.
	RemoveAddress(ifname string, p netip.Prefix) error
	Addresses(ifname string) ([]netip.Prefix, error)
}

// Transition is a state change of a virtual router, as reported to EngineConfig.OnTransition.
type Transition struct {
	From, To State
	At       time.Time
	Reason   string
}

// Announcer sends gratuitous ARPs or unsolicited NAs out of one interface: where the virtual
// addresses live when that is not the VRRP interface (EngineConfig.AddrInterface).
type Announcer interface {
	// Announce sends count gratuitous ARPs or unsolicited NAs for each address.
	Announce(addrs []netip.Addr, count int) error
}

// EngineConfig configures one Engine: one virtual router on one interface and family.
type EngineConfig struct {
	// Interface carries the VRRP adverts.
	Interface string
	// AddrInterface, when set and not Interface, is where the virtual addresses are added,
	// removed and announced (keepalived's "dev" in virtual_ipaddress): Announcer must then be
	// set. The handover's ARP silence applies there; its forwarding window does not (it is
	// opened on Interface only, so none is opened for such a router).
	AddrInterface string
	Announcer     Announcer
	// Router is the virtual router. Its Addresses are ignored: they come from Addresses.
	// PrimaryAddr is the address adverts are sent from (the interface's link-local address
	// for IPv6), without zone.
	Router Config
	// Addresses are the virtual addresses with the prefix length they get on the interface,
	// all of PrimaryAddr's family.
	Addresses []netip.Prefix
	// Peer, when valid, is where adverts go instead of the multicast group (keepalived's
	// unicast_peer). Adverts must come with TTL 255 all the same (RFC 5798 §5.1.1.3: a
	// unicast peer is on the link too).
	Peer netip.Addr
	// Trusted are the peer director's addresses, of either family, as the pair names it.
	// When Trusted or Peer is set, only adverts from the peer count: from these addresses,
	// Peer, or the address pinned as the peer's link-local one (see trust.go); the others are
	// dropped (not_peer) before the Machine sees them. With neither set, every source counts.
	Trusted []netip.Addr
	// OnTransition, if set, is called from the engine's goroutine on every state change; it
	// must not block.
	OnTransition func(Transition)
	// RepairInterval is how often the engine checks that the interface holds the virtual
	// addresses exactly when it is master and repairs it; 0 means 2s.
	RepairInterval time.Duration
	// Forwarder, if set, forwards the previous master's connections for handoverWindow after a
	// planned takeover: one the previous master announced with priority 0 (it stops, or gave
	// way; the window opens when that advert comes, so that its cost is not the takeover's),
	// or a preemption of a live master. Both keep their addresses a while and serve what
	// reaches them.
	Forwarder Forwarder
	Logger    *slog.Logger
}

// addrIf is the interface the virtual addresses live on.
func (c *EngineConfig) addrIf() string {
	if c.AddrInterface != "" {
		return c.AddrInterface
	}
	return c.Interface
}

// split reports whether the addresses live on another interface than the adverts.
func (c *EngineConfig) split() bool { return c.addrIf() != c.Interface }

func (c *EngineConfig) machineConfig() Config {
	mc := c.Router
	mc.Addresses = make([]netip.Addr, len(c.Addresses))
	for i, p := range c.Addresses {
		mc.Addresses[i] = p.Addr()
	}
	mc.PrimaryAddr = mc.PrimaryAddr.WithZone("")
	return mc
}

// Equal reports whether two configurations make the same virtual router (OnTransition,
// RepairInterval, Forwarder and Logger aside).
func (c *EngineConfig) Equal(o *EngineConfig) bool {
	a, b := c.machineConfig(), o.machineConfig()
	return c.Interface == o.Interface && c.addrIf() == o.addrIf() && c.Peer == o.Peer && slices.Equal(c.Trusted, o.Trusted) &&
		slices.Equal(c.Addresses, o.Addresses) && slices.Equal(a.Addresses, b.Addresses) &&
		a.Version == b.Version && a.VRID == b.VRID && a.Priority == b.Priority &&
		a.AdvertInterval == b.AdvertInterval && a.PrimaryAddr == b.PrimaryAddr &&
		a.AuthType == b.AuthType && a.AuthData == b.AuthData && a.NoPreempt == b.NoPreempt &&
		a.PreemptDelay == b.PreemptDelay && a.LowerPrioNoAdvert == b.LowerPrioNoAdvert &&
		a.SkipCheckAddresses == b.SkipCheckAddresses && a.GARP == b.GARP
}

func (c *EngineConfig) validate() (*Machine, error) {
	if c.Interface == "" {
		return nil, errors.New("vrrp: engine: no interface")
	}
	if c.split() && c.Announcer == nil {
		return nil, fmt.Errorf("vrrp: engine: addresses on %s but no announcer for it", c.AddrInterface)
	}
	for _, p := range c.Addresses {
		if !p.IsValid() {
			return nil, fmt.Errorf("vrrp: engine: invalid address %v", p)
		}
	}
	if c.Peer.IsValid() && c.Peer.Unmap().Is4() != c.Router.PrimaryAddr.Unmap().Is4() {
		return nil, fmt.Errorf("vrrp: engine: %w: unicast peer %v with primary address %v", ErrFamily, c.Peer, c.Router.PrimaryAddr)
	}
	c.Trusted = slices.Clone(c.Trusted)
	for i, a := range c.Trusted {
		if !a.IsValid() {
			return nil, fmt.Errorf("vrrp: engine: invalid peer address %v", a)
		}
		c.Trusted[i] = a.Unmap().WithZone("")
	}
	return NewMachine(c.machineConfig())
}

// EngineStatus is a snapshot of an engine for status output.
type EngineStatus struct {
	State          State
	Priority       uint8
	Master         netip.Addr // last master heard from, or ourselves
	MasterPriority uint8
	LastTransition time.Time
	Reason         string
	AdvertsIn      uint64
	AdvertsOut     uint64
	SendErrors     uint64
	// Transitions counts state changes; MasterDownFired the master-down timers that fired and
	// MasterDownLate how late they fired in all (for the agent's metrics).
	Transitions     uint64
	MasterDownFired uint64
	MasterDownLate  time.Duration
	// Dropped counts received packets discarded, by reason (see DropReason).
	Dropped map[string]uint64
}

// DropReason names the reason a received packet was dropped, for counters: one word per error
// of Parse, CheckTTL and Machine.HandleAdvert.
func DropReason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{ErrTTL, "ttl"}, {ErrTruncated, "truncated"}, {ErrLength, "length"}, {ErrVersion, "version"},
		{ErrType, "type"}, {ErrChecksum, "checksum"}, {ErrFamily, "family"}, {ErrAuthType, "auth_type"},
		{ErrAuth, "auth"}, {ErrInterval, "interval"}, {ErrVRID, "vrid"}, {ErrAddressList, "addresses"},
		{ErrOwnAddress, "own_address"}, {errNotPeer, "not_peer"}, {errOverflow, "overflow"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "other"
}

var (
	errNotPeer  = errors.New("vrrp: advert from an address that is not the peer director's")
	errOverflow = errors.New("vrrp: receive queue full")
	errClosed   = errors.New("vrrp: engine closed")
)

// Engine runs one virtual router: it feeds a Machine with the packets, timers and tracking
// changes of the real world, with the real clock, and carries out its actions on the
// Transport and the interface's addresses. The protocol's decisions are the Machine's; what
// the engine adds is which adverts count (trust.go) and the policy of a planned handover
// (handover.go): keeping the addresses while a successor takes over and the clients move,
// and forwarding the previous master's connections.
type Engine struct {
	id    uint64 // orders a sync group's members
	vrid  uint8
	fam   string
	tr    Transport
	addrs AddrOps
	log   *slog.Logger

	rx      chan Packet // the peer's packets (every packet without a peer)
	rxOther chan Packet // packets from sources to check (see gate)
	gate    atomic.Pointer[gate]
	trackc  chan struct{}
	reconfc chan reconfReq
	syncc   chan struct{} // a sync group command or membership change is pending
	group   atomic.Pointer[SyncGroup]
	quit    chan struct{}
	done    chan struct{}

	startOnce, closeOnce sync.Once
	unregister           func()

	mu sync.Mutex // guards the following fields
	// pending tracking: the latest value wins, the loop picks it up.
	weight  int
	fault   bool
	why     string
	started bool
	closed  bool
	status  EngineStatus
	synccmd SyncCommand // pending sync group command, the latest wins

	// Owned by the loop goroutine (before Start: by the caller).
	cfg         EngineConfig
	m           *Machine
	off         time.Duration // the Machine's clock runs this far ahead of the real one
	cause       string        // why the event being handled happened, for Transition.Reason
	compat      bool          // the peer checksums unicast v3 adverts with 224.0.0.18
	stopped     bool          // the last advert heard had priority 0
	reannounced time.Time     // last re-announcement after another master was heard
	lastErr     string        // last address error logged, to log each kind once
	curW        int
	curF        bool
	// The sync group this loop last reported to, and what.
	syncGroup *SyncGroup
	syncView  MemberView
	// The planned handover's state (handover.go).
	handoverState
	// Trust (see trust.go): the address pinned as the peer's, the sources being checked,
	// those found not to be the peer's (when), those whose drops were logged, and the
	// generation of the peer's configured addresses, which a check's verdict must match.
	pinned   netip.Addr
	pending  map[netip.Addr]*pendingCheck
	refuted  map[netip.Addr]time.Time
	warnMu   sync.Mutex // guards warned, which deliver uses too
	warned   map[netip.Addr]struct{}
	trustGen uint64
	verdicts chan verdict
}

var engineIDs atomic.Uint64

type reconfReq struct {
	cfg   EngineConfig
	m     *Machine
	reply chan struct{}
}

// NewEngine returns an engine for cfg on tr, not started: set the initial tracking with
// SetTracking, then Start.
func NewEngine(cfg EngineConfig, tr Transport, addrs AddrOps) (*Engine, error) {
	m, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if cfg.RepairInterval <= 0 {
		cfg.RepairInterval = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	fam := "IPv4"
	if !cfg.Router.PrimaryAddr.Unmap().Is4() {
		fam = "IPv6"
	}
	e := &Engine{
		id: engineIDs.Add(1), vrid: cfg.Router.VRID, fam: fam,
		tr: tr, addrs: addrs, cfg: cfg, m: m,
		log:     log.With("vrid", cfg.Router.VRID, "family", fam, "interface", cfg.Interface, "addresses_on", cfg.addrIf()),
		rx:      make(chan Packet, 64),
		rxOther: make(chan Packet, 64),
		trackc:  make(chan struct{}, 1),
		reconfc: make(chan reconfReq),
		syncc:   make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		pending: map[netip.Addr]*pendingCheck{}, refuted: map[netip.Addr]time.Time{},
		warned: map[netip.Addr]struct{}{}, verdicts: make(chan verdict, maxPending),
	}
	e.status.Dropped = map[string]uint64{}
	e.updateGate()
	e.publish()
	return e, nil
}

// Start registers with the transport and runs the virtual router: it removes addresses left
// by an earlier run (before it returns) and becomes backup (or master at once, as the address
// owner).
func (e *Engine) Start() error {
	var err error
	e.startOnce.Do(func() {
		e.mu.Lock()
		closed := e.closed
		e.mu.Unlock()
		if closed {
			err = errClosed
			return
		}
		e.unregister, err = e.tr.Register(e.cfg.Router.VRID, e.deliver)
		if err != nil {
			err = fmt.Errorf("vrrp: vrid %d on %s: %w", e.cfg.Router.VRID, e.cfg.Interface, err)
			return
		}
		e.mu.Lock()
		e.started = true
		e.curW, e.curF = e.weight, e.fault
		e.mu.Unlock()
		// The first actions (removing what an earlier run left) are done when Start returns.
		e.m.UpdateTracking(e.now(), e.curW, e.curF) // in INIT: sets the priority and fault only
		e.cause = "started"
		e.execute(e.m.Start(e.now()), true)
		e.publish()
		go e.run()
	})
	return err
}

// SetTracking sets the outcome of the tracked interfaces and scripts: the sum of the weights
// that apply and whether any tracked object without weight is down. Reason says which, for the
// status. It never blocks.
func (e *Engine) SetTracking(weight int, fault bool, reason string) {
	e.mu.Lock()
	e.weight, e.fault, e.why = weight, fault, reason
	e.mu.Unlock()
	select {
	case e.trackc <- struct{}{}:
	default:
	}
}

// Reconfigure applies a new configuration (same interface, VRID and family) without a
// needless failover: a master stays master with the new priority, interval and addresses,
// announcing the new addresses and removing those no longer configured; any other state
// restarts as backup.
func (e *Engine) Reconfigure(cfg EngineConfig) error {
	cur := e.Config()
	if cfg.Interface != cur.Interface || cfg.addrIf() != cur.addrIf() || cfg.Router.VRID != cur.Router.VRID ||
		cfg.Router.PrimaryAddr.Unmap().Is4() != cur.Router.PrimaryAddr.Unmap().Is4() {
		return errors.New("vrrp: reconfigure cannot change the interfaces, VRID or family")
	}
	if cfg.RepairInterval <= 0 {
		cfg.RepairInterval = 2 * time.Second
	}
	m, err := cfg.validate()
	if err != nil {
		return err
	}
	req := reconfReq{cfg: cfg, m: m, reply: make(chan struct{})}
	e.mu.Lock()
	started := e.started
	e.mu.Unlock()
	if !started {
		e.mu.Lock()
		old := e.cfg
		e.cfg = cfg
		e.mu.Unlock()
		e.retrust(old)
		e.m = m
		e.publish()
		return nil
	}
	select {
	case e.reconfc <- req:
		<-req.reply
		return nil
	case <-e.done:
		return errClosed
	}
}

// Close shuts the virtual router down as RFC 5798 §6.4 Shutdown says — a master sends a
// priority 0 advert so that the backup takes over after Skew_Time — and removes its addresses
// once the successor advertised and the clients moved to it (see shutdown); it waits for the
// engine's goroutine, at most about maxHandover + maxGrace.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		started := e.started
		e.mu.Unlock()
		close(e.quit)
		if started {
			<-e.done
			e.unregister()
		}
	})
	return nil
}

// Status returns a snapshot of the engine.
func (e *Engine) Status() EngineStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.status
	s.Dropped = maps.Clone(s.Dropped)
	return s
}

// Config returns the engine's current configuration.
func (e *Engine) Config() EngineConfig {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.cfg
	c.Addresses = slices.Clone(c.Addresses)
	c.Trusted = slices.Clone(c.Trusted)
	return c
}

// deliver is the Transport's callback: it queues without blocking the shared reader.
// Adverts from sources that are not the peer's never enter the queue of the peer's (see
// gate): a flood of them cannot crowd the peer's adverts out.
func (e *Engine) deliver(p Packet) {
	e.mu.Lock()
	e.status.AdvertsIn++
	e.mu.Unlock()
	q := e.rx
	switch e.gate.Load().classify(p.Src) {
	case notPeer:
		e.gateDrop(p.Src)
		return
	case held: // a source that may be the peer's, to check: queued apart
		q = e.rxOther
	}
	select {
	case q <- p:
	default:
		if q == e.rxOther {
			e.gateDrop(p.Src)
			return
		}
		e.drop(errOverflow)
	}
}

func (e *Engine) drop(err error) {
	e.mu.Lock()
	e.status.Dropped[DropReason(err)]++
	e.mu.Unlock()
	e.log.Debug("vrrp packet dropped", "err", err)
}

func (e *Engine) now() time.Time { return time.Now().Add(e.off) }

// received is the Machine's time of a packet's arrival: timers it restarts run from then.
func (e *Engine) received(p Packet) time.Time {
	now := time.Now()
	if p.At.IsZero() || p.At.After(now) {
		return now.Add(e.off)
	}
	return p.At.Add(e.off)
}

func (e *Engine) run() {
	defer close(e.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	repair := time.NewTicker(e.cfg.RepairInterval)
	defer repair.Stop()
	sleeper := newPreciseSleeper()
	defer sleeper.close()
	// A panic in one event's handling is recovered and the loop restarts with the state the
	// machine is in, so one bug cannot take the VIP (and the agent) down.
	for !e.loop(timer, repair, sleeper) {
	}
}

// loop handles events until Close (true) or a recovered panic (false).
func (e *Engine) loop(timer *time.Timer, repair *time.Ticker, sleeper *preciseSleeper) (closed bool) {
	defer func() {
		if v := recover(); v != nil {
			_ = guard.Recovered(e.log, guard.PartVRRP, v)
			closed = false
		}
	}()
	for {
		guard.Inject(guard.PartVRRP)
		e.publish()
		e.syncReport()
		var deadline time.Time
		if d, ok := e.m.NextDeadline(); ok {
			deadline = d.Add(-e.off)
			early := time.Duration(0)
			if e.m.State() == StateBackup {
				early = earlyWake
			}
			timer.Reset(time.Until(deadline) - early)
		} else {
			timer.Stop()
		}
		var releaseC, fwdC <-chan time.Time
		if e.release != nil {
			releaseC = e.release.C
		}
		if e.fwdTimer != nil {
			fwdC = e.fwdTimer.C
		}
		select {
		case p := <-e.rx:
			e.handle(p)
		case p := <-e.rxOther:
			e.handle(p)
		case v := <-e.verdicts:
			e.checked(v)
		case <-timer.C:
			if e.awaitDeadline(sleeper, deadline) {
				e.tick(deadline)
			}
		case <-releaseC:
			e.releaseDue()
		case <-fwdC:
			e.fwdTimer = nil
			e.stopForwarding()
		case <-e.trackc:
			e.track()
		case <-e.syncc:
			e.syncDo()
		case req := <-e.reconfc:
			e.reconfigure(req)
			repair.Reset(e.cfg.RepairInterval)
			close(req.reply)
		case <-repair.C:
			e.repair()
		case <-e.quit:
			e.shutdown()
			return true
		}
		// A window opened as backup lasts while the takeover it prepares is due.
		if st := e.m.State(); e.fwdStop != nil && st != StateMaster && (st != StateBackup || !e.stopped) {
			e.stopForwarding()
		}
	}
}

// earlyWake is how much earlier than Master_Down_Timer a backup's Go timer is set, to sleep
// out the rest precisely (awaitDeadline): Go's timers may fire up to a millisecond late, as the
// scheduler sleeps in whole milliseconds, and that would add to every failover. The timer only
// runs out when the master is gone, so this costs nothing in the steady state.
const earlyWake = 2 * time.Millisecond

// awaitDeadline sleeps precisely until deadline (real clock), then handles the adverts queued
// meanwhile: one received before Master_Down_Timer ran out restarts it from its arrival, even
// though the engine sees it after, as does one still queued in the transport (flusher). It
// reports whether a timer is still due.
func (e *Engine) awaitDeadline(sleeper *preciseSleeper, deadline time.Time) bool {
	sleeper.sleep(min(time.Until(deadline), earlyWake))
	if f, ok := e.tr.(flusher); ok && e.m.State() == StateBackup {
		// Adverts still in the socket count too: a loaded host may run this goroutine late
		// and before the reader, and a master whose adverts we have not read is not silent.
		f.Flush()
	}
	for {
		select {
		case p := <-e.rx:
			e.handle(p)
			continue
		default:
		}
		break
	}
	d, ok := e.m.NextDeadline()
	return ok && !d.After(e.now())
}

// handle is a received packet: only the peer's (see trust.go) reach process.
func (e *Engine) handle(p Packet) {
	switch e.admit(p) {
	case notPeer:
		e.dropNotPeer(p.Src)
	case admitted:
		e.process(p)
	}
}

// parse is the engine's check of a packet from the peer: sent with TTL 255, a well-formed
// advert. The Machine's receive checks (version, VRID, authentication, addresses) come after.
func (e *Engine) parse(p Packet) (*Advert, error) {
	if err := CheckTTL(p.TTL); err != nil {
		return nil, err
	}
	return Parse(p.Payload, p.Src, p.Dst)
}

// process checks an advert from the peer and hands it to the Machine.
func (e *Engine) process(p Packet) {
	a, err := e.parse(p)
	if err != nil {
		e.drop(err)
		return
	}
	state := e.m.State()
	e.cause = fmt.Sprintf("advert from %v with priority %d", p.Src, a.Priority)
	acts, err := e.m.HandleAdvert(e.received(p), a, p.Src)
	if err != nil {
		e.drop(err)
		return
	}
	if state == StateMaster || state == StateBackup {
		e.compat = a.MulticastChecksum
		e.stopped = a.Priority == PriorityStop
	}
	if state == StateBackup && e.stopped && e.m.State() == StateBackup {
		// The master stops and keeps serving a while: we take over after Skew_Time. Opening
		// the window now keeps its cost out of the takeover (it holds nothing until then: the
		// addresses are not ours yet).
		e.startForwarding(p.Src)
	}
	if state == StateMaster && e.m.State() == StateBackup {
		// A higher-priority master took over (preemption, a healed partition): keep serving
		// while its announcements move the clients, as on a graceful stop.
		acts = slices.DeleteFunc(acts, func(a Action) bool { _, ok := a.(RemoveVIPs); return ok })
		e.holdForClients()
	}
	e.execute(acts, true)
	if state != StateMaster {
		return
	}
	switch e.m.State() {
	case StateBackup:
		// Saying that we gave way with priority 0 makes the winner answer at once and, if
		// we were master alongside it (a healed partition), re-announce the addresses (below)
		// to move back the clients that our own announcements had pulled to us.
		e.send(PriorityStop)
	case StateMaster:
		if len(acts) > 0 && (a.Priority == PriorityStop || time.Since(e.reannounced) > time.Second) {
			// Another router thought it was master (lower priority, or stopping): clients
			// may have followed it, so announce the addresses again (keepalived's
			// garp_lower_prio_repeat), at most once a second — and always when it says
			// priority 0, giving way: a router that took over from us by mistake announces
			// the addresses right after its first advert, so its announcements follow the
			// ones that advert made us send, and the clients would stay with it.
			e.reannounced = time.Now()
			e.execute([]Action{SendGratuitous{e.garpRepeat()}}, true)
		}
	}
}

func (e *Engine) garpRepeat() int {
	if n := e.cfg.Router.GARP.Repeat; n > 0 {
		return n
	}
	return DefaultGARPRepeat
}

// tick fires the Machine's timers that were due at deadline (real clock).
func (e *Engine) tick(deadline time.Time) {
	fired := time.Now()
	was := e.m.State()
	// prev is the master that hands over on purpose and keeps serving a while (see Forwarder).
	var prev netip.Addr
	if was == StateBackup {
		prev = e.takeoverCause()
	} else {
		e.cause = "timer"
	}
	if was == StateBackup {
		// A backup's only timer is Master_Down.
		e.mu.Lock()
		e.status.MasterDownFired++
		e.status.MasterDownLate += max(fired.Sub(deadline), 0)
		e.mu.Unlock()
	}
	acts := e.m.Tick(e.now())
	if was != StateBackup || e.m.State() != StateMaster {
		e.execute(acts, true)
		return
	}
	e.takeover(acts, prev, fired, "timer_late", fired.Sub(deadline))
}

// takeoverCause sets the cause of a backup's takeover and returns the master that hands over
// on purpose and keeps serving a while (see Forwarder), if any.
func (e *Engine) takeoverCause() (prev netip.Addr) {
	addr, prio := e.m.Master()
	switch {
	case !addr.IsValid():
		e.cause = "no master heard within Master_Down_Interval"
	case e.stopped:
		e.cause = fmt.Sprintf("master %v stopped (priority 0 advert)", addr)
		prev = addr
	case prio < e.m.Priority() && !e.cfg.Router.NoPreempt:
		e.cause = fmt.Sprintf("preempting %v (priority %d < %d)", addr, prio, e.m.Priority())
		prev = addr
	default:
		e.cause = fmt.Sprintf("master %v silent for Master_Down_Interval", addr)
	}
	return prev
}

// takeover carries out the actions of becoming master, opening the forwarding window towards
// prev (if valid) before the announcements, and logs when each step was done, since the
// failover time is the sum of these.
func (e *Engine) takeover(acts []Action, prev netip.Addr, fired time.Time, first ...any) {
	steps := append(make([]any, 0, 2*len(acts)+4), first...)
	for _, a := range acts {
		if _, ok := a.(SendGratuitous); ok && prev.IsValid() && e.startForwarding(prev) {
			// Before the announcements move the clients here (after a priority 0 it is
			// open already, and now lasts handoverWindow from here).
			steps = append(steps, "forwarding", time.Since(fired))
		}
		e.execute([]Action{a}, true)
		steps = append(steps, stepName(a), time.Since(fired))
	}
	e.log.Info("vrrp takeover timing", steps...)
}

// stepName names an action in the takeover log.
func stepName(a Action) string {
	switch a.(type) {
	case SendAdvert:
		return "advert_sent"
	case AddVIPs:
		return "addresses_added"
	case RemoveVIPs:
		return "addresses_removed"
	case SendGratuitous:
		return "announced"
	case Notify:
		return "notified"
	}
	return fmt.Sprintf("%T", a)
}

func (e *Engine) track() {
	e.mu.Lock()
	w, f, why := e.weight, e.fault, e.why
	e.mu.Unlock()
	if w == e.curW && f == e.curF {
		return
	}
	e.curW, e.curF = w, f
	e.cause = "tracking: " + why
	e.execute(e.m.UpdateTracking(e.now(), w, f), true)
	if e.m.State() == StateFault {
		e.releaseNow()
	}
}

// reconfigure swaps in the new Machine. A master must stay master without a gap, but a new
// Machine starts in Initialize and only becomes master when its Master_Down_Timer fires; so
// the new Machine is run forward to that moment and then kept on a clock that far ahead of
// the real one (it only ever looks at differences of times).
func (e *Engine) reconfigure(req reconfReq) {
	e.releaseNow()
	now := time.Now()
	old, oldState, oldAddrs := e.m, e.m.State(), e.cfg.Addresses
	m := req.m
	m.UpdateTracking(now, e.curW, e.curF)
	e.cause = "reconfigured"
	e.mu.Lock()
	oldCfg := e.cfg
	e.cfg = req.cfg
	e.mu.Unlock()
	e.retrust(oldCfg)
	e.log.Info("vrrp reconfigured", "priority", req.cfg.Router.Priority, "interval", req.cfg.Router.AdvertInterval, "addresses", req.cfg.Addresses)
	if oldState == StateMaster {
		acts := m.Start(now)
		off := time.Duration(0)
		if d, ok := m.NextDeadline(); ok && m.State() == StateBackup {
			off = d.Sub(now)
			acts = m.Tick(d)
		}
		if m.State() == StateMaster {
			e.m, e.off = m, off
			e.execute(acts, false)
			e.removeStale(oldAddrs)
			return
		}
		// Faulted on the way: leave as the old master would.
		e.execute(old.Shutdown(e.now()), false)
	}
	e.removeStale(oldAddrs)
	e.m, e.off = m, 0
	e.execute(m.Start(now), false)
	if s := m.State(); s != oldState {
		e.transition(oldState, s)
	}
}

// removeStale removes the addresses of an earlier configuration that the current one lacks.
func (e *Engine) removeStale(old []netip.Prefix) {
	for _, p := range old {
		if !slices.ContainsFunc(e.cfg.Addresses, func(q netip.Prefix) bool { return q.Addr() == p.Addr() }) {
			e.addrErr(e.addrs.RemoveAddress(e.cfg.addrIf(), p))
		}
	}
}

// repair makes the interface hold the virtual addresses exactly when master: an operator or
// a crashed run may have removed or left them.
func (e *Engine) repair() {
	if e.release != nil {
		return // addresses kept on purpose for a moment
	}
	held, err := e.addrs.Addresses(e.cfg.addrIf())
	if e.addrErr(err) {
		return
	}
	master := e.m.State() == StateMaster
	e.removeStray()
	for _, p := range e.cfg.Addresses {
		has := slices.ContainsFunc(held, func(q netip.Prefix) bool { return q.Addr() == p.Addr() })
		switch {
		case master && !has:
			e.log.Warn("vrrp: virtual address missing while master, adding it back", "address", p)
			if !e.addrErr(e.addrs.AddAddress(e.cfg.addrIf(), p)) {
				e.announce(p.Addr())
			}
		case !master && has:
			e.log.Warn("vrrp: virtual address present while not master, removing it", "address", p, "state", e.m.State().String())
			e.addrErr(e.addrs.RemoveAddress(e.cfg.addrIf(), p))
		}
	}
}

// removeStray removes the virtual addresses from the VRRP interface when they live on another
// one: an address found there (moved by hand, or left by a configuration that kept them on the
// VRRP interface) would answer ARP on the wrong link.
func (e *Engine) removeStray() {
	if !e.cfg.split() {
		return
	}
	held, err := e.addrs.Addresses(e.cfg.Interface)
	if e.addrErr(err) {
		return
	}
	for _, p := range e.cfg.Addresses {
		if slices.ContainsFunc(held, func(q netip.Prefix) bool { return q.Addr() == p.Addr() }) {
			e.log.Warn("vrrp: virtual address on the VRRP interface instead of its own, removing it", "address", p, "wrong_interface", e.cfg.Interface, "interface", e.cfg.AddrInterface)
			e.addrErr(e.addrs.RemoveAddress(e.cfg.Interface, p))
		}
	}
}

// announcer sends the announcements: out of the addresses' interface.
func (e *Engine) announcer() Announcer {
	if e.cfg.split() {
		return e.cfg.Announcer
	}
	return e.tr
}

// watcher follows the traffic for the addresses where it arrives, if it can.
func (e *Engine) watcher() (trafficWatcher, bool) {
	tw, ok := e.announcer().(trafficWatcher)
	return tw, ok
}

func (e *Engine) announce(addrs ...netip.Addr) {
	if err := e.announcer().Announce(addrs, e.garpRepeat()); err != nil {
		e.log.Warn("vrrp: announce addresses", "err", err)
	}
}

// addrErr logs an address operation's error once per distinct message and reports whether
// there was one.
func (e *Engine) addrErr(err error) bool {
	if err == nil {
		e.lastErr = ""
		return false
	}
	if err.Error() != e.lastErr {
		e.lastErr = err.Error()
		e.log.Error("vrrp: virtual addresses", "err", err)
	}
	return true
}

// execute carries out the Machine's actions in order. notify false suppresses the Notify
// actions of internal steps (a reconfiguration reports its own net change).
func (e *Engine) execute(acts []Action, notify bool) {
	for _, a := range acts {
		switch a := a.(type) {
		case SendAdvert:
			e.send(a.Priority)
		case AddVIPs:
			e.cancelRelease()
			for _, p := range e.cfg.Addresses {
				e.addrErr(e.addrs.AddAddress(e.cfg.addrIf(), p))
			}
		case RemoveVIPs:
			for _, p := range e.cfg.Addresses {
				e.addrErr(e.addrs.RemoveAddress(e.cfg.addrIf(), p))
			}
		case SendGratuitous:
			addrs := make([]netip.Addr, len(e.cfg.Addresses))
			for i, p := range e.cfg.Addresses {
				addrs[i] = p.Addr()
			}
			if err := e.announcer().Announce(addrs, a.Count); err != nil {
				e.log.Warn("vrrp: announce addresses", "err", err)
			}
		case Notify:
			if notify {
				e.transition(a.From, a.To)
			}
		}
	}
}

func (e *Engine) transition(from, to State) {
	t := Transition{From: from, To: to, At: time.Now(), Reason: e.cause}
	e.mu.Lock()
	e.status.LastTransition, e.status.Reason = t.At, t.Reason
	e.status.Transitions++
	e.mu.Unlock()
	e.log.Info("vrrp state change", "from", from.String(), "to", to.String(), "reason", t.Reason, "priority", e.m.Priority())
	if e.cfg.OnTransition != nil {
		e.cfg.OnTransition(t)
	}
}

func (e *Engine) send(prio uint8) {
	src := e.cfg.Router.PrimaryAddr.Unmap().WithZone("")
	dst := MulticastIPv4
	if !src.Is4() {
		dst = MulticastIPv6
	}
	if e.cfg.Peer.IsValid() {
		dst = e.cfg.Peer.Unmap().WithZone("")
	}
	// The VRRPv3 checksum covers the pseudo-header, so a unicast advert is checksummed for
	// its real destination, unless the peer is an old keepalived that expects the group.
	csDst := dst
	if e.compat && e.cfg.Peer.IsValid() && src.Is4() {
		csDst = MulticastIPv4
	}
	b, err := e.m.Advert(prio).Marshal(src, csDst)
	if err == nil {
		err = e.tr.Send(b, src, dst)
	}
	e.mu.Lock()
	if err != nil {
		e.status.SendErrors++
	} else {
		e.status.AdvertsOut++
	}
	n := e.status.SendErrors
	e.mu.Unlock()
	if err != nil && (n < 10 || n%100 == 0) {
		e.log.Warn("vrrp: send advert", "err", err, "errors", n)
	}
}

// publish copies the Machine's view into the status snapshot.
func (e *Engine) publish() {
	addr, prio := e.m.Master()
	e.mu.Lock()
	e.status.State = e.m.State()
	e.status.Priority = e.m.Priority()
	e.status.Master, e.status.MasterPriority = addr, prio
	e.mu.Unlock()
}
