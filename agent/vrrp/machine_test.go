package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	t0     = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	self   = netip.MustParseAddr("198.51.100.11")
	peer   = netip.MustParseAddr("198.51.100.12")
	lower  = netip.MustParseAddr("198.51.100.10")
	vip    = netip.MustParseAddr("198.51.100.100")
	second = time.Second
)

// baseConfig: VRRPv3, 1s, priority 100, so Master_Down_Interval is
// 3s + 156/256 s = 3.609375s and Skew_Time 609.375ms.
func baseConfig() Config {
	return Config{
		Version: 3, VRID: 52, Priority: 100, AdvertInterval: second,
		Addresses: []netip.Addr{vip}, PrimaryAddr: self,
	}
}

var (
	md100   = MasterDownInterval(3, 100, second)
	skew100 = SkewTime(3, 100, second)
)

func TestTimerFormulas(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		v        uint8
		prio     uint8
		interval time.Duration
		skew, md time.Duration
	}{
		{3, 100, second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{3, 254, 100 * ms, 781250 * time.Nanosecond, 300*ms + 781250*time.Nanosecond},
		{3, 1, 3 * second, 2988281250 * time.Nanosecond, 9*second + 2988281250*time.Nanosecond},
		{3, 255, 2560 * ms, 10 * ms, 7690 * ms},
		// VRRPv2 (RFC 3768): Skew_Time does not scale with the interval.
		{2, 100, second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{2, 100, 3 * second, 609375 * time.Microsecond, 9609375 * time.Microsecond},
	} {
		if got := SkewTime(tc.v, tc.prio, tc.interval); got != tc.skew {
			t.Errorf("SkewTime(v%d, %d, %v) = %v, want %v", tc.v, tc.prio, tc.interval, got, tc.skew)
		}
		if got := MasterDownInterval(tc.v, tc.prio, tc.interval); got != tc.md {
			t.Errorf("MasterDownInterval(v%d, %d, %v) = %v, want %v", tc.v, tc.prio, tc.interval, got, tc.md)
		}
	}
}

// A step feeds one event to the machine at t0+at and checks what comes out.
type step struct {
	at   time.Duration
	do   func(m *Machine, now time.Time) ([]Action, error)
	want []Action // nil: expect none
	// state is the state after the step.
	state State
	// deadline is NextDeadline as an offset from t0; noDeadline for none,
	// anyDeadline not to check.
	deadline time.Duration
	err      error
}

const (
	noDeadline  = time.Duration(-1)
	anyDeadline = time.Duration(-2)
)

func start(m *Machine, now time.Time) ([]Action, error) { return m.Start(now), nil }
func tick(m *Machine, now time.Time) ([]Action, error)  { return m.Tick(now), nil }
func shutdown(m *Machine, now time.Time) ([]Action, error) {
	return m.Shutdown(now), nil
}

// rx delivers a VRRPv3 advert with the test VIP.
func rx(prio uint8, from netip.Addr) func(*Machine, time.Time) ([]Action, error) {
	return rxAdvert(&Advert{Version: 3, VRID: 52, Priority: prio, AdvertInterval: 100,
		Addresses: []netip.Addr{vip}}, from)
}

func rxInterval(prio uint8, from netip.Addr, cs uint16) func(*Machine, time.Time) ([]Action, error) {
	return rxAdvert(&Advert{Version: 3, VRID: 52, Priority: prio, AdvertInterval: cs,
		Addresses: []netip.Addr{vip}}, from)
}

func rxAdvert(a *Advert, from netip.Addr) func(*Machine, time.Time) ([]Action, error) {
	return func(m *Machine, now time.Time) ([]Action, error) { return m.HandleAdvert(now, a, from) }
}

func track(weight int, fault bool) func(*Machine, time.Time) ([]Action, error) {
	return func(m *Machine, now time.Time) ([]Action, error) {
		return m.UpdateTracking(now, weight, fault), nil
	}
}

// toMaster is what becoming master looks like with the base config.
func toMaster(from State, prio uint8) []Action {
	return []Action{SendAdvert{prio}, AddVIPs{}, SendGratuitous{DefaultGARPRepeat}, Notify{from, StateMaster}}
}

var startBackup = []Action{RemoveVIPs{}, Notify{StateInit, StateBackup}}

// masterAt: steps that take a base machine to MASTER at md100.
func masterAt() []step {
	return []step{
		{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md100},
		{at: md100, do: tick, want: toMaster(StateBackup, 100), state: StateMaster, deadline: md100 + second},
	}
}

func runSteps(t *testing.T, cfg Config, steps []step) *Machine {
	t.Helper()
	m, err := NewMachine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range steps {
		now := t0.Add(s.at)
		got, err := s.do(m, now)
		if !errors.Is(err, s.err) || (s.err == nil && err != nil) {
			t.Fatalf("step %d (t=%v): error %v, want %v", i, s.at, err, s.err)
		}
		if !slices.Equal(got, s.want) {
			t.Fatalf("step %d (t=%v): actions %v, want %v", i, s.at, got, s.want)
		}
		if m.State() != s.state {
			t.Fatalf("step %d (t=%v): state %v, want %v", i, s.at, m.State(), s.state)
		}
		d, ok := m.NextDeadline()
		switch {
		case s.deadline == anyDeadline:
		case s.deadline == noDeadline:
			if ok {
				t.Fatalf("step %d (t=%v): deadline %v, want none", i, s.at, d.Sub(t0))
			}
		case !ok || !d.Equal(t0.Add(s.deadline)):
			t.Fatalf("step %d (t=%v): deadline %v (%v), want %v", i, s.at, d.Sub(t0), ok, s.deadline)
		}
	}
	return m
}

func TestMachineRules(t *testing.T) {
	ms := time.Millisecond
	mm := md100 + 500*ms // half-way through the first second as master
	md3 := MasterDownInterval(3, 100, 3*second)
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		steps []step
	}{
		{"Initialize: non-owner starts as backup and removes stale VIPs", nil, []step{
			{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md100},
			{at: 0, do: start, state: StateBackup, deadline: md100}, // idempotent
		}},
		{"Initialize: owner (255) becomes master at once", func(c *Config) { c.Priority = 255 }, []step{
			{at: 0, do: start, want: toMaster(StateInit, 255), state: StateMaster, deadline: second},
			{at: second, do: tick, want: []Action{SendAdvert{255}}, state: StateMaster, deadline: 2 * second},
		}},
		{"Backup: takes over after Master_Down_Interval of silence", nil, []step{
			{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md100},
			{at: md100 - 1, do: tick, state: StateBackup, deadline: md100},
			{at: md100, do: tick, want: toMaster(StateBackup, 100), state: StateMaster, deadline: md100 + second},
		}},
		{"Backup: higher-priority advert resets Master_Down_Timer", nil, []step{
			{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md100},
			{at: 3 * second, do: rx(200, peer), state: StateBackup, deadline: 3*second + md100},
			{at: 3*second + md100 - 1, do: tick, state: StateBackup, deadline: 3*second + md100},
		}},
		{"Backup: equal priority is accepted too (>=)", nil, []step{
			{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md100},
			{at: 3 * second, do: rx(100, lower), state: StateBackup, deadline: 3*second + md100},
		}},
		{"Backup v3: learns Master_Adver_Interval from the master", nil, []step{
			{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md100},
			{at: second, do: rxInterval(200, peer, 300), state: StateBackup,
				deadline: second + MasterDownInterval(3, 100, 3*second)},
			{at: 2 * second, do: rxInterval(200, peer, 10), state: StateBackup,
				deadline: 2*second + MasterDownInterval(3, 100, 100*ms)},
		}},
		{"Backup: priority 0 advert → Master_Down_Timer = Skew_Time", nil, []step{
			{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md100},
			{at: second, do: rx(200, peer), state: StateBackup, deadline: second + md100},
			{at: 2 * second, do: rx(0, peer), state: StateBackup, deadline: 2*second + skew100},
			{at: 2*second + skew100, do: tick, want: toMaster(StateBackup, 100), state: StateMaster, deadline: 3*second + skew100},
		}},
		{"Backup preempt: lower-priority adverts are discarded, so it takes over", nil, []step{
			{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md100},
			{at: 1 * second, do: rx(50, peer), state: StateBackup, deadline: md100},
			{at: 2 * second, do: rx(50, peer), state: StateBackup, deadline: md100},
			{at: 3 * second, do: rx(50, peer), state: StateBackup, deadline: md100},
			{at: md100, do: tick, want: toMaster(StateBackup, 100), state: StateMaster, deadline: md100 + second},
		}},
		{"Backup nopreempt: a live lower-priority master is kept", func(c *Config) { c.NoPreempt = true }, []step{
			{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md100},
			{at: 1 * second, do: rx(50, peer), state: StateBackup, deadline: second + md100},
			{at: 4 * second, do: rx(50, peer), state: StateBackup, deadline: 4*second + md100},
			{at: 4*second + md100 - 1, do: tick, state: StateBackup, deadline: 4*second + md100},
			// ...but takes over when it goes silent.
			{at: 4*second + md100, do: tick, want: toMaster(StateBackup, 100), state: StateMaster, deadline: anyDeadline},
		}},
		{"Backup preempt_delay: lower master tolerated until the delay after start", func(c *Config) { c.PreemptDelay = 10 * second }, []step{
			{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md100},
			{at: 3 * second, do: rx(50, peer), state: StateBackup, deadline: 3*second + md100},
			{at: 6 * second, do: rx(50, peer), state: StateBackup, deadline: 6*second + md100},
			{at: 9 * second, do: rx(50, peer), state: StateBackup, deadline: 9*second + md100},
			{at: 10 * second, do: rx(50, peer), state: StateBackup, deadline: 9*second + md100}, // discarded
			{at: 9*second + md100, do: tick, want: toMaster(StateBackup, 100), state: StateMaster, deadline: anyDeadline},
		}},
		{"Backup preempt_delay: restarts on first lower advert after a higher master", func(c *Config) { c.PreemptDelay = 5 * second }, []step{
			{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md100},
			{at: 1 * second, do: rx(200, peer), state: StateBackup, deadline: second + md100},    // clears the delay
			{at: 20 * second, do: rx(50, peer), state: StateBackup, deadline: 20*second + md100}, // starts it: 25s
			{at: 24 * second, do: rx(50, peer), state: StateBackup, deadline: 24*second + md100},
			{at: 25 * second, do: rx(50, peer), state: StateBackup, deadline: 24*second + md100}, // discarded
			{at: 24*second + md100, do: tick, want: toMaster(StateBackup, 100), state: StateMaster, deadline: anyDeadline},
		}},
		{"Master: sends adverts every Advertisement_Interval", nil, append(masterAt(),
			step{at: md100 + second, do: tick, want: []Action{SendAdvert{100}}, state: StateMaster, deadline: md100 + 2*second},
			step{at: md100 + 2*second + 5*ms, do: tick, want: []Action{SendAdvert{100}}, state: StateMaster, deadline: md100 + 3*second + 5*ms},
		)},
		{"Master: higher priority → backup, VIPs removed", nil, append(masterAt(),
			step{at: mm, do: rx(200, peer), want: []Action{RemoveVIPs{}, Notify{StateMaster, StateBackup}},
				state: StateBackup, deadline: mm + md100},
		)},
		{"Master: equal priority from a higher address → backup", nil, append(masterAt(),
			step{at: mm, do: rx(100, peer), want: []Action{RemoveVIPs{}, Notify{StateMaster, StateBackup}},
				state: StateBackup, deadline: mm + md100},
		)},
		{"Master: equal priority from a lower address → stays, answers", nil, append(masterAt(),
			step{at: mm, do: rx(100, lower), want: []Action{SendAdvert{100}}, state: StateMaster, deadline: md100 + second},
		)},
		{"Master: lower priority → stays, advertises at once", nil, append(masterAt(),
			step{at: mm, do: rx(50, peer), want: []Action{SendAdvert{100}}, state: StateMaster, deadline: md100 + second},
		)},
		{"Master: lower priority with lower_prio_no_advert → silent", func(c *Config) { c.LowerPrioNoAdvert = true }, append(masterAt(),
			step{at: mm, do: rx(50, peer), state: StateMaster, deadline: md100 + second},
		)},
		{"Master: priority 0 from another → advert now, Adver_Timer reset", nil, append(masterAt(),
			step{at: mm, do: rx(0, peer), want: []Action{SendAdvert{100}}, state: StateMaster, deadline: mm + second},
		)},
		{"Master v3: stepping down learns the new master's interval", nil, append(masterAt(),
			step{at: mm, do: rxInterval(200, peer, 50), want: []Action{RemoveVIPs{}, Notify{StateMaster, StateBackup}},
				state: StateBackup, deadline: mm + MasterDownInterval(3, 100, 500*ms)},
		)},
		{"Master: second GARP burst after garp_master_delay", func(c *Config) { c.AdvertInterval = 3 * second }, []step{
			{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md3},
			{at: md3, do: tick, want: toMaster(StateBackup, 100), state: StateMaster, deadline: md3 + 3*second},
			{at: md3 + 3*second, do: tick, want: []Action{SendAdvert{100}}, state: StateMaster, deadline: md3 + 5*second},
			{at: md3 + 5*second, do: tick, want: []Action{SendGratuitous{5}}, state: StateMaster, deadline: md3 + 6*second},
			{at: md3 + 6*second, do: tick, want: []Action{SendAdvert{100}}, state: StateMaster, deadline: md3 + 9*second},
		}},
		{"Master: GARP policy knobs (repeat, no delay, refresh)", func(c *Config) {
			c.GARP = GARPPolicy{Repeat: 2, Delay: -1, Refresh: 30 * second, RefreshRepeat: 3}
		}, []step{
			{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md100},
			{at: md100, do: tick, want: []Action{SendAdvert{100}, AddVIPs{}, SendGratuitous{2}, Notify{StateBackup, StateMaster}},
				state: StateMaster, deadline: md100 + second},
			{at: md100 + 30*second, do: tick, want: []Action{SendAdvert{100}, SendGratuitous{3}}, state: StateMaster,
				deadline: md100 + 31*second},
		}},
		{"Shutdown from master: priority 0 advert, VIPs removed", nil, append(masterAt(),
			step{at: 5 * second, do: shutdown, want: []Action{SendAdvert{0}, RemoveVIPs{}, Notify{StateMaster, StateInit}},
				state: StateInit, deadline: noDeadline},
			step{at: 6 * second, do: rx(200, peer), state: StateInit, deadline: noDeadline},
			step{at: 7 * second, do: tick, state: StateInit, deadline: noDeadline},
			step{at: 8 * second, do: shutdown, state: StateInit, deadline: noDeadline},
			step{at: 9 * second, do: start, want: startBackup, state: StateBackup, deadline: 9*second + md100},
		)},
		{"Shutdown from backup: just stops", nil, []step{
			{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md100},
			{at: second, do: shutdown, want: []Action{Notify{StateBackup, StateInit}}, state: StateInit, deadline: noDeadline},
		}},
		{"Tracking: weight changes the advertised priority, clamped to 1-254", nil, append(masterAt(),
			step{at: mm, do: track(-60, false), state: StateMaster, deadline: md100 + second},
			step{at: md100 + second, do: tick, want: []Action{SendAdvert{40}}, state: StateMaster, deadline: md100 + 2*second},
			step{at: mm + second, do: track(-500, false), state: StateMaster, deadline: md100 + 2*second},
			step{at: md100 + 2*second, do: tick, want: []Action{SendAdvert{1}}, state: StateMaster, deadline: md100 + 3*second},
			step{at: mm + 2*second, do: track(+500, false), state: StateMaster, deadline: md100 + 3*second},
			step{at: md100 + 3*second, do: tick, want: []Action{SendAdvert{254}}, state: StateMaster, deadline: md100 + 4*second},
		)},
		{"Tracking: the owner's priority never changes", func(c *Config) { c.Priority = 255 }, []step{
			{at: 0, do: start, want: toMaster(StateInit, 255), state: StateMaster, deadline: second},
			{at: 0, do: track(-100, false), state: StateMaster, deadline: second},
			{at: second, do: tick, want: []Action{SendAdvert{255}}, state: StateMaster, deadline: 2 * second},
		}},
		{"Tracking: a rising backup priority brings Master_Down_Timer forward", nil, []step{
			{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md100},
			{at: second, do: track(50, false), state: StateBackup, deadline: md100 - (skew100 - SkewTime(3, 150, second))},
			{at: 2 * second, do: track(0, false), state: StateBackup, deadline: md100 - (skew100 - SkewTime(3, 150, second))},
		}},
		{"Fault: master goes to FAULT with a priority 0 advert, back to BACKUP after", nil, append(masterAt(),
			step{at: mm, do: track(0, true), want: []Action{SendAdvert{0}, RemoveVIPs{}, Notify{StateMaster, StateFault}},
				state: StateFault, deadline: noDeadline},
			step{at: 6 * second, do: rx(50, peer), state: StateFault, deadline: noDeadline},
			step{at: 7 * second, do: track(-10, true), state: StateFault, deadline: noDeadline},
			step{at: 8 * second, do: track(0, false), want: []Action{Notify{StateFault, StateBackup}},
				state: StateBackup, deadline: 8*second + md100},
		)},
		{"Fault: backup to FAULT and back; the owner returns as master", func(c *Config) { c.Priority = 255 }, []step{
			{at: 0, do: track(0, true), state: StateInit, deadline: noDeadline},
			{at: 0, do: start, want: []Action{RemoveVIPs{}, Notify{StateInit, StateFault}}, state: StateFault, deadline: noDeadline},
			{at: second, do: track(0, false), want: toMaster(StateFault, 255), state: StateMaster, deadline: 2 * second},
		}},
		{"Fault: from backup", nil, []step{
			{at: 0, do: start, want: startBackup, state: StateBackup, deadline: md100},
			{at: second, do: track(0, true), want: []Action{Notify{StateBackup, StateFault}}, state: StateFault, deadline: noDeadline},
			{at: 2 * second, do: shutdown, want: []Action{Notify{StateFault, StateInit}}, state: StateInit, deadline: noDeadline},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			runSteps(t, cfg, tc.steps)
		})
	}
}

