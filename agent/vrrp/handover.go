package vrrp

import (
	"net/netip"
	"time"
)

// The planned handover: the engine's policy around the Machine's transitions, so that a
// switchover on purpose (a stop, a preemption) fails no request. A master that stops or gives
// way keeps its addresses while the successor takes over and the clients move to it; a new
// master forwards, for a while, the connections the previous master still serves back to it
// (Forwarder).

// handoverState is the Engine's state of a planned handover; the loop goroutine owns it.
type handoverState struct {
	// release fires while the addresses are kept after we gave way to a higher-priority
	// master (nil: nothing pending); see holdForClients.
	release     *time.Timer
	releaseFrom time.Time        // when we gave way
	releaseSeen func() time.Time // when a packet for the addresses last came, if watched
	releaseStop func()           // ends that watch
	// releaseARP, if set, ends the ARP silence that lets the addresses be kept for the
	// whole handover window (see silenceARP).
	releaseARP func()
	// fwdStop ends the forwarding towards fwdPrev of a planned takeover, due when fwdTimer
	// fires (nil: none).
	fwdStop  func()
	fwdPrev  netip.Addr
	fwdTimer *time.Timer
}

// successorLate is how late a successor may advertise after the priority 0 advert that makes it
// take over, beyond its Skew_Time, for the stopping master still to be holding the addresses:
// a backup's timers run late on a loaded host (hundreds of milliseconds were seen in the lab),
// and a master that let go first left the addresses to nobody and reset the connections in
// flight. Waiting longer costs nothing when no successor comes: the addresses are served here
// meanwhile.
//
// maxHandover bounds how long a stopping master keeps its addresses waiting for a successor.
// Once the successor advertised, the addresses stay maxGrace — the successor's handover window,
// in which it forwards us what it cannot serve — when the Forwarder can silence ARP for them
// here (so that they draw no client back); otherwise they stay handoverGrace — long enough for its
// gratuitous ARPs / NAs (sent right after its advert) to reach the clients on a loaded host,
// and for the handshakes of connections they started towards us just before to complete — and
// then, when the traffic can be watched, until the clients have moved to it (no packet for the
// addresses arrived for clientsQuiet), maxGrace at most. Both routers hold the addresses
// meanwhile, which is harmless: each answers.
const (
	successorLate = 2 * time.Second
	maxHandover   = 3 * time.Second
	handoverGrace = 300 * time.Millisecond
	clientsQuiet  = 150 * time.Millisecond
	maxGrace      = 2 * time.Second
)

// shutdown is the Shutdown event. A master sends its priority 0 advert at once but keeps the
// addresses until the backup that takes over (after its Skew_Time) advertises, or for the
// Skew_Time of the lowest priority plus successorLate (at most maxHandover) if none does, and then
// maxGrace with ARP for them silenced, or until its clients have moved to the successor (see
// awaitClientsMoved) if ARP cannot be silenced: the clients keep
// being served until the successor's gratuitous ARPs move them, so a planned switchover fails
// no request. (keepalived drops them at once, leaving a Skew_Time gap.)
func (e *Engine) shutdown() {
	e.stopForwarding()
	e.releaseNow()
	e.cause = "stopped"
	acts := e.m.Shutdown(e.now())
	var release []Action
	handover := false
	for i, a := range acts {
		if _, ok := a.(RemoveVIPs); ok {
			release = append(release, a)
			acts = append(acts[:i:i], acts[i+1:]...)
			handover = true
			break
		}
	}
	// Watch the traffic for the addresses from the start, so that what arrives while the
	// successor takes over counts.
	var lastSeen func() time.Time
	if tw, ok := e.watcher(); ok && handover {
		seen, stop, err := tw.watchTraffic(e.addrList())
		if err != nil {
			e.log.Warn("vrrp: cannot watch the traffic for the addresses; keeping them a fixed time after the successor advertised", "err", err)
		} else {
			lastSeen = seen
			defer stop()
		}
	}
	e.execute(acts, true)
	e.publish()
	if handover && e.awaitSuccessor() {
		if unsilence := e.silenceARP(); unsilence != nil {
			// Our addresses no longer draw clients: keep them as long as the successor
			// forwards what it cannot serve to us.
			time.Sleep(maxGrace)
			e.log.Info("vrrp: handover window over; releasing the addresses", "held", maxGrace)
			defer unsilence()
		} else {
			e.awaitClientsMoved(lastSeen)
		}
	}
	e.execute(release, true)
}

