package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
)

// fakePair is two directors whose agents restart, hand their VIPs over and come back as the
// real ones do, fast: a restarting master's VIPs go to its peer; a restarted agent is INIT, then
// BACKUP with a health check pending, then checked; a preempting director with the higher
// priority takes its VIPs back once it is ready.
type fakePair struct {
	mu       sync.Mutex
	hosts    []string
	old      map[string]bool // runs the old binary
	down     map[string]bool // does not answer at all
	stopped  map[string]bool // agent stopped
	priority map[string]int
	master   map[string]bool // MASTER of the one VIP
	looks    map[string]int  // status reads since the last restart
	events   []string
	// servedGap is set when the VIP had no master at some point.
	servedGap bool
}

func newFakePair(masterHost string) *fakePair {
	f := &fakePair{hosts: []string{"d1", "d2"}, old: map[string]bool{"d1": true, "d2": true}, down: map[string]bool{}, stopped: map[string]bool{},
		priority: map[string]int{"d1": 100, "d2": 100}, master: map[string]bool{masterHost: true}, looks: map[string]int{"d1": 9, "d2": 9}}
	f.priority[masterHost] = 150 // the master by priority, as in a settled pair
	return f
}

func (f *fakePair) peer(h string) string {
	if h == f.hosts[0] {
		return f.hosts[1]
	}
	return f.hosts[0]
}

func (f *fakePair) ops() rollingOps {
	return rollingOps{
		check: func(_ context.Context, h string) (remote.Upgrade, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.down[h] {
				return remote.Upgrade{}, errors.New("host unreachable")
			}
			u := remote.Upgrade{Running: &agentapi.VersionInfo{}, Installed: "new", Bundled: "new"}
			if f.old[h] {
				u.Installed = "old"
			}
			return u, nil
		},
		stage: func(_ context.Context, h string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.events = append(f.events, "stage "+h)
			return nil
		},
		stop: func(_ context.Context, h string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.events = append(f.events, "stop "+h)
			// The planned switchover: a stopping master hands its VIP to its peer if the peer
			// can take it (joined VRRP), else the VIP has no master for a while.
			if f.master[h] {
				f.master[h] = false
				if p := f.peer(h); f.looks[p] >= 2 && !f.down[p] && !f.stopped[p] {
					f.master[p] = true
				} else {
					f.servedGap = true
				}
			}
			f.stopped[h] = true
			return nil
		},
		upgrade: func(_ context.Context, h string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if !f.old[h] && !f.stopped[h] {
				f.events = append(f.events, "install "+h+" (unchanged)")
				return nil
			}
			f.events = append(f.events, "restart "+h)
			f.old[h], f.stopped[h] = false, false
			f.looks[h] = 0
			return nil
		},
		configure: func(_ context.Context, i int, h string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.events = append(f.events, fmt.Sprintf("configure %d %s", i, h))
			return nil
		},
		status: func(_ context.Context, h string) (*agentapi.Status, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.down[h] || f.stopped[h] {
				return nil, errors.New("unreachable")
			}
			f.looks[h]++
			p := f.peer(h)
			// Preemption: a ready director of higher priority takes the VIP back.
			if f.looks[h] >= 3 && !f.master[h] && f.priority[h] > f.priority[p] && f.master[p] {
				f.master[p], f.master[h] = false, true
				f.events = append(f.events, "preempt "+h)
			}
			state := "BACKUP"
			switch {
			case f.looks[h] < 2:
				state = "INIT"
			case f.master[h]:
				state = "MASTER"
			}
			return &agentapi.Status{Pair: &agentapi.Pair{Name: "edge"}, VIPs: []agentapi.VIPStatus{{VRID: 7, State: state, Priority: f.priority[h]}}}, nil
		},
		ipvs: func(_ context.Context, h string) (*agentapi.IPVSReport, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return &agentapi.IPVSReport{
				Services:    []agentapi.IPVSService{{Key: "tcp/198.51.100.100:80", Managed: true, Destinations: []agentapi.IPVSDestination{{Key: "198.51.100.21:80", Managed: true, HealthPending: f.looks[h] < 3}}}},
				SyncDaemons: []agentapi.IPVSSyncDaemon{{State: "master"}, {State: "backup"}},
			}, nil
		},
		state: func(context.Context, string) (*agentapi.State, error) {
			return &agentapi.State{VIPs: map[int]*agentapi.VIP{7: {VRID: 7, Preempt: true}}}, nil
		},
		poll: time.Millisecond,
		logf: func(context.Context, string, map[string]any) {},
	}
}

func (f *fakePair) restarts() []string {
	var out []string
	for _, e := range f.events {
		if strings.HasPrefix(e, "restart ") {
			out = append(out, strings.TrimPrefix(e, "restart "))
		}
	}
	return out
}

// TestRollingUpdateBackupFirst: whichever director is MASTER, the backup restarts first, the
// master only once the backup is ready, the VIP always has a master, and the preempting
// director of the higher priority ends as master.
func TestRollingUpdateBackupFirst(t *testing.T) {
	for _, master := range []string{"d1", "d2"} {
		f := newFakePair(master)
		rolled, err := rollingUpdate(context.Background(), f.ops(), f.hosts, true)
		if err != nil || !rolled {
			t.Fatalf("master %s: rolled %v, %v; events %v", master, rolled, err, f.events)
		}
		want := []string{f.peer(master), master}
		if got := f.restarts(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("master %s: restarted %v, want backup first %v (events %v)", master, got, want, f.events)
		}
		if f.servedGap {
			t.Errorf("master %s: the VIP had no master during the upgrade (events %v)", master, f.events)
		}
		// Both binaries are staged before anything stops; each director stops before it
		// restarts.
		ev := strings.Join(f.events, ";")
		if !strings.HasPrefix(ev, "stage "+want[0]+";stage "+want[1]+";stop "+want[0]+";restart "+want[0]) ||
			!strings.Contains(ev, "stop "+want[1]+";restart "+want[1]) {
			t.Errorf("master %s: events %v, want stage, stage, then stop and restart of each in turn", master, f.events)
		}
		if !f.master[master] || f.master[f.peer(master)] {
			t.Errorf("afterwards %s (priority 150, preempt) should be master again: %v", master, f.master)
		}
	}
}