// TestMachineDrops: adverts that do not match the configuration are dropped
// with an error naming the reason, and change nothing.
func TestMachineDrops(t *testing.T) {
	pass, _ := PassAuthData("1111")
	other, _ := PassAuthData("2222")
	v2 := func(c *Config) { c.Version = 2; c.AuthType = AuthPass; c.AuthData = pass }
	adv2 := func(edit func(*Advert)) *Advert {
		a := &Advert{Version: 2, VRID: 52, Priority: 200, AuthType: AuthPass, AuthData: pass,
			AdvertInterval: 1, Addresses: []netip.Addr{vip}}
		if edit != nil {
			edit(a)
		}
		return a
	}
	adv3 := func(edit func(*Advert)) *Advert {
		a := &Advert{Version: 3, VRID: 52, Priority: 200, AdvertInterval: 100, Addresses: []netip.Addr{vip}}
		if edit != nil {
			edit(a)
		}
		return a
	}
	otherVIP := []netip.Addr{netip.MustParseAddr("198.51.100.99")}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		a    *Advert
		from netip.Addr
		err  error // nil: accepted
	}{
		{"accepted v3", nil, adv3(nil), peer, nil},
		{"accepted v2", v2, adv2(nil), peer, nil},
		{"VRID", nil, adv3(func(a *Advert) { a.VRID = 53 }), peer, ErrVRID},
		{"version", nil, adv2(nil), peer, ErrVersion},
		{"v2 password", v2, adv2(func(a *Advert) { a.AuthData = other }), peer, ErrAuth},
		{"v2 auth type", v2, adv2(func(a *Advert) { a.AuthType = AuthNone; a.AuthData = [8]byte{} }), peer, ErrAuth},
		{"v2 interval mismatch", v2, adv2(func(a *Advert) { a.AdvertInterval = 2 }), peer, ErrInterval},
		{"v3 interval differs: fine", nil, adv3(func(a *Advert) { a.AdvertInterval = 37 }), peer, nil},
		{"address list", nil, adv3(func(a *Advert) { a.Addresses = otherVIP }), peer, ErrAddressList},
		{"address count", nil, adv3(func(a *Advert) { a.Addresses = append(a.Addresses, otherVIP...) }), peer, ErrAddressList},
		{"address list, from the owner", nil, adv3(func(a *Advert) { a.Addresses = otherVIP; a.Priority = 255 }), peer, nil},
		{"address list, skip check", func(c *Config) { c.SkipCheckAddresses = true }, adv3(func(a *Advert) { a.Addresses = otherVIP }), peer, nil},
		{"our own address", nil, adv3(nil), self, ErrOwnAddress},
		{"IPv6 sender", nil, adv3(nil), netip.MustParseAddr("fe80::1"), ErrFamily},
		{"no sender", nil, adv3(nil), netip.Addr{}, ErrFamily},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			m, err := NewMachine(cfg)
			if err != nil {
				t.Fatal(err)
			}
			m.Start(t0)
			before, _ := m.NextDeadline()
			acts, err := m.HandleAdvert(t0.Add(second), tc.a, tc.from)
			after, _ := m.NextDeadline()
			if tc.err == nil {
				if err != nil || after.Equal(before) {
					t.Fatalf("not accepted: %v (deadline %v -> %v)", err, before.Sub(t0), after.Sub(t0))
				}
				return
			}
			if !errors.Is(err, tc.err) || acts != nil || !after.Equal(before) || m.State() != StateBackup {
				t.Fatalf("got %v, %v, deadline %v -> %v; want %v and no change", acts, err, before.Sub(t0), after.Sub(t0), tc.err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string // "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"valid v2 PASS", func(c *Config) { c.Version = 2; c.AuthType = AuthPass; c.AuthData = [8]byte{'x'} }, ""},
		{"valid v6", func(c *Config) {
			c.PrimaryAddr = netip.MustParseAddr("fe80::1")
			c.Addresses = []netip.Addr{netip.MustParseAddr("2001:db8::100")}
		}, ""},
		{"version", func(c *Config) { c.Version = 1 }, "version"},
		{"vrid", func(c *Config) { c.VRID = 0 }, "vrid"},
		{"priority", func(c *Config) { c.Priority = 0 }, "priority"},
		{"interval v3", func(c *Config) { c.AdvertInterval = 5 * time.Millisecond }, "advert_interval"},
		{"interval v2", func(c *Config) { c.Version = 2; c.AdvertInterval = 500 * time.Millisecond }, "advert_interval"},
		{"no addresses", func(c *Config) { c.Addresses = nil }, "addresses"},
		{"mixed addresses", func(c *Config) { c.Addresses = append(c.Addresses, netip.MustParseAddr("2001:db8::1")) }, "addresses"},
		{"no primary", func(c *Config) { c.PrimaryAddr = netip.Addr{} }, "primary_addr"},
		{"v2 over IPv6", func(c *Config) {
			c.Version = 2
			c.PrimaryAddr = netip.MustParseAddr("fe80::1")
			c.Addresses = []netip.Addr{netip.MustParseAddr("2001:db8::100")}
		}, "primary_addr"},
		{"v3 auth", func(c *Config) { c.AuthType = AuthPass; c.AuthData = [8]byte{'x'} }, "auth_type"},
		{"v2 AH", func(c *Config) { c.Version = 2; c.AuthType = AuthAH }, "auth_type"},
		{"v2 PASS without password", func(c *Config) { c.Version = 2; c.AuthType = AuthPass }, "auth_data"},
		{"preempt_delay", func(c *Config) { c.PreemptDelay = 1001 * time.Second }, "preempt_delay"},
		{"garp", func(c *Config) { c.GARP.Repeat = -1 }, "garp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := baseConfig()
			tc.edit(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := NewMachine(c); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("error %v, want one about %s", err, tc.field)
			}
			if _, err := NewMachine(c); err == nil {
				t.Fatal("NewMachine accepted it")
			}
		})
	}
}

