//go:build linux

package ipvs_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/ipvs"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// TestLabBenchHealth measures how long a dead real server stays in a director's kernel table:
// from the moment it dies to the moment its destination is gone, for the agent's http check and
// keepalived's HTTP_GET with the same settings (interval 1 s, timeout 1 s, no retry, fall 1,
// removed on failure) in the same lab, against the bound interval × fall + timeout. Two ways
// to die: the web server stops (connections refused) and the web server hangs (SIGSTOP: the
// kernel still accepts, nothing answers, the check times out). The time of removal is seen by
// a watcher on the director reading the table over netlink every 2 ms; both clocks are the
// lab kernel's CLOCK_MONOTONIC. Set LVS_BENCH=1 to run it:
//
//	LVS_BENCH=1 go test -count=1 -v -timeout 30m -exec "$PWD/bin/lab run --" -run '^TestLabBenchHealth$' ./agent/ipvs/
func TestLabBenchHealth(t *testing.T) {
	if os.Getenv("LVS_BENCH") != "1" {
		t.Skip("benchmark: set LVS_BENCH=1")
	}
	const runs = 5
	const interval, timeout, fall = time.Second, time.Second, 1
	bound := interval*fall + timeout
	e := newLabEnv(t, lab.Spec{Hosts: labSpec.Hosts[:3]})
	bin := os.Getenv(lab.EnvBin)
	if bin == "" {
		t.Fatalf("%s is not set: run inside `lab run`", lab.EnvBin)
	}
	startWeb := func(host string) {
		// Two scripts: the second one's command line would match the first one's pattern.
		e.sh(host, "pkill -CONT -f '[s]erve :80' ; pkill -f '[s]erve :80' ; sleep 0.1; true")
		e.sh(host, fmt.Sprintf("setsid %s serve :80 %s </dev/null >/tmp/serve.log 2>&1 &", bin, host))
	}
	startWeb(r1)
	startWeb(r2)
	svc := vipDR + ":80"
	dest := "198.51.100.21:80"

	kaConf := fmt.Sprintf(`global_defs {
  router_id lab
}
virtual_server %s 80 {
  delay_loop %d
  lb_algo rr
  lb_kind DR
  protocol TCP
`, vipDR, int(interval.Seconds()))
	for _, addr := range []string{"198.51.100.21", "198.51.100.22"} {
		kaConf += fmt.Sprintf(`  real_server %s 80 {
    weight 1
    HTTP_GET {
      url {
        path /healthz
        status_code 200
      }
      connect_timeout %d
      retry 0
      delay_before_retry 1
    }
  }
`, addr, int(timeout.Seconds()))
	}
	kaConf += "}\n"

	type impl struct {
		name         string
		start, close func()
	}
	impls := []impl{
		{"keepalived", func() {
			cmd := e.host(d1).Command(context.Background(), "sh", "-c", "cat > /etc/lab-keepalived.conf")
			cmd.Stdin = strings.NewReader(kaConf)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("write keepalived.conf: %v: %s", err, out)
			}
			e.sh(d1, "setsid keepalived -n -l -D --check -f /etc/lab-keepalived.conf -p /run/lab-ka.pid -c /run/lab-ka-chk.pid "+
				"</dev/null >/var/log/lab-keepalived.log 2>&1 & echo $! > /run/lab-ka-main.pid")
		}, func() {
			e.sh(d1, `kill -TERM $(cat /run/lab-ka-main.pid); for i in $(seq 100); do kill -0 $(cat /run/lab-ka-main.pid) 2>/dev/null || break; sleep 0.1; done; true`)
		}},
		{"lvs-agent", func() {
			e.installAgent(d1)
			p := pair()
			p.SyncConnections, p.IPVSTimeouts = false, nil
			hc := &agentapi.HealthCheck{Type: "http", IntervalMS: int(interval.Milliseconds()), TimeoutMS: int(timeout.Milliseconds()),
				Retries: 0, RetryDelayMS: 1000, Rise: 1, Fall: fall, HTTP: &agentapi.HTTPCheck{Path: "/healthz", ExpectedStatus: []string{"200"}}}
			vs := &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vipDR, Port: 80, Scheduler: "rr", ForwardingMethod: "dr",
				HealthCheck: hc, OnFailure: "remove", RealServers: realServers(rs("198.51.100.21", 80, 1), rs("198.51.100.22", 80, 1))}
			e.call(d1, func(ctx context.Context, c *agentclient.Client) error {
				return c.PutState(ctx, &agentapi.State{Pair: p, VirtualServers: map[string]*agentapi.VirtualServer{agentapi.VirtualServerKey(vs): vs}})
			})
		}, func() {
			e.sh(d1, agentapi.BinaryPath+" uninstall")
		}},
	}
	events := []struct {
		name, kill string
	}{
		{"web server stopped (refused)", "pkill -f '[s]erve :80'"},
		{"web server hung (SIGSTOP, check times out)", "pkill -STOP -f '[s]erve :80'"},
	}
	type row struct {
		event, impl string
		gaps        []time.Duration
	}
	var rows []row
	for _, im := range impls {
		im.start()
		for _, ev := range events {
			r := row{event: ev.name, impl: im.name}
			for run := range runs {
				startWeb(r1)
				e.waitFor(im.name+": "+dest+" back in the table", time.Minute, func() bool {
					return strings.Contains(e.sh(d1, "ipvsadm -Ln -t "+svc), dest)
				}, func() string { return e.sh(d1, "ipvsadm -Ln; tail -5 /var/log/lab-keepalived.log 2>/dev/null; true") })
				// Let the check settle into its rhythm, at a random phase to it.
				time.Sleep(interval + time.Duration(run)*interval/runs)
				w := e.watchGone(svc, dest, 30*time.Second)
				killed := lab.MonotonicNow()
				e.sh(r1, ev.kill)
				gone, err := w()
				if err != nil {
					t.Fatalf("%s, %s, run %d: %v", im.name, ev.name, run, err)
				}
				r.gaps = append(r.gaps, time.Duration(gone-killed))
				t.Logf("%s, %s, run %d: out of the table after %v", im.name, ev.name, run, time.Duration(gone-killed).Round(time.Millisecond))
			}
			rows = append(rows, r)
		}
		startWeb(r1)
		im.close()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| real server | impl | bound: interval × fall + timeout | out of the table: median | max | within bound |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		within := 0
		for _, g := range r.gaps {
			if g <= bound {
				within++
			}
		}
		sorted := append([]time.Duration(nil), r.gaps...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		fmt.Fprintf(&b, "| %s | %s | %v | %v | %v | %d/%d |\n", r.event, r.impl, bound,
			sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond), within, len(sorted))
	}
	fmt.Fprintf(&b, "\nMethod: one director, two real servers running the lab web server, http check of /healthz, interval %v, timeout %v, retries 0, fall %d, on_failure remove (keepalived HTTP_GET: delay_loop, connect_timeout, retry 0); %d runs each; time from the kill to the destination gone from the kernel table, read over netlink every 2 ms.\n",
		interval, timeout, fall, runs)
	t.Log(b.String())
}

