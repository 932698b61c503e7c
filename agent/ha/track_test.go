package ha

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestOutcome(t *testing.T) {
	t.Parallel()
	ifaces := []agentapi.TrackInterface{{Name: "eth1"}, {Name: "eth2", Weight: -30}, {Name: "eth3", Weight: 20}}
	scripts := []agentapi.TrackScript{{Name: "fatal"}, {Name: "minus", Weight: -50}, {Name: "plus", Weight: 10}}
	for _, tc := range []struct {
		name   string
		down   string // comma-separated links and scripts that are down
		weight int
		fault  bool
		reason string
	}{
		{"all up", "", 30, false, "interface eth3 up (+20), script plus up (+10)"},
		{"pair interface down", "eth0", 30, true, "interface eth0 down"},
		{"weightless interface down", "eth1", 30, true, "interface eth1 down"},
		{"negative weight applies when down", "eth2", 0, false, "interface eth2 down (-30)"},
		{"positive weight lost when down", "eth3", 10, false, "script plus up (+10)"},
		{"weightless script fails", "fatal", 30, true, "script fatal down"},
		{"weights add up", "eth2,minus,plus,eth3", -80, false, "interface eth2 down (-30), script minus down (-50)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			down := map[string]bool{}
			for _, d := range strings.Split(tc.down, ",") {
				down[d] = true
			}
			up := func(n string) bool { return !down[n] }
			w, f, r := outcome("eth0", ifaces, scripts, up, up)
			if w != tc.weight || f != tc.fault || !strings.Contains(r, tc.reason) {
				t.Errorf("outcome = %d, %v, %q; want %d, %v, containing %q", w, f, r, tc.weight, tc.fault, tc.reason)
			}
		})
	}
	if _, _, r := outcome("eth0", nil, nil, func(string) bool { return true }, nil); r != "all tracked objects up" {
		t.Errorf("reason %q", r)
	}
}

func TestScriptRiseFall(t *testing.T) {
	t.Parallel()
	s := newScript(agentapi.TrackScript{Name: "chk", Rise: 2, Fall: 3}, nil, nil, discard)
	s.ok = true
	steps := []struct {
		ok      bool
		changed bool
		healthy bool
	}{
		{false, false, true}, {false, false, true}, {true, false, true}, // a success resets the failures
		{false, false, true}, {false, false, true}, {false, true, false}, // third failure in a row
		{false, false, false}, {true, false, false}, {true, true, true}, // second success in a row
	}
	for i, st := range steps {
		if got := s.record(st.ok, ""); got != st.changed || s.healthy() != st.healthy {
			t.Fatalf("step %d: changed %v healthy %v, want %v %v", i, got, s.healthy(), st.changed, st.healthy)
		}
	}
}

func TestRunCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	out, err := runCommand(ctx, 5*time.Second, `printf '%s %s' "$LVS_X"`, []string{"MASTER"}, []string{"LVS_X=vrid"})
	if err != nil || out != "vrid MASTER" {
		t.Fatalf("out %q err %v", out, err)
	}
	if _, err := runCommand(ctx, 5*time.Second, "exit 3", nil, nil); err == nil {
		t.Fatal("exit 3 succeeded")
	}
	// A hung script with a child in the background: the whole process group dies at the
	// timeout, and Run does not wait for the child's copy of the output pipe.
	pidFile := filepath.Join(t.TempDir(), "child")
	start := time.Now()
	_, err = runCommand(ctx, 200*time.Millisecond, "sleep 30 & echo $! > "+pidFile+"; sleep 30", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
	b, _ := os.ReadFile(pidFile)
	var pid int
	if _, err := fmtSscan(strings.TrimSpace(string(b)), &pid); err != nil {
		t.Fatalf("child pid %q: %v", b, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("background child %d survived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNotifier(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "log")
	n := newNotifier(91, discard)
	defer n.close()
	n.set(&agentapi.Notify{
		// The state comes as the last argument, after whatever the command line has.
		Master: `echo master $LVS_VRRP_VRID $LVS_VRRP_STATE $LVS_VRRP_FAMILY >> ` + out,
		Backup: `echo backup >> ` + out,
	})
	n.transition(vrrp.Transition{From: vrrp.StateInit, To: vrrp.StateBackup}, false)
	n.transition(vrrp.Transition{From: vrrp.StateBackup, To: vrrp.StateMaster}, true)
	n.transition(vrrp.Transition{From: vrrp.StateMaster, To: vrrp.StateFault}, false) // no command
	n.transition(vrrp.Transition{From: vrrp.StateFault, To: vrrp.StateInit}, false)   // never notified
	want := "backup BACKUP\nmaster 91 MASTER IPv6 MASTER\n"
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if string(b) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notify log %q, want %q", b, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCombineStates(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"MASTER":                  "MASTER",
		"IPv4 MASTER,IPv6 MASTER": "MASTER",
		"IPv4 MASTER,IPv6 BACKUP": "IPv4 MASTER, IPv6 BACKUP",
		"IPv4 FAULT,IPv6 FAULT":   "FAULT",
	} {
		if got := combineStates(strings.Split(in, ",")); got != want {
			t.Errorf("combineStates(%q) = %q, want %q", in, got, want)
		}
	}
}

func fmtSscan(s string, pid *int) (int, error) { return fmt.Sscan(s, pid) }

// The members of a sync group share their tracking: a FAULT of one is every member's, and the
// weights of all members add up, so that their priorities move together.
func TestGroupOutcome(t *testing.T) {
	t.Parallel()
	m := New(Config{Logger: discard})
	m.pairIf = "eth0"
	m.links = map[string]bool{"eth0": true, "eth1": true, "eth2": false}
	vip := func(vrid int, group string, ifaces ...agentapi.TrackInterface) {
		m.vips[vrid] = &vipRun{vip: &agentapi.VIP{VRID: vrid, SyncGroup: group, TrackInterfaces: ifaces}}
	}
	vip(1, "nat", agentapi.TrackInterface{Name: "eth2", Weight: -30})
	vip(2, "nat", agentapi.TrackInterface{Name: "eth1"})
	vip(3, "", agentapi.TrackInterface{Name: "eth2", Weight: -40})
	w, f, r := m.groupOutcomeLocked("nat")
	if w != -30 || f || !strings.Contains(r, "sync group nat: vrid 1: interface eth2 down (-30)") {
		t.Errorf("weight of one member: %d, %v, %q", w, f, r)
	}
	m.links["eth1"] = false
	w, f, r = m.groupOutcomeLocked("nat")
	if w != -30 || !f || !strings.Contains(r, "vrid 2: interface eth1 down") {
		t.Errorf("fault of the other: %d, %v, %q", w, f, r)
	}
	// trackLocked hands the group's outcome to every member, and a VIP outside keeps its own.
	m.trackLocked(2, m.vips[2])
	m.trackLocked(3, m.vips[3])
	if a, b, c := m.vips[1], m.vips[2], m.vips[3]; !a.fault || a.weight != -30 || !b.fault || b.reason != a.reason || c.fault || c.weight != -40 {
		t.Errorf("members %+v %+v, other %+v", a, b, c)
	}
}
