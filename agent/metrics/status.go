package metrics

import (
	"bufio"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// The status metrics are written straight from the snapshot in the text exposition format, one
// family after the other, instead of going through the registry: at 10,000 real servers they are
// 130,000 series, which the registry would first build as objects (tens of MB at every scrape,
// measured: RSS 35.5 MB against 28 MB without metrics). Written as they are read, a scrape costs
// the snapshot and a write buffer.

// serveMetrics answers a scrape: the registry's few metrics, then the status's.
func (m *Metrics) serveMetrics(w http.ResponseWriter, r *http.Request) {
	select {
	case m.scrapes <- struct{}{}:
		defer func() { <-m.scrapes }()
	default:
		// Each scrape reads the kernel's IPVS table: a few at once are plenty.
		http.Error(w, "too many scrapes at once", http.StatusServiceUnavailable)
		return
	}
	mfs, err := m.reg.Gather()
	if err != nil {
		m.log.Warn("metrics: gather", "err", err)
	}
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := expfmt.NewEncoder(bw, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return
		}
	}
	m.writeStatus(bw)
	_ = bw.Flush()
	// A scrape leaves garbage in proportion to the table (at 10,000 real servers, the snapshot
	// and 130,000 series): without a collection now the heap would grow towards twice its live
	// size until the next one, and the agent's RSS with it. A full collection of the agent's
	// heap takes milliseconds, against the scrape's hundreds.
	debug.FreeOSMemory()
}

// WriteText writes every metric in the text exposition format (tests, and `serveMetrics`).
func (m *Metrics) WriteText(w io.Writer) error {
	mfs, err := m.reg.Gather()
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	enc := expfmt.NewEncoder(bw, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	m.writeStatus(bw)
	return bw.Flush()
}

// textWriter writes samples of the text format.
type textWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (t *textWriter) header(name, typ, help string) {
	_, _ = t.w.WriteString("# HELP " + name + " " + strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help) + "\n# TYPE " + name + " " + typ + "\n")
}