// watchGone starts a watcher on the director that waits for dest to leave svc in the kernel
// table; the returned function waits for it and returns the CLOCK_MONOTONIC time it saw it go.
func (e *labEnv) watchGone(svc, dest string, limit time.Duration) func() (int64, error) {
	e.t.Helper()
	cmd := e.host(d1).Command(context.Background(), e.helper, "gone", svc, dest, limit.String())
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		_ = cmd.Wait()
		e.t.Fatalf("watcher did not start: %q", sc.Text())
	}
	return func() (int64, error) {
		var line string
		if sc.Scan() {
			line = sc.Text()
		}
		err := cmd.Wait()
		if err != nil {
			return 0, fmt.Errorf("watcher: %v (%q)", err, line)
		}
		return strconv.ParseInt(line, 10, 64)
	}
}

// helperGone: gone SVC DEST LIMIT — print "ready" once DEST is in SVC's table, then the
// CLOCK_MONOTONIC nanoseconds at which it is no longer there (polled every 2 ms).
func helperGone(args []string) error {
	if len(args) != 3 {
		return errors.New("gone ADDR:PORT DEST:PORT LIMIT")
	}
	svc, err := netip.ParseAddrPort(args[0])
	if err != nil {
		return err
	}
	dest, err := netip.ParseAddrPort(args[1])
	if err != nil {
		return err
	}
	limit, err := time.ParseDuration(args[2])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	k, err := ipvs.Open(ctx, false)
	if err != nil {
		return err
	}
	defer k.Close()
	present := func() (bool, error) {
		svcs, err := k.Services()
		if err != nil {
			return false, err
		}
		for _, s := range svcs {
			if s.Addr != svc.Addr() || s.Port != svc.Port() || s.FWMark != 0 {
				continue
			}
			for _, d := range s.Dests {
				if d.Key() == dest && d.Weight > 0 {
					return true, nil
				}
			}
		}
		return false, nil
	}
	ready := false
	for ctx.Err() == nil {
		in, err := present()
		if err != nil {
			return err
		}
		now := lab.MonotonicNow()
		switch {
		case in && !ready:
			fmt.Println("ready")
			ready = true
		case !in && ready:
			fmt.Println(now)
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("%s still in %s after %v (ready=%v)", dest, svc, limit, ready)
}
