package provider

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
)

// fakeMigration is a pair whose director d1 runs keepalived (MASTER at priority 150) and d2
// the agent (BACKUP at 100), as VRRP would have them: the higher priority is MASTER, keepalived
// holds the VIP while it is MASTER and running, a stopped MASTER leaves the VIP without one.
type fakeMigration struct {
	mu          sync.Mutex
	kaRunning   bool
	kaPriority  int
	kaStuck     bool // keepalived keeps the VIP whatever it hears
	agent       map[string]bool
	priority    map[string]int
	looks       map[string]int
	peerBroken  bool
	events      []string
	servedGap   bool
	stateCopied *agentapi.State
}

func newFakeMigration() *fakeMigration {
	return &fakeMigration{kaRunning: true, kaPriority: 150, agent: map[string]bool{"d2": true},
		priority: map[string]int{"d2": 100}, looks: map[string]int{"d2": 9}}
}

// master is who holds the VIP now: the highest priority among keepalived and the ready agents.
func (f *fakeMigration) master() string {
	best, who := 0, ""
	if f.kaRunning {
		best, who = f.kaPriority, "keepalived"
		if f.kaStuck {
			return who
		}
	}
	for _, h := range []string{"d1", "d2"} {
		if f.agent[h] && f.looks[h] >= 2 && f.priority[h] > best {
			best, who = f.priority[h], h
		}
	}
	return who
}

func (f *fakeMigration) vip() *agentapi.VIP {
	return &agentapi.VIP{VRID: 51, Addresses: []string{"198.51.100.100"}, Priorities: [2]int{f.kaPriority, 100}, Preempt: true}
}

func (f *fakeMigration) ops() switchOps {
	ops := switchOps{rollingOps: rollingOps{
		upgrade: func(_ context.Context, h string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.events = append(f.events, "install "+h)
			f.agent[h], f.looks[h] = true, 0
			return nil
		},
		status: func(_ context.Context, h string) (*agentapi.Status, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if !f.agent[h] || (h == "d2" && f.peerBroken) {
				return nil, errors.New("agent not answering")
			}
			f.looks[h]++
			state := "BACKUP"
			switch {
			case f.looks[h] < 2:
				state = "INIT"
			case f.master() == h:
				state = "MASTER"
			}
			return &agentapi.Status{Pair: &agentapi.Pair{Name: "vi_1"}, VIPs: []agentapi.VIPStatus{{VRID: 51, State: state, Priority: f.priority[h]}}}, nil
		},
		ipvs: func(_ context.Context, h string) (*agentapi.IPVSReport, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return &agentapi.IPVSReport{Services: []agentapi.IPVSService{{Key: "tcp/198.51.100.100:80", Managed: true,
				Destinations: []agentapi.IPVSDestination{{Key: "198.51.100.21:80", Managed: true, HealthPending: f.looks[h] < 3}}}}}, nil
		},
		state: func(context.Context, string) (*agentapi.State, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return &agentapi.State{VIPs: map[int]*agentapi.VIP{51: f.vip()}}, nil
		},
		poll: time.Millisecond,
		logf: func(context.Context, string, map[string]any) {},
	}}
	ops.putVIP = func(_ context.Context, h string, v *agentapi.VIP) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.events = append(f.events, "priority "+h+" "+strconv.Itoa(v.Priorities[1]))
		f.priority[h] = v.Priorities[1]
		return nil
	}
	ops.putState = func(_ context.Context, i int, h string, st *agentapi.State) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.events = append(f.events, "configure "+h)
		f.stateCopied = st
		f.priority[h] = st.VIPs[51].Priorities[i]
		return nil
	}
	ops.heldAddresses = func(_ context.Context, h string, addrs []string) ([]string, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.master() == "keepalived" {
			return addrs, nil
		}
		return nil, nil
	}
	ops.holdAddresses = func(_ context.Context, h string, addrs []string) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.events = append(f.events, "hold "+h+" "+strings.Join(addrs, ","))
		return nil
	}
	ops.release = func(_ context.Context, h string, addrs []string) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.events = append(f.events, "release "+h)
		return nil
	}
	ops.hold = time.Millisecond
	ops.stopKeepalived = func(_ context.Context, h string) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.events = append(f.events, "stop keepalived "+h)
		if f.master() == "keepalived" {
			f.servedGap = true
		}
		f.kaRunning = false
		return nil
	}
	return ops
}

