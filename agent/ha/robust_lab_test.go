//go:build linux

package ha_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// restartAgent stops the agent on host (gracefully: a master hands its VIPs over), runs prep
// while it is down, and starts it again with env (NAME=VALUE words, may be empty).
func (e *labEnv) restartAgent(host, prep, env string) {
	e.t.Helper()
	e.exec(host, agentapi.BinaryPath+" stop")
	if prep != "" {
		e.exec(host, prep)
	}
	e.exec(host, "env "+env+" "+agentapi.BinaryPath+" install")
}

func (e *labEnv) status(host string) *agentapi.Status {
	e.t.Helper()
	var st *agentapi.Status
	e.call(host, func(ctx context.Context, c *agentclient.Client) error {
		var err error
		st, err = c.Status(ctx)
		return err
	})
	return st
}

// recoverFromPeer is the documented recovery of an unreadable state: the peer's state, exported
// there and imported here with --from-peer.
func (e *labEnv) recoverFromPeer(host, peer string) {
	e.t.Helper()
	exported := e.exec(peer, agentapi.BinaryPath+" state export")
	e.exec(host, "cat > /tmp/peer-state.json <<'EOF'\n"+exported+"EOF\n"+agentapi.BinaryPath+" state import --from-peer /tmp/peer-state.json")
}

