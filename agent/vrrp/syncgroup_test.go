package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// A simulation of a sync group of two members (VRIDs 1 and 2) on each of two directors:
// Machines wired by an in-memory link under a fake clock, each director's group decided by
// SyncState after every event, as the engines do. The engine's own rule that a master giving
// way says priority 0 is reproduced.

type sgNode struct {
	dir, member int
	m           *Machine
	vips        bool
}

type sgPacket struct {
	at   time.Time
	from *sgNode
	a    *Advert
}

type sgSim struct {
	t       *testing.T
	now     time.Time
	nodes   [2][2]*sgNode // [director][member]
	groups  [2]SyncState
	again   [2]time.Time
	queue   []sgPacket
	trace   []string
	changes []time.Time // state changes
	split   time.Duration
	splitAt time.Time // when the current split began (zero: none)
}

const sgLatency = time.Millisecond

func newSGSim(t *testing.T, prio [2][2]uint8) *sgSim {
	s := &sgSim{t: t, now: t0}
	for d := range 2 {
		for i := range 2 {
			m, err := NewMachine(Config{
				Version: 3, VRID: uint8(i + 1), Priority: prio[d][i], AdvertInterval: time.Second,
				Addresses:   []netip.Addr{netip.AddrFrom4([4]byte{198, 51, 100, byte(100 + i)})},
				PrimaryAddr: netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + d)}),
			})
			if err != nil {
				t.Fatal(err)
			}
			m.SetGated(s.now, true)
			s.nodes[d][i] = &sgNode{dir: d, member: i, m: m}
		}
	}
	return s
}

func (s *sgSim) logf(format string, args ...any) {
	s.trace = append(s.trace, fmt.Sprintf("%9v ", s.now.Sub(t0))+fmt.Sprintf(format, args...))
}

func (s *sgSim) fail(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf(format+"\ntrace (last 60):\n%s", append(args, strings.Join(s.trace[max(0, len(s.trace)-60):], "\n"))...)
}

func (n *sgNode) String() string { return fmt.Sprintf("%c.%c", 'A'+n.dir, 'X'+n.member) }

func (s *sgSim) exec(n *sgNode, acts []Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case SendAdvert:
			s.queue = append(s.queue, sgPacket{at: s.now.Add(sgLatency), from: n, a: n.m.Advert(a.Priority)})
		case AddVIPs:
			n.vips = true
		case RemoveVIPs:
			n.vips = false
		case Notify:
			s.logf("%v %v -> %v", n, a.From, a.To)
			s.changes = append(s.changes, s.now)
		}
	}
}

// settle runs the groups' decisions until they have nothing more to do, then checks for a
// split: one member's addresses held by one director only, the other's by the other only.
func (s *sgSim) settle() {
	for range 10 {
		did := false
		for d := range 2 {
			views := []*MemberView{}
			for _, n := range s.nodes[d] {
				v := n.m.View()
				views = append(views, &v)
			}
			cmds, again := s.groups[d].Decide(s.now, views)
			s.again[d] = again
			for i, c := range cmds {
				n := s.nodes[d][i]
				switch c {
				case SyncTakeOver:
					s.logf("%v group: take over", n)
					s.exec(n, n.m.TakeOver(s.now))
					did = true
				case SyncStepDown:
					s.logf("%v group: step down", n)
					s.exec(n, n.m.StepDown(s.now))
					did = true
				}
			}
		}
		if !did {
			break
		}
	}
	split := false
	for d := range 2 {
		x, y := s.nodes[d][0], s.nodes[d][1]
		ox, oy := s.nodes[1-d][0], s.nodes[1-d][1]
		if x.vips && !ox.vips && oy.vips && !y.vips {
			split = true
		}
	}
	switch {
	case split && s.splitAt.IsZero():
		s.splitAt = s.now
	case !split && !s.splitAt.IsZero():
		s.split += s.now.Sub(s.splitAt)
		s.splitAt = time.Time{}
	}
}

func (s *sgSim) start(d int) {
	for _, n := range s.nodes[d] {
		s.exec(n, n.m.Start(s.now))
	}
	s.settle()
}

// track sets the tracking of every member of director d, as agent/ha does for a group.
func (s *sgSim) track(d, weight int, fault bool) {
	s.logf("%c tracking weight %d fault %v", 'A'+d, weight, fault)
	for _, n := range s.nodes[d] {
		acts := n.m.UpdateTracking(s.now, weight, fault)
		s.exec(n, acts)
	}
	s.settle()
}

