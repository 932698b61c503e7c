package ipvs

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

const vsKey = "tcp/198.51.100.100:80"

func testState() *agentapi.State {
	return &agentapi.State{
		Pair: &agentapi.Pair{Name: "edge", Self: 0, SyncConnections: false, Directors: []agentapi.Director{
			{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"}}},
		VirtualServers: map[string]*agentapi.VirtualServer{
			vsKey: {VRID: 91, Protocol: "tcp", Address: "198.51.100.100", Port: 80, Scheduler: "wrr", ForwardingMethod: "dr",
				RealServers: map[string]*agentapi.RealServer{
					"198.51.100.21:80": {Address: "198.51.100.21", Port: 80, Weight: 1},
					"198.51.100.22:80": {Address: "198.51.100.22", Port: 80, Weight: 2},
				}},
		},
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	t   testing.TB
	k   *fakeKernel
	sys *fakeSys
	r   *Reconciler
	log *syncBuf
	dir string
}

func newEnv(t testing.TB, hv HealthView) *env {
	t.Helper()
	e := &env{t: t, k: newFake(), log: &syncBuf{}, dir: t.TempDir(), sys: &fakeSys{v: map[string]string{
		"net.ipv4.ip_forward": "0", "net.ipv4.conf.all.send_redirects": "1", "net.ipv4.conf.eth0.send_redirects": "1",
		"net.ipv6.conf.all.forwarding": "0", "net.ipv4.vs.conntrack": "0",
	}}}
	e.r = e.newReconciler(hv)
	return e
}

func (e *env) newReconciler(hv HealthView) *Reconciler {
	r := New(Config{Kernel: e.k, Sysctls: e.sys, Health: hv, StateDir: e.dir,
		Logger: slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	r.verifyShare = 0 // every plain Apply reads the table back, as a resync with a small table
	return r
}

func (e *env) apply(st *agentapi.State) {
	e.t.Helper()
	if err := e.r.Apply(context.Background(), st, reconcile.Resync); err != nil {
		e.t.Fatalf("Apply: %v", err)
	}
}

func (e *env) weight(rs string) int {
	e.t.Helper()
	d := e.k.dest(vsKey, rs)
	if d == nil {
		return -1
	}
	return d.Weight
}

func TestReconcilerProgramsOnceThenOnlyReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	st := testState()
	e.apply(st)
	if ops := e.k.takeOps(); len(ops) != 3 {
		t.Fatalf("first apply: %s", opsString(ops))
	}
	for range 3 {
		e.apply(st)
	}
	if ops := e.k.takeOps(); len(ops) != 0 {
		t.Errorf("apply of a correct table changed it:\n%s", opsString(ops))
	}
	if e.r.Repairs() != 0 {
		t.Errorf("repairs = %d on a quiet table", e.r.Repairs())
	}
	if e.weight("198.51.100.22:80") != 2 {
		t.Errorf("weight = %d", e.weight("198.51.100.22:80"))
	}
}

func TestReconcilerUpdatesInPlace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	st := testState()
	e.apply(st)
	e.k.takeOps()
	vs := st.VirtualServers[vsKey]
	steps := []struct {
		name   string
		change func()
		want   []string
	}{
		{"weight", func() { vs.RealServers["198.51.100.21:80"].Weight = 7 }, []string{"update destination 198.51.100.21:80"}},
		{"scheduler", func() { vs.Scheduler = "sh"; vs.SchedulerFlags = []string{"sh-port"} }, []string{"update service"}},
		{"persistence", func() { vs.Persistence = &agentapi.Persistence{TimeoutS: 600, Netmask: "255.255.255.0"} }, []string{"update service"}},
		{"method", func() { vs.RealServers["198.51.100.22:80"].ForwardingMethod = "tunnel" }, []string{"update destination 198.51.100.22:80"}},
		{"thresholds", func() {
			vs.RealServers["198.51.100.22:80"].UpperThreshold = 50
			vs.RealServers["198.51.100.22:80"].LowerThreshold = 10
		},
			[]string{"update destination 198.51.100.22:80"}},
		{"drain", func() { vs.RealServers["198.51.100.21:80"].Weight = 0 }, []string{"update destination 198.51.100.21:80"}},
	}
	for _, s := range steps {
		s.change()
		e.apply(st)
		ops := e.k.takeOps()
		assertInPlace(t, ops)
		if len(ops) != len(s.want) {
			t.Fatalf("%s: ops\n%s", s.name, opsString(ops))
		}
		for i, w := range s.want {
			if !strings.HasPrefix(ops[i].String(), w) {
				t.Errorf("%s: op %q, want %q", s.name, ops[i], w)
			}
		}
	}
	got := e.k.service(vsKey)
	if got.Scheduler != "sh" || got.Flags != FlagSched2|FlagPersistent || got.Timeout != 600 || got.NetmaskBits != 24 {
		t.Errorf("service %+v", got)
	}
	if d := e.k.dest(vsKey, "198.51.100.22:80"); d.FwdMethod != FwdTunnel || d.TunType != TunIPIP || d.UpperThreshold != 50 || d.LowerThreshold != 10 {
		t.Errorf("dest %+v", d)
	}
	if e.r.Repairs() != 0 {
		t.Errorf("configuration changes counted as %d repairs", e.r.Repairs())
	}
}

func TestReconcilerRepairsDrift(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	st := testState()
	e.apply(st)
	e.k.takeOps()
	key := func(s string) ServiceKey {
		for k := range e.k.svcs {
			if k.String() == s {
				return k
			}
		}
		t.Fatalf("no service %s", s)
		return ServiceKey{}
	}
	k := key(vsKey)
	tampers := []struct {
		name string
		fn   func(map[ServiceKey]*Service)
		op   string
	}{
		{"ipvsadm -e weight", func(m map[ServiceKey]*Service) { m[k].Dests[0].Weight = 9 }, "update destination"},
		{"ipvsadm -d", func(m map[ServiceKey]*Service) { m[k].Dests = m[k].Dests[1:] }, "add destination"},
		{"ipvsadm -a extra", func(m map[ServiceKey]*Service) { m[k].Dests = append(m[k].Dests, dst("198.51.100.99", 1)) }, "delete destination 198.51.100.99:80"},
		{"ipvsadm -E scheduler", func(m map[ServiceKey]*Service) { m[k].Scheduler = "rr" }, "update service"},
		{"ipvsadm -D", func(m map[ServiceKey]*Service) { delete(m, k) }, "add service"},
	}
	for i, tc := range tampers {
		e.k.tamper(tc.fn)
		e.apply(st)
		ops := e.k.takeOps()
		if len(ops) == 0 || !strings.HasPrefix(ops[0].String(), tc.op) {
			t.Errorf("%s: repair ops\n%s", tc.name, opsString(ops))
		}
		if got := e.r.Repairs(); got != uint64(i+1) {
			t.Errorf("%s: repairs = %d, want %d", tc.name, got, i+1)
		}
	}
	if e.weight("198.51.100.21:80") != 1 || e.weight("198.51.100.22:80") != 2 {
		t.Errorf("table not repaired: %+v", e.k.service(vsKey))
	}
	if !strings.Contains(e.log.String(), "IPVS drift repaired: weight 9, want 1") {
		t.Errorf("repair not logged:\n%s", e.log.String())
	}
	rep := e.r.IPVSReport()
	if rep.Repairs != 5 || len(rep.RecentRepairs) != 5 {
		t.Errorf("report: repairs %d, recent %v", rep.Repairs, rep.RecentRepairs)
	}
}

func TestReconcilerLeavesOthersAloneAndTearsDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	foreign := svc("b", "lc", dst("198.51.100.50", 1))
	e.k.svcs[foreign.ServiceKey] = cloneSvc(foreign)
	st := testState()
	e.apply(st)
	e.k.takeOps()
	rep := e.r.IPVSReport()
	if len(rep.Services) != 2 || rep.Services[0].Key != "tcp/198.51.100.100:443" || rep.Services[0].Managed || !rep.Services[1].Managed {
		t.Errorf("report services %+v", rep.Services)
	}

	// An agent restarted with a state that no longer holds the service still removes it: its
	// ownership is on disk.
	st2 := testState()
	delete(st2.VirtualServers, vsKey)
	e.r = e.newReconciler(nil)
	e.apply(st2)
	if ops := e.k.takeOps(); len(ops) != 1 || ops[0].Kind != DelService || ops[0].Service.String() != vsKey {
		t.Errorf("teardown ops:\n%s", opsString(ops))
	}
	if e.k.service("tcp/198.51.100.100:443") == nil {
		t.Error("foreign service removed")
	}
	e.apply(&agentapi.State{}) // pair deleted
	if ops := e.k.takeOps(); len(ops) != 0 {
		t.Errorf("empty state touched:\n%s", opsString(ops))
	}
}

// health is a HealthView under test control.
var _ HealthStatuser = (*health)(nil)

type health struct {
	mu sync.Mutex
	w  map[string]int // rsKey -> weight; -1 = removed
}

func (h *health) Weight(_, rs string, configured int) (int, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w, ok := h.w[rs]
	if !ok {
		return configured, true
	}
	return max(w, 0), w >= 0
}

func (h *health) Health(_, rs string) (agentapi.HealthState, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if w, ok := h.w[rs]; ok && w <= 0 {
		return "down", "connect refused"
	}
	return "up", ""
}

func (h *health) set(m map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.w = maps.Clone(m)
}

func TestReconcilerHealthSorryServerQuorum(t *testing.T) {
	t.Parallel()
	h := &health{}
	e := newEnv(t, h)
	st := testState()
	vs := st.VirtualServers[vsKey]
	vs.SorryServer = &agentapi.SorryServer{Address: "198.51.100.40", Port: 80}
	vs.Quorum = &agentapi.Quorum{Min: 2, Hysteresis: 1}
	e.apply(st)
	e.k.takeOps()

	steps := []struct {
		name      string
		w         map[string]int
		wantDests string // sorted "addr=weight" of the kernel
		quorumUp  bool
	}{
		{"all up", nil, "198.51.100.21:80=1 198.51.100.22:80=2", true},
		{"one quiesced: sum 2, still above min-h 1", map[string]int{"198.51.100.22:80": 0}, "198.51.100.21:80=1 198.51.100.22:80=0", true},
		{"one removed, other quiesced: sum 0, quorum lost: sorry server only", map[string]int{"198.51.100.21:80": -1, "198.51.100.22:80": 0}, "198.51.100.40:80=1", false},
		{"sum 2 is below min+h 3: still down", map[string]int{"198.51.100.21:80": -1}, "198.51.100.40:80=1", false},
		{"sum 3: up again, sorry server gone", nil, "198.51.100.21:80=1 198.51.100.22:80=2", true},
	}
	for _, s := range steps {
		h.set(s.w)
		e.apply(st)
		ops := e.k.takeOps()
		assertInPlace(t, ops)
		var got []string
		for _, d := range e.k.service(vsKey).Dests {
			got = append(got, d.Key().String()+"="+strconv.Itoa(d.Weight))
		}
		sort.Strings(got)
		if strings.Join(got, " ") != s.wantDests {
			t.Errorf("%s: kernel %v, want %s (ops:\n%s)", s.name, got, s.wantDests, opsString(ops))
		}
		rep := e.r.IPVSReport()
		if q := rep.Services[0].Quorum; q == nil || q.Up != s.quorumUp {
			t.Errorf("%s: quorum %+v, want up=%v", s.name, q, s.quorumUp)
		}
	}
	if e.r.Repairs() != 0 {
		t.Errorf("health changes counted as %d repairs", e.r.Repairs())
	}
	// The report merges configured weight and health.
	h.set(map[string]int{"198.51.100.22:80": 0})
	e.apply(st)
	for _, d := range e.r.IPVSReport().Services[0].Destinations {
		if d.Key == "198.51.100.22:80" && (d.Weight != 0 || d.ConfiguredWeight != 2 || d.Health != "down") {
			t.Errorf("report of a quiesced server: %+v", d)
		}
	}
}

func TestReconcilerDaemonsTimeoutsSysctls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	st := testState()
	st.Pair.SyncConnections = true
	st.Pair.IPVSTimeouts = &agentapi.IPVSTimeouts{TCP: 600, UDP: 30}
	st.VirtualServers[vsKey].ForwardingMethod = "nat"
	e.apply(st)
	id := SyncID("edge")
	def := func(state uint32, iface string, id uint32) Daemon {
		return Daemon{State: state, Interface: iface, SyncID: id, MaxLen: 1472, Port: DefaultSyncPort, TTL: DefaultSyncTTL, Group: DefaultSyncGroup}
	}
	if len(e.k.daemons) != 2 || e.k.daemons[0] != def(DaemonMaster, "eth0", id) || e.k.daemons[1] != def(DaemonBackup, "eth0", id) {
		t.Errorf("daemons %+v", e.k.daemons)
	}
	if e.k.timeouts != (Timeouts{600, 120, 30}) {
		t.Errorf("timeouts %+v", e.k.timeouts)
	}
	for name, want := range map[string]string{"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.send_redirects": "0", "net.ipv4.conf.eth0.send_redirects": "0", "net.ipv4.vs.conntrack": "0"} {
		if got := e.sys.get(name); got != want {
			t.Errorf("%s = %s, want %s (no nf_conntrack: conntrack untouched)", name, got, want)
		}
	}
	// Idempotent.
	n := e.k.setConfig
	e.apply(st)
	if e.k.setConfig != n {
		t.Error("timeouts rewritten while right")
	}
	// Drift: a daemon stopped, a timeout changed, ip_forward turned off.
	_ = e.k.StopDaemon(DaemonBackup)
	e.k.timeouts.TCP = 900
	e.sys.v["net.ipv4.ip_forward"] = "0"
	e.apply(st)
	if len(e.k.daemons) != 2 || e.k.timeouts.TCP != 600 || e.sys.get("net.ipv4.ip_forward") != "1" {
		t.Errorf("not repaired: daemons %+v timeouts %+v ip_forward %s", e.k.daemons, e.k.timeouts, e.sys.get("net.ipv4.ip_forward"))
	}
	if e.r.Repairs() != 3 {
		t.Errorf("repairs = %d, want 3", e.r.Repairs())
	}
	// Interface change: the daemons move.
	st.Pair.Directors[0].Interface = "eth1"
	e.sys.v["net.ipv4.conf.eth1.send_redirects"] = "1"
	e.apply(st)
	if e.k.daemons[0].Interface != "eth1" || e.k.daemons[1].Interface != "eth1" {
		t.Errorf("daemons %+v", e.k.daemons)
	}
	// Teardown gives everything back.
	e.apply(&agentapi.State{})
	if len(e.k.daemons) != 0 || e.k.timeouts != KernelDefaultTimeouts || len(e.k.svcs) != 0 {
		t.Errorf("after teardown: daemons %+v timeouts %+v services %d", e.k.daemons, e.k.timeouts, len(e.k.svcs))
	}
	for name, want := range map[string]string{"net.ipv4.ip_forward": "0", "net.ipv4.conf.all.send_redirects": "1", "net.ipv4.conf.eth0.send_redirects": "1", "net.ipv4.conf.eth1.send_redirects": "1"} {
		if got := e.sys.get(name); got != want {
			t.Errorf("after teardown %s = %s, want %s", name, got, want)
		}
	}
}

func TestReconcilerNATWithConntrackAndIPv6(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.sys.v["net.netfilter.nf_conntrack_max"] = "65536"
	st := testState()
	st.VirtualServers = map[string]*agentapi.VirtualServer{
		"tcp/[2001:db8::100]:80": {VRID: 91, Protocol: "tcp", Address: "2001:db8::100", Port: 80, Scheduler: "rr", ForwardingMethod: "nat",
			RealServers: map[string]*agentapi.RealServer{"[2001:db8::21]:8080": {Address: "2001:db8::21", Port: 8080, Weight: 1}}},
	}
	e.apply(st)
	if e.sys.get("net.ipv6.conf.all.forwarding") != "1" || e.sys.get("net.ipv4.vs.conntrack") != "1" || e.sys.get("net.ipv4.ip_forward") != "0" {
		t.Errorf("sysctls %v", e.sys.v)
	}
	if s := e.k.service("tcp/[2001:db8::100]:80"); s == nil || s.NetmaskBits != 128 || len(s.Dests) != 1 || s.Dests[0].FwdMethod != FwdMasq {
		t.Errorf("service %+v", s)
	}
}

func TestReconcilerReportsUnavailableScheduler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	st := testState()
	st.VirtualServers[vsKey].Scheduler = "twos"
	err := e.r.Apply(context.Background(), st, reconcile.Resync)
	if err == nil || !strings.Contains(err.Error(), "add service tcp/198.51.100.100:80") {
		t.Fatalf("Apply = %v", err)
	}
	rep := e.r.IPVSReport()
	if len(rep.Services) != 1 || !rep.Services[0].Missing || rep.Services[0].Error == "" || rep.LastError == "" {
		t.Errorf("report %+v", rep)
	}
	// Fixing the scheduler programs it; nothing counted as drift.
	st.VirtualServers[vsKey].Scheduler = "rr"
	e.apply(st)
	if e.k.service(vsKey) == nil || e.r.Repairs() != 0 {
		t.Errorf("service %v, repairs %d", e.k.service(vsKey), e.r.Repairs())
	}
}

func TestReconcilerStatusField(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.apply(testState())
	var st agentapi.Status
	e.r.Report(&st)
	if got := st.IPVS; len(got) != 1 || !got[0].Managed || len(got[0].Destinations) != 2 {
		t.Errorf("status IPVS %+v", got)
	}
}

// TestReconcilerHealthChangedReappliesAtOnce: a verdict change reaches the kernel without waiting
// for the next Apply from the server, from the state the last Apply was given.
func TestReconcilerHealthChangedReappliesAtOnce(t *testing.T) {
	t.Parallel()
	h := &health{}
	e := newEnv(t, h)
	t.Cleanup(func() { _ = e.r.Close() })
	e.apply(testState())
	e.k.takeOps()
	h.set(map[string]int{"198.51.100.22:80": 0})
	for range 5 { // a burst folds into few passes
		e.r.HealthChanged()
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.weight("198.51.100.22:80") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("weight still %d 5 s after HealthChanged", e.weight("198.51.100.22:80"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.set(map[string]int{"198.51.100.22:80": -1})
	e.r.HealthChanged()
	deadline = time.Now().Add(5 * time.Second)
	for e.weight("198.51.100.22:80") != -1 {
		if time.Now().After(deadline) {
			t.Fatal("removed server still in the kernel 5 s after HealthChanged")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if e.r.Repairs() != 0 {
		t.Errorf("health changes counted as %d repairs", e.r.Repairs())
	}
}

// TestReconcilerExpiresConnectionsOfRemovedServers: with services, connections to a destination
// that left the table and persistence to a quiesced one are expired at their next packet; the
// values go back when the last service goes.
func TestReconcilerExpiresConnectionsOfRemovedServers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.sys.v["net.ipv4.vs.expire_nodest_conn"] = "0"
	e.sys.v["net.ipv4.vs.expire_quiescent_template"] = "0"
	e.apply(testState())
	for _, n := range []string{"net.ipv4.vs.expire_nodest_conn", "net.ipv4.vs.expire_quiescent_template"} {
		if got := e.sys.get(n); got != "1" {
			t.Errorf("%s = %s with a service, want 1", n, got)
		}
	}
	e.apply(&agentapi.State{Pair: testState().Pair})
	for _, n := range []string{"net.ipv4.vs.expire_nodest_conn", "net.ipv4.vs.expire_quiescent_template"} {
		if got := e.sys.get(n); got != "0" {
			t.Errorf("%s = %s after the last service went, want the old 0", n, got)
		}
	}
}

// TestReconcilerPlansChangesFromWhatItProgrammed: a committed change (reconcile.Change) is planned
// from what the last pass programmed, without reading the table back; a change the kernel
// refuses, because someone changed the table meanwhile, reads it back and repairs at once; the
// start and resyncs (a plain context) always read it back, so drift is still found.
func TestReconcilerPlansChangesFromWhatItProgrammed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	st := testState()
	e.apply(st) // start: reads the table
	dumps := func() int { e.k.mu.Lock(); defer e.k.mu.Unlock(); return e.k.dumps }
	if dumps() != 1 {
		t.Fatalf("dumps after the first apply = %d, want 1", dumps())
	}
	ctx := context.Background()
	rss := st.VirtualServers[vsKey].RealServers
	for i := range 5 {
		a := "198.51.100." + strconv.Itoa(30+i)
		rss[a+":80"] = &agentapi.RealServer{Address: a, Port: 80, Weight: 3}
		if err := e.r.Apply(ctx, st, reconcile.Change); err != nil {
			t.Fatal(err)
		}
	}
	if dumps() != 1 || e.weight("198.51.100.34:80") != 3 {
		t.Fatalf("5 changes: dumps %d (want 1), weight %d (want 3)", dumps(), e.weight("198.51.100.34:80"))
	}
	if ops := e.k.takeOps(); len(ops) != 3+5 {
		t.Fatalf("ops: %s", opsString(ops))
	}

	// Someone deletes a destination; the next change is to that destination: the kernel refuses
	// the update, the table is read back and the destination added again with its new weight.
	k := func() ServiceKey {
		for k := range e.k.svcs {
			if k.String() == vsKey {
				return k
			}
		}
		return ServiceKey{}
	}()
	e.k.tamper(func(m map[ServiceKey]*Service) {
		m[k].Dests = slices.DeleteFunc(m[k].Dests, func(d *Dest) bool { return d.Key().String() == "198.51.100.22:80" })
	})
	rss["198.51.100.22:80"].Weight = 7
	if err := e.r.Apply(ctx, st, reconcile.Change); err != nil {
		t.Fatalf("a refused change must be repaired from the kernel's table, not reported: %v", err)
	}
	if dumps() != 2 || e.weight("198.51.100.22:80") != 7 {
		t.Errorf("after a refused change: dumps %d (want 2), weight %d (want 7)", dumps(), e.weight("198.51.100.22:80"))
	}
	if !strings.Contains(e.log.String(), "reading it back") {
		t.Errorf("fallback not logged:\n%s", e.log.String())
	}

	// A change elsewhere does not see drift; the resync that follows does, and repairs it.
	e.k.tamper(func(m map[ServiceKey]*Service) {
		for _, d := range m[k].Dests {
			if d.Key().String() == "198.51.100.30:80" {
				d.Weight = 99
			}
		}
	})
	rss["198.51.100.21:80"].Weight = 4
	if err := e.r.Apply(ctx, st, reconcile.Change); err != nil {
		t.Fatal(err)
	}
	repairs := e.r.Repairs()
	e.apply(st) // resync
	if dumps() != 3 {
		t.Errorf("dumps = %d, want 3 (the change reads nothing, the resync reads once)", dumps())
	}
	for _, d := range e.k.service(vsKey).Dests {
		if d.Weight == 99 {
			t.Errorf("resync left the tampered weight: %+v", d)
		}
	}
	if e.r.Repairs() != repairs+1 {
		t.Errorf("repairs %d, want %d", e.r.Repairs(), repairs+1)
	}
}

// TestReconcilerReadsBackBigTablesLessOften: a resync reads the table back only when 400 times
// the last read's duration has passed, and at least every minute, so that drift repair of a big
// table stays a small share of a CPU.
func TestReconcilerReadsBackBigTablesLessOften(t *testing.T) {
	t.Parallel()
	h := &health{}
	e := newEnv(t, h)
	t.Cleanup(func() { _ = e.r.Close() })
	e.r.verifyShare = verifyShare
	e.r.verifyAlways = 0 // as if the table were big
	var cmu sync.Mutex   // the health re-apply reads the clock from its own goroutine
	clock := time.Unix(1e9, 0)
	advance := func(d time.Duration) { cmu.Lock(); clock = clock.Add(d); cmu.Unlock() }
	e.r.now = func() time.Time { cmu.Lock(); defer cmu.Unlock(); return clock }
	e.k.onDump = func() { advance(50 * time.Millisecond) } // a read-back takes 50 ms
	dumps := func() int { e.k.mu.Lock(); defer e.k.mu.Unlock(); return e.k.dumps }
	st := testState()
	e.apply(st)
	for _, c := range []struct {
		after time.Duration
		want  int
	}{
		{5 * time.Second, 1},  // 400 x 50 ms = 20 s not yet passed
		{10 * time.Second, 1}, // 15 s
		{6 * time.Second, 2},  // 21 s: read back
		{19 * time.Second, 2}, // 19 s since
		{2 * time.Second, 3},  // 21 s
	} {
		advance(c.after)
		e.apply(st)
		if dumps() != c.want {
			t.Fatalf("after another %v: %d read-backs, want %d", c.after, dumps(), c.want)
		}
	}
	rep := e.r.IPVSReport()
	if rep.LastReconcile == nil || !rep.LastReconcile.Verified || rep.LastReconcile.ReadMS != 50 {
		t.Errorf("last reconcile: %+v", rep.LastReconcile)
	}
	// A resync of the same state with nothing due is skipped outright (its report is the last
	// pass's); a health verdict is not, read-back due or not.
	advance(5 * time.Second)
	e.apply(st)
	if again := e.r.IPVSReport().LastReconcile; again.At != rep.LastReconcile.At {
		t.Errorf("an idle resync did work: %+v after %+v", again, rep.LastReconcile)
	}
	h.set(map[string]int{"198.51.100.22:80": 0})
	e.r.HealthChanged()
	for deadline := time.Now().Add(5 * time.Second); e.weight("198.51.100.22:80") != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a health change waited for the next read-back")
		}
	}
	h.set(nil)
	e.r.HealthChanged()
	for deadline := time.Now().Add(5 * time.Second); e.weight("198.51.100.22:80") != 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the recovered server's weight did not come back")
		}
	}
	// A slow read-back is still repeated every minute.
	before := dumps()
	e.k.onDump = func() { advance(time.Second) }
	advance(time.Minute)
	e.apply(st) // reads back, taking 1 s: 400 s > a minute
	advance(59 * time.Second)
	e.apply(st)
	advance(2 * time.Second)
	e.apply(st)
	if dumps()-before != 2 {
		t.Errorf("%d read-backs in 2 minutes, want 2 (at most a minute apart)", dumps()-before)
	}
	// A small table is read back at every resync, however long the read took.
	e.r.verifyAlways = verifyAlways
	before = dumps()
	for range 3 {
		advance(5 * time.Second)
		e.apply(st)
	}
	if dumps()-before != 3 {
		t.Errorf("a table of 2 destinations: %d read-backs in 3 resyncs, want 3", dumps()-before)
	}
}