// sample writes NAME{k="v",...} VALUE; labels are name, value pairs.
func (t *textWriter) sample(name string, v float64, labels ...string) {
	b := append(t.buf[:0], name...)
	for i := 0; i+1 < len(labels); i += 2 {
		if i == 0 {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		b = append(b, labels[i]...)
		b = append(b, '=')
		b = appendLabelValue(b, labels[i+1])
	}
	if len(labels) > 0 {
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	b = append(b, '\n')
	t.buf = b
	_, _ = t.w.Write(b) // a bufio.Writer keeps its first error; the handler ends with it
}

func appendLabelValue(b []byte, v string) []byte {
	b = append(b, '"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

type family struct{ name, typ, help string }

var (
	famVSConns   = family{"lvs_ipvs_virtual_server_connections_total", "counter", "Connections the kernel scheduled to the virtual server."}
	famVSPackets = family{"lvs_ipvs_virtual_server_packets_total", "counter", "Packets of the virtual server, by direction (in: from clients, out: to clients; out counts NAT only)."}
	famVSBytes   = family{"lvs_ipvs_virtual_server_bytes_total", "counter", "Bytes of the virtual server, by direction (out counts NAT only)."}

	famRSConns    = family{"lvs_ipvs_real_server_connections_total", "counter", "Connections the kernel scheduled to the real server."}
	famRSPackets  = family{"lvs_ipvs_real_server_packets_total", "counter", "Packets of the real server, by direction (out counts NAT only)."}
	famRSBytes    = family{"lvs_ipvs_real_server_bytes_total", "counter", "Bytes of the real server, by direction (out counts NAT only)."}
	famRSActive   = family{"lvs_ipvs_real_server_active_connections", "gauge", "The real server's active connections in the kernel's table now."}
	famRSInactive = family{"lvs_ipvs_real_server_inactive_connections", "gauge", "The real server's inactive connections (not established, or ended and waiting) in the kernel's table now."}
	famRSWeight   = family{"lvs_ipvs_real_server_weight", "gauge", "The real server's weight in the kernel now (0 while a health check holds it out)."}
	famRSConfW    = family{"lvs_ipvs_real_server_configured_weight", "gauge", "The real server's weight as configured."}
	famRSHealth   = family{"lvs_real_server_health", "gauge", "The real server's health verdict: 1 for the state it is in (up, down, unchecked: no health check, sorry: the sorry server), 0 for the others."}
	famRSFailures = family{"lvs_healthcheck_failures_total", "counter", "Failed health-check attempts of the real server since the agent started, by reason (timeout, refused, reset, unreachable, exit, error)."}

	famVRRPState   = family{"lvs_vrrp_state", "gauge", "The VIP's VRRP state on this director: 1 for the state it is in (init, backup, master, fault), 0 for the others."}
	famVRRPTrans   = family{"lvs_vrrp_transitions_total", "counter", "VRRP state changes of the VIP on this director since the agent started."}
	famVRRPIn      = family{"lvs_vrrp_adverts_received_total", "counter", "VRRP adverts received for the VIP (dropped ones included)."}
	famVRRPOut     = family{"lvs_vrrp_adverts_sent_total", "counter", "VRRP adverts sent for the VIP."}
	famVRRPDropped = family{"lvs_vrrp_adverts_dropped_total", "counter", "VRRP adverts received for the VIP and dropped, by reason (checksum, ttl, auth, not_peer, ...)."}
	famVRRPLate    = family{"lvs_vrrp_master_down_timer_late_seconds", "summary", "How late the VIP's master-down timers fired (a backup taking over), summed, and how many fired: rate(_sum)/rate(_count) is the mean lateness, part of every failover's time."}

	healthStates = []string{"up", "down", "unchecked", "sorry"}
	vrrpStates   = []string{"init", "backup", "master", "fault"}
)

// writeStatus writes the metrics of a status snapshot, family by family, and forgets the
// failure counters and latency series of servers no longer in it.
func (m *Metrics) writeStatus(w *bufio.Writer) {
	var st agentapi.Status
	if m.report != nil {
		m.report(&st)
	}
	m.mu.Lock()
	failures := make(map[rsKey]map[string]uint64, len(m.failures))
	for k, v := range m.failures {
		failures[k] = cloneCounts(v)
	}
	m.mu.Unlock()

	t := &textWriter{w: w}
	var services []*agentapi.IPVSService
	for i := range st.IPVS {
		if !st.IPVS[i].Missing {
			services = append(services, &st.IPVS[i])
		}
	}
	const vsL, rsL, dirL = "virtual_server", "real_server", "direction"
	vsFam := func(f family, v func(s *agentapi.IPVSService, emit func(float64, ...string))) {
		t.header(f.name, f.typ, f.help)
		for _, s := range services {
			v(s, func(x float64, more ...string) { t.sample(f.name, x, append([]string{vsL, s.Key}, more...)...) })
		}
	}
	vsFam(famVSConns, func(s *agentapi.IPVSService, e func(float64, ...string)) { e(float64(s.Stats.Connections)) })
	vsFam(famVSPackets, func(s *agentapi.IPVSService, e func(float64, ...string)) {
		e(float64(s.Stats.PacketsIn), dirL, "in")
		e(float64(s.Stats.PacketsOut), dirL, "out")
	})
	vsFam(famVSBytes, func(s *agentapi.IPVSService, e func(float64, ...string)) {
		e(float64(s.Stats.BytesIn), dirL, "in")
		e(float64(s.Stats.BytesOut), dirL, "out")
	})
	present := map[rsKey]bool{}
	serviceKeys := map[string]bool{}
	for _, s := range services {
		serviceKeys[s.Key] = true
		for _, d := range s.Destinations {
			present[rsKey{s.Key, d.Key}] = true
		}
	}
	rsFam := func(f family, v func(s *agentapi.IPVSService, d *agentapi.IPVSDestination, emit func(float64, ...string))) {
		t.header(f.name, f.typ, f.help)
		labels := make([]string, 0, 6)
		for _, s := range services {
			for i := range s.Destinations {
				d := &s.Destinations[i]
				v(s, d, func(x float64, more ...string) {
					labels = append(append(labels[:0], vsL, s.Key, rsL, d.Key), more...)
					t.sample(f.name, x, labels...)
				})
			}
		}
	}
	type dest = agentapi.IPVSDestination
	type svc = agentapi.IPVSService
	type emit = func(float64, ...string)
	rsFam(famRSConns, func(_ *svc, d *dest, e emit) { e(float64(d.Stats.Connections)) })
	rsFam(famRSPackets, func(_ *svc, d *dest, e emit) {
		e(float64(d.Stats.PacketsIn), dirL, "in")
		e(float64(d.Stats.PacketsOut), dirL, "out")
	})
	rsFam(famRSBytes, func(_ *svc, d *dest, e emit) {
		e(float64(d.Stats.BytesIn), dirL, "in")
		e(float64(d.Stats.BytesOut), dirL, "out")
	})
	rsFam(famRSActive, func(_ *svc, d *dest, e emit) { e(float64(d.ActiveConns)) })
	rsFam(famRSInactive, func(_ *svc, d *dest, e emit) { e(float64(d.InactiveConns)) })
	rsFam(famRSWeight, func(_ *svc, d *dest, e emit) { e(float64(d.Weight)) })
	rsFam(famRSConfW, func(_ *svc, d *dest, e emit) {
		if d.Managed {
			e(float64(d.ConfiguredWeight))
		}
	})
	rsFam(famRSHealth, func(_ *svc, d *dest, e emit) {
		if d.Health == "" {
			return
		}
		for _, h := range healthStates {
			e(b2f(d.Health == h), "state", h)
		}
	})
	rsFam(famRSFailures, func(s *svc, d *dest, e emit) {
		for reason, n := range failures[rsKey{s.Key, d.Key}] {
			e(float64(n), "reason", reason)
		}
	})

	vipFam := func(f family, v func(vs *agentapi.VIPStatus, vrid string)) {
		t.header(f.name, f.typ, f.help)
		for i := range st.VIPs {
			v(&st.VIPs[i], strconv.Itoa(st.VIPs[i].VRID))
		}
	}
	vipFam(famVRRPState, func(v *agentapi.VIPStatus, vrid string) {
		state := strings.ToLower(v.State)
		for _, s := range vrrpStates {
			// A VIP with IPv4 and IPv6 instances in different states ("IPv4 MASTER, IPv6
			// BACKUP") is in each of them.
			t.sample(famVRRPState.name, b2f(state == s || strings.Contains(state, " "+s)), "vrid", vrid, "state", s)
		}
	})
	vipFam(famVRRPTrans, func(v *agentapi.VIPStatus, vrid string) {
		t.sample(famVRRPTrans.name, float64(v.Transitions), "vrid", vrid)
	})
	vipFam(famVRRPIn, func(v *agentapi.VIPStatus, vrid string) { t.sample(famVRRPIn.name, float64(v.AdvertsIn), "vrid", vrid) })
	vipFam(famVRRPOut, func(v *agentapi.VIPStatus, vrid string) {
		t.sample(famVRRPOut.name, float64(v.AdvertsOut), "vrid", vrid)
	})
	vipFam(famVRRPDropped, func(v *agentapi.VIPStatus, vrid string) {
		for reason, n := range v.Dropped {
			t.sample(famVRRPDropped.name, float64(n), "vrid", vrid, "reason", reason)
		}
	})
	vipFam(famVRRPLate, func(v *agentapi.VIPStatus, vrid string) {
		t.sample(famVRRPLate.name+"_sum", v.MasterDownLateSeconds, "vrid", vrid)
		t.sample(famVRRPLate.name+"_count", float64(v.MasterDownFired), "vrid", vrid)
	})
	m.prune(present, serviceKeys)
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