func (s *sgSim) runFor(dur time.Duration) {
	until := s.now.Add(dur)
	for {
		next, ok := time.Time{}, false
		var timer *sgNode
		for _, p := range s.queue {
			if !ok || p.at.Before(next) {
				next, ok = p.at, true
			}
		}
		for d := range 2 {
			for _, n := range s.nodes[d] {
				if t, has := n.m.NextDeadline(); has && (!ok || t.Before(next)) {
					next, ok, timer = t, true, n
				}
			}
			if a := s.again[d]; !a.IsZero() && (!ok || a.Before(next)) {
				next, ok, timer = a, true, nil
			}
		}
		if !ok || next.After(until) {
			s.now = until
			s.settle()
			return
		}
		s.now = next
		switch {
		case timer != nil:
			s.exec(timer, timer.m.Tick(s.now))
		case slices.ContainsFunc(s.queue, func(p sgPacket) bool { return p.at.Equal(next) }):
			i := slices.IndexFunc(s.queue, func(p sgPacket) bool { return p.at.Equal(next) })
			p := s.queue[i]
			s.queue = slices.Delete(s.queue, i, i+1)
			to := s.nodes[1-p.from.dir][p.from.member]
			was := to.m.State()
			acts, err := to.m.HandleAdvert(s.now, p.a, p.from.m.cfg.PrimaryAddr)
			if err != nil {
				s.fail("%v: %v", to, err)
			}
			s.exec(to, acts)
			if was == StateMaster && to.m.State() == StateBackup {
				s.exec(to, []Action{SendAdvert{PriorityStop}}) // the engine's "gave way"
			}
		default: // a group's tie-break wait ended
		}
		s.settle()
	}
}

// holder returns the director holding both members, failing on anything else.
func (s *sgSim) holder() int {
	s.t.Helper()
	for d := range 2 {
		a, b := s.nodes[d], s.nodes[1-d]
		if a[0].m.State() == StateMaster && a[1].m.State() == StateMaster && a[0].vips && a[1].vips &&
			b[0].m.State() != StateMaster && b[1].m.State() != StateMaster && !b[0].vips && !b[1].vips {
			return d
		}
	}
	s.fail("no director holds the whole group")
	return -1
}

// quiet checks that nothing changed in the last dur.
func (s *sgSim) quiet(dur time.Duration) {
	s.t.Helper()
	if len(s.changes) > 0 && s.now.Sub(s.changes[len(s.changes)-1]) < dur {
		s.fail("still changing at %v (last change %v)", s.now.Sub(t0), s.changes[len(s.changes)-1].Sub(t0))
	}
}

// Two members whose inputs conflict — on each director one member has the higher priority,
// symmetrically, the worst case for a tie — started at the same instant: the pair settles
// with one director holding the whole group and stays so.
func TestSyncGroupConflictSettles(t *testing.T) {
	for _, late := range []time.Duration{0, 300 * time.Millisecond, 3 * time.Second} {
		t.Run(fmt.Sprintf("B starts %v later", late), func(t *testing.T) {
			s := newSGSim(t, [2][2]uint8{{90, 150}, {150, 90}})
			s.start(0)
			s.runFor(late)
			s.start(1)
			s.runFor(30 * time.Second)
			s.holder()
			s.quiet(20 * time.Second)
			n := len(s.changes)
			s.runFor(5 * time.Minute)
			if len(s.changes) != n {
				s.fail("changes after settling: %d", len(s.changes)-n)
			}
			if s.split > 5*sgLatency {
				s.fail("split between the directors for %v", s.split)
			}
			t.Logf("settled after %d state changes, split %v", n, s.split)
		})
	}
}

// A priority change of the group on the holder moves the whole group, and back; so does a
// fault; never split for longer than the adverts' way.
func TestSyncGroupMovesTogether(t *testing.T) {
	s := newSGSim(t, [2][2]uint8{{150, 150}, {100, 100}})
	s.start(0)
	s.start(1)
	s.runFor(10 * time.Second)
	if s.holder() != 0 {
		s.fail("A should hold the group")
	}
	s.quiet(5 * time.Second)
	step := func(name string, f func(), want int) {
		t.Helper()
		s.logf("--- %s", name)
		at := s.now
		f()
		s.runFor(10 * time.Second)
		if h := s.holder(); h != want {
			s.fail("%s: holder %c, want %c", name, 'A'+h, 'A'+want)
		}
		s.quiet(5 * time.Second)
		var moved time.Duration
		for _, c := range s.changes {
			if c.After(at) || c.Equal(at) {
				moved = c.Sub(at)
			}
		}
		t.Logf("%s: settled %v after", name, moved)
		if moved > 5*time.Second {
			s.fail("%s: took %v", name, moved)
		}
	}
	step("A's priority drops below B's", func() { s.track(0, -60, false) }, 1)
	step("A's priority restored: A preempts", func() { s.track(0, 0, false) }, 0)
	step("A faults", func() { s.track(0, 0, true) }, 1)
	step("A's fault clears", func() { s.track(0, 0, false) }, 0)
	step("B faults meanwhile (nothing moves)", func() { s.track(1, 0, true) }, 0)
	step("B recovers", func() { s.track(1, 0, false) }, 0)
	if s.split > 5*sgLatency {
		s.fail("split for %v", s.split)
	}
}