// TestReconcilerSchedulesReusedPortsInDR: a DR or tunnel director reschedules a connection from a
// client port whose old entry is in FIN_WAIT (conn_reuse_mode 3: the last state a one-way
// director sees); not where NAT runs too (its conntrack would drop the first SYN); and the old
// value goes back with the last such service.
func TestReconcilerSchedulesReusedPortsInDR(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.sys.v["net.ipv4.vs.conn_reuse_mode"] = "1"
	st := testState()
	for _, method := range []string{"dr", "tunnel"} {
		st.VirtualServers[vsKey].ForwardingMethod = method
		e.apply(st)
		if got := e.sys.get("net.ipv4.vs.conn_reuse_mode"); got != "3" {
			t.Errorf("%s: conn_reuse_mode = %s, want 3", method, got)
		}
	}
	st.VirtualServers[vsKey].ForwardingMethod = "nat"
	e.apply(st)
	if got := e.sys.get("net.ipv4.vs.conn_reuse_mode"); got != "1" {
		t.Errorf("nat: conn_reuse_mode = %s, want the old 1", got)
	}
	st.VirtualServers[vsKey].ForwardingMethod = "dr"
	e.apply(st)
	e.apply(&agentapi.State{Pair: testState().Pair})
	if got := e.sys.get("net.ipv4.vs.conn_reuse_mode"); got != "1" {
		t.Errorf("no service: conn_reuse_mode = %s, want the old 1", got)
	}
}

