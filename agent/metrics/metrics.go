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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
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
	status    *statusCollector

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
		failures: map[rsKey]map[string]uint64{},
		durKeys:  map[[2]string]bool{},
	}
	m.status = &statusCollector{report: cfg.Report, m: m}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "lvs_agent_build_info",
		Help:        "The agent's version and Go version; always 1.",
		ConstLabels: prometheus.Labels{"version": cfg.Version, "goversion": runtime.Version(), "goarch": runtime.GOARCH},
	})
	build.Set(1)
	m.reg.MustRegister(build, m.commit, m.reconcile, m.checkDur, m.status,
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
func (m *Metrics) Apply(_ context.Context, st *store.State) error {
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
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// Each scrape reads the kernel's IPVS table: a few at once are plenty.
		MaxRequestsInFlight: 2,
		Timeout:             30 * time.Second,
		ErrorLog:            slogPrinter{m.log},
	}))
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

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.log.Warn("metrics: " + strings.TrimSpace(fmt.Sprintln(v...)))
}

// statusCollector turns a status snapshot into metrics at scrape time.
type statusCollector struct {
	report func(*agentapi.Status)
	m      *Metrics
}

var (
	vsLabels = []string{"virtual_server"}
	rsLabels = []string{"virtual_server", "real_server"}

	descVSConns   = desc("lvs_ipvs_virtual_server_connections_total", "Connections the kernel scheduled to the virtual server.", vsLabels)
	descVSPackets = desc("lvs_ipvs_virtual_server_packets_total", "Packets of the virtual server, by direction (in: from clients, out: to clients; out counts NAT only).", vsLabels, "direction")
	descVSBytes   = desc("lvs_ipvs_virtual_server_bytes_total", "Bytes of the virtual server, by direction (out counts NAT only).", vsLabels, "direction")

	descRSConns    = desc("lvs_ipvs_real_server_connections_total", "Connections the kernel scheduled to the real server.", rsLabels)
	descRSPackets  = desc("lvs_ipvs_real_server_packets_total", "Packets of the real server, by direction (out counts NAT only).", rsLabels, "direction")
	descRSBytes    = desc("lvs_ipvs_real_server_bytes_total", "Bytes of the real server, by direction (out counts NAT only).", rsLabels, "direction")
	descRSActive   = desc("lvs_ipvs_real_server_active_connections", "The real server's active connections in the kernel's table now.", rsLabels)
	descRSInactive = desc("lvs_ipvs_real_server_inactive_connections", "The real server's inactive connections (not established, or ended and waiting) in the kernel's table now.", rsLabels)
	descRSWeight   = desc("lvs_ipvs_real_server_weight", "The real server's weight in the kernel now (0 while a health check holds it out).", rsLabels)
	descRSConfW    = desc("lvs_ipvs_real_server_configured_weight", "The real server's weight as configured.", rsLabels)
	descRSHealth   = desc("lvs_real_server_health", "The real server's health verdict: 1 for the state it is in (up, down, unchecked: no health check, sorry: the sorry server), 0 for the others.", rsLabels, "state")
	descRSFailures = desc("lvs_healthcheck_failures_total", "Failed health-check attempts of the real server since the agent started, by reason (timeout, refused, reset, unreachable, exit, error).", rsLabels, "reason")

	descVRRPState   = desc("lvs_vrrp_state", "The VIP's VRRP state on this director: 1 for the state it is in (init, backup, master, fault), 0 for the others.", []string{"vrid"}, "state")
	descVRRPTrans   = desc("lvs_vrrp_transitions_total", "VRRP state changes of the VIP on this director since the agent started.", []string{"vrid"})
	descVRRPIn      = desc("lvs_vrrp_adverts_received_total", "VRRP adverts received for the VIP (dropped ones included).", []string{"vrid"})
	descVRRPOut     = desc("lvs_vrrp_adverts_sent_total", "VRRP adverts sent for the VIP.", []string{"vrid"})
	descVRRPDropped = desc("lvs_vrrp_adverts_dropped_total", "VRRP adverts received for the VIP and dropped, by reason (checksum, ttl, auth, not_peer, ...).", []string{"vrid"}, "reason")
	descVRRPLate    = desc("lvs_vrrp_master_down_timer_late_seconds", "How late the VIP's master-down timers fired (a backup taking over), summed, and how many fired: rate(_sum)/rate(_count) is the mean lateness, part of every failover's time.", []string{"vrid"})

	healthStates = []string{"up", "down", "unchecked", "sorry"}
	vrrpStates   = []string{"init", "backup", "master", "fault"}
)