// One member hears a better master while the other would win: the group holds where it is
// (keepalived prefers BACKUP), and a director whose member waits for the group never takes
// its member alone.
func TestSyncDecide(t *testing.T) {
	a, b := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")
	md := 3 * time.Second
	master := &MemberView{State: StateMaster, Self: a, Master: a, MasterDown: md}
	wants := &MemberView{State: StateBackup, Wants: true, Self: a, Master: b, MasterDown: md}
	yields := &MemberView{State: StateBackup, Self: a, Master: b, MasterDown: md}
	fault := &MemberView{State: StateFault, Self: a, MasterDown: md}
	var st SyncState
	for _, c := range []struct {
		name  string
		views []*MemberView
		want  []SyncCommand
	}{
		{"all master", []*MemberView{master, master}, []SyncCommand{SyncNone, SyncNone}},
		{"one wants, one master", []*MemberView{wants, master}, []SyncCommand{SyncTakeOver, SyncNone}},
		{"one wants, one yields", []*MemberView{wants, yields}, []SyncCommand{SyncNone, SyncNone}},
		{"one not heard from yet", []*MemberView{wants, nil}, []SyncCommand{SyncTakeOver, SyncNone}},
		{"fault steps the master down", []*MemberView{master, fault}, []SyncCommand{SyncStepDown, SyncNone}},
	} {
		got, _ := st.Decide(t0, c.views)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// Giving way to a higher address holds the group back a Master_Down_Interval.
	got, _ := st.Decide(t0, []*MemberView{master, yields})
	if !slices.Equal(got, []SyncCommand{SyncStepDown, SyncNone}) {
		t.Fatalf("yield: %v", got)
	}
	got, again := st.Decide(t0.Add(time.Second), []*MemberView{wants, wants})
	if !slices.Equal(got, []SyncCommand{SyncNone, SyncNone}) || !again.Equal(t0.Add(md)) {
		t.Fatalf("during the hold-off: %v again %v", got, again)
	}
	got, _ = st.Decide(t0.Add(md), []*MemberView{wants, wants})
	if !slices.Equal(got, []SyncCommand{SyncTakeOver, SyncTakeOver}) {
		t.Fatalf("after the hold-off: %v", got)
	}
}

// A gated Machine: its Master_Down_Timer makes it want, not take over; a master it yields to
// ends the wish, a priority 0 advert or a lower priority to preempt does not; TakeOver and
// StepDown are the group's transitions, StepDown saying priority 0 first.
func TestMachineGated(t *testing.T) {
	m, err := NewMachine(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	m.SetGated(t0, true)
	m.Start(t0)
	adv := func(prio uint8) *Advert {
		return &Advert{Version: 3, VRID: 52, Priority: prio, AdvertInterval: 100, Addresses: []netip.Addr{vip}}
	}
	if acts := m.Tick(t0.Add(md100)); len(acts) != 0 || !m.Wants() || m.State() != StateBackup {
		t.Fatalf("timer ran out: %v, wants %v, %v", acts, m.Wants(), m.State())
	}
	if _, ok := m.NextDeadline(); ok {
		t.Error("a wanting machine keeps a timer")
	}
	for _, p := range []uint8{PriorityStop, 50} {
		if _, err := m.HandleAdvert(t0.Add(md100+second), adv(p), peer); err != nil || !m.Wants() {
			t.Fatalf("advert with priority %d: %v, wants %v", p, err, m.Wants())
		}
	}
	if _, err := m.HandleAdvert(t0.Add(md100+2*second), adv(150), peer); err != nil || m.Wants() {
		t.Fatalf("a better master: %v, wants %v", err, m.Wants())
	}
	if acts := m.TakeOver(t0.Add(md100 + 2*second)); acts != nil {
		t.Fatalf("TakeOver without wanting: %v", acts)
	}
	// Silence again: want, then take over on the group's word.
	at := t0.Add(md100 + 2*second + md100)
	m.Tick(at)
	acts := m.TakeOver(at)
	if m.State() != StateMaster || len(acts) == 0 || acts[len(acts)-1] != (Notify{StateBackup, StateMaster}) {
		t.Fatalf("TakeOver: %v, %v", acts, m.State())
	}
	acts = m.StepDown(at.Add(second))
	if want := []Action{SendAdvert{PriorityStop}, RemoveVIPs{}, Notify{StateMaster, StateBackup}}; !slices.Equal(acts, want) || m.State() != StateBackup {
		t.Fatalf("StepDown: %v, want %v", acts, want)
	}
	// Ungated while wanting: the timer is due at once, as a router of its own.
	at = at.Add(second + md100)
	m.Tick(at)
	m.SetGated(at, false)
	if d, ok := m.NextDeadline(); !ok || !d.Equal(at) {
		t.Fatalf("ungated: deadline %v %v", d, ok)
	}
	if m.Tick(at); m.State() != StateMaster {
		t.Fatalf("ungated: %v", m.State())
	}
}
