package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// tfCLI runs the terraform CLI in a working directory whose provider is this test binary (see
// cliDir), so that a test sees what an operator sees: warnings, the plan, exit codes, timings.
type tfCLI struct {
	t        *testing.T
	bin, dir string
	env      []string
	n        int // commands run, for log names
}

// tfResult is one terraform command.
type tfResult struct {
	out  string
	code int
	took time.Duration
	log  string // path of its TF_LOG_PATH
}

func newTFCLI(t *testing.T) *tfCLI {
	dir, env := cliDir(t)
	return &tfCLI{t: t, bin: os.Getenv("TF_ACC_TERRAFORM_PATH"), dir: dir, env: env}
}

// write sets the configuration.
func (c *tfCLI) write(config string) {
	c.t.Helper()
	cfg := hcl(`terraform {`, `  required_providers {`, `    lvs = { source = "lvs-provider/lvs" }`, `  }`, `}`) + config
	if err := os.WriteFile(filepath.Join(c.dir, "main.tf"), []byte(cfg), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// run runs terraform with args (bounded to 10 minutes) and returns what happened; the exit
// code is the caller's to judge.
func (c *tfCLI) run(args ...string) tfResult {
	c.t.Helper()
	c.n++
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r := tfResult{log: filepath.Join(c.dir, fmt.Sprintf("%02d-%s.log", c.n, args[0]))}
	cmd := exec.CommandContext(ctx, c.bin, append(args, "-no-color")...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), append(c.env, "TF_LOG_PROVIDER=INFO", "TF_LOG_PATH="+r.log)...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	r.took, r.out = time.Since(start), string(out)
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		c.t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	c.t.Logf("terraform %s: exit %d in %s (%s to %s)", strings.Join(args, " "), r.code, r.took.Round(time.Millisecond), start.Format("15:04:05.000"), time.Now().Format("15:04:05.000"))
	return r
}

// must runs terraform and fails the test unless it exits with code.
func (c *tfCLI) must(code int, args ...string) tfResult {
	c.t.Helper()
	r := c.run(args...)
	if r.code != code {
		c.t.Fatalf("terraform %s: exit %d, want %d:\n%s", strings.Join(args, " "), r.code, code, r.out)
	}
	return r
}

// dials counts the SSH connections the provider opened to each host during a command, from its
// log (see remote.Hosts.OnDial).
func (r tfResult) dials(t *testing.T) map[string]int {
	t.Helper()
	b, err := os.ReadFile(r.log)
	if err != nil {
		t.Fatalf("terraform log: %v", err)
	}
	n := map[string]int{}
	for _, m := range dialLine.FindAllStringSubmatch(string(b), -1) {
		host := m[1]
		if i := strings.IndexByte(host, '@'); i >= 0 {
			host = host[i+1:]
		}
		n[host]++
	}
	return n
}

// prober keeps probing the VIP from the client in back-to-back runs of `lab probe`, so that
// a phase of a test is covered from start to end whatever its length.
type prober struct {
	a    *accLab
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	runs []lab.ProbeResult
	at   []time.Time // start of each run
	err  error
}

func (a *accLab) startProber(chunk time.Duration, timeout time.Duration) *prober {
	p := &prober{a: a, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 0; i < 200; i++ { // bounded: 200 runs
			select {
			case <-p.stop:
				return
			default:
			}
			at := time.Now()
			res, err := a.probe(chunk, timeout)
			p.mu.Lock()
			p.at = append(p.at, at)
			if err != nil {
				p.err = err
				p.mu.Unlock()
				return
			}
			p.runs = append(p.runs, res)
			p.mu.Unlock()
		}
	}()
	return p
}

// end stops the prober after its current run and sums what it saw.
func (p *prober) end() (sent, failed int, longestGapMS float64, runs int, behind bool, err error) {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range p.runs {
		if r.Failed > 0 {
			p.a.t.Logf("probe run from %s: %d of %d requests failed, answers %v, longest gap %.0f ms from %s, behind %v", p.at[i].Format("15:04:05.000"), r.Failed, r.Requests, r.Answers, r.LongestGapMS, r.FirstGapAt, r.Behind)
		}
		sent += r.Requests
		failed += r.Failed
		longestGapMS = max(longestGapMS, r.LongestGapMS)
		behind = behind || r.Behind
	}
	return sent, failed, longestGapMS, len(p.runs), behind, p.err
}

// probe runs `lab probe` on the client against the VIP for d, a request every 10 ms, each
// bounded by timeout, at real-time priority so that the load of terraform does not starve it.
func (a *accLab) probe(d, timeout time.Duration) (lab.ProbeResult, error) {
	var res lab.ProbeResult
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := a.lab.Host("client").Command(ctx, "chrt", "-f", "50", os.Getenv(lab.EnvBin), "probe", "http://"+modesVIP+"/", d.String(), "--interval", "10ms", "--timeout", timeout.String())
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return res, fmt.Errorf("lab probe: %v: %s%s", err, stdout.String(), stderr.String())
	}
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &res); err != nil {
		return res, fmt.Errorf("lab probe output %q: %v", stdout.String(), err)
	}
	return res, nil
}