// TestMachineAdvert: the advert the engine is told to send matches the
// configuration and marshals.
func TestMachineAdvert(t *testing.T) {
	pass, _ := PassAuthData("1111")
	cfg := baseConfig()
	cfg.Version, cfg.VRID, cfg.AuthType, cfg.AuthData = 2, 51, AuthPass, pass
	cfg.Addresses = []netip.Addr{netip.MustParseAddr("::ffff:198.51.100.100")}
	m, err := NewMachine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := m.Advert(100)
	want := v2pass()
	if !advertEqual(a, want) {
		t.Fatalf("Advert = %+v, want %+v", a, want)
	}
	a.Addresses[0] = netip.Addr{} // the engine may not corrupt the machine
	if b := mustMarshal(t, m.Advert(0), src4, dst4); len(b) != 20 {
		t.Fatalf("% x", b)
	}
	if m.Priority() != 100 || m.MasterAdverInterval() != second {
		t.Fatal(m.Priority(), m.MasterAdverInterval())
	}
}

func TestStrings(t *testing.T) {
	got := fmt.Sprint([]Action{SendAdvert{7}, AddVIPs{}, RemoveVIPs{}, SendGratuitous{5}, Notify{StateBackup, StateMaster}},
		StateInit, StateFault, State(9), AuthPass, AuthType(9))
	want := "[SendAdvert(7) AddVIPs RemoveVIPs SendGratuitous(5) Notify(BACKUP->MASTER)] INIT FAULT State(9) PASS auth(9)"
	if got != want {
		t.Fatalf("%s\nwant %s", got, want)
	}
}

