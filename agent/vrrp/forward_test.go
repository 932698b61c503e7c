package vrrp_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
)

// forwarder is a vrrp.Forwarder that records its windows.
type forwarder struct {
	// onForward, if set, runs when a window opens (on the engine's goroutine).
	onForward func()

	// failSilence makes SilenceARP fail; onUnsilence, if set, runs when a silence ends.
	failSilence bool
	onUnsilence func()

	mu       sync.Mutex
	windows  []*fwdWindow
	silences []*fwdWindow
}

type fwdWindow struct {
	prev           netip.Addr
	addrs          []netip.Addr
	opened, closed time.Time
}

func (f *forwarder) Forward(ifname string, prev netip.Addr, addrs []netip.Addr) (func(), error) {
	if ifname != "eth0" {
		panic("forwarding on " + ifname)
	}
	if f.onForward != nil {
		f.onForward()
	}
	w := &fwdWindow{prev: prev, addrs: slices.Clone(addrs), opened: time.Now()}
	f.mu.Lock()
	f.windows = append(f.windows, w)
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !w.closed.IsZero() {
			panic("window closed twice")
		}
		w.closed = time.Now()
	}, nil
}

// SilenceARP records a silence as a window with no previous master; failSilence refuses it.
func (f *forwarder) SilenceARP(ifname string, addrs []netip.Addr) (func(), error) {
	if ifname != "eth0" {
		panic("silencing ARP on " + ifname)
	}
	if f.failSilence {
		return nil, errors.New("no tc here")
	}
	w := &fwdWindow{addrs: slices.Clone(addrs), opened: time.Now()}
	f.mu.Lock()
	f.silences = append(f.silences, w)
	f.mu.Unlock()
	return func() {
		if f.onUnsilence != nil {
			f.onUnsilence()
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if !w.closed.IsZero() {
			panic("silence ended twice")
		}
		w.closed = time.Now()
	}, nil
}

func (f *forwarder) silenceList() []fwdWindow {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ws []fwdWindow
	for _, w := range f.silences {
		ws = append(ws, *w)
	}
	return ws
}

func (f *forwarder) list() []fwdWindow {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ws []fwdWindow
	for _, w := range f.windows {
		ws = append(ws, *w)
	}
	return ws
}

func (f *forwarder) closedAll() func() bool {
	return func() bool {
		ws := f.list()
		return len(ws) > 0 && !slices.ContainsFunc(ws, func(w fwdWindow) bool { return w.closed.IsZero() })
	}
}

// checkWindow checks the one window a planned takeover opened towards prev: for the VIP, and
// closed about the handover window later.
func checkWindow(t *testing.T, f *forwarder, prev string) {
	t.Helper()
	ws := f.list()
	if len(ws) != 1 {
		t.Fatalf("%d windows opened, want 1: %+v", len(ws), ws)
	}
	w := ws[0]
	if w.prev != netip.MustParseAddr(prev) || !slices.Equal(w.addrs, []netip.Addr{netip.MustParseAddr(vip1)}) {
		t.Errorf("window towards %v for %v, want %s for %s", w.prev, w.addrs, prev, vip1)
	}
	waitFor(t, "window closed", f.closedAll())
	// maxGrace (2s) plus a margin: the previous master keeps its addresses no longer.
	if open := f.list()[0].closed.Sub(w.opened); open < 2*time.Second || open > 3*time.Second {
		t.Errorf("window open for %v", open)
	}
}

// forwardingPair starts a (priority 200) as master and b (100, forwarding with f) as its backup.
func forwardingPair(t *testing.T) (a, b *node, f *forwarder) {
	t.Helper()
	l := &lan{}
	a = newNode(t, l, "a", engineConfig("198.51.100.11", 200, vip1)).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	f = &forwarder{}
	cfgB := engineConfig("198.51.100.12", 100, vip1)
	cfgB.Forwarder = f
	b = newNode(t, l, "b", cfgB).start()
	waitFor(t, "b hears a", func() bool { return b.eng.Status().Master == a.port.addr })
	return a, b, f
}

func TestEngineForwardsAfterPlannedStop(t *testing.T) {
	t.Parallel()
	a, b, f := forwardingPair(t)
	// The window opens when a's priority 0 comes, before b takes over (and announces), and
	// lasts the handover window from the takeover.
	var state vrrp.State
	var announced bool
	f.onForward = func() { state, announced = b.eng.Status().State, b.port.announcements() > 0 }
	if err := a.eng.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b master", b.is(vrrp.StateMaster))
	if state != vrrp.StateBackup || announced {
		t.Errorf("window opened in state %v, announced %v", state, announced)
	}
	checkWindow(t, f, "198.51.100.11")
}

func TestEngineForwardingBeforeTakeoverEnds(t *testing.T) {
	t.Parallel()
	a, b, f := forwardingPair(t)
	// A priority 0 opens the window; the master advertising again (it did not stop after
	// all) closes it, and b stays backup. The forged advert's 1s interval gives b a Skew_Time
	// of 609ms: a's next advert comes well before.
	adv := &vrrp.Advert{Version: 3, VRID: 91, Priority: 0, AdvertInterval: 100, Addresses: []netip.Addr{netip.MustParseAddr(vip1)}}
	send := func(prio uint8) {
		adv.Priority = prio
		bs, err := adv.Marshal(a.port.addr, vrrp.MulticastIPv4)
		if err != nil {
			t.Fatal(err)
		}
		b.port.inject(vrrp.Packet{Payload: bs, Src: a.port.addr, Dst: vrrp.MulticastIPv4, TTL: 255})
	}
	send(0)
	waitFor(t, "window opened", func() bool { return len(f.list()) == 1 })
	send(200)
	waitFor(t, "window closed", f.closedAll())
	if st := b.eng.Status().State; st != vrrp.StateBackup {
		t.Errorf("b %v", st)
	}
}

func TestEngineForwardsWhenPreempting(t *testing.T) {
	t.Parallel()
	l := &lan{}
	b := newNode(t, l, "b", engineConfig("198.51.100.12", 100, vip1)).start()
	waitFor(t, "b master alone", b.is(vrrp.StateMaster))
	f := &forwarder{}
	cfgA := engineConfig("198.51.100.11", 200, vip1)
	cfgA.Forwarder = f
	a := newNode(t, l, "a", cfgA).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	checkWindow(t, f, "198.51.100.12")
}

func TestEngineNoForwardingAfterCrash(t *testing.T) {
	t.Parallel()
	a, b, f := forwardingPair(t)
	// A dead master serves nothing: its connections are not forwarded to it.
	a.port.setDown(true)
	waitFor(t, "b master", b.is(vrrp.StateMaster))
	if ws := f.list(); len(ws) != 0 {
		t.Errorf("windows opened after a crash: %+v", ws)
	}
}

func TestEngineForwardingEndsWithMastership(t *testing.T) {
	t.Parallel()
	a, b, f := forwardingPair(t)
	_ = a.eng.Close()
	waitFor(t, "b master", b.is(vrrp.StateMaster))
	waitFor(t, "window opened", func() bool { return len(f.list()) == 1 })
	// Stopping within the window closes it before Close returns.
	_ = b.eng.Close()
	if !f.closedAll()() {
		t.Error("window still open after Close")
	}
	if open := f.list()[0].closed.Sub(f.list()[0].opened); open >= 2*time.Second {
		t.Errorf("window open for %v", open)
	}
}

// A master that stops, and one that gives way to a preempting one, keep their addresses for the
// successor's whole window (maxGrace) with ARP for them silenced, and let the silence go only
// after the addresses.
func TestEngineKeepsAddressesSilencedForTheWindow(t *testing.T) {
	t.Parallel()
	for _, preempted := range []bool{false, true} {
		t.Run(fmt.Sprintf("preempted=%v", preempted), func(t *testing.T) {
			t.Parallel()
			l := &lan{}
			f := &forwarder{}
			cfgA := engineConfig("198.51.100.11", 100, vip1)
			if !preempted {
				cfgA.Router.Priority = 200
			}
			cfgA.Forwarder = f
			a := newNode(t, l, "a", cfgA).start()
			waitFor(t, "a master", a.is(vrrp.StateMaster))
			var heldAtEnd bool
			f.onUnsilence = func() { heldAtEnd = a.addrs.has(vip1) }
			cfgB := engineConfig("198.51.100.12", 150, vip1)
			b := newNode(t, l, "b", cfgB).start()
			t0 := time.Now()
			if preempted {
				waitFor(t, "a gives way", a.is(vrrp.StateBackup))
			} else {
				waitFor(t, "b hears a", func() bool { return b.eng.Status().Master == a.port.addr })
				t0 = time.Now()
				if err := a.eng.Close(); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "b master", b.is(vrrp.StateMaster))
			if !preempted && a.addrs.has(vip1) {
				t.Error("a kept the VIP after Close returned")
			}
			deadline := time.Now().Add(5 * time.Second)
			for a.addrs.has(vip1) && time.Now().Before(deadline) {
				if time.Since(t0) < 1900*time.Millisecond && len(f.silenceList()) != 1 {
					t.Fatalf("a holds the VIP with %d ARP silences", len(f.silenceList()))
				}
				time.Sleep(5 * time.Millisecond)
			}
			held := time.Since(t0)
			if held < 2*time.Second || held > 4*time.Second {
				t.Errorf("a held the VIP %v after giving way, want about maxGrace (2s)", held)
			}
			waitFor(t, "silence ended", func() bool { s := f.silenceList(); return len(s) == 1 && !s[0].closed.IsZero() })
			if heldAtEnd {
				t.Error("the ARP silence ended before the VIP went")
			}
			if s := f.silenceList()[0]; !slices.Equal(s.addrs, []netip.Addr{netip.MustParseAddr(vip1)}) {
				t.Errorf("silenced %v", s.addrs)
			}
		})
	}
}

// A successor that advertises late — here one that comes up 600 ms after the stop, as one whose
// host is too loaded to run its timers in time, far past the Master_Down_Interval of the lowest
// priority at 100 ms adverts (399 ms) — still finds the addresses held: the stopping master keeps
// them until a successor advertised, then for the window with ARP silenced. Giving up at 399 ms
// left nobody holding them, and the connections in flight were reset.
func TestEngineStopWaitsForALateSuccessor(t *testing.T) {
	t.Parallel()
	l := &lan{}
	f := &forwarder{}
	cfgA := engineConfig("198.51.100.11", 200, vip1)
	cfgA.Forwarder = f
	a := newNode(t, l, "a", cfgA).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	t0 := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- a.eng.Close() }()
	const late = 600 * time.Millisecond
	var b *node
	for b == nil || !b.is(vrrp.StateMaster)() {
		if b == nil && time.Since(t0) >= late {
			b = newNode(t, l, "b", engineConfig("198.51.100.12", 100, vip1)).start()
		}
		if !a.addrs.has(vip1) {
			t.Fatalf("a let go of the VIP %v after its stop, before a successor took over", time.Since(t0))
		}
		if time.Since(t0) > 5*time.Second {
			t.Fatal("b did not take over")
		}
		time.Sleep(2 * time.Millisecond)
	}
	took := time.Since(t0)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	held := time.Since(t0)
	if ss := f.silenceList(); len(ss) != 1 || held < took+2*time.Second-50*time.Millisecond {
		t.Errorf("a held the VIP %v (successor after %v) with %d ARP silences, want the 2s window silenced", held, took, len(ss))
	}
	t.Logf("successor master after %v; a held the VIP %v", took.Round(time.Millisecond), held.Round(time.Millisecond))
}

// Without an ARP silence, a master that gave way keeps its addresses only while clients send to
// them: here none does, so they go after handoverGrace (300ms).
func TestEngineReleasesEarlyWithoutSilence(t *testing.T) {
	t.Parallel()
	l := &lan{}
	f := &forwarder{failSilence: true}
	cfgA := engineConfig("198.51.100.11", 200, vip1)
	cfgA.Forwarder = f
	a := newNode(t, l, "a", cfgA).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	b := newNode(t, l, "b", engineConfig("198.51.100.12", 100, vip1)).start()
	waitFor(t, "b hears a", func() bool { return b.eng.Status().Master == a.port.addr })
	t0 := time.Now()
	if err := a.eng.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took > 1500*time.Millisecond {
		t.Errorf("stop took %v with no client traffic", took)
	}
}
