//go:build linux

package ha_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// Generous bounds: the lab may run in a User-Mode-Linux kernel on one loaded core. Failover
// times are logged as measured; make bench (TestLabBenchFailover) is where they are compared.
const (
	settle   = 30 * time.Second // a state that needs a few adverts
	takeover = 30 * time.Second // a failover
)

const (
	vip4 = "198.51.100.100"
	vip6 = "2001:db8::100"
)

func mixedVIP() *agentapi.VIP {
	return &agentapi.VIP{VRID: 91, Addresses: []string{vip4, vip6}, Priorities: [2]int{200, 100},
		AdvertIntervalCS: 10, Version: 3, Preempt: true}
}

// TestLabVRRP runs two agents as a director pair on lab hosts, configured through the agent
// API over SSH, and checks every failover path with a client host that connects to the VIP.
func TestLabVRRP(t *testing.T) {
	e := newLabEnv(t)

	t.Run("election by priority, IPv4 and IPv6, status", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(false)
		e.putVIP(mixedVIP())
		e.waitState(d1, 91, "MASTER", settle)
		e.waitState(d2, 91, "BACKUP", settle)
		e.waitAnswers(vip4, d1, settle)
		e.waitAnswers(vip6, d1, settle)
		st := e.mustVRRP(d1, 91)
		if st.Priority != 200 || len(st.HeldAddresses) != 2 || !strings.Contains(st.Master, e.addr(d1)) || st.AdvertsOut == 0 {
			t.Errorf("director1 status %+v", st)
		}
		if b := e.mustVRRP(d2, 91); b.Priority != 100 || len(b.HeldAddresses) != 0 || !strings.Contains(b.Master, "priority 200") {
			t.Errorf("director2 status %+v", b)
		}
		if h := e.holders(vip4); !slices.Equal(h, []string{d1}) {
			t.Errorf("holders of %s: %v", vip4, h)
		}
		out := e.exec(d1, agentapi.BinaryPath+" status")
		if !strings.Contains(out, "VIP vrid 91: MASTER, priority 200") || !strings.Contains(out, "held here: "+vip4) {
			t.Errorf("lvs-agent status:\n%s", out)
		}
	})

	t.Run("graceful stop sends priority 0: the backup takes over at once, the client is never cut off", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(false)
		v := mixedVIP()
		v.AdvertIntervalCS = 100 // 1s adverts: Master_Down_Interval 3.6s, Skew_Time 0.6s
		e.putVIP(v)
		e.waitState(d1, 91, "MASTER", settle)
		e.waitState(d2, 91, "BACKUP", settle)
		w := e.startWatch(vip4, d2, 10*time.Millisecond)
		start := lab.MonotonicNow()
		e.exec(d1, agentapi.BinaryPath+" stop")
		r := w.result()
		gap := time.Duration(r.FirstExpect - start)
		t.Logf("lvs-agent stop on the master: director2 answers after %v; %d of %d connects failed", gap, r.Failed, r.Attempts)
		if r.FirstExpect == 0 {
			t.Fatalf("director2 never answered: %+v", r)
		}
		// director1 serves until director2 has taken over and announced itself, so the client
		// sees no outage: at most a lone connection whose handshake straddled its switch to
		// director2 (the ACK reaches director2, which resets it). An outage — keepalived
		// drops the VIP at once, for Skew_Time — fails every connection in a row.
		if r.MaxRun > 1 {
			t.Errorf("%d connects in a row failed during a planned switchover: %+v", r.MaxRun, r)
		}
		// Well under Master_Down_Interval (3.6s): only the priority 0 advert explains it.
		if gap > 3*time.Second {
			t.Errorf("takeover took %v", gap)
		}
		if st := e.mustVRRP(d2, 91); st.State != "MASTER" || !strings.Contains(st.Reason, "priority 0") {
			t.Errorf("director2 %+v", st)
		}
		if e.holds(d1, vip4) || e.holds(d1, vip6) {
			t.Error("the stopped agent left its VIPs")
		}
		// The agent comes back and preempts, again without failing a connection: the
		// preempted director2 keeps serving until director1's announcements moved the client.
		w = e.startWatch(vip4, d1, 10*time.Millisecond)
		e.startServices(d1)
		r = w.result()
		t.Logf("agent restarted: director1 preempts, %d of %d connects failed", r.Failed, r.Attempts)
		if r.FirstExpect == 0 || r.MaxRun > 1 {
			t.Errorf("preemption: %+v", r)
		}
		e.waitState(d1, 91, "MASTER", settle)
		e.waitFor("director2 released the VIP", settle, func() bool { return !e.holds(d2, vip4) }, nil)
	})

	t.Run("master host killed: the backup holds the VIP and the client reaches it; reboot preempts", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(false)
		e.putVIP(mixedVIP())
		e.waitState(d1, 91, "MASTER", settle)
		e.waitState(d2, 91, "BACKUP", settle)
		e.waitAnswers(vip4, d1, settle)
		w := e.startWatch(vip4, d2, 10*time.Millisecond)
		start := lab.MonotonicNow()
		if err := e.host(d1).Kill(); err != nil {
			t.Fatal(err)
		}
		r := w.result()
		t.Logf("director1 killed: director2 answers after %v (%d connects failed)", time.Duration(r.FirstExpect-start), r.Failed)
		if r.FirstExpect == 0 {
			t.Fatalf("director2 never answered: %+v", r)
		}
		e.waitState(d2, 91, "MASTER", takeover)
		e.waitAnswers(vip6, d2, takeover)
		// director1 boots, its agent starts from the stored state, and preempts.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := e.host(d1).Boot(ctx); err != nil {
			t.Fatal(err)
		}
		e.waitState(d1, 91, "MASTER", 2*time.Minute)
		e.waitAnswers(vip4, d1, settle)
		e.waitState(d2, 91, "BACKUP", settle)
	})

	t.Run("nopreempt: a returning higher priority stays backup", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(false)
		v := mixedVIP()
		v.Preempt = false
		e.putVIP(v)
		e.waitState(d1, 91, "MASTER", settle)
		e.waitState(d2, 91, "BACKUP", settle)
		e.exec(d1, agentapi.BinaryPath+" stop")
		e.waitState(d2, 91, "MASTER", takeover)
		e.startServices(d1)
		e.waitState(d1, 91, "BACKUP", settle)
		time.Sleep(3 * time.Second) // many Master_Down_Intervals at 100ms
		if s := e.mustVRRP(d1, 91); s.State != "BACKUP" {
			t.Fatalf("director1 preempted without preempt: %+v", s)
		}
		if h := e.holders(vip4); !slices.Equal(h, []string{d2}) {
			t.Errorf("holders %v", h)
		}
	})

	t.Run("track script failure moves the VIP, recovery moves it back", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(false)
		for _, d := range directors {
			e.exec(d, "touch /run/lab-healthy")
		}
		v := mixedVIP()
		v.TrackScripts = []agentapi.TrackScript{{Name: "proxy", Command: "test -f /run/lab-healthy", IntervalMS: 100, TimeoutMS: 2000, Rise: 2, Fall: 2}}
		v.Notify = &agentapi.Notify{Master: "echo >> /run/lab-notify", Backup: "echo >> /run/lab-notify", Fault: "echo >> /run/lab-notify"}
		e.putVIP(v)
		e.waitState(d1, 91, "MASTER", settle)
		e.exec(d1, "rm /run/lab-healthy")
		e.waitState(d1, 91, "FAULT", settle)
		e.waitState(d2, 91, "MASTER", takeover)
		e.waitAnswers(vip4, d2, takeover)
		if s := e.mustVRRP(d1, 91); !strings.Contains(s.Reason, "script proxy down") {
			t.Errorf("director1 reason %q", s.Reason)
		}
		e.exec(d1, "touch /run/lab-healthy")
		e.waitState(d1, 91, "MASTER", settle)
		e.waitAnswers(vip4, d1, settle)
		// The notify commands saw every state of director1, with the state as last argument.
		e.waitFor("notifications", settle, func() bool {
			out, _ := e.tryExec(d1, "cat /run/lab-notify")
			// One line per family and transition: BACKUP, MASTER, FAULT, BACKUP, MASTER, twice.
			return strings.Count(out, "MASTER\n") == 4 && strings.Count(out, "FAULT\n") == 2
		}, func() string { out, _ := e.tryExec(d1, "cat /run/lab-notify"); return out })
	})

	t.Run("track interface down means FAULT", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(false)
		e.exec(d1, "ip link add trk0 type veth peer name trk1 && ip link set trk1 up && ip link set trk0 up")
		defer e.exec(d1, "ip link del trk0")
		v := mixedVIP()
		v.TrackInterfaces = []agentapi.TrackInterface{{Name: "trk0"}}
		e.putVIP(v, d1)
		e.putVIP(mixedVIP(), d2)
		e.waitState(d1, 91, "MASTER", settle)
		e.exec(d1, "ip link set trk0 down")
		e.waitState(d1, 91, "FAULT", settle)
		e.waitState(d2, 91, "MASTER", takeover)
		e.exec(d1, "ip link set trk0 up")
		e.waitState(d1, 91, "MASTER", settle)
	})

	t.Run("partition and heal: one master, which re-announces", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(false)
		e.putVIP(mixedVIP())
		e.waitState(d1, 91, "MASTER", settle)
		e.waitState(d2, 91, "BACKUP", settle)
		if err := e.host(d1).Partition(true); err != nil {
			t.Fatal(err)
		}
		e.waitState(d2, 91, "MASTER", takeover)
		e.waitAnswers(vip4, d2, takeover) // the client follows director2's announcements
		if err := e.host(d1).Partition(false); err != nil {
			t.Fatal(err)
		}
		e.waitState(d2, 91, "BACKUP", takeover)
		if s := e.mustVRRP(d1, 91); s.State != "MASTER" {
			t.Fatalf("director1 after the heal: %+v", s)
		}
		e.waitFor("one holder", settle, func() bool { return slices.Equal(e.holders(vip4), []string{d1}) }, nil)
		// The client's neighbour entry still points at director2, and would for the 15-45 s of
		// the kernel's reachable time plus probes: only director1's re-announcement after the
		// heal can move it back within seconds.
		e.waitAnswers(vip4, d1, 5*time.Second)
		e.waitAnswers(vip6, d1, 5*time.Second)
	})

	t.Run("an agent killed with SIGKILL leaves its VIP; the restarted agent removes it", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(false)
		v := mixedVIP()
		v.Preempt = false // so that director1 stays backup after its restart
		e.putVIP(v)
		e.waitState(d1, 91, "MASTER", settle)
		// The whole agent dies at once, as with kill -9 of the service.
		e.exec(d1, `sup=$(cat `+agentapi.SupervisorPID+`) && kill -9 $sup $(cat /proc/$sup/task/*/children)`)
		e.waitState(d2, 91, "MASTER", takeover)
		if h := e.holders(vip4); !slices.Equal(h, []string{d1, d2}) {
			t.Fatalf("expected the duplicate a dead agent leaves, got holders %v", h)
		}
		e.startServices(d1)
		e.waitState(d1, 91, "BACKUP", settle)
		if h := e.holders(vip4); !slices.Equal(h, []string{d2}) {
			t.Errorf("after the restart, holders of %s: %v", vip4, e.holders(vip4))
		}
		if e.holds(d1, vip6) {
			t.Error("stale IPv6 VIP left")
		}
		e.waitAnswers(vip4, d2, settle)
	})

	t.Run("malformed and wrongly authenticated adverts are counted and ignored", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(false)
		v := &agentapi.VIP{VRID: 51, Addresses: []string{vip4}, Priorities: [2]int{200, 100}, AdvertIntervalCS: 100, Version: 2, AuthPass: "s3cret", Preempt: true}
		e.putVIP(v)
		e.waitState(d1, 51, "MASTER", settle)
		e.waitState(d2, 51, "BACKUP", settle)
		for _, kind := range []string{"ttl", "auth", "checksum"} {
			e.exec(client, fmt.Sprintf("env %s=1 %s inject %s %s 51 s3cret %s", helperEnv, e.helper, e.addr(client), kind, vip4))
		}
		for _, d := range directors {
			e.waitFor(d+" counted the drops", settle, func() bool {
				s, err := e.vrrp(d, 51)
				return err == nil && s.Dropped["ttl"] == 1 && s.Dropped["auth"] == 1 && s.Dropped["checksum"] == 1
			}, func() string { s, err := e.vrrp(d, 51); return fmt.Sprintf("%+v %v", s, err) })
		}
		time.Sleep(2 * time.Second)
		if s := e.mustVRRP(d1, 51); s.State != "MASTER" {
			t.Errorf("an injected advert moved director1: %+v", s)
		}
		if s := e.mustVRRP(d2, 51); s.State != "BACKUP" || strings.Contains(s.Master, e.addr(client)) {
			t.Errorf("director2 took an injected advert for a master: %+v", s)
		}
	})

	t.Run("unicast adverts to the peer", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(true)
		v := mixedVIP()
		v.Addresses = []string{vip4}
		e.putVIP(v)
		e.waitState(d1, 91, "MASTER", settle)
		e.waitState(d2, 91, "BACKUP", settle)
		e.exec(d1, agentapi.BinaryPath+" stop")
		e.waitState(d2, 91, "MASTER", takeover)
		e.waitAnswers(vip4, d2, takeover)
	})

	t.Run("deleting the VIP on the master hands it over", func(t *testing.T) {
		e.t = t
		e.reset()
		e.putPair(false)
		e.putVIP(mixedVIP())
		e.waitState(d1, 91, "MASTER", settle)
		e.waitState(d2, 91, "BACKUP", settle)
		e.call(d1, func(ctx context.Context, c *agentclient.Client) error { return c.DeleteVIP(ctx, 91) })
		if e.holds(d1, vip4) {
			t.Error("director1 kept a deleted VIP")
		}
		e.waitState(d2, 91, "MASTER", takeover)
	})
}