// blockingHealth holds the re-apply inside Weight until released, once armed.
type blockingHealth struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (h *blockingHealth) Weight(_, _ string, configured int) (int, bool) {
	if h.armed.Load() {
		h.once.Do(func() { close(h.entered) })
		<-h.release
	}
	return configured, true
}

// TestReconcilerCloseWaitsForReapply: Close returns only once a health re-apply under way has
// ended, so the kernel handle is not released under it.
func TestReconcilerCloseWaitsForReapply(t *testing.T) {
	t.Parallel()
	h := &blockingHealth{entered: make(chan struct{}), release: make(chan struct{})}
	e := newEnv(t, h)
	e.apply(testState())
	h.armed.Store(true)
	e.r.HealthChanged()
	select {
	case <-h.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no re-apply 5 s after HealthChanged")
	}
	closed := make(chan error, 1)
	go func() { closed <- e.r.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while a re-apply was under way")
	case <-time.After(50 * time.Millisecond):
	}
	close(h.release)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return 5 s after the re-apply ended")
	}
	e.r.HealthChanged() // after Close: starts nothing, blocks nothing
	if err := e.r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestReconcilerSyncDaemonSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	st := testState()
	st.Pair.SyncConnections = true
	zero := 0
	st.Pair.SyncDaemon = &agentapi.SyncDaemon{Interface: "eth1", ID: &zero, Port: 8850, TTL: 2, MaxLength: 500, Group: "239.1.2.3"}
	e.apply(st)
	want := Daemon{Interface: "eth1", SyncID: 0, MaxLen: 500, Port: 8850, TTL: 2, Group: mustAddr("239.1.2.3")}
	m, b := want, want
	m.State, b.State = DaemonMaster, DaemonBackup
	b.MaxLen = 1024 // the kernel's least for a backup
	if len(e.k.daemons) != 2 || e.k.daemons[0] != m || e.k.daemons[1] != b {
		t.Fatalf("daemons %+v, want %+v %+v", e.k.daemons, m, b)
	}
	// Clamped lengths and filled-in defaults are what was asked: no restart, no repair.
	starts := func() []Daemon { return slices.Clone(e.k.daemons) }
	before := starts()
	e.r.trusted = false
	e.apply(st)
	if !slices.Equal(before, starts()) || e.r.Repairs() != 0 {
		t.Errorf("daemons restarted while right: %+v (repairs %d)", e.k.daemons, e.r.Repairs())
	}
	// Someone restarts the master on another port: put back, counted as a repair.
	_ = e.k.StopDaemon(DaemonMaster)
	_ = e.k.StartDaemon(Daemon{State: DaemonMaster, Interface: "eth1", SyncID: 0, Port: 9999, TTL: 2, MaxLen: 500, Group: mustAddr("239.1.2.3")})
	e.apply(st)
	if i := slices.IndexFunc(e.k.daemons, func(d Daemon) bool { return d.State == DaemonMaster }); i < 0 || e.k.daemons[i] != m {
		t.Errorf("master not repaired: %+v", e.k.daemons)
	}
	if e.r.Repairs() != 1 {
		t.Errorf("repairs = %d, want 1", e.r.Repairs())
	}
	rep := e.r.IPVSReport()
	if len(rep.SyncDaemons) != 2 || rep.SyncDaemons[0].Port != 8850 || rep.SyncDaemons[0].Group != "239.1.2.3" || rep.SyncDaemons[0].TTL != 2 || rep.SyncDaemons[0].MaxLength == 0 {
		t.Errorf("report %+v", rep.SyncDaemons)
	}
	// Unset again: today's defaults (the director's interface, the pair's id, the kernel's rest).
	st.Pair.SyncDaemon = nil
	e.apply(st)
	for _, d := range e.k.daemons {
		if d.Interface != "eth0" || d.SyncID != SyncID("edge") || d.Port != DefaultSyncPort || d.TTL != 1 || d.Group != DefaultSyncGroup {
			t.Errorf("back to defaults: %+v", d)
		}
	}
}

