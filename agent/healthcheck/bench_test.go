//go:build linux

package healthcheck

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Bench sizes: 10,000 checks = benchVS virtual servers × benchPorts real servers, each real
// server a loopback port of a helper process (so that the checks' CPU and fds are measured
// apart from the servers').
const (
	benchChecks = 10000
	benchPorts  = 100
	benchVS     = benchChecks / benchPorts
)

// TestBenchChecks runs 10,000 checks at a 1s interval against loopback listeners, for tcp and
// for http, and reports the cost as a markdown table. LVS_BENCH=1 runs it; LVS_BENCH_SECONDS
// sets the measured window (default 30); LVS_BENCH_KINDS picks kinds (tcp,http,nethttp: the
// http checks against Go's net/http server instead of a minimal static responder).
func TestBenchChecks(t *testing.T) {
	if os.Getenv("LVS_BENCH") != "1" {
		t.Skip("benchmark: set LVS_BENCH=1")
	}
	window := 30 * time.Second
	if s, err := strconv.Atoi(os.Getenv("LVS_BENCH_SECONDS")); err == nil && s > 0 {
		window = time.Duration(s) * time.Second
	}
	rows := []string{
		"| kind | checks | interval | window | cores (user+sys / wall) | checks/s | CPU per check | attempt p50 / p99 | peak RSS Δ | peak goroutines | peak in flight | peak open fds | down at end | helper server cores | load avg (1 min) |",
		"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
	}
	kinds := []string{"tcp", "http"}
	if k := os.Getenv("LVS_BENCH_KINDS"); k != "" {
		kinds = strings.Split(k, ",")
	}
	for _, kind := range kinds {
		rows = append(rows, benchKind(t, kind, window))
	}
	for _, r := range rows {
		t.Log(r)
	}
	t.Logf("method: %d checks (%d virtual servers × %d real servers on %d loopback ports of a helper process), interval 1s, timeout 1s, "+
		"3s warm-up then a %v window; CPU from getrusage(RUSAGE_SELF) of the checking process only; RSS, goroutines and in-flight checks sampled every 100ms, open fds every 1s; attempt latency of every 16th attempt; "+
		"GOMAXPROCS=%d on %d CPUs shared with other jobs", benchChecks, benchVS, benchPorts, benchPorts, window, runtime.GOMAXPROCS(0), runtime.NumCPU())
}