// watch is a running `watch` helper on the client.
type watch struct {
	e    *labEnv
	done chan struct{}
	res  watchResult
	out  string
	err  error
}

// startWatch starts probing addr from the client and returns once a connection succeeded.
func (e *labEnv) startWatch(addr, expect string, every time.Duration) *watch {
	e.t.Helper()
	w := &watch{e: e, done: make(chan struct{})}
	cmd := e.host(client).Command(context.Background(), "env", helperEnv+"=1", e.helper, "watch",
		net.JoinHostPort(addr, servePort), every.String(), "300ms", "60s", expect)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		defer close(w.done)
		var all strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := stdout.Read(buf)
			all.Write(buf[:n])
			if s := all.String(); strings.Contains(s, "ready ") {
				select {
				case ready <- s:
				default:
				}
			}
			if err != nil {
				break
			}
		}
		w.err = cmd.Wait()
		w.out = all.String()
		lines := strings.Split(strings.TrimSpace(w.out), "\n")
		if w.err == nil {
			w.err = json.Unmarshal([]byte(lines[len(lines)-1]), &w.res)
		}
	}()
	select {
	case <-ready:
	case <-w.done:
		e.t.Fatalf("watch ended before any connection succeeded: %v\n%s", w.err, w.out)
	case <-time.After(time.Minute):
		e.t.Fatal("watch: no connection succeeded within a minute")
	}
	return w
}

func (w *watch) result() watchResult {
	w.e.t.Helper()
	select {
	case <-w.done:
	case <-time.After(2 * time.Minute):
		w.e.t.Fatal("watch did not end")
	}
	if w.err != nil {
		w.e.t.Fatalf("watch: %v\n%s", w.err, w.out)
	}
	return w.res
}