// silenceARP stops this host answering ARP requests for the addresses, as a master that gave
// way keeps them for the handover (see Forwarder.SilenceARP); it returns what ends the silence,
// or nil if there is no Forwarder or it failed (the addresses are then kept only while clients
// still send to them).
func (e *Engine) silenceARP() func() {
	if e.cfg.Forwarder == nil {
		return nil
	}
	stop, err := e.cfg.Forwarder.SilenceARP(e.cfg.addrIf(), e.addrList())
	if err != nil {
		e.log.Warn("vrrp: cannot stop answering ARP for the addresses; keeping them only while clients send to them", "err", err)
		return nil
	}
	return stop
}

func (e *Engine) addrList() []netip.Addr {
	addrs := make([]netip.Addr, len(e.cfg.Addresses))
	for i, p := range e.cfg.Addresses {
		addrs[i] = p.Addr()
	}
	return addrs
}

// awaitSuccessor waits for a valid advert with a non-zero priority from another router, for the
// Skew_Time of the lowest priority plus successorLate (at most maxHandover); it reports whether
// one came.
func (e *Engine) awaitSuccessor() bool {
	c := e.cfg.Router
	wait := min(SkewTime(c.Version, 1, c.AdvertInterval)+successorLate, maxHandover)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	start := time.Now()
	for {
		select {
		case <-timer.C:
			e.log.Info("vrrp: no successor advertised; releasing the addresses", "waited", wait)
			return false
		case p := <-e.rx:
			// Only the peer's adverts, with what is pinned already: no check starts now. The
			// Machine no longer runs (it stopped), so its receive checks are asked for.
			if !e.fromPeer(p.Src) {
				continue
			}
			a, err := e.parse(p)
			if err == nil {
				err = e.m.check(a, p.Src.Unmap())
			}
			if err != nil || a.Priority == PriorityStop {
				continue
			}
			e.log.Info("vrrp: successor advertised", "successor", p.Src, "after", time.Since(start))
			return true
		}
	}
}

// awaitClientsMoved keeps the addresses after the successor advertised for handoverGrace and
// then until no packet for them arrived for clientsQuiet (at most maxGrace).
func (e *Engine) awaitClientsMoved(lastSeen func() time.Time) {
	start := time.Now()
	time.Sleep(handoverGrace)
	if lastSeen == nil {
		return
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		quietSince := lastSeen()
		if quietSince.Before(start) {
			quietSince = start
		}
		switch held := time.Since(start); {
		case time.Since(quietSince) >= clientsQuiet:
			e.log.Info("vrrp: clients moved to the successor; releasing the addresses", "held", held, "last_packet", quietSince.Sub(start))
			return
		case held >= maxGrace:
			e.log.Warn("vrrp: packets for the addresses still arrive; releasing them anyway", "held", held)
			return
		}
		<-tick.C
	}
}

// holdForClients keeps the addresses after we gave way, as a stopping master does: for
// maxGrace, the new master's handover window, when ARP for them can be silenced here, else for
// handoverGrace and then until the clients have moved to the new master — no packet for them for
// clientsQuiet, at most maxGrace (awaitClientsMoved).
func (e *Engine) holdForClients() {
	e.cancelRelease()
	e.releaseFrom = time.Now()
	if e.releaseARP = e.silenceARP(); e.releaseARP != nil {
		e.release = time.NewTimer(maxGrace)
		return
	}
	if tw, ok := e.watcher(); ok {
		if seen, stop, err := tw.watchTraffic(e.addrList()); err == nil {
			e.releaseSeen, e.releaseStop = seen, stop
		} else {
			e.log.Warn("vrrp: cannot watch client traffic; releasing the addresses after the fixed grace", "err", err)
		}
	}
	e.release = time.NewTimer(handoverGrace)
}

