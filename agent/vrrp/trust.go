package vrrp

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"
)

// Trust: which sources an engine takes adverts from.
//
// VRRPv3 has no authentication, and VRRPv2's PASS is a clear-text password anybody on the LAN
// reads; TTL 255 only proves that the sender is on the link. So an engine with a peer (the
// other director of the pair: EngineConfig.Trusted, and Peer in unicast) hands the Machine
// only the adverts whose source is one of the peer's addresses, in every mode; the rest are
// dropped before the Machine sees them and counted as "not_peer". In particular only the
// peer can make a backup open a handover window (startForwarding), take over on a priority 0,
// or give way.
//
// IPv6 adverts come from the sender's link-local address (RFC 5798 §5.1.2.1), which the pair's
// configuration does not name. The engine pins it: the first advert from a link-local address
// (or, when the pair names no address of the engine's family, from any address of it) is held
// while the transport checks, in the kernel's neighbour table, that the address answers from
// the same link-layer address as one of the peer's configured addresses (resolving both, as
// `ip neigh replace ADDR dev DEV use` does, when the table lacks them). If it does, the address
// is pinned as the peer's and the held advert handled; if not, the adverts held are counted as
// not_peer and the address is refused for refuteFor. A new link-local address of the peer (a
// replaced NIC) is pinned the same way. This is chosen over deriving the address from the MAC
// (EUI-64), which stable-privacy and random addresses break, and over pinning whichever
// link-local address speaks first, which a forger can win; it needs nothing from the peer but
// neighbour discovery, so it works with keepalived as the peer. It trusts the neighbour table:
// a host that can answer neighbour discovery with the peer's MAC, or forge the peer's source
// address, can still inject adverts — only a dedicated link keeps it out (see the lvs_vip
// documentation).

// linkVerifier is implemented by transports that can tell whether an address on the link
// belongs to the same interface as one of a peer's addresses (*Conn, by the neighbour table).
type linkVerifier interface {
	// sameLink reports whether cand has the link-layer address of one of known; it may take
	// a few seconds (neighbour resolution) and must be safe to call from any goroutine.
	sameLink(known []netip.Addr, cand netip.Addr) (bool, error)
}

// Bounds of link-local pinning: at most maxPending checks run at once (each may wait for a
// neighbour resolution that fails, seconds); an address found not to be the peer's is refused
// without another check for refuteFor; at most maxRefuted such addresses are remembered (a
// flood of random sources beyond that is dropped unchecked until they expire).
const (
	maxPending = 4
	refuteFor  = 10 * time.Second
	maxRefuted = 256
	// maxWarned bounds the sources whose dropped adverts are logged (once each).
	maxWarned = 16
)

// pendingCheck is a source being checked: the adverts held meanwhile and the latest of them.
type pendingCheck struct {
	held uint64
	last Packet
}

// verdict is the outcome of a pendingCheck, for the engine's loop.
type verdict struct {
	addr netip.Addr
	gen  uint64 // Engine.trustGen when the check started
	ok   bool
	err  error
}

// admission is what handle does with a received packet.
type admission int

const (
	admitted admission = iota
	notPeer            // dropped: not_peer
	held               // kept until a check of its source ends
)

// gate is a snapshot of the engine's trust for deliver, which runs on the transport's reader
// goroutine: it drops adverts from sources known not to be the peer's before they reach the
// engine's queue, and queues those from sources still to check apart from the peer's, so that
// a flood of forged adverts cannot crowd the peer's out of the queue (they would be dropped as
// overflow, and the backup take over). The engine's loop decides again (admit), with what it
// knows by then. Replaced whenever what it holds changes (updateGate).
type gate struct {
	trusts  bool
	allowed []netip.Addr // the peer's configured addresses and the pinned one
	v6      bool
	// anyOfFamily: the pair names no address of the engine's family for the peer, so that
	// every source of the family is to check.
	anyOfFamily bool
	refuted     map[netip.Addr]time.Time
}

func (g *gate) classify(src netip.Addr) admission {
	if g == nil || !g.trusts {
		return admitted
	}
	src = src.Unmap().WithZone("")
	if slices.Contains(g.allowed, src) {
		return admitted
	}
	if src.Is4() == g.v6 || (!g.anyOfFamily && (!g.v6 || !src.IsLinkLocalUnicast())) {
		return notPeer
	}
	if at, ok := g.refuted[src]; ok && time.Since(at) < refuteFor {
		return notPeer
	}
	return held
}

// updateGate publishes the engine's current trust to deliver.
func (e *Engine) updateGate() {
	g := &gate{trusts: e.cfg.trustsPeer(), allowed: e.anchors(), v6: !e.cfg.Router.PrimaryAddr.Unmap().Is4()}
	if e.pinned.IsValid() {
		g.allowed = append(g.allowed, e.pinned)
	}
	g.anyOfFamily = !slices.ContainsFunc(e.anchors(), func(a netip.Addr) bool { return a.Unmap().Is4() != g.v6 })
	g.refuted = maps.Clone(e.refuted)
	e.gate.Store(g)
}

// gateDrop counts an advert that deliver dropped as not the peer's, and logs the first from
// its source.
func (e *Engine) gateDrop(src netip.Addr) {
	e.mu.Lock()
	e.status.Dropped[DropReason(errNotPeer)]++
	e.mu.Unlock()
	e.warnNotPeer(src, nil)
}

