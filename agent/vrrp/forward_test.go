package vrrp_test

import (
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

	mu      sync.Mutex
	windows []*fwdWindow
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

func TestEngineForwardsAfterPlannedStop(t *testing.T) {
	t.Parallel()
	l := &lan{}
	a := newNode(t, l, "a", engineConfig("198.51.100.11", 200, vip1)).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	f := &forwarder{}
	cfgB := engineConfig("198.51.100.12", 100, vip1)
	cfgB.Forwarder = f
	b := newNode(t, l, "b", cfgB).start()
	waitFor(t, "b hears a", func() bool { return b.eng.Status().Master == a.port.addr })
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
	l := &lan{}
	a := newNode(t, l, "a", engineConfig("198.51.100.11", 200, vip1)).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	f := &forwarder{}
	cfgB := engineConfig("198.51.100.12", 100, vip1)
	cfgB.Forwarder = f
	b := newNode(t, l, "b", cfgB).start()
	waitFor(t, "b hears a", func() bool { return b.eng.Status().Master == a.port.addr })
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
	l := &lan{}
	a := newNode(t, l, "a", engineConfig("198.51.100.11", 200, vip1)).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	f := &forwarder{}
	cfgB := engineConfig("198.51.100.12", 100, vip1)
	cfgB.Forwarder = f
	b := newNode(t, l, "b", cfgB).start()
	waitFor(t, "b hears a", func() bool { return b.eng.Status().Master == a.port.addr })
	// A dead master serves nothing: its connections are not forwarded to it.
	a.port.setDown(true)
	waitFor(t, "b master", b.is(vrrp.StateMaster))
	if ws := f.list(); len(ws) != 0 {
		t.Errorf("windows opened after a crash: %+v", ws)
	}
}

func TestEngineForwardingEndsWithMastership(t *testing.T) {
	t.Parallel()
	l := &lan{}
	a := newNode(t, l, "a", engineConfig("198.51.100.11", 200, vip1)).start()
	waitFor(t, "a master", a.is(vrrp.StateMaster))
	f := &forwarder{}
	cfgB := engineConfig("198.51.100.12", 100, vip1)
	cfgB.Forwarder = f
	b := newNode(t, l, "b", cfgB).start()
	waitFor(t, "b hears a", func() bool { return b.eng.Status().Master == a.port.addr })
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