// deadConfig is the cluster of clusterConfig on the directors hosts, with the real servers of
// weights (address → weight), and the data source lvs_director_status of its pair.
func deadConfig(a *accLab, hosts [2]string, weights map[string]int, first bool) string {
	// Adverts every second, the default: at 100 ms the backup took the VIP for a moment now
	// and then on this loaded 2-core machine, whose scheduler held the master's adverts back
	// for more than Master_Down_Interval (agent logs: "master silent for
	// Master_Down_Interval", then "advert from ... with priority 150"), and some requests
	// failed with no director dead. And director2 keeps the VIP once it has it: no preemption
	// (a planned switchover, proven elsewhere) when director1 comes back or director3 joins,
	// so that what the client sees from the first power cut on is the provider's doing alone.
	// (The first apply leaves preemption on, so that director1, of the higher priority, is the
	// master that is powered off.)
	c := pairAndVIP(a, "1s")
	if !first {
		c = strings.Replace(c, `  virtual_router_id = 91`, "  virtual_router_id = 91\n  preempt           = false", 1)
	}
	c = strings.Replace(c, `directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]`,
		fmt.Sprintf(`directors = [{ host = %q, interface = "eth0" }, { host = %q, interface = "eth0" }]`, hosts[0], hosts[1]), 1)
	c += webVirtualServer
	for _, addr := range slices.Sorted(maps.Keys(weights)) {
		c += hcl(
			fmt.Sprintf(`resource "lvs_real_server" "r%s" {`, addr[strings.LastIndexByte(addr, '.')+1:]),
			`  virtual_server_id = lvs_virtual_server.web.id`,
			fmt.Sprintf(`  address           = %q`, addr),
			`  port              = 80`,
			fmt.Sprintf(`  weight            = %d`, weights[addr]),
			`  host              = {}`,
			// After a failover the new master's table holds ESTABLISHED copies the sync
			// daemon sent of connections that closed through the old master; a drain counts
			// them until they time out. This test is not about draining (TestAccDrain is):
			// bound it so that a removal cannot wait the default 5 minutes.
			`  drain_timeout     = "10s"`,
			`}`,
		)
	}
	// The pair's ID spelled out rather than referenced, so that the data source is read during
	// the plan even when the pair has a change pending (a dead director's repair).
	return c + hcl(`data "lvs_director_status" "s" {`, fmt.Sprintf(`  director_pair_id = "edge@%s,%s"`, hosts[0], hosts[1]), `}`)
}

// checkFullConfig checks through `lvs-agent status` that host holds the whole cluster: the pair
// of directors as director self, VIP 91, and the service with exactly the real servers of
// weights (address → weight).
func (a *accLab) checkFullConfig(host string, self int, directors [2]string, weights map[string]int) error {
	st, err := a.agentStatus(host)
	if err != nil {
		return err
	}
	if st.Pair == nil || st.Pair.Self != self || len(st.Pair.Directors) != 2 || st.Pair.Directors[0].Host != directors[0] || st.Pair.Directors[1].Host != directors[1] {
		return fmt.Errorf("%s holds pair %+v; want director %d of %v", host, st.Pair, self, directors)
	}
	var vip bool
	for _, v := range st.VIPs {
		vip = vip || v.VRID == 91
	}
	if !vip {
		return fmt.Errorf("%s holds no VIP 91: %+v", host, st.VIPs)
	}
	want := map[string]int{}
	for addr, w := range weights {
		want[addr+":80"] = w
	}
	for _, s := range st.IPVS {
		if s.Key != "tcp/198.51.100.100:80" {
			continue
		}
		got := map[string]int{}
		for _, d := range s.Destinations {
			got[d.Key] = d.ConfiguredWeight
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("%s: service %s has real servers %v; want %v", host, s.Key, got, want)
		}
		return nil
	}
	return fmt.Errorf("%s holds no service tcp/198.51.100.100:80: %+v", host, st.IPVS)
}