// A backup's priority that falls and rises again moves Master_Down_Timer by the change of
// Skew_Time from the priority the timer was armed with: never earlier than the new priority's
// Master_Down_Interval from the master's last advert, never into the past. (Found by
// FuzzMachine: the deadline moved by the skew of the fall's priority and went into the past,
// so the backup took over from a live master.)
func TestBackupPriorityFallsAndRises(t *testing.T) {
	m, err := NewMachine(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	m.Start(t0)
	master := &Advert{Version: 3, VRID: 52, Priority: 200, AdvertInterval: 100, Addresses: []netip.Addr{vip}}
	if _, err := m.HandleAdvert(t0, master, peer); err != nil {
		t.Fatal(err)
	}
	m.UpdateTracking(t0.Add(time.Second), -99, false) // priority 1: the deadline stays
	if d, _ := m.NextDeadline(); d != t0.Add(md100) {
		t.Fatalf("after a fall: deadline %v, want %v", d.Sub(t0), md100)
	}
	m.UpdateTracking(t0.Add(2*time.Second), 54, false) // priority 154
	if d, want := mustDeadline(t, m), t0.Add(MasterDownInterval(3, 154, second)); d != want {
		t.Fatalf("after a rise: deadline %v, want %v", d.Sub(t0), want.Sub(t0))
	}
	m.UpdateTracking(t0.Add(3*time.Second+900*time.Millisecond), -99, false)
	m.UpdateTracking(t0.Add(3*time.Second+900*time.Millisecond), 154, false) // 254: overdue
	if d := mustDeadline(t, m); d != t0.Add(3*time.Second+900*time.Millisecond) {
		t.Fatalf("overdue after a rise: deadline %v, want now", d.Sub(t0))
	}
}

func mustDeadline(t *testing.T, m *Machine) time.Time {
	t.Helper()
	d, ok := m.NextDeadline()
	if !ok {
		t.Fatal("no timer")
	}
	return d
}