func desc(name, help string, labels []string, more ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append(append([]string(nil), labels...), more...), nil)
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descVSConns, descVSPackets, descVSBytes, descRSConns, descRSPackets, descRSBytes,
		descRSActive, descRSInactive, descRSWeight, descRSConfW, descRSHealth, descRSFailures,
		descVRRPState, descVRRPTrans, descVRRPIn, descVRRPOut, descVRRPDropped, descVRRPLate} {
		ch <- d
	}
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	var st agentapi.Status
	if c.report != nil {
		c.report(&st)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	present := map[rsKey]bool{}
	services := map[string]bool{}
	c.m.mu.Lock()
	failures := make(map[rsKey]map[string]uint64, len(c.m.failures))
	for k, v := range c.m.failures {
		failures[k] = cloneCounts(v)
	}
	c.m.mu.Unlock()
	for _, s := range st.IPVS {
		if s.Missing {
			continue
		}
		services[s.Key] = true
		counter(descVSConns, s.Stats.Connections, s.Key)
		counter(descVSPackets, s.Stats.PacketsIn, s.Key, "in")
		counter(descVSPackets, s.Stats.PacketsOut, s.Key, "out")
		counter(descVSBytes, s.Stats.BytesIn, s.Key, "in")
		counter(descVSBytes, s.Stats.BytesOut, s.Key, "out")
		for _, d := range s.Destinations {
			present[rsKey{s.Key, d.Key}] = true
			counter(descRSConns, d.Stats.Connections, s.Key, d.Key)
			counter(descRSPackets, d.Stats.PacketsIn, s.Key, d.Key, "in")
			counter(descRSPackets, d.Stats.PacketsOut, s.Key, d.Key, "out")
			counter(descRSBytes, d.Stats.BytesIn, s.Key, d.Key, "in")
			counter(descRSBytes, d.Stats.BytesOut, s.Key, d.Key, "out")
			gauge(descRSActive, float64(d.ActiveConns), s.Key, d.Key)
			gauge(descRSInactive, float64(d.InactiveConns), s.Key, d.Key)
			gauge(descRSWeight, float64(d.Weight), s.Key, d.Key)
			if d.Managed {
				gauge(descRSConfW, float64(d.ConfiguredWeight), s.Key, d.Key)
			}
			if d.Health != "" {
				for _, h := range healthStates {
					gauge(descRSHealth, b2f(d.Health == h), s.Key, d.Key, h)
				}
			}
			for reason, n := range failures[rsKey{s.Key, d.Key}] {
				counter(descRSFailures, n, s.Key, d.Key, reason)
			}
		}
	}
	for _, v := range st.VIPs {
		vrid := strconv.Itoa(v.VRID)
		state := strings.ToLower(v.State)
		for _, s := range vrrpStates {
			// A VIP with IPv4 and IPv6 instances in different states ("IPv4 MASTER, IPv6
			// BACKUP") is in each of them.
			gauge(descVRRPState, b2f(state == s || strings.Contains(state, " "+s)), vrid, s)
		}
		counter(descVRRPTrans, v.Transitions, vrid)
		counter(descVRRPIn, v.AdvertsIn, vrid)
		counter(descVRRPOut, v.AdvertsOut, vrid)
		for reason, n := range v.Dropped {
			counter(descVRRPDropped, n, vrid, reason)
		}
		ch <- prometheus.MustNewConstSummary(descVRRPLate, v.MasterDownFired, v.MasterDownLateSeconds, nil, vrid)
	}
	c.m.prune(present, services)
}

func cloneCounts(m map[string]uint64) map[string]uint64 {
	c := make(map[string]uint64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