// stateValuesJSON is the "values" of a state in `terraform show -json`: each resource's
// address and attribute values.
type stateValuesJSON struct {
	RootModule struct {
		Resources []struct {
			Address string          `json:"address"`
			Values  json.RawMessage `json:"values"`
		} `json:"resources"`
	} `json:"root_module"`
}

// planJSON is what the test reads of `terraform show -json PLAN`.
type planJSON struct {
	PriorState struct {
		Values stateValuesJSON `json:"values"`
	} `json:"prior_state"`
}

// failover powers director1, the master, off while the client probes the VIP, and reports what
// that cost over the 18 s after the power cut: the takeover, and the after-effects seen in the
// lab now and then, a few requests timing out in one burst some 10 s later (cause not
// established; no terraform command runs then).
func (a *accLab) failover(what string) {
	a.t.Helper()
	if err := a.holdsVIP("director1", modesVIP, true); err != nil {
		a.t.Fatalf("%s: director1 is not the master before the power cut: %v", what, err)
	}
	type probed struct {
		res lab.ProbeResult
		err error
	}
	done := make(chan probed, 1)
	go func() {
		res, err := a.probe(20*time.Second, 200*time.Millisecond)
		done <- probed{res, err}
	}()
	time.Sleep(2 * time.Second)
	a.t.Logf("%s: powering off director1 at %s", what, time.Now().Format("15:04:05.000"))
	if err := a.lab.Host("director1").Kill(); err != nil {
		a.t.Fatal(err)
	}
	p := <-done
	if p.err != nil {
		a.t.Fatal(p.err)
	}
	a.t.Logf("%s (director1 powered off, advert_interval 1s, requests every 10 ms bounded by 200 ms): %d of %d requests failed, longest gap %.0f ms (±%.0f ms) from %s, answers %v, prober behind: %v",
		what, p.res.Failed, p.res.Requests, p.res.LongestGapMS, p.res.GapErrorMS, p.res.FirstGapAt, p.res.Answers, p.res.Behind)
	if err := a.holdsVIP("director2", modesVIP, true); err != nil {
		a.t.Fatal(err)
	}
}

// checkNoFailure ends p and fails the test if any request it sent failed; then it shows the
// VRRP transitions that the directors' agents logged.
func (a *accLab) checkNoFailure(p *prober, what string, directors ...string) {
	t := a.t
	t.Helper()
	sent, failed, gap, runs, behind, err := p.end()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d requests in %d probe runs, %d failed, longest gap %.0f ms, prober behind: %v", what, sent, runs, failed, gap, behind)
	if failed != 0 {
		t.Errorf("%s: %d of %d requests through the VIP failed; want none", what, failed, sent)
		for _, h := range directors {
			out, _ := a.run(h, fmt.Sprintf("grep -iE 'master|backup|fault|handover' %s | tail -n 15", agentapi.LogPath))
			t.Logf("%s: VRRP in the agent log:\n%s", h, out)
		}
	}
	if sent == 0 {
		t.Errorf("%s: the client sent no request", what)
	}
}