func benchKind(t *testing.T, kind string, window time.Duration) string {
	ports, helperCPU := startHelper(t, kind)
	// Kinds run one after the other in this process: give back what the previous one used.
	runtime.GC()
	debug.FreeOSMemory()
	rss0 := rssBytes()
	m := New(Config{})
	var lat latencies
	m.observe = lat.add
	defer func() { _ = m.Stop(context.Background()) }()
	checkType := kind
	if kind == "nethttp" {
		checkType = "http"
	}
	hc := &agentapi.HealthCheck{Type: checkType, IntervalMS: 1000, TimeoutMS: 1000, Retries: 1, RetryDelayMS: 1000, Rise: 1, Fall: 1}
	if checkType == "http" {
		hc.HTTP = &agentapi.HTTPCheck{Path: "/health"}
	}
	st := &agentapi.State{VirtualServers: map[string]*agentapi.VirtualServer{}}
	for v := range benchVS {
		vs := &agentapi.VirtualServer{VRID: 1, Protocol: "tcp", Address: "198.51.100.100", Port: 1000 + v, Scheduler: "wrr",
			ForwardingMethod: "nat", HealthCheck: hc, RealServers: map[string]*agentapi.RealServer{}}
		for _, p := range ports {
			vs.RealServers["127.0.0.1:"+strconv.Itoa(p)] = &agentapi.RealServer{Address: "127.0.0.1", Port: p, Weight: 1}
		}
		st.VirtualServers[agentapi.VirtualServerKey(vs)] = vs
	}
	applyStart := time.Now()
	if err := m.Apply(context.Background(), st, reconcile.Resync); err != nil {
		t.Fatal(err)
	}
	applyTook := time.Since(applyStart)
	time.Sleep(3 * time.Second) // warm-up: the first checks are spread over one interval

	// Sampling costs the measured process CPU too: cheap figures every 100ms, the fd count
	// (a directory of up to 10,000 entries) every second.
	var peakRSS, peakG, peakFD, peakInFlight int64
	lat.reset()
	ru0, checks0, t0 := rusage(), m.checks.Load(), time.Now()
	for i := 0; time.Since(t0) < window; i++ {
		peakRSS = max(peakRSS, rssBytes()-rss0)
		peakG = max(peakG, int64(runtime.NumGoroutine()))
		peakInFlight = max(peakInFlight, int64(len(m.slots)))
		if i%10 == 0 {
			peakFD = max(peakFD, openFDs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	ru1, checks1, wall := rusage(), m.checks.Load(), time.Since(t0)
	p50, p99 := lat.quantiles()
	down := 0
	for vsKey, vs := range st.VirtualServers {
		for rsKey := range vs.RealServers {
			if s, r := m.Health(vsKey, rsKey); s != StateUp {
				if down == 0 {
					t.Logf("%s: %s %s is %s: %s", kind, vsKey, rsKey, s, r)
				}
				down++
			}
		}
	}
	_ = m.Stop(context.Background())
	cores := (ru1 - ru0).Seconds() / wall.Seconds()
	rate := float64(checks1-checks0) / wall.Seconds()
	perCheck := time.Duration(float64(ru1-ru0) / float64(max(1, checks1-checks0)))
	t.Logf("%s: Apply of %d checks took %v", kind, benchChecks, applyTook)
	return fmt.Sprintf("| %s | %d | 1s | %v | %.3f | %.0f | %v | %v / %v | %.1f MB | %d | %d | %d | %d | %s | %s |", kind, benchChecks, window.Round(time.Second),
		cores, rate, perCheck.Round(100*time.Nanosecond), p50, p99, float64(peakRSS)/(1<<20), peakG, peakInFlight, peakFD, down, helperCPU(wall), loadAvg())
}

// startHelper starts this test binary as the helper server for kind and returns its ports and a
// function that reports its CPU (in cores over wall) once stopped.
func startHelper(t *testing.T, kind string) ([]int, func(time.Duration) string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchServerHelper$", "-test.v=false")
	cmd.Env = append(os.Environ(), "LVS_HC_BENCH_SERVER="+kind)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stdin.Close()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	var ports []int
	for _, f := range strings.Fields(strings.TrimPrefix(line, "PORTS ")) {
		p, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("helper said %q", line)
		}
		ports = append(ports, p)
	}
	return ports, func(time.Duration) string {
		stop()
		wall := time.Since(started)
		if cmd.ProcessState == nil {
			return "?"
		}
		cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		return fmt.Sprintf("%.3f over its %v life", cpu.Seconds()/wall.Seconds(), wall.Round(time.Second))
	}
}

// TestBenchServerHelper is the helper process of TestBenchChecks: it listens on benchPorts
// loopback ports, prints them, and serves until its stdin closes.
func TestBenchServerHelper(t *testing.T) {
	kind := os.Getenv("LVS_HC_BENCH_SERVER")
	if kind == "" {
		t.Skip("helper process of TestBenchChecks")
	}
	var ports []string
	var ls []net.Listener
	for range benchPorts {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	for _, l := range ls {
		switch kind {
		case "nethttp":
			srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
			srv.SetKeepAlivesEnabled(false)
			go func() { _ = srv.Serve(l) }()
		case "http":
			go serveStaticHTTP(l)
		default:
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
		}
	}
	fmt.Println("PORTS " + strings.Join(ports, " "))
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, l := range ls {
		l.Close()
	}
}

// latencies keeps every 16th attempt's duration.
type latencies struct {
	mu   sync.Mutex
	n    int
	took []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n++; l.n%16 == 0 {
		l.took = append(l.took, d)
	}
}

func (l *latencies) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.took = l.took[:0]
}

func (l *latencies) quantiles() (p50, p99 time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.took) == 0 {
		return 0, 0
	}
	slices.Sort(l.took)
	q := func(f float64) time.Duration {
		return l.took[min(len(l.took)-1, int(f*float64(len(l.took))))].Round(10 * time.Microsecond)
	}
	return q(0.5), q(0.99)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// serveStaticHTTP answers every request on l with a fixed 200: an HTTP/1.1 server cheap
// enough that, on a shared 2-core machine, the checks and not the server are measured.
func serveStaticHTTP(l net.Listener) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReaderSize(c, 1024)
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(line) <= 2 { // the blank line ending the request head
					break
				}
			}
			_, _ = c.Write(resp)
		}()
	}
}

func rusage() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssBytes is VmRSS of this process.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func openFDs() int64 {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return int64(len(es))
}