// TestRollingUpdateNothingToRestart: a settings change restarts nothing and leaves the update to
// the parallel path.
func TestRollingUpdateNothingToRestart(t *testing.T) {
	f := newFakePair("d1")
	f.old = map[string]bool{}
	rolled, err := rollingUpdate(context.Background(), f.ops(), f.hosts, true)
	if err != nil || rolled || len(f.events) != 0 {
		t.Fatalf("rolled %v, %v, events %v; want nothing done", rolled, err, f.events)
	}
}

// TestRollingUpdateOneOutdated: only the master runs the old binary (an upgrade that stopped
// half-way): it restarts only once its peer is ready, which takes its VIP.
func TestRollingUpdateOneOutdated(t *testing.T) {
	f := newFakePair("d1")
	f.old["d2"] = false
	f.looks["d2"] = 0 // d2 just restarted: not ready yet
	if _, err := rollingUpdate(context.Background(), f.ops(), f.hosts, true); err != nil {
		t.Fatal(err)
	}
	if got := f.restarts(); len(got) != 1 || got[0] != "d1" || f.servedGap {
		t.Fatalf("restarts %v, gap %v, events %v", got, f.servedGap, f.events)
	}
}

// TestRollingUpdateDirectorDown: with one director unreachable, nothing is restarted and the
// error names it.
func TestRollingUpdateDirectorDown(t *testing.T) {
	f := newFakePair("d1")
	f.down["d2"] = true
	_, err := rollingUpdate(context.Background(), f.ops(), f.hosts, true)
	var de *directorError
	if !errors.As(err, &de) || de.host != "d2" || de.i != 1 || len(f.restarts()) != 0 {
		t.Fatalf("err %v (%#v), restarts %v; want an error on d2 and nothing restarted", err, de, f.restarts())
	}
}

// TestRollingUpdateWaitIsBounded: a restarted backup that never gets its health verdicts stops
// the upgrade when the update's timeout runs out, naming the director and what it waited for,
// and the master is not restarted.
func TestRollingUpdateWaitIsBounded(t *testing.T) {
	f := newFakePair("d1")
	ops := f.ops()
	ipvs := ops.ipvs
	ops.ipvs = func(ctx context.Context, h string) (*agentapi.IPVSReport, error) {
		rep, err := ipvs(ctx, h)
		if h == "d2" {
			rep.Services[0].Destinations[0].HealthPending = true
		}
		return rep, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := rollingUpdate(ctx, ops, f.hosts, true)
	var de *directorError
	if !errors.As(err, &de) || de.host != "d2" || !strings.Contains(err.Error(), "first health-check verdicts on director d2") ||
		!strings.Contains(err.Error(), "198.51.100.21:80") || !strings.Contains(err.Error(), "timeouts.update") {
		t.Fatalf("err %v; want a timeout naming d2, the pending check and timeouts.update", err)
	}
	if got := f.restarts(); len(got) != 1 || got[0] != "d2" {
		t.Fatalf("restarted %v, want only d2", got)
	}
	d := rollingDiags(err)
	if !d.HasError() || !strings.Contains(d[0].Summary(), "Not Ready") {
		t.Fatalf("diagnostics %v", d)
	}
}

func TestReadinessSyncDaemons(t *testing.T) {
	st := &agentapi.Status{Pair: &agentapi.Pair{}}
	if what, _ := readiness(st, &agentapi.IPVSReport{}, true); what != "the connection sync daemons" {
		t.Fatalf("without daemons: %q", what)
	}
	if what, _ := readiness(st, &agentapi.IPVSReport{}, false); what != "" {
		t.Fatalf("no sync wanted: %q", what)
	}
}

// TestUpgradeOrder: fewest VIPs mastered first; a director that did not answer (nil) holds none;
// ties keep the list order.
func TestUpgradeOrder(t *testing.T) {
	st := func(states ...string) *agentapi.Status {
		s := &agentapi.Status{}
		for i, x := range states {
			s.VIPs = append(s.VIPs, agentapi.VIPStatus{VRID: i + 1, State: x})
		}
		return s
	}
	for _, tt := range []struct {
		in   []*agentapi.Status
		want string
	}{
		{[]*agentapi.Status{st("MASTER"), st("BACKUP")}, "[1 0]"},
		{[]*agentapi.Status{st("BACKUP"), st("MASTER")}, "[0 1]"},
		{[]*agentapi.Status{st("MASTER", "BACKUP", "MASTER"), st("BACKUP", "MASTER", "BACKUP")}, "[1 0]"}, // split
		{[]*agentapi.Status{st("MASTER", "BACKUP"), st("BACKUP", "MASTER")}, "[0 1]"},                     // even split
		{[]*agentapi.Status{st("MASTER"), nil}, "[1 0]"},
		{[]*agentapi.Status{st(), st()}, "[0 1]"},
	} {
		if got := fmt.Sprint(upgradeOrder(tt.in)); got != tt.want {
			t.Errorf("upgradeOrder(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