func TestSwitchFromKeepalived(t *testing.T) {
	f := newFakeMigration()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := switchFromKeepalived(ctx, f.ops(), []string{"d1", "d2"}, 0, false); err != nil {
		t.Fatal(err)
	}
	want := []string{"hold d1 198.51.100.100", "priority d2 254", "release d1", "stop keepalived d1", "install d1", "configure d1", "priority d2 100"}
	if !slices.Equal(f.events, want) {
		t.Errorf("events %q, want %q", f.events, want)
	}
	if f.servedGap {
		t.Error("keepalived was stopped while it was MASTER")
	}
	if f.priority["d1"] != 150 {
		t.Errorf("d1 got priority %d, want the configured 150 (not the takeover's)", f.priority["d1"])
	}
	if m := f.master(); m != "d1" {
		t.Errorf("master %q at the end, want d1 (preempting, priority 150)", m)
	}
}

func TestSwitchFromKeepalivedRefusals(t *testing.T) {
	run := func(f *fakeMigration) error {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		return switchFromKeepalived(ctx, f.ops(), []string{"d1", "d2"}, 0, false)
	}
	t.Run("peer not ready", func(t *testing.T) {
		f := newFakeMigration()
		f.peerBroken = true
		err := run(f)
		var de *directorError
		if !errors.As(err, &de) || de.host != "d2" || !strings.Contains(err.Error(), "nothing was changed") {
			t.Fatalf("err %v, want one on d2 saying nothing was changed", err)
		}
		if len(f.events) != 0 || !f.kaRunning {
			t.Errorf("events %q, keepalived running %v: want nothing done", f.events, f.kaRunning)
		}
	})
	t.Run("keepalived keeps the VIP", func(t *testing.T) {
		f := newFakeMigration()
		f.kaStuck = true
		err := run(f)
		if err == nil || !strings.Contains(err.Error(), "nothing was stopped") {
			t.Fatalf("err %v", err)
		}
		if want := []string{"hold d1 198.51.100.100", "priority d2 254", "release d1", "priority d2 100"}; !slices.Equal(f.events, want) || !f.kaRunning {
			t.Errorf("events %q, keepalived running %v: want the VIPs released, the priority restored and keepalived left running", f.events, f.kaRunning)
		}
	})
	t.Run("keepalived at priority 254", func(t *testing.T) {
		f := newFakeMigration()
		f.kaPriority = 254
		if err := run(f); err == nil || !strings.Contains(err.Error(), "no other director can exceed") {
			t.Fatalf("err %v", err)
		}
		if len(f.events) != 0 {
			t.Errorf("events %q, want none", f.events)
		}
	})
}

// TestRunByRegistry: what the pair says of its directors decides; a child's recorded status
// only fills in for a run where the pair said nothing; agent calls to a director run by
// keepalived are skipped, not errors; children plan `keepalived` on it.
func TestRunByRegistry(t *testing.T) {
	hosts := remote.New(nil)
	pairHosts := []string{"198.51.100.11", "198.51.100.12"}
	hosts.SetRunByKeepalived(pairHosts[0], false) // the pair: director1 runs the agent now
	learnRunBy(hosts, pairHosts, stringList([]string{"keepalived", "ready"}))
	if hosts.RunByKeepalived(pairHosts[0]) {
		t.Error("a child's old status overrode the pair's word")
	}
	learnRunBy(hosts, pairHosts, stringList([]string{"ready", "keepalived"}))
	if !hosts.RunByKeepalived(pairHosts[1]) {
		t.Error("a child's status did not tell a director the pair said nothing of")
	}
	errs := runOnHosts(pairHosts, func(_ int, h string) error {
		if h == pairHosts[0] {
			return nil // not dialled here: the test has no SSH
		}
		_, err := hosts.Agent(h).Status(context.Background())
		return err
	})
	if !slices.Equal(errs, []error{nil, nil}) {
		t.Errorf("runOnHosts: %v, want the keepalived director skipped", errs)
	}
	if got := statusAt(hosts, pairHosts[1], false, false); got != statusKeepalived {
		t.Errorf("statusAt: %q", got)
	}
	hosts.PlanRunByKeepalived(pairHosts[1], false) // the plan switches director2
	hosts.PlanRunByKeepalived(pairHosts[0], true)
	got := plannedStatus(hosts, types.ListNull(types.StringType), pairHosts)
	if want := stringList([]string{"keepalived", "ready"}); !got.Equal(want) {
		t.Errorf("plannedStatus %v, want %v", got, want)
	}
}