// releaseDue is the release timer: the addresses go unless clients still send to them.
func (e *Engine) releaseDue() {
	if e.releaseSeen != nil && e.releaseARP == nil {
		last := e.releaseSeen()
		if last.Before(e.releaseFrom) {
			last = e.releaseFrom
		}
		if quiet, held := time.Since(last), time.Since(e.releaseFrom); quiet < clientsQuiet && held < maxGrace {
			e.release.Reset(min(clientsQuiet-quiet, maxGrace-held))
			return
		}
	}
	e.log.Info("vrrp: releasing the addresses after giving way", "held", time.Since(e.releaseFrom))
	e.releaseNow()
}

// cancelRelease forgets a pending release, keeping the addresses.
func (e *Engine) cancelRelease() {
	if e.release != nil {
		e.release.Stop()
		e.release = nil
	}
	if e.releaseStop != nil {
		e.releaseStop()
		e.releaseSeen, e.releaseStop = nil, nil
	}
	if e.releaseARP != nil {
		e.releaseARP()
		e.releaseARP = nil
	}
}

// releaseNow removes the addresses kept after giving way, unless we are master again.
func (e *Engine) releaseNow() {
	if e.release == nil {
		return
	}
	// The ARP silence ends once the addresses are gone, not before: meanwhile a client
	// asking for them would hear us too.
	unsilence := e.releaseARP
	e.releaseARP = nil
	e.cancelRelease()
	if e.m.State() != StateMaster {
		e.execute([]Action{RemoveVIPs{}}, true)
	}
	if unsilence != nil {
		unsilence()
	}
}

// handoverWindow is how long a new master forwards the previous master's connections after a
// planned takeover: the previous master keeps its addresses at most maxGrace after it heard
// us (awaitClientsMoved, holdForClients), plus a margin for the advert's way.
const handoverWindow = maxGrace + 250*time.Millisecond

// startForwarding opens the Forwarder's window towards prev, or keeps the one open towards it,
// to last handoverWindow from now; it reports whether it opened one.
func (e *Engine) startForwarding(prev netip.Addr) bool {
	if e.cfg.Forwarder == nil || prev == e.cfg.Router.PrimaryAddr.WithZone("") {
		return false
	}
	if e.cfg.split() {
		// The window forwards to the previous master over the VRRP link; the addresses'
		// clients are on another one. The previous master silences ARP there and serves
		// what still reaches it until the announcements have moved them.
		return false
	}
	if !e.fromPeer(prev) {
		// Only the peer's adverts reach the Machine, so this cannot happen; but the window
		// sends clients' packets to prev, so it is checked where it opens too.
		e.log.Warn("vrrp: not opening a handover window towards an address that is not the peer's", "previous_master", prev, "peer", e.anchors())
		return false
	}
	if e.fwdStop != nil && e.fwdPrev == prev {
		e.fwdTimer.Reset(handoverWindow)
		return false
	}
	e.stopForwarding()
	stop, err := e.cfg.Forwarder.Forward(e.cfg.Interface, prev, e.addrList())
	if err != nil {
		e.log.Warn("vrrp: cannot forward the previous master's connections during the handover", "previous_master", prev, "err", err)
		return false
	}
	e.fwdStop, e.fwdPrev, e.fwdTimer = stop, prev, time.NewTimer(handoverWindow)
	return true
}

// stopForwarding ends the window of a planned takeover, if one is open.
func (e *Engine) stopForwarding() {
	if e.fwdTimer != nil {
		e.fwdTimer.Stop()
		e.fwdTimer = nil
	}
	if e.fwdStop != nil {
		e.fwdStop()
		e.fwdStop, e.fwdPrev = nil, netip.Addr{}
	}
}
