package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/version"
)

// metricsPairExtra turns the agents' metrics on (port 9469) and their log level to debug.
var metricsPairExtra = []string{`  metrics   = { listen = ":9469" }`, `  log_level = "debug"`}

// prometheusBin is Debian's prometheus binary that scripts/deps.sh unpacks into .cache/bin
// (LVS_PROMETHEUS_BIN overrides it).
func prometheusBin() string {
	if p := os.Getenv("LVS_PROMETHEUS_BIN"); p != "" {
		return p
	}
	p, _ := filepath.Abs(filepath.Join("..", "..", ".cache", "bin", "prometheus"))
	return p
}

// startPrometheus starts a real Prometheus on the client host scraping both directors' agents
// every second, and waits until it is ready (its API on 127.0.0.1:9090 of the client).
func (a *accLab) startPrometheus() error {
	bin := prometheusBin()
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("prometheus binary: %v (scripts/deps.sh, run by make test, unpacks it into .cache/bin)", err)
	}
	a.exec("client", fmt.Sprintf(`d=$(mktemp -d /tmp/prom.XXXXXX) && cat >$d/prometheus.yml <<'EOF'
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: lvs
    static_configs:
      - targets: ["198.51.100.11:9469", "198.51.100.12:9469"]
EOF
setsid %s --config.file=$d/prometheus.yml --storage.tsdb.path=$d/data --web.listen-address=127.0.0.1:9090 </dev/null >$d/log 2>&1 &
echo $! >/tmp/prometheus.pid`, bin))
	a.t.Cleanup(func() { _, _ = a.lab.Host("client").Exec(a.t.Context(), "sh", "-c", "kill $(cat /tmp/prometheus.pid)") })
	for i := 0; i < 120; i++ {
		if out, _ := a.tryExec("client", "curl -sf http://127.0.0.1:9090/-/ready"); strings.Contains(out, "Ready") {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("prometheus not ready after 60 s:\n%s", a.exec("client", "tail -20 /tmp/prom.*/log"))
}

// promQuery runs an instant query on the client's Prometheus and returns its samples, by the
// value of label key.
func (a *accLab) promQuery(q, key string) (map[string]float64, error) {
	out, err := a.tryExec("client", "curl -sf http://127.0.0.1:9090/api/v1/query --data-urlencode "+shellQuote("query="+q))
	if err != nil {
		return nil, fmt.Errorf("query %s: %v: %s", q, err, out)
	}
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Status != "success" {
		return nil, fmt.Errorf("query %s: %q: %v", q, out, err)
	}
	got := map[string]float64{}
	for _, s := range r.Data.Result {
		v, err := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v: %v", q, s.Value[1], err)
		}
		got[s.Metric[key]] = v
	}
	return got, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// promWait polls q (up to 30 s) until ok accepts its samples; it returns the last ones.
func (a *accLab) promWait(q, key string, ok func(map[string]float64) bool) (map[string]float64, error) {
	var got map[string]float64
	var err error
	for i := 0; i < 60; i++ {
		if got, err = a.promQuery(q, key); err == nil && ok(got) {
			return got, nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		return got, err
	}
	return got, fmt.Errorf("%s: %v after 30 s", q, got)
}

// lastTransitions are the VIPs' last VRRP transitions on both directors, to show that a change
// of the pair's metrics or log level restarted no VRRP instance.
func (a *accLab) lastTransitions() (map[string]string, error) {
	out := map[string]string{}
	for _, d := range []string{"director1", "director2"} {
		st, err := a.agentStatus(d)
		if err != nil {
			return nil, err
		}
		for _, v := range st.VIPs {
			out[fmt.Sprintf("%s/%d", d, v.VRID)] = v.State + " " + v.LastTransition
		}
	}
	return out, nil
}

// metricsStep applies config, TestAccHealthChecks' cluster with metricsPairExtra, and checks the
// metrics through a real Prometheus scraping both directors: one master, exact per-real-server
// connection counters after a known number of requests, a health verdict that flips when a real
// server stops; turning metrics and the debug log level on restarts no VRRP instance.
func (a *accLab) metricsStep(config string) resource.TestStep {
	var before map[string]string
	var began time.Time
	const rsConns = `lvs_ipvs_real_server_connections_total{virtual_server="tcp/198.51.100.100:80"}`
	return resource.TestStep{
		PreConfig: func() {
			began = time.Now()
			var err error
			if before, err = a.lastTransitions(); err != nil {
				a.t.Fatal(err)
			}
			// Started while terraform applies: until metrics are on its scrapes fail, harmlessly.
			if err := a.startPrometheus(); err != nil {
				a.t.Fatal(err)
			}
		},
		Config: config,
		Check: resource.ComposeAggregateTestCheckFunc(
			resource.TestCheckResourceAttr("lvs_director_pair.p", "metrics.listen", ":9469"),
			resource.TestCheckResourceAttr("lvs_director_pair.p", "log_level", "debug"),
			func(*terraform.State) error {
				after, err := a.lastTransitions()
				if err != nil {
					return err
				}
				if fmt.Sprint(after) != fmt.Sprint(before) {
					return fmt.Errorf("VRRP moved when metrics and log level changed: before %v, after %v", before, after)
				}
				for _, d := range []string{"director1", "director2"} {
					if out := a.exec(d, "grep -c '\"log level changed\".*\"to\":\"DEBUG\"' "+agentapi.LogPath+" || true"); strings.TrimSpace(out) == "0" {
						return fmt.Errorf("%s: no log line of the change to debug", d)
					}
				}
				return nil
			},
			func(*terraform.State) error {
				// One director is master of VRID 91, the other backup.
				master, err := a.promWait(`lvs_vrrp_state{vrid="91",state="master"}`, "instance", func(m map[string]float64) bool { return len(m) == 2 })
				if err != nil {
					return err
				}
				a.t.Logf("prometheus: lvs_vrrp_state{state=master} by director: %v", master)
				if master["198.51.100.11:9469"]+master["198.51.100.12:9469"] != 1 {
					return fmt.Errorf("masters of VRID 91 by director: %v, want exactly one", master)
				}
				_, err = a.promWait(`lvs_agent_build_info{version="`+version.Version+`"}`, "instance", func(m map[string]float64) bool { return len(m) == 2 })
				return err
			},
			func(*terraform.State) error {
				a.waitVIPAnswers("http://198.51.100.100/")
				// last_over_time: a scrape that failed on the loaded lab makes a director's
				// series stale for a moment, which would drop it from a plain sum.
				q := `sum by (real_server) (last_over_time(` + rsConns + `[10s]))`
				// The counters before: the same in two reads 3 s apart, so that both directors
				// were scraped after the last request (a loaded lab delays scrapes).
				var base map[string]float64
				for i := 0; i < 10 && base == nil; i++ {
					b1, err := a.promQuery(q, "real_server")
					if err != nil {
						return err
					}
					time.Sleep(3 * time.Second)
					b2, err := a.promQuery(q, "real_server")
					if err != nil {
						return err
					}
					if len(b2) > 0 && fmt.Sprint(b1) == fmt.Sprint(b2) {
						base = b2
					}
				}
				if base == nil {
					return fmt.Errorf("%s never stayed the same for 3 s", q)
				}
				const n = 60
				got, err := a.fetch("http://198.51.100.100/", n)
				if err != nil {
					return err
				}
				want := map[string]float64{
					"198.51.100.21:80": base["198.51.100.21:80"] + float64(got["real1"]),
					"198.51.100.22:80": base["198.51.100.22:80"] + float64(got["real2"]),
				}
				after, err := a.promWait(q, "real_server", func(m map[string]float64) bool {
					return m["198.51.100.21:80"] == want["198.51.100.21:80"] && m["198.51.100.22:80"] == want["198.51.100.22:80"]
				})
				a.t.Logf("prometheus: %d requests answered %v; connections per real server (both directors) %v -> %v", n, got, base, after)
				if got["real1"]+got["real2"] != n {
					return fmt.Errorf("%d requests answered %v", n, got)
				}
				return err
			},
			func(*terraform.State) error {
				// real1's web server stops: both directors' checks say down.
				a.exec("real1", `kill $(ss -Hltnp 'sport = :80' | sed -n 's/.*pid=\([0-9]*\).*/\1/p')`)
				q := `lvs_real_server_health{real_server="198.51.100.21:80",state="down"}`
				down, err := a.promWait(q, "instance", func(m map[string]float64) bool {
					return len(m) == 2 && m["198.51.100.11:9469"] == 1 && m["198.51.100.12:9469"] == 1
				})
				a.t.Logf("prometheus: %s by director after real1 stopped: %v", q, down)
				if err != nil {
					return err
				}
				// Each director's checks failed with "connection refused" since.
				q = `sum by (instance) (lvs_healthcheck_failures_total{real_server="198.51.100.21:80",reason="refused"})`
				refused, err := a.promWait(q, "instance", func(m map[string]float64) bool {
					return m["198.51.100.11:9469"] >= 1 && m["198.51.100.12:9469"] >= 1
				})
				a.t.Logf("prometheus: %s: %v", q, refused)
				a.serveWeb("real1")
				if err != nil {
					return err
				}
				_, err = a.promWait(`lvs_real_server_health{real_server="198.51.100.21:80",state="up"}`, "instance", func(m map[string]float64) bool {
					return len(m) == 2 && m["198.51.100.11:9469"] == 1 && m["198.51.100.12:9469"] == 1
				})
				if err != nil {
					return err
				}
				// web1's notify commands (healthConfig) ran on each director for each of its
				// verdict changes since the test began (three down, three up, and any flap of
				// the loaded lab), every one ok.
				counts, err := a.notified("down", "up", "down", "up", "down", "up")
				if err != nil {
					return err
				}
				q = `sum by (instance) (lvs_real_server_notify_total{result="ok"})`
				runs, err := a.promWait(q, "instance", func(m map[string]float64) bool {
					return m["198.51.100.11:9469"] == float64(counts["director1"]) && m["198.51.100.12:9469"] == float64(counts["director2"])
				})
				a.t.Logf("prometheus: %s: %v (web1's notifications by director: %v)", q, runs, counts)
				if err == nil {
					var failed map[string]float64
					failed, err = a.promQuery(`sum by (instance) (lvs_real_server_notify_total{result!="ok"})`, "instance")
					if err == nil && len(failed) > 0 {
						err = fmt.Errorf("notify commands not ok: %v", failed)
					}
				}
				a.t.Logf("metrics step: %.0f s (apply and checks)", time.Since(began).Seconds())
				return err
			},
		),
	}
}

// tryExec runs script on host and returns its output and error (a failure is not fatal).
func (a *accLab) tryExec(host, script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := a.lab.Host(host).Exec(ctx, "sh", "-c", script)
	return string(out), err
}