// TestLabAgentSurvives: an unreadable state, a panic or a SIGKILL of the agent never takes the
// traffic of a VIP down, and a dead agent leaves no VIP behind.
func TestLabAgentSurvives(t *testing.T) {
	e := newLabEnv(t)
	statePath := agentapi.StatePath

	t.Run("corrupt state and journal: traffic keeps flowing, status shows it, writes refused, import recovers", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(false)
		v := mixedVIP()
		e.putVIP(v)
		e.waitState(d1, 91, "MASTER", settle)
		e.waitState(d2, 91, "BACKUP", settle)
		e.waitFor("director1 alone holds "+vip4, released, func() bool { return slices.Equal(e.holders(vip4), []string{d1}) }, nil)
		e.waitAnswers(vip4, d1, settle)

		// The backup's state file is torn: it restarts, keeps out of the election, and the
		// client sees nothing of it.
		probe := e.startSteady(vip4, 20*time.Millisecond, 8*time.Second)
		e.restartAgent(d2, "printf '{\"serial\": 3, \"pair\": {' > "+statePath, "")
		st := e.status(d2)
		if !strings.Contains(st.StateError, "corrupt") || len(st.VIPs) != 0 {
			t.Errorf("backup status: state_error %q, vips %+v", st.StateError, st.VIPs)
		}
		if out := e.exec(d2, agentapi.BinaryPath+" status"); !strings.Contains(out, "STATE UNREADABLE") || !strings.Contains(out, "state import --from-peer") {
			t.Errorf("lvs-agent status:\n%s", out)
		}
		c := e.client(d2)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := c.PutVIP(ctx, v)
		cancel()
		c.Close()
		if !errors.Is(err, agentapi.ErrStateCorrupt) || !strings.Contains(err.Error(), "state import") {
			t.Errorf("write on a corrupt state: %v, want state_corrupt saying how to recover", err)
		}
		r := <-probe
		t.Logf("backup restart with a corrupt state: %d connections, %d failed", r.Attempts, r.Failed)
		if r.Failed != 0 || r.Attempts < 100 {
			t.Errorf("client during the backup's restart: %+v", r)
		}
		if h := e.holders(vip4); !slices.Equal(h, []string{d1}) {
			t.Errorf("holders of %s: %v", vip4, h)
		}
		e.recoverFromPeer(d2, d1)
		e.waitState(d2, 91, "BACKUP", settle)
		if st := e.status(d2); st.StateError != "" || st.Pair == nil || st.Pair.Self != 1 {
			t.Errorf("after the import: state_error %q, pair %+v", st.StateError, st.Pair)
		}
		e.exec(d2, "ls "+statePath+".corrupt-*")

		// The master's journal is corrupt: its graceful stop hands the VIP over, it comes back
		// without VRRP, and the backup serves meanwhile; the client is never cut off.
		probe = e.startSteady(vip4, 20*time.Millisecond, 10*time.Second)
		e.restartAgent(d1, "printf '{bad\\n' >> "+statePath+".journal", "")
		e.waitState(d2, 91, "MASTER", takeover)
		if st := e.status(d1); !strings.Contains(st.StateError, "journal") || len(st.VIPs) != 0 {
			t.Errorf("master status: state_error %q, vips %+v", st.StateError, st.VIPs)
		}
		e.waitFor("director2 alone holds "+vip4, released, func() bool { return slices.Equal(e.holders(vip4), []string{d2}) }, nil)
		r = <-probe
		t.Logf("master restart with a corrupt journal: %d connections, %d failed, answers %v", r.Attempts, r.Failed, r.Answers)
		if r.Failed != 0 {
			t.Errorf("client during the master's restart: %+v", r)
		}
		e.recoverFromPeer(d1, d2)
		e.waitState(d1, 91, "MASTER", settle) // preempt: it takes the VIP back
		e.waitAnswers(vip4, d1, settle+released)
	})

	t.Run("a panic in a checker, VRRP and the IPVS reconciler is recovered; the part restarts, the agent keeps serving", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(false)
		e.putVIP(mixedVIP())
		vs := &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vip4, Port: 8, Scheduler: "rr", ForwardingMethod: "nat",
			HealthCheck: &agentapi.HealthCheck{Type: "tcp", IntervalMS: 2000, TimeoutMS: 1000, Rise: 1, Fall: 1},
			RealServers: map[string]*agentapi.RealServer{e.addr(d2) + ":" + servePort: {Address: e.addr(d2), Port: 7, Weight: 5}}}
		e.call(d1, func(ctx context.Context, c *agentclient.Client) error {
			_, err := c.PutVirtualServer(ctx, vs)
			return err
		})
		e.waitState(d1, 91, "MASTER", settle)
		e.restartAgent(d1, "", "LVS_AGENT_TEST_PANIC=healthcheck,vrrp,apply:ipvs")
		e.waitState(d1, 91, "MASTER", settle+released)
		var st *agentapi.Status
		e.waitFor("the panics recovered and the check up again", 10*time.Second, func() bool {
			st = e.status(d1)
			parts := map[string]uint64{}
			for _, p := range st.Panics {
				parts[p.Part] = p.Count
			}
			return parts["healthcheck"] == 1 && parts["vrrp"] == 1 && parts["ipvs"] == 1 && destOf(st, e.addr(d2)).Health == "up"
		}, func() string { return fmt.Sprintf("%+v", st) })
		if d := destOf(st, e.addr(d2)); d.Weight != 5 {
			t.Errorf("destination after the panics: %+v", d)
		}
		// The checker's verdicts resume: its server goes away, the check sees it.
		e.exec(d2, "kill $(cat /run/lab-serve.pid)")
		e.waitFor("the restarted checker takes the dead server out", 5*time.Second, func() bool {
			return destOf(e.status(d1), e.addr(d2)).Weight == 0
		}, nil)
		if out := e.exec(d1, agentapi.BinaryPath+" status"); !strings.Contains(out, "part healthcheck: 1 panics recovered") {
			t.Errorf("lvs-agent status:\n%s", out)
		}

		// The verdict outlives a restart: the dead server never gets weight again on the way.
		e.exec(d1, "(for i in $(seq 150); do grep -i ' -> "+hexAddrPort(e.addr(d2), 7)+"' /proc/net/ip_vs; sleep 0.05; done) > /tmp/weights 2>&1 &")
		e.restartAgent(d1, "", "")
		e.waitState(d1, 91, "MASTER", settle+released)
		time.Sleep(8 * time.Second) // the sampling loop ends
		samples := e.exec(d1, "cat /tmp/weights")
		n := 0
		for _, l := range strings.Split(strings.TrimSpace(samples), "\n") {
			f := strings.Fields(l)
			if len(f) >= 4 {
				n++
				if f[3] != "0" {
					t.Errorf("the dead server had weight %s during the restart: %q", f[3], l)
				}
			}
		}
		t.Logf("%d kernel samples of the dead server's weight during the restart", n)
		if n < 20 {
			t.Errorf("too few samples:\n%s", samples)
		}
		e.startServices(d2)
		e.waitFor("the server back up", 5*time.Second, func() bool { return destOf(e.status(d1), e.addr(d2)).Weight == 5 }, nil)
	})

	t.Run("a sync group fails over together: one member's tracked link or priority moves both VIPs, never split", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(false)
		// Only director1's member 91 tracks trk0 (a veth pair of its own): as FAULT, then as
		// a weight that takes the group's priority below director2's.
		e.exec(d1, "ip link add trk0 type veth peer name trk1 && ip link set trk1 up && ip link set trk0 up")
		defer e.exec(d1, "ip link del trk0")
		const vipY = "198.51.100.101"
		x, y := mixedVIP(), mixedVIP()
		x.SyncGroup, y.SyncGroup = "nat", "nat"
		y.VRID, y.Addresses = 92, []string{vipY}
		x1 := *x
		x1.TrackInterfaces = []agentapi.TrackInterface{{Name: "trk0"}}
		e.putVIP(&x1, d1)
		e.putVIP(x, d2)
		e.putVIP(y)
		for _, vrid := range []int{91, 92} {
			e.waitState(d1, vrid, "MASTER", settle)
			e.waitState(d2, vrid, "BACKUP", settle)
		}
		alone := func(d string) func() bool {
			return func() bool {
				return slices.Equal(e.holders(vip4), []string{d}) && slices.Equal(e.holders(vipY), []string{d})
			}
		}
		e.waitFor("director1 alone holds both", released, alone(d1), nil)
		if st := e.mustVRRP(d2, 92); st.SyncGroup != "nat" {
			t.Errorf("status of a member: %+v", st)
		}

		// watch polls both directors' addresses until stop, and counts the polls in which the
		// group was split: one director holding one member's address alone, the other the
		// other's.
		watch := func() (stop func() (polls, splits int)) {
			done := make(chan struct{})
			res := make(chan [2]int, 1)
			go func() {
				polls, splits := 0, 0
				for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
					select {
					case <-done:
						res <- [2]int{polls, splits}
						return
					default:
					}
					var has [2][2]bool // [director][x, y]
					for i, d := range directors {
						out, _ := e.tryExec(d, "ip -o addr show dev eth0")
						has[i] = [2]bool{strings.Contains(out, " "+vip4+"/"), strings.Contains(out, " "+vipY+"/")}
					}
					polls++
					if (has[0] == [2]bool{true, false} && has[1] == [2]bool{false, true}) ||
						(has[0] == [2]bool{false, true} && has[1] == [2]bool{true, false}) {
						splits++
						t.Logf("split: director1 holds %v, director2 %v", has[0], has[1])
					}
				}
				res <- [2]int{polls, splits}
			}()
			return func() (int, int) { close(done); r := <-res; return r[0], r[1] }
		}
		move := func(what, to, from string, change string, bound time.Duration) {
			t.Helper()
			stop := watch()
			// Stamped by the lab host right before the change: the command's way there is no
			// part of the failover (the lab's hosts share the test's clock).
			out := strings.TrimSpace(e.exec(d1, "date +%s%N && "+change))
			ns, err := strconv.ParseInt(out, 10, 64)
			if err != nil {
				t.Fatalf("stamp %q: %v", out, err)
			}
			start := time.Unix(0, ns)
			var at [2]time.Time
			for i, vrid := range []int{91, 92} {
				e.waitState(to, vrid, "MASTER", bound+time.Second) // the poll's own cost aside: timed below
				at[i], _ = time.Parse(time.RFC3339Nano, e.mustVRRP(to, vrid).LastTransition)
			}
			// The agents' transition times.
			last := at[0]
			if at[1].After(last) {
				last = at[1]
			}
			took, gap := last.Sub(start), at[0].Sub(at[1]).Abs()
			t.Logf("%s: both members MASTER on %s %v after the change, %v apart (bounds %v, %v)", what, to, took, gap, bound, 2*advert)
			if took < 0 || took > bound || gap > 2*advert {
				t.Errorf("%s: members master on %s at %v after the change, %v apart", what, to, took, gap)
			}
			e.waitFor(to+" alone holds both", released, alone(to), func() string {
				return fmt.Sprintf("holders %v, %v", e.holders(vip4), e.holders(vipY))
			})
			polls, splits := stop()
			t.Logf("%s: %d polls of both directors, %d split", what, polls, splits)
			if splits != 0 || polls < 3 {
				t.Errorf("%s: %d of %d polls saw the group split", what, splits, polls)
			}
			if st := e.mustVRRP(from, 92); st.State == "MASTER" {
				t.Errorf("%s: the member that tracks nothing on %s: %+v", what, from, st)
			}
		}
		move("member 91's link down on the master: FAULT", d2, d1, "ip link set trk0 down", takeover)
		if st := e.mustVRRP(d1, 92); st.State != "FAULT" || !strings.Contains(st.Reason, "sync group nat") {
			t.Errorf("director1's member 92 while 91 faults: %+v", st)
		}
		move("the link up again: director1 preempts", d1, d2, "ip link set trk0 up", settle)

		x1.TrackInterfaces = []agentapi.TrackInterface{{Name: "trk0", Weight: -150}}
		e.putVIP(&x1, d1)
		time.Sleep(settle) // nothing moves while the link is up
		e.waitFor("director1 alone holds both", released, alone(d1), nil)
		// The lower priority goes out with director1's next advert, an interval at most.
		move("member 91's link down with weight -150: the group's priority drops", d2, d1, "ip link set trk0 down", settle+advert)
		if st := e.mustVRRP(d1, 92); st.State != "BACKUP" || st.Priority != 50 {
			t.Errorf("director1's member 92 while 91's link is down: %+v", st)
		}
	})

	t.Run("an agent killed with SIGKILL that does not come back leaves no VIP", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(false)
		e.putVIP(mixedVIP())
		e.waitState(d1, 91, "MASTER", settle)
		e.waitFor("director1 alone holds "+vip4, released, func() bool { return slices.Equal(e.holders(vip4), []string{d1}) }, nil)
		// The binary is away, so the supervisor cannot start the agent again; only the server
		// dies, as systemd's SIGKILL of the main process (the supervisor stands for systemd).
		bin := agentapi.BinaryPath
		e.exec(d1, "cp "+bin+" /tmp/lvs-agent.keep && rm "+bin+" && sup=$(cat "+agentapi.SupervisorPID+") && kill -9 $(cat /proc/$sup/task/*/children)")
		e.waitFor("the dead master's VIPs gone, director2 alone holds them", takeover, func() bool {
			return slices.Equal(e.holders(vip4), []string{d2}) && !e.holds(d1, vip6) && e.holds(d2, vip6)
		}, func() string { return fmt.Sprintf("holders %v", e.holders(vip4)) })
		e.waitAnswers(vip4, d2, settle)
		e.exec(d1, "install -m 0755 /tmp/lvs-agent.keep "+bin)
	})

	t.Run("a new master announces its addresses as the VIP's gratuitous_arp says, counted on the wire", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(false)
		v := mixedVIP()
		v.GARP = &agentapi.GARP{Repeat: 3, DelayMS: 2500, RefreshMS: 1000, RefreshRepeat: 2}
		e.putVIP(v)
		e.waitState(d1, 91, "MASTER", settle)
		e.waitState(d2, 91, "BACKUP", settle)
		for _, d := range directors {
			if g := e.mustVRRP(d, 91).GARP; g == nil || *g != *v.GARP {
				t.Errorf("%s reports the policy %+v, want %+v", d, g, *v.GARP)
			}
		}
		if out := e.exec(d2, agentapi.BinaryPath+" status"); !strings.Contains(out, "gratuitous ARP/NA on takeover: 3 per address, 3 more after 2.5s; then 2 every 1s while master") {
			t.Errorf("lvs-agent status:\n%s", out)
		}
		mac := strings.TrimSpace(e.exec(d2, "cat /sys/class/net/"+lab.HostIface+"/address"))

		// The lab's bridge, in this process's namespace, hears every host's broadcasts.
		br, err := net.InterfaceByName(lab.Bridge)
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		sniffed, err := sniffGARPs(br.Index, stop)
		if err != nil {
			t.Fatal(err)
		}
		// Counts are exact; a loaded lab kernel may send late (slack), never early.
		const window, slack = 4500 * time.Millisecond, 1500 * time.Millisecond
		e.exec(d1, agentapi.BinaryPath+" stop") // priority 0: director2 takes over after Skew_Time
		e.waitState(d2, 91, "MASTER", takeover)
		time.Sleep(window + 500*time.Millisecond)
		close(stop)
		var ats []int64
		for _, g := range <-sniffed {
			if g.MAC == mac && g.Addr == netip.MustParseAddr(vip4) {
				ats = append(ats, g.At)
			}
		}
		bursts, problems := garpTimeline(ats, *v.GARP, window, slack)
		t.Logf("director2's gratuitous ARPs for %s in the %v after it took over: %v", vip4, window, bursts)
		for _, p := range problems {
			t.Error(p)
		}
		e.startServices(d1)
		e.waitState(d1, 91, "MASTER", settle+released) // preempt: it takes the VIP back
	})
}

// destOf returns the status's destination at addr, zero if none.
func destOf(st *agentapi.Status, addr string) agentapi.IPVSDestination {
	for _, s := range st.IPVS {
		for _, d := range s.Destinations {
			if strings.HasPrefix(d.Key, addr+":") {
				return d
			}
		}
	}
	return agentapi.IPVSDestination{}
}

// hexAddrPort is an IPv4 address and port as /proc/net/ip_vs shows them (C0A80001:0050).
func hexAddrPort(addr string, port int) string {
	var b [4]int
	fmt.Sscanf(addr, "%d.%d.%d.%d", &b[0], &b[1], &b[2], &b[3])
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", b[0], b[1], b[2], b[3], port)
}
