package provider_test

import (
	"crypto/md5"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// healthLab is the lab of TestAccHealthChecks: two directors, two real servers running the
// lab's web (HTTP :80, HTTPS :443) and DNS (:53) servers (real1 also SMTP :25 and UDP :5300),
// a sorry server holding the VIP on
// loopback as operators set one up, and a client.
func healthLab(t *testing.T) *accLab {
	a := newAccLab(t, director(1), director(2), labHost("real1", "198.51.100.21"), labHost("real2", "198.51.100.22"),
		labHost("sorry", "198.51.100.23"), labHost("client", "198.51.100.31"))
	bin := os.Getenv(lab.EnvBin)
	for _, h := range []struct{ name, ip string }{{"real1", "198.51.100.21"}, {"real2", "198.51.100.22"}} {
		a.serveWeb(h.name)
		a.exec(h.name, fmt.Sprintf("setsid %s serve-tls :443 %s </dev/null >/tmp/serve-tls.log 2>&1 &", bin, h.name))
		a.exec(h.name, fmt.Sprintf("setsid %s serve-dns :53 www.example.test %s </dev/null >/tmp/serve-dns.log 2>&1 &", bin, h.ip))
	}
	a.exec("sorry", "ip addr add 198.51.100.100/32 dev lo && sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2")
	a.exec("sorry", fmt.Sprintf("setsid %s serve :80 sorry </dev/null >/tmp/serve.log 2>&1 &", bin))
	// keepalived's SMTP_CHECK and UDP_CHECK: real1 answers both, real2 neither.
	a.exec("real1", fmt.Sprintf("setsid %s serve-smtp :25 real1 </dev/null >/tmp/serve-smtp.log 2>&1 &", bin))
	a.exec("real1", fmt.Sprintf("setsid %s serve-udp :5300 real1 </dev/null >/tmp/serve-udp.log 2>&1 &", bin))
	// The exec check passes for real1 only: the file it tests exists on both directors. The
	// dynamic one exits 9 for real1: weight 7 in the kernel (keepalived's misc_dynamic).
	for _, d := range []string{"director1", "director2"} {
		a.exec(d, "touch /tmp/hc-up-198.51.100.21 && echo 9 > /tmp/hc-dyn-198.51.100.21")
	}
	return a
}

// real1Digest is the MD5 of real1's web page, as keepalived's genhash prints it.
var real1Digest = fmt.Sprintf("%x", md5.Sum([]byte("real1\n")))

// healthConfig checks every checker kind against the real servers: http with sorry server (and
// quorum when quorum > 0) on :80 carrying the client's traffic, https with and without
// certificate verification, tcp with connect_port overrides, exec, dns, an http check of a
// path that hangs, cut off by its timeout, and keepalived's smtp, udp, several URLs with a
// digest and an exec check setting the weight. on_failure is set per real server against the
// virtual server's both ways: web1 is removed while its virtual server quiesces, tcp2 is
// quiesced while its virtual server removes (exec2 inherits quiesce). web1 runs notify.up and
// notify.down, which log their variables to /tmp/notify-web1 on each director.
func healthConfig(a *accLab, quorum int, pairExtra ...string) string {
	q := ""
	if quorum > 0 {
		q = fmt.Sprintf("  quorum = { min = %d }", quorum)
	}
	vsExtra := map[string]string{"tcp": `  on_failure = "remove"`}
	vs := func(name, proto string, port int, check ...string) string {
		return hcl(append(append([]string{
			fmt.Sprintf(`resource "lvs_virtual_server" %q {`, name),
			`  vip_id    = lvs_vip.v.id`,
			`  address   = "198.51.100.100"`,
			fmt.Sprintf(`  protocol  = %q`, proto),
			fmt.Sprintf(`  port      = %d`, port),
			`  scheduler = "rr"`,
			vsExtra[name],
			`  health_check = {`,
			`    fall = 2`, // one slow answer in a loaded UML guest is not a verdict
		}, check...), `  }`, `}`)...)
	}
	rs := func(name, vs, addr string, port int, extra ...string) string {
		return hcl(append([]string{
			fmt.Sprintf(`resource "lvs_real_server" %q {`, name),
			fmt.Sprintf(`  virtual_server_id = lvs_virtual_server.%s.id`, vs),
			fmt.Sprintf(`  address           = %q`, addr),
			fmt.Sprintf(`  port              = %d`, port),
		}, append(extra, `}`)...)...)
	}
	// Adverts every second: this test is about checks, and a loaded UML guest may delay 100 ms
	// adverts enough to move the VIP, resetting connections mid-request.
	return pairAndVIP(a, "1s", pairExtra...) + hcl(
		`resource "lvs_virtual_server" "web" {`,
		`  vip_id    = lvs_vip.v.id`,
		`  address   = "198.51.100.100"`,
		`  port      = 80`,
		`  scheduler = "rr"`,
		`  health_check = {`,
		`    type            = "http"`,
		`    path            = "/healthz"`,
		`    expected_status = ["200"]`,
		`    expected_body   = "^ok"`,
		`    interval        = "1s"`,
		`    timeout         = "800ms"`,
		`    retries         = 0`,
		`    fall            = 2`,
		`    rise            = 2`,
		`  }`,
		`  sorry_server = { address = "198.51.100.23", port = 80 }`,
		q,
		`}`,
	) +
		rs("web1", "web", "198.51.100.21", 80, `  host = {}`, `  on_failure = "remove"`,
			`  notify = {`,
			`    up   = "echo \"notify_up $LVS_RS_STATE $LVS_VS $LVS_RS_ADDRESS $LVS_RS_PORT $LVS_RS_REASON\" >> /tmp/notify-web1"`,
			`    down = "echo \"notify_down $LVS_RS_STATE $LVS_VS $LVS_RS_ADDRESS $LVS_RS_PORT $LVS_RS_REASON\" >> /tmp/notify-web1"`,
			`  }`) +
		rs("web2", "web", "198.51.100.22", 80, `  host = {}`) +
		vs("tls", "tcp", 443, `    type = "https"`, `    path = "/healthz"`, `    tls_server_name = "real1"`, `    interval = "1s"`, `    timeout = "800ms"`, `    retries = 0`) +
		rs("tls1", "tls", "198.51.100.21", 443) +
		// real2's certificate is self-signed: with verification the check fails.
		rs("tls2", "tls", "198.51.100.22", 443, `  health_check = { type = "https", tls_server_name = "real2", tls_verify = true, interval = "1s", timeout = "800ms", retries = 0 }`) +
		vs("tcp", "tcp", 8080, `    type = "tcp"`, `    connect_port = 22`, `    interval = "1s"`, `    timeout = "800ms"`, `    retries = 0`) +
		rs("tcp1", "tcp", "198.51.100.21", 8080) +
		rs("tcp2", "tcp", "198.51.100.22", 8080, `  on_failure = "quiesce"`, `  health_check = { type = "tcp", connect_port = 2323, interval = "1s", timeout = "800ms", retries = 0 }`) +
		vs("exec", "tcp", 8081, `    type = "exec"`, `    command = "test -e /tmp/hc-up-$LVS_RS_ADDRESS"`, `    interval = "1s"`, `    timeout = "800ms"`, `    retries = 0`) +
		rs("exec1", "exec", "198.51.100.21", 8081) +
		rs("exec2", "exec", "198.51.100.22", 8081) +
		vs("dns", "udp", 53, `    type = "dns"`, `    query_name = "www.example.test"`, `    interval = "1s"`, `    timeout = "800ms"`, `    retries = 0`) +
		rs("dns1", "dns", "198.51.100.21", 53) +
		rs("dns2", "dns", "198.51.100.22", 53, `  health_check = { type = "dns", query_name = "nothing.example.test", interval = "1s", timeout = "800ms", retries = 0 }`) +
		vs("hang", "tcp", 8082, `    type = "http"`, `    path = "/hang"`, `    connect_port = 80`, `    interval = "1s"`, `    timeout = "800ms"`, `    retries = 0`) +
		rs("hang1", "hang", "198.51.100.21", 8082) +
		// keepalived's SMTP_CHECK, UDP_CHECK, several url blocks with a digest, and MISC_CHECK
		// with misc_dynamic.
		vs("smtp", "tcp", 25, `    type = "smtp"`, `    helo_name = "director.example.test"`, `    interval = "1s"`, `    timeout = "800ms"`, `    retries = 0`) +
		rs("smtp1", "smtp", "198.51.100.21", 25) +
		rs("smtp2", "smtp", "198.51.100.22", 25) +
		vs("udp", "udp", 5300, `    type = "udp"`, `    payload = "6c7673"`, `    reply_pattern = "7265616c 3x"`, `    interval = "1s"`, `    timeout = "800ms"`, `    retries = 0`) +
		rs("udp1", "udp", "198.51.100.21", 5300) +
		vs("urls", "tcp", 8083, `    type = "http"`, `    connect_port = 80`,
			fmt.Sprintf(`    urls = [{ path = "/healthz", expected_status = ["200"] }, { path = "/", digest = %q }]`, real1Digest),
			`    interval = "1s"`, `    timeout = "800ms"`, `    retries = 0`) +
		rs("urls1", "urls", "198.51.100.21", 8083) +
		rs("urls2", "urls", "198.51.100.22", 8083) +
		vs("dyn", "tcp", 8084, `    type = "exec"`, `    command = "exit $(cat /tmp/hc-dyn-$LVS_RS_ADDRESS 2>/dev/null || echo 1)"`, `    dynamic_weight = true`,
			`    interval = "1s"`, `    timeout = "800ms"`, `    retries = 0`) +
		rs("dyn1", "dyn", "198.51.100.21", 8084, `  weight = 2`)
}

// healthBound is how long after an event (a web server stopped or started, a check
// configured) a verdict may take: interval × fall (or rise) + timeout of healthConfig's slowest
// checks (1 s × 2 + 800 ms; a new check starts at a random point of its first interval), plus
// 400 ms for the lab: a User-Mode-Linux kernel on a loaded, shared 2-core machine.
const healthBound = 1*time.Second*2 + 800*time.Millisecond + 400*time.Millisecond

// healthIs waits until both directors' agents report each destination of want ("vsKey rsKey" →
// "up" or "down: reason substring") and returns the last mismatch if a poll that began
// healthBound or later after since still finds one. The checks of a step run after terraform
// has applied its config, so a verdict that came within the bound but before the apply ended is
// seen at the first poll.
func (a *accLab) healthIs(since time.Time, want map[string]string) error {
	return a.healthWithin(since, healthBound, want)
}

// readBound is how long after an event healthIs's verdicts may be seen when no terraform run
// came between: healthBound, plus 2 s for reading both agents' status through a lab exec on a
// loaded 2-core machine (polls 200 ms apart, each 2 execs). The README's figure is held by
// outWithin, in the kernel table itself.
const readBound = healthBound + 2*time.Second

// healthWithin is healthIs with its bound.
func (a *accLab) healthWithin(since time.Time, bound time.Duration, want map[string]string) error {
	deadline := since.Add(bound)
	for {
		polled := time.Now()
		var bad []string
		for _, d := range []string{"director1", "director2"} {
			st, err := a.agentStatus(d)
			if err != nil {
				return err
			}
			got := map[string]string{}
			for _, s := range st.IPVS {
				for _, dst := range s.Destinations {
					got[s.Key+" "+dst.Key] = dst.Health + ": " + dst.HealthReason
				}
			}
			for k, w := range want {
				state, reason, _ := strings.Cut(w, ": ")
				g := got[k]
				if !strings.HasPrefix(g, state+": ") || !strings.Contains(g, reason) {
					bad = append(bad, fmt.Sprintf("%s: %s is %q, want %q", d, k, g, w))
				}
			}
		}
		if len(bad) == 0 {
			a.t.Logf("health as wanted, seen %v after the event (bound %v, checked when a poll begins; a terraform apply may run before the first)",
				time.Since(since).Round(time.Millisecond), bound)
			return nil
		}
		if !polled.Before(deadline) {
			logs, _ := a.run("director1", "tail -n 30 "+agentapi.LogPath)
			return fmt.Errorf("health %v after the event (bound %v):\n%s\ndirector1's agent log:\n%s",
				polled.Sub(since).Round(time.Millisecond), bound, strings.Join(bad, "\n"), logs)
		}
		time.Sleep(min(200*time.Millisecond, time.Until(deadline)))
	}
}

// watchOut starts, on director1, a loop that writes to /tmp/out-at the wall time at which dst
// no longer has a positive weight in the kernel table of tcp service svc (out of rotation:
// quiesced or removed). The lab's hosts and this test share one kernel, so one clock.
func (a *accLab) watchOut(svc, dst string) {
	a.t.Helper()
	script := fmt.Sprintf(`while ipvsadm -Ln -t %s | awk '$2 == "%s" && $4 > 0 {f = 1} END {exit !f}'; do sleep 0.02; done; date +%%s.%%N > /tmp/out-at.new && mv /tmp/out-at.new /tmp/out-at`, svc, dst)
	a.exec("director1", "rm -f /tmp/out-at /tmp/out-at.new && cat > /tmp/watch-out.sh <<'EOF'\n"+script+"\nEOF\nsetsid sh /tmp/watch-out.sh </dev/null >/dev/null 2>&1 &")
}

// outWithin reads when watchOut saw the destination leave rotation and checks that it was
// within healthBound of since. The watcher's own time stamp is what is judged; the file is
// awaited a second longer, for a loaded lab host to write it.
func (a *accLab) outWithin(since time.Time) error {
	deadline := since.Add(healthBound + time.Second)
	for {
		polled := time.Now()
		if out, err := a.run("director1", "cat /tmp/out-at"); err == nil {
			f, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
			if err != nil {
				return fmt.Errorf("/tmp/out-at: %q: %w", out, err)
			}
			took := time.Unix(0, int64(f*1e9)).Sub(since)
			a.t.Logf("out of rotation in the kernel table %v after the event (bound interval × fall + timeout + margin = %v)", took.Round(time.Millisecond), healthBound)
			if took > healthBound {
				return fmt.Errorf("out of rotation %v after the event, bound %v", took.Round(time.Millisecond), healthBound)
			}
			return nil
		}
		if !polled.Before(deadline) {
			return fmt.Errorf("still in rotation in director1's table %v after the event (bound %v)", polled.Sub(since).Round(time.Millisecond), healthBound)
		}
		time.Sleep(min(200*time.Millisecond, time.Until(deadline)))
	}
}

// webAnswers sends n requests through the VIP and checks who answered; it also checks that the
// master director scheduled no new connection to each server in none.
func (a *accLab) webAnswers(n int, want []string, none ...string) error {
	// A destination out of the table (removed, or behind the sorry server) counts as -1.
	count := func(dst string) (int, error) {
		c, err := a.scheduled("director1", dst)
		if err != nil && strings.Contains(err.Error(), "has no destination") {
			return -1, nil
		}
		return c, err
	}
	before := map[string]int{}
	for _, dst := range none {
		c, err := count(dst)
		if err != nil {
			return err
		}
		before[dst] = c
	}
	got, err := a.fetch("http://198.51.100.100/", n)
	if err != nil {
		return err
	}
	for name, c := range got {
		if c > 0 && !slices.Contains(want, name) {
			return fmt.Errorf("%d requests: %v; want answers only from %v", n, got, want)
		}
	}
	for _, w := range want {
		if got[w] == 0 {
			return fmt.Errorf("%d requests: %v; none answered by %s", n, got, w)
		}
	}
	for _, dst := range none {
		c, err := count(dst)
		if err != nil {
			return err
		}
		if (before[dst] >= 0 && c != before[dst]) || (before[dst] < 0 && c > 0) {
			return fmt.Errorf("%d new connections sent to %s, which is down (answers %v)", c-before[dst], dst, got)
		}
	}
	a.t.Logf("%d requests through the VIP: %v", n, got)
	return nil
}

// notified checks that each director ran web1's notify commands for exactly the verdict
// changes its agent logged for web1, in order, each with the real server's variables, the
// state and the reason the agent logged (so nothing for web1's initial verdict, which is no
// change); and that the last of them is want's last ("down": notify_down, "up": notify_up).
// want lists the changes the test caused; a loaded lab may add a flap
// (a check timing out twice), which must be notified like any other change. The commands run
// right after the verdicts that healthIs awaited: a few seconds are for a loaded lab host to
// run the shell. It returns how many notifications each director ran.
func (a *accLab) notified(want ...string) (map[string]int, error) {
	const vars = " tcp/198.51.100.100:80 198.51.100.21 80 "
	read := func(d string) (notes []string, changes []string, err error) {
		out, err := a.run(d, "cat /tmp/notify-web1 2>/dev/null || true")
		if err != nil {
			return nil, nil, err
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l != "" {
				notes = append(notes, strings.TrimRight(l, " "))
			}
		}
		out, err = a.run(d, "grep -F '\"msg\":\"real server health changed\"' "+agentapi.LogPath+" || true")
		if err != nil {
			return nil, nil, err
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var e struct{ VS, RS, Health, Reason string }
			if l == "" || json.Unmarshal([]byte(l), &e) != nil || e.VS != "tcp/198.51.100.100:80" || e.RS != "198.51.100.21:80" {
				continue
			}
			changes = append(changes, strings.TrimRight("notify_"+e.Health+" "+e.Health+vars+e.Reason, " "))
		}
		return notes, changes, nil
	}
	counts := map[string]int{}
	for _, d := range []string{"director1", "director2"} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			notes, changes, err := read(d)
			if err != nil {
				return nil, err
			}
			switch {
			case strings.Join(notes, "\n") != strings.Join(changes, "\n"):
				err = fmt.Errorf("%s ran web1's notify commands\n  %s\nfor the verdict changes its agent logged\n  %s", d, strings.Join(notes, "\n  "), strings.Join(changes, "\n  "))
			case len(want) > 0 && len(notes) < len(want):
				err = fmt.Errorf("%s: %d notifications %q, want at least %d (%v)", d, len(notes), notes, len(want), want)
			case len(want) > 0 && !strings.HasPrefix(notes[len(notes)-1], "notify_"+want[len(want)-1]+" "):
				err = fmt.Errorf("%s: the last notification is %q, want notify_%s", d, notes[len(notes)-1], want[len(want)-1])
			case len(want) > 0 && want[len(want)-1] == "down" && !strings.Contains(notes[len(notes)-1], "refused"):
				err = fmt.Errorf("%s: the last notification is %q, want the stopped web server's connection refused", d, notes[len(notes)-1])
			}
			if err == nil {
				counts[d] = len(notes)
				if len(notes) != len(want) {
					a.t.Logf("%s: web1 flapped under the lab's load: %d notifications for %d changes the test made, each one notified: %q", d, len(notes), len(want), notes)
				}
				break
			}
			if time.Now().After(deadline) {
				return nil, err
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	a.t.Logf("both directors ran web1's notify commands for each verdict change (%v by director; the test made %v)", counts, want)
	return counts, nil
}

func (a *accLab) notified0(want ...string) error {
	_, err := a.notified(want...)
	return err
}

// weights checks the weight of destinations in both directors' kernel tables: "SVC DST" →
// weight, -1 for a destination out of the table.
func (a *accLab) weights(want map[string]int) error {
	for _, d := range []string{"director1", "director2"} {
		for k, w := range want {
			svc, dst, _ := strings.Cut(k, " ")
			out, err := a.run(d, fmt.Sprintf(`ipvsadm -Ln -t %s | awk '$2 == "%s" {print $4}'`, svc, dst))
			if err != nil {
				return err
			}
			got := -1
			if out = strings.TrimSpace(out); out != "" {
				if got, err = strconv.Atoi(out); err != nil {
					return fmt.Errorf("%s: weight of %s in %s: %q", d, dst, svc, out)
				}
			}
			if got != w {
				return fmt.Errorf("%s: %s in %s has weight %d (-1: out of the table), want %d", d, dst, svc, got, w)
			}
		}
	}
	return nil
}

const (
	web1 = "tcp/198.51.100.100:80 198.51.100.21:80"
	web2 = "tcp/198.51.100.100:80 198.51.100.22:80"
)

// TestAccHealthChecks: every checker kind against real servers, on both directors; a stopped web
// server leaves rotation (no client request reaches it) and returns when started; all down →
// the sorry server answers; quorum; a hanging check is cut off by its timeout; and none of it
// is drift: plans stay empty while servers are out.
func TestAccHealthChecks(t *testing.T) {
	a := healthLab(t)
	bin := os.Getenv(lab.EnvBin)
	// event is when the last web server was stopped or started (or the first config checked):
	// what healthIs measures verdicts from.
	// It is stamped by the host itself, in the same shell as the event: the lab's hosts and this
	// test share one kernel, so one clock, and the time a command takes to reach a lab host is
	// not the agent's.
	var event time.Time
	stamped := func(host, script string) {
		out := strings.TrimSpace(a.exec(host, "date +%s.%N; "+script))
		f, err := strconv.ParseFloat(strings.SplitN(out, "\n", 2)[0], 64)
		if err != nil {
			t.Fatalf("%s: time stamp %q: %v", host, out, err)
		}
		event = time.Unix(0, int64(f*1e9))
	}
	stopWeb := func(host string) { stamped(host, "pkill -f '[s]erve :80' ; true") }
	startWeb := func(host string) {
		stamped(host, fmt.Sprintf("setsid %s serve :80 %s </dev/null >/tmp/serve.log 2>&1 &", bin, host))
	}
	// outErr is when the stopped web server left director1's table, against the bound; it is
	// awaited before terraform runs: terraform here shares the lab's one CPU with the agents,
	// which it never does with a production director.
	var outErr error
	step := func(f func() error) resource.TestCheckFunc { return func(*terraform.State) error { return f() } }
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{
			{
				Config: healthConfig(a, 0),
				Check: resource.ComposeAggregateTestCheckFunc(
					step(func() error {
						// The checks started during the apply: from now is later than from their start.
						return a.healthIs(time.Now(), map[string]string{
							web1: "up: ", web2: "up: ",
							"tcp/198.51.100.100:443 198.51.100.21:443":   "up: ",
							"tcp/198.51.100.100:443 198.51.100.22:443":   "down: certificate",
							"tcp/198.51.100.100:8080 198.51.100.21:8080": "up: ",
							"tcp/198.51.100.100:8080 198.51.100.22:8080": "down: refused",
							"tcp/198.51.100.100:8081 198.51.100.21:8081": "up: ",
							"tcp/198.51.100.100:8081 198.51.100.22:8081": "down: exit status 1",
							"udp/198.51.100.100:53 198.51.100.21:53":     "up: ",
							"udp/198.51.100.100:53 198.51.100.22:53":     "down: NXDOMAIN",
							"tcp/198.51.100.100:8082 198.51.100.21:8082": "down: timeout",
							"tcp/198.51.100.100:25 198.51.100.21:25":     "up: ",
							"tcp/198.51.100.100:25 198.51.100.22:25":     "down: refused",
							"udp/198.51.100.100:5300 198.51.100.21:5300": "up: ",
							"tcp/198.51.100.100:8083 198.51.100.21:8083": "up: ",
							"tcp/198.51.100.100:8083 198.51.100.22:8083": "down: digest",
							"tcp/198.51.100.100:8084 198.51.100.21:8084": "up: weight 7",
						})
					}),
					// The weight the dynamic check set is in both kernels; the state keeps the
					// configured one (the next step's plan is empty).
					resource.TestCheckResourceAttr("lvs_real_server.dyn1", "weight", "2"),
					step(func() error {
						for _, d := range []string{"director1", "director2"} {
							w := strings.TrimSpace(a.exec(d, `ipvsadm -Ln -t 198.51.100.100:8084 | awk '$2 == "198.51.100.21:8084" {print $4}'`))
							if w != "7" {
								return fmt.Errorf("%s: real1's weight in the kernel %q, want 7 (exit status 9 of its dynamic_weight check)", d, w)
							}
						}
						return nil
					}),
					step(func() error { return a.webAnswers(100, []string{"real1", "real2"}) }),
					// Down servers: tcp2 quiesced by its own on_failure although its virtual
					// server removes, exec2 quiesced as its virtual server says.
					step(func() error {
						return a.weights(map[string]int{"198.51.100.100:8080 198.51.100.22:8080": 0, "198.51.100.100:8081 198.51.100.22:8081": 0})
					}),
					// web1 started up: no notification for the initial verdict.
					step(func() error { return a.notified0() }),
					step(func() error {
						for _, d := range []string{"director1", "director2"} {
							if got := strings.Fields(a.exec(d, "sysctl -n net.ipv4.vs.expire_nodest_conn net.ipv4.vs.expire_quiescent_template")); strings.Join(got, " ") != "1 1" {
								return fmt.Errorf("%s: expire_nodest_conn, expire_quiescent_template = %v, want 1 1", d, got)
							}
						}
						return nil
					}),
				),
			},
			// Servers held out by their checks are not drift.
			{Config: healthConfig(a, 0), PlanOnly: true},
			{
				// README: a stopped web server is out of the table within the bound, timed in
				// director1's kernel table. Then the events follow one another within the step
				// (the config does not change, and a step costs four terraform runs); the plan
				// after the step, with both web servers down, must be empty.
				PreConfig: func() {
					a.watchOut("198.51.100.100:80", "198.51.100.21:80")
					stopWeb("real1")
					outErr = a.outWithin(event)
				},
				Config: healthConfig(a, 0),
				Check: resource.ComposeTestCheckFunc(
					step(func() error { return outErr }),
					step(func() error { return a.healthIs(event, map[string]string{web1: "down: refused", web2: "up: "}) }),
					step(func() error { return a.webAnswers(100, []string{"real2"}, "198.51.100.21:80") }),
					resource.TestCheckResourceAttr("lvs_real_server.web1", "weight", "1"),
					// web1's own on_failure removes it, its virtual server's would quiesce.
					step(func() error {
						return a.weights(map[string]int{"198.51.100.100:80 198.51.100.21:80": -1, "198.51.100.100:80 198.51.100.22:80": 1})
					}),
					step(func() error { return a.notified0("down") }),
					// real1 started again.
					step(func() error { startWeb("real1"); return nil }),
					step(func() error { return a.healthWithin(event, readBound, map[string]string{web1: "up: ", web2: "up: "}) }),
					step(func() error { return a.webAnswers(100, []string{"real1", "real2"}) }),
					step(func() error { return a.notified0("down", "up") }),
					// Both stopped: the sorry server answers.
					step(func() error { stopWeb("real1"); stopWeb("real2"); return nil }),
					step(func() error {
						return a.healthWithin(event, readBound, map[string]string{web1: "down: ", web2: "down: "})
					}),
					step(func() error { return a.webAnswers(50, []string{"sorry"}, "198.51.100.21:80", "198.51.100.22:80") }),
					step(func() error { return a.notified0("down", "up", "down") }),
				),
			},
			{
				// Quorum 2 with weights 1 + 1: one server down is below it, so the sorry server
				// takes all traffic although real2 is up; with real1 started again, both serve.
				PreConfig: func() { startWeb("real2") },
				Config:    healthConfig(a, 2),
				Check: resource.ComposeTestCheckFunc(
					step(func() error { return a.healthIs(event, map[string]string{web1: "down: ", web2: "up: "}) }),
					step(func() error { return a.webAnswers(50, []string{"sorry"}, "198.51.100.22:80") }),
					// A changed quorum is no verdict: nothing more ran.
					step(func() error { return a.notified0("down", "up", "down") }),
					step(func() error { startWeb("real1"); return nil }),
					step(func() error { return a.healthWithin(event, readBound, map[string]string{web1: "up: ", web2: "up: "}) }),
					step(func() error { return a.webAnswers(100, []string{"real1", "real2"}) }),
					step(func() error { return a.notified0("down", "up", "down", "up") }),
				),
			},
			// Metrics on, scraped by a real Prometheus (acc_metrics_lab_test.go).
			a.metricsStep(healthConfig(a, 2, metricsPairExtra...)),
		},
	})
}