// trustsPeer reports whether the engine knows a peer, and so filters sources.
func (c *EngineConfig) trustsPeer() bool { return c.Peer.IsValid() || len(c.Trusted) > 0 }

// fromPeer reports whether src is one of the peer's addresses: configured, or pinned. An
// engine without a peer takes every source.
func (e *Engine) fromPeer(src netip.Addr) bool {
	if !e.cfg.trustsPeer() {
		return true
	}
	src = src.Unmap().WithZone("")
	if src == e.cfg.Peer.Unmap().WithZone("") || slices.Contains(e.cfg.Trusted, src) {
		return true
	}
	return e.pinned.IsValid() && src == e.pinned
}

// checkable reports whether src may be the peer's although not configured: an IPv6
// link-local address, or any address of the engine's family when the pair names none.
func (e *Engine) checkable(src netip.Addr) bool {
	v6 := !e.cfg.Router.PrimaryAddr.Unmap().Is4()
	if src.Unmap().Is4() == v6 {
		return false
	}
	if v6 && src.IsLinkLocalUnicast() {
		return true
	}
	return !slices.ContainsFunc(e.anchors(), func(a netip.Addr) bool { return a.Unmap().Is4() != v6 })
}

// anchors are the peer's configured addresses.
func (e *Engine) anchors() []netip.Addr {
	as := slices.Clone(e.cfg.Trusted)
	if p := e.cfg.Peer.Unmap().WithZone(""); p.IsValid() && !slices.Contains(as, p) {
		as = append(as, p)
	}
	return as
}

// admit decides on a received packet before anything else looks at it.
func (e *Engine) admit(p Packet) admission {
	if e.fromPeer(p.Src) {
		return admitted
	}
	lv, ok := e.tr.(linkVerifier)
	if !ok || !e.checkable(p.Src) {
		return notPeer
	}
	src := p.Src
	if pc := e.pending[src]; pc != nil {
		pc.held++
		pc.last = p
		return held
	}
	if at, ok := e.refuted[src]; ok {
		if time.Since(at) < refuteFor {
			return notPeer
		}
		delete(e.refuted, src)
	}
	if len(e.pending) >= maxPending {
		return notPeer
	}
	if len(e.refuted) >= maxRefuted {
		for a, at := range e.refuted {
			if time.Since(at) >= refuteFor {
				delete(e.refuted, a)
			}
		}
		if len(e.refuted) >= maxRefuted {
			return notPeer
		}
	}
	e.pending[src] = &pendingCheck{held: 1, last: p}
	known, gen := e.anchors(), e.trustGen
	e.log.Debug("vrrp: checking whether an advert's source is the peer's", "source", src, "peer", known)
	go func() {
		ok, err := lv.sameLink(known, src)
		select {
		case e.verdicts <- verdict{addr: src, gen: gen, ok: ok, err: err}:
		case <-e.done:
		}
	}()
	return held
}

// checked takes a check's verdict: the source is pinned as the peer's (and its last held
// advert handled), or refused (its held adverts counted as not_peer).
func (e *Engine) checked(v verdict) {
	if v.gen != e.trustGen {
		return // checked against addresses the peer no longer has
	}
	pc := e.pending[v.addr]
	delete(e.pending, v.addr)
	if v.ok && e.cfg.trustsPeer() {
		if e.pinned != v.addr {
			e.log.Info("vrrp: pinned the peer's address: it has the link-layer address of the peer director's", "address", v.addr, "peer", e.anchors())
		}
		e.pinned = v.addr
		e.updateGate()
		if pc != nil {
			e.process(pc.last)
		}
		return
	}
	e.refuted[v.addr] = time.Now()
	e.updateGate()
	if pc != nil {
		e.mu.Lock()
		e.status.Dropped[DropReason(errNotPeer)] += pc.held
		e.mu.Unlock()
	}
	e.warnNotPeer(v.addr, v.err)
}

// warnNotPeer logs, once per source (for the first maxWarned), that adverts from it are
// dropped: either someone else on the link speaks VRRP for this VRID, or the peer sends from
// an address that is not the one the pair names.
func (e *Engine) warnNotPeer(src netip.Addr, err error) {
	e.warnMu.Lock()
	_, ok := e.warned[src]
	if !ok && len(e.warned) < maxWarned {
		e.warned[src] = struct{}{}
	} else {
		ok = true
	}
	e.warnMu.Unlock()
	if ok {
		return
	}
	args := []any{"source", src, "peer", e.anchors()}
	if err != nil {
		args = append(args, "err", err)
	}
	e.log.Warn("vrrp: dropping adverts from a source that is not the peer director (further ones from it are only counted, as not_peer)", args...)
}

// dropNotPeer counts and logs an advert from a source that is not the peer.
func (e *Engine) dropNotPeer(src netip.Addr) {
	e.drop(fmt.Errorf("%w: %v", errNotPeer, src))
	e.warnNotPeer(src, nil)
}

// retrust forgets what was pinned or refused when the peer's configured addresses change.
func (e *Engine) retrust(old EngineConfig) {
	if slices.Equal(old.Trusted, e.cfg.Trusted) && old.Peer == e.cfg.Peer {
		return
	}
	e.trustGen++
	e.pinned = netip.Addr{}
	clear(e.pending)
	clear(e.refuted)
	e.warnMu.Lock()
	clear(e.warned)
	e.warnMu.Unlock()
	e.updateGate()
}
