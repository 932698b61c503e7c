//go:build linux

package ipvs_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// TestLabBenchReconcile measures the IPVS reconciler of a real agent on a lab host: programming
// 10,000 destinations (100 services x 100) into an empty table, re-verifying the correct table,
// and removing it, next to ipvsadm-restore of the same table in the same kernel; and the
// agent's resident memory after. Set LVS_BENCH=1 to run it:
//
//	go build -o bin/lab ./internal/lab/cmd/lab
//	LVS_BENCH=1 go test -count=1 -v -exec "$PWD/bin/lab run --" -run '^TestLabBenchReconcile$' ./agent/ipvs/
func TestLabBenchReconcile(t *testing.T) {
	if os.Getenv("LVS_BENCH") != "1" {
		t.Skip("benchmark: set LVS_BENCH=1")
	}
	const services, dests = 100, 100
	e := newLabEnv(t, lab.Spec{Hosts: labSpec.Hosts[:1]})
	e.installAgent(d1)
	p := pair()
	p.SyncConnections, p.IPVSTimeouts = false, nil
	st := &agentapi.State{Pair: p, VirtualServers: map[string]*agentapi.VirtualServer{}}
	var rules strings.Builder
	for i := range services {
		port := 10000 + i
		vs := &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vipDR, Port: port, Scheduler: "wrr", ForwardingMethod: "dr",
			RealServers: map[string]*agentapi.RealServer{}}
		fmt.Fprintf(&rules, "-A -t %s:%d -s wrr\n", vipDR, port)
		for j := range dests {
			r := rs(fmt.Sprintf("198.51.100.%d", 130+j), port, 1+j%5)
			vs.RealServers[agentapi.RealServerKey(r)] = r
			fmt.Fprintf(&rules, "-a -t %s:%d -r %s:%d -g -w %d\n", vipDR, port, r.Address, port, r.Weight)
		}
		st.VirtualServers[agentapi.VirtualServerKey(vs)] = vs
	}
	put := func(s *agentapi.State) (time.Duration, *agentapi.IPVSReconcile) {
		t.Helper()
		var took time.Duration
		var rep *agentapi.IPVSReport
		e.call(d1, func(ctx context.Context, c *agentclient.Client) error {
			start := time.Now()
			if err := c.PutState(ctx, s); err != nil {
				return err
			}
			took = time.Since(start)
			var err error
			rep, err = c.IPVS(ctx)
			return err
		})
		if rep.LastReconcile == nil {
			t.Fatal("no reconcile in the report")
		}
		return took, rep.LastReconcile
	}
	count := func() int {
		n, _ := strconv.Atoi(strings.TrimSpace(e.sh(d1, "ipvsadm -Ln | grep -c -- '-> [0-9]' || true")))
		return n
	}

	progAPI, prog := put(st)
	if prog.Changes != services+services*dests || prog.Failed != 0 || count() != services*dests {
		t.Fatalf("program: %+v, %d destinations in the kernel", prog, count())
	}
	var verifies []float64
	var verifyAPI time.Duration
	for range 5 {
		api, v := put(st)
		if v.Changes != 0 {
			t.Fatalf("re-verify changed the table: %+v", v)
		}
		verifies = append(verifies, v.TookMS)
		verifyAPI = api
	}
	sort.Float64s(verifies)
	pid := strings.TrimSpace(e.sh(d1, "pgrep -f '^"+agentapi.BinaryPath+" serve' | head -1"))
	rss := strings.TrimSpace(e.sh(d1, "grep VmRSS /proc/"+pid+"/status"))
	hwm := strings.TrimSpace(e.sh(d1, "grep VmHWM /proc/"+pid+"/status"))
	// Anonymous memory is the Go heap and stacks; file memory is the binary's pages.
	split := strings.Join(strings.Fields(e.sh(d1, "grep -E '^Rss(Anon|File)' /proc/"+pid+"/status")), " ")
	teardownAPI, teardown := put(&agentapi.State{})
	if count() != 0 {
		t.Fatalf("teardown left %d destinations", count())
	}

	// ipvsadm-restore of the same table, timed inside the host.
	cmd := e.host(d1).Command(context.Background(), "sh", "-c", "cat > /tmp/bench.rules")
	cmd.Stdin = strings.NewReader(rules.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("write rules: %v %s", err, out)
	}
	restoreUS, _ := strconv.Atoi(strings.TrimSpace(e.sh(d1, "ipvsadm -C; s=$(date +%s%N); ipvsadm-restore < /tmp/bench.rules; e=$(date +%s%N); echo $(( (e-s)/1000 ))")))
	if count() != services*dests {
		t.Fatalf("ipvsadm-restore made %d destinations", count())
	}
	e.sh(d1, "ipvsadm -C")

	var b strings.Builder
	fmt.Fprintf(&b, "IPVS reconcile, %d services x %d destinations, one lab host (%s kernel context)\n", services, dests, os.Getenv(lab.EnvMode))
	fmt.Fprintf(&b, "%-52s %12s %14s\n", "what", "reconciler", "API round trip")
	fmt.Fprintf(&b, "%-52s %10.1fms %12.1fms\n", fmt.Sprintf("program into an empty table (%d changes)", prog.Changes), prog.TookMS, ms(progAPI))
	fmt.Fprintf(&b, "%-52s %10.1fms %12.1fms\n", "re-verify the correct table (median of 5, 0 changes)", verifies[len(verifies)/2], ms(verifyAPI))
	fmt.Fprintf(&b, "%-52s %10.1fms %12.1fms\n", fmt.Sprintf("remove it (%d changes)", teardown.Changes), teardown.TookMS, ms(teardownAPI))
	fmt.Fprintf(&b, "%-52s %10.1fms\n", "ipvsadm-restore of the same table", float64(restoreUS)/1000)
	fmt.Fprintf(&b, "agent memory after: %s (%s), peak %s\n", rss, split, hwm)
	fmt.Fprintf(&b, "method: the reconciler's own time (dump, diff, batched netlink changes) from its report; the API round trip adds\n"+
		"JSON, the atomic state write and the other agent parts; ipvsadm-restore timed with date(1) inside the host.\n")
	t.Log("\n" + b.String())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