// TestAccDeadDirector: a director that dies degrades Terraform, never blocks it, and is replaced
// by a plain apply, while a client's requests through the VIP keep being answered.
//
// A cluster (pair, VIP, wrr service, two real servers with their host role) and the
// lvs_director_status data source are applied with the terraform CLI. Then director1, the VRRP
// master, is powered off (lab Host.Kill: every process killed, its cable pulled) while the
// client probes the VIP every 10 ms: the failover's cost is measured and reported. From then on
// the client probes without a break to the end, and no request may fail, through:
//   - terraform plan: succeeds, warns that director1 is unreachable, plans its repair, reads
//     director1 as unreachable in lvs_director_status, dials director1 exactly once (a
//     powered-off host is not dialled again per resource), and is bounded in time (below);
//   - terraform apply of changes made while director1 is dead (real1's weight 1 → 3, real2
//     deleted): applied to director2, with a warning;
//   - director1 boots again with its old configuration: the plan shows it stale and the apply
//     replaces its whole configuration with director2's (real2, deleted meanwhile, is gone from
//     it too), after which the plan is empty;
//   - director1 dies again, and a plain terraform apply replaces it by director3: director3
//     gets the whole configuration from director2, and the apply warns that director1 could not
//     be cleaned; the plan is then empty and director2 and director3 hold the full
//     configuration.
//
// Last, director2 dies too, and destroy succeeds, names director2 in a warning and leaves
// director3 and the real servers clean.
func TestAccDeadDirector(t *testing.T) {
	a := newAccLab(t, director(1), director(2), director(3), labHost("real1", "198.51.100.21"), labHost("real2", "198.51.100.22"), labHost("client", modesClient))
	// Every run that meets a powered-off director waits out one SSH deadline for it (plan,
	// apply, destroy: about ten in all). This test runs alone, where a live lab host finishes
	// its handshake within a second, so 8 s rather than the 20 s of tests run side by side.
	a.sshTimeout = 8 * time.Second
	a.serveWeb("real1")
	a.serveWeb("real2")
	tf := newTFCLI(t)
	orig := [2]string{"198.51.100.11", "198.51.100.12"}
	moved := [2]string{"198.51.100.13", "198.51.100.12"}
	both := map[string]int{"198.51.100.21": 1, "198.51.100.22": 1}
	changed := map[string]int{"198.51.100.21": 3} // real1's weight changed, real2 deleted

	tf.write(deadConfig(a, orig, both, true))
	tf.must(0, "apply", "-auto-approve")
	if err := a.holdsVIP("director1", modesVIP, true); err != nil {
		t.Fatal(err)
	}
	tf.write(deadConfig(a, orig, both, false))
	tf.must(0, "apply", "-auto-approve")
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			if r := tf.run("destroy", "-auto-approve"); r.code != 0 {
				t.Logf("destroy after a failure:\n%s", r.out)
			}
		}
	})
	a.waitVIPAnswers("http://" + modesVIP + "/")
	base := tf.must(0, "plan", "-detailed-exitcode")

	a.failover("failover")
	// From here on the client's requests must all be answered. Each is bounded by 2.9 s: an
	// outage of more than a second fails one (its SYN and the SYN's retransmission 1 s later
	// unanswered; the next comes at 3 s), while an answer that the loaded 2-core machine
	// delays does not.
	p := a.startProber(3*time.Second, 2900*time.Millisecond)
	proberOn := true
	defer func() {
		if proberOn {
			p.end()
		}
	}()

	// Plan with director1 dead: succeeds, warns, shows the repair, and is bounded in time.
	plan := tf.must(2, "plan", "-detailed-exitcode", "-out=dead.tfplan")
	t.Logf("terraform plan with director1 powered off: %s (with both up: %s); SSH connections opened per host: %v", plan.took.Round(time.Millisecond), base.took.Round(time.Millisecond), plan.dials(t))
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`Warning: Director Unreachable: 198\.51\.100\.11`),
		regexp.MustCompile(`cannot reach SSH server at 198\.51\.100\.11:22`),
		regexp.MustCompile(`lvs_director_pair\.p will be updated in-place`),
		regexp.MustCompile(`status += "unreachable" -> \(known after apply\)`),
	} {
		if !want.MatchString(plan.out) {
			t.Errorf("terraform plan with director1 down does not show %s:\n%s", want, plan.out)
		}
	}
	if strings.Contains(plan.out, "Error:") {
		t.Errorf("terraform plan with director1 down has errors:\n%s", plan.out)
	}
	if d := plan.dials(t); d["198.51.100.11:22"] != 1 {
		t.Errorf("terraform plan dialled the dead director1 %d times (%v); want exactly once per run", d["198.51.100.11:22"], d)
	}
	// The dead host costs one SSH timeout (8 s in this test's provider block; a lab host that
	// was killed fails at once with "no route to host" or only after the timeout), once per
	// run; 30 s more for a loaded 2-core machine. One dial per resource read from director1
	// (pair, VIP, service, real servers, data source: dependent reads, one after the other)
	// would take several timeouts.
	if bound := base.took + a.sshDeadline() + 30*time.Second; plan.took > bound {
		t.Errorf("terraform plan with director1 down took %s; bound %s (plan with both up %s + one SSH timeout %s + 30 s)", plan.took, bound, base.took, a.sshDeadline())
	}
	show := tf.must(0, "show", "-json", "dead.tfplan")
	var pj planJSON
	if err := json.Unmarshal([]byte(show.out[strings.Index(show.out, "{"):]), &pj); err != nil {
		t.Fatalf("terraform show -json: %v", err)
	}
	var ds string
	for _, r := range pj.PriorState.Values.RootModule.Resources {
		if r.Address == "data.lvs_director_status.s" {
			ds = string(r.Values)
		}
	}
	for _, want := range []string{`"host":"198.51.100.11"`, `"agent_state":"unreachable"`, `"reachable":false`, `cannot reach SSH server at 198.51.100.11:22`, `"reachable":true`} {
		if !strings.Contains(ds, want) {
			t.Errorf("lvs_director_status with director1 down lacks %s: %s", want, ds)
		}
	}
	t.Logf("lvs_director_status with director1 down: %.500s", ds)

	// Changes applied with director1 dead go to director2, with a warning.
	tf.write(deadConfig(a, orig, changed, false))
	ap := tf.must(0, "apply", "-auto-approve")
	if !strings.Contains(ap.out, "Warning: Director Unreachable: 198.51.100.11") {
		t.Errorf("apply with director1 down does not warn about it:\n%s", ap.out)
	}
	if err := a.checkFullConfig("director2", 1, orig, changed); err != nil {
		t.Error(err)
	}

	// director1 comes back with what it held when it died, real2 included: stale.
	func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := a.lab.Host("director1").Boot(ctx); err != nil {
			t.Fatal(err)
		}
	}()
	back := tf.must(2, "plan", "-detailed-exitcode")
	if !regexp.MustCompile(`status += "stale" -> "ready"`).MatchString(back.out) {
		t.Errorf("plan with director1 back does not show it stale:\n%s", back.out)
	}
	tf.must(0, "apply", "-auto-approve")
	tf.must(0, "plan", "-detailed-exitcode")
	for i, h := range []string{"director1", "director2"} {
		if err := a.checkFullConfig(h, i, orig, changed); err != nil {
			t.Error(err)
		}
	}

	// director1 (the backup now) dies again, and is replaced by director3 with a plain apply.
	t.Logf("powering off director1 again at %s", time.Now().Format("15:04:05.000"))
	if err := a.lab.Host("director1").Kill(); err != nil {
		t.Fatal(err)
	}
	tf.write(deadConfig(a, moved, changed, false))
	rep := tf.must(0, "apply", "-auto-approve")
	t.Logf("terraform apply replacing the dead director1 by director3:\n%s", rep.out[strings.Index(rep.out, "Plan:"):])
	for _, want := range []string{"Warning: Replaced Director Not Cleaned: 198.51.100.11", "lvs-agent uninstall"} {
		if !strings.Contains(rep.out, want) {
			t.Errorf("replacing the dead director1 does not say %q:\n%s", want, rep.out)
		}
	}
	final := tf.must(0, "plan", "-detailed-exitcode")
	if strings.Contains(final.out, "Warning: Director Unreachable") {
		t.Errorf("plan after the replacement still warns:\n%s", final.out)
	}
	for i, h := range []string{"director3", "director2"} {
		if err := a.checkFullConfig(h, i, moved, changed); err != nil {
			t.Error(err)
		}
	}
	a.waitVIPAnswers("http://" + modesVIP + "/")
	proberOn = false
	a.checkNoFailure(p, "from the plan with director1 down to the empty plan after its replacement by director3", "director2", "director3")

	// Destroy with a dead director: director2 dies now; what it held is named in a warning,
	// everything else is removed.
	if err := a.lab.Host("director2").Kill(); err != nil {
		t.Fatal(err)
	}
	des := tf.must(0, "destroy", "-auto-approve")
	destroyed = true
	for _, want := range []string{"Warning: Destroyed Director Not Cleaned: 198.51.100.12", "lvs-agent uninstall", "Destroy complete! Resources: 4 destroyed."} {
		if !strings.Contains(des.out, want) {
			t.Errorf("terraform destroy with director2 dead does not say %q:\n%s", want, des.out)
		}
	}
	for _, h := range []string{"director3", "real1", "real2"} {
		if err := a.hostClean(h); err != nil {
			t.Error(err)
		}
	}
}