func TestDaemonRuns(t *testing.T) {
	t.Parallel()
	g := mustAddr("239.1.2.3")
	for _, tc := range []struct {
		name   string
		want   Daemon
		kernel Daemon
		runs   bool
	}{
		{"defaults", Daemon{State: DaemonMaster, Interface: "eth0", SyncID: 5}, Daemon{State: DaemonMaster, Interface: "eth0", SyncID: 5, MaxLen: 1472, Port: 8848, TTL: 1, Group: DefaultSyncGroup}, true},
		{"old kernel reports none", Daemon{State: DaemonMaster, Interface: "eth0", SyncID: 5}, Daemon{State: DaemonMaster, Interface: "eth0", SyncID: 5}, true},
		{"old kernel cannot run a port", Daemon{State: DaemonMaster, Interface: "eth0", SyncID: 5, Port: 9000}, Daemon{State: DaemonMaster, Interface: "eth0", SyncID: 5}, false},
		{"other id", Daemon{State: DaemonMaster, Interface: "eth0", SyncID: 5}, Daemon{State: DaemonMaster, Interface: "eth0", SyncID: 6, Port: 8848, TTL: 1, Group: DefaultSyncGroup}, false},
		{"other group", Daemon{State: DaemonBackup, Interface: "eth0", SyncID: 5, Group: g}, Daemon{State: DaemonBackup, Interface: "eth0", SyncID: 5, Port: 8848, TTL: 1, Group: DefaultSyncGroup}, false},
		{"backup length clamped", Daemon{State: DaemonBackup, Interface: "eth0", SyncID: 5, MaxLen: 100}, Daemon{State: DaemonBackup, Interface: "eth0", SyncID: 5, MaxLen: 1024, Port: 8848, TTL: 1, Group: DefaultSyncGroup}, true},
		{"length differs", Daemon{State: DaemonMaster, Interface: "eth0", SyncID: 5, MaxLen: 100}, Daemon{State: DaemonMaster, Interface: "eth0", SyncID: 5, MaxLen: 1472, Port: 8848, TTL: 1, Group: DefaultSyncGroup}, false},
	} {
		if got := tc.want.Runs(tc.kernel); got != tc.runs {
			t.Errorf("%s: Runs = %v, want %v", tc.name, got, tc.runs)
		}
	}
}
