// Package metrics serves the agent's Prometheus metrics on the address the director pair names
// (metrics.listen), when it names one.
//
// Most metrics are read at scrape time from the same snapshot `lvs-agent status` shows (the
// kernel's IPVS table with health verdicts, the VRRP instances' counters), so the other parts
// keep no metrics of their own. Only what no snapshot holds is recorded as it happens, through
// the parts' hooks: health-check latencies and failures (healthcheck.Config.OnResult) and apply
// durations (server.Config.Observe).
//
// Label values are state keys, VRIDs, check types and fixed words only: never a command, a URL
// or an error text, which may be long, change with every failure or hold secrets.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Config holds what Metrics needs.
type Config struct {
	Logger *slog.Logger // nil = discard
	// Report fills a status with the agent's live view (VIPs and IPVS); it is called once per
	// scrape.
	Report func(*agentapi.Status)
	// Version is the agent's version, for lvs_agent_build_info.
	Version string
}

// Metrics is the agent's metrics: a registry, the hooks that feed it and the part that serves
// it (Apply).
type Metrics struct {
	log *slog.Logger
	reg *prometheus.Registry

	commit    prometheus.Histogram
	reconcile *prometheus.HistogramVec
	checkDur  *prometheus.HistogramVec
	notify    *prometheus.CounterVec
	report    func(*agentapi.Status)

	scrapes chan struct{} // bounds the scrapes served at once

	mu       sync.Mutex // guards the following
	listen   string
	srv      *http.Server
	lnAddr   net.Addr
	stopped  bool
	failures map[rsKey]map[string]uint64
	durKeys  map[[2]string]bool // label values of checkDur, to drop those of removed services
}

type rsKey struct{ vs, rs string }

// New returns the agent's metrics; nothing is served until Apply is given a listen address.
func New(cfg Config) *Metrics {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		log: log.With("part", "metrics"),
		reg: prometheus.NewRegistry(),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lvs_agent_commit_duration_seconds",
			Help:    "How long a commit of API writes took: storing the state and applying it (VRRP, health checks, IPVS).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		reconcile: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lvs_agent_reconcile_duration_seconds",
			Help:    "How long a re-apply of the whole desired state took, by trigger (start, resync).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"trigger"}),
		// By virtual server and check type, not by real server: 10,000 real servers times the
		// buckets would be most of the agent's memory.
		checkDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lvs_healthcheck_duration_seconds",
			Help:    "How long the health-check attempts of a virtual server's real servers took, by check type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"virtual_server", "type"}),
		// By verdict and result only: the log names the real server of a failed notify.
		notify: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lvs_real_server_notify_total",
			Help: "Real servers' notify_up / notify_down commands run, by verdict (up, down) and result (ok, failed, timeout, dropped: never run, too many were waiting).",
		}, []string{"state", "result"}),
		scrapes:  make(chan struct{}, 2),
		failures: map[rsKey]map[string]uint64{},
		durKeys:  map[[2]string]bool{},
	}
	m.report = cfg.Report
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "lvs_agent_build_info",
		Help:        "The agent's version and Go version; always 1.",
		ConstLabels: prometheus.Labels{"version": cfg.Version, "goversion": runtime.Version(), "goarch": runtime.GOARCH},
	})
	build.Set(1)
	m.reg.MustRegister(build, m.commit, m.reconcile, m.checkDur, m.notify,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the metrics are registered (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveApply is server.Config.Observe.
func (m *Metrics) ObserveApply(what string, took time.Duration) {
	if what == "commit" {
		m.commit.Observe(took.Seconds())
		return
	}
	m.reconcile.WithLabelValues(what).Observe(took.Seconds())
}

// ObserveNotify is healthcheck.Config.OnNotify.
func (m *Metrics) ObserveNotify(_, _, state, result string) {
	m.notify.WithLabelValues(state, result).Inc()
}

// ObserveCheck is healthcheck.Config.OnResult.
func (m *Metrics) ObserveCheck(vs, rs, checkType string, took time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.durKeys[[2]string{vs, checkType}] = true
	m.checkDur.WithLabelValues(vs, checkType).Observe(took.Seconds())
	if err == nil {
		return
	}
	k := rsKey{vs, rs}
	byReason := m.failures[k]
	if byReason == nil {
		byReason = map[string]uint64{}
		m.failures[k] = byReason
	}
	byReason[FailureReason(checkType, err)]++
}

// FailureReason classes a failed check's error into a fixed word, the reason label of
// lvs_healthcheck_failures_total: timeout, refused, reset, unreachable, exit (an exec check's
// command failed) or error (anything else: a wrong answer, a TLS failure, ...).
func FailureReason(checkType string, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	case checkType == "exec":
		return "exit"
	}
	return "error"
}

// prune forgets the failure counters and latency series of real servers and virtual servers
// that are no longer configured, so that removed ones do not stay in every scrape.
func (m *Metrics) prune(present map[rsKey]bool, services map[string]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.failures {
		if !present[k] {
			delete(m.failures, k)
		}
	}
	for k := range m.durKeys {
		if !services[k[0]] {
			m.checkDur.DeleteLabelValues(k[0], k[1])
			delete(m.durKeys, k)
		}
	}
}

// PartName names the part for logs and the status.
func (m *Metrics) PartName() string { return "metrics" }

// Apply serves the metrics on the pair's metrics.listen address: it starts, moves or stops the
// HTTP server as that changed. Nothing else of the agent is touched, so a change disturbs no
// VRRP instance nor any check.
func (m *Metrics) Apply(_ context.Context, st *agentapi.State, _ reconcile.Trigger) error {
	want := ""
	if st != nil && st.Pair != nil {
		want = st.Pair.MetricsListen
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped || want == m.listen {
		return nil
	}
	if want == "" {
		m.closeLocked()
		return nil
	}
	// The new address is opened before the old one closes, so that metrics go on while the
	// new one cannot be had (the next resync tries again); one that overlaps the old (the same
	// port) is had only once the old is closed.
	ln, err := net.Listen("tcp", want)
	if err != nil && m.srv != nil && samePort(m.listen, want) {
		m.closeLocked()
		ln, err = net.Listen("tcp", want)
	}
	if err != nil {
		return fmt.Errorf("metrics.listen %s: %w", want, err)
	}
	m.closeLocked()
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", m.serveMetrics)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		_, _ = fmt.Fprintln(w, "lvs-agent: metrics at /metrics")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("metrics: serve", "listen", want, "err", err)
		}
	}()
	m.srv, m.listen, m.lnAddr = srv, want, ln.Addr()
	m.log.Info("metrics: serving", "listen", ln.Addr().String())
	return nil
}

func samePort(a, b string) bool {
	_, pa, _ := net.SplitHostPort(a)
	_, pb, _ := net.SplitHostPort(b)
	return pa == pb
}

// Addr is the address the metrics are served on now, nil when none.
func (m *Metrics) Addr() net.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lnAddr
}

func (m *Metrics) closeLocked() {
	if m.srv != nil {
		_ = m.srv.Close()
		m.log.Info("metrics: stopped serving", "listen", m.listen)
	}
	m.srv, m.listen, m.lnAddr = nil, "", nil
}

// Stop implements server.Stopper: it closes the listener.
func (m *Metrics) Stop(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped = true
	m.closeLocked()
	return nil
}
