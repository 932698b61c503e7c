package provider_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/kaconvert"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// startKeepalived writes conf on a director and starts keepalived (VRRP and checkers, as
// operators run it) in the background. Its main PID goes to /run/keepalived.pid, where the
// provider's default keepalived_stop_command finds it on a host without systemd.
func (a *accLab) startKeepalived(host, conf string) {
	a.t.Helper()
	a.exec(host, "cat > /etc/lab-keepalived.conf <<'EOF'\n"+conf+"\nEOF\n"+
		"setsid keepalived -n -l -D -f /etc/lab-keepalived.conf -p /run/keepalived.pid -r /run/lab-ka-vrrp.pid -c /run/lab-ka-chk.pid "+
		"</dev/null >/var/log/lab-keepalived.log 2>&1 &")
}

// ipvsTable waits until the director's kernel table has n real servers, the same on two reads
// a second apart, and returns it as `ipvsadm -Sn` prints it, sorted.
func (a *accLab) ipvsTable(host string, n int) (string, error) {
	var last string
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		out, err := a.run(host, "ipvsadm -Sn")
		if err != nil {
			return "", err
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		slices.Sort(lines)
		got := strings.Join(lines, "\n")
		if strings.Count(got, "-a ") == n && got == last {
			return got, nil
		}
		last = got
		time.Sleep(time.Second)
	}
	return "", fmt.Errorf("%s: no stable table of %d real servers within a minute; last:\n%s", host, n, last)
}

// vrrpAdvert returns the first VRRP advert from src that watcher receives on the wire.
func (a *accLab) vrrpAdvert(watcher, src string) (lab.Advert, error) {
	out, err := a.run(watcher, fmt.Sprintf("%s vrrp-capture eth0 %s 10s", os.Getenv(lab.EnvBin), src))
	if err != nil {
		return lab.Advert{}, err
	}
	var adv lab.Advert
	if err := json.Unmarshal([]byte(out), &adv); err != nil {
		return lab.Advert{}, fmt.Errorf("vrrp-capture: %q: %w", out, err)
	}
	return adv, nil
}

// The converted file's provider block names a key and relies on ~/.ssh/known_hosts; the lab's
// hosts need the lab's. Its terraform block names the provider's registry source, which the
// test framework, serving the provider in-process, sets itself.
var (
	providerBlockRE  = regexp.MustCompile(`(?s)\nprovider "lvs" \{\n.*?\n\}\n`)
	terraformBlockRE = regexp.MustCompile(`(?s)\nterraform \{\n.*?\n\}\n`)
)

// TestAccMigrateFromKeepalived: keepalived 2.2.7 runs a pair's two keepalived.conf files (VRRPv2
// with PASS authentication, two addresses; DR services: wrr with HTTP_GET, lc with persistence
// and TCP_CHECK, UDP with DNS_CHECK and one-packet scheduling, a virtual_server_group over both
// addresses) on the lab's directors; each director's kernel table (`ipvsadm -Sn`, sorted) and
// the master's adverts are recorded. Then, while a client sends a request to the VIP every
// 10 ms, the file `convert-keepalived` makes of them is applied live in two steps: first with
// director1 (keepalived's MASTER) still run by keepalived, which makes the provider stop
// keepalived on director2 and put the agent there; then with both run by the agent, which
// switches director1 (the agent on director2 takes the VIPs over, keepalived on director1 is
// stopped, the agent comes, director1 takes the VIPs back). No request may fail, keepalived must
// be gone from both directors, each director's table and director1's adverts must be keepalived's
// byte for byte, and the plan after each step must be empty.
func TestAccMigrateFromKeepalived(t *testing.T) {
	a := newAccLab(t, director(1), director(2), labHost("real1", "198.51.100.21"), labHost("real2", "198.51.100.22"), labHost("client", "198.51.100.31"))
	bin := os.Getenv(lab.EnvBin)
	for _, h := range []struct{ name, ip string }{{"real1", "198.51.100.21"}, {"real2", "198.51.100.22"}} {
		a.serveWeb(h.name)
		a.exec(h.name, fmt.Sprintf("setsid %s serve-tls :443 %s </dev/null >/tmp/serve-tls.log 2>&1 &", bin, h.name))
		a.exec(h.name, fmt.Sprintf("setsid %s serve-dns :53 www.example.test %s </dev/null >/tmp/serve-dns.log 2>&1 &", bin, h.ip))
		// Direct routing: the real servers take the VIP's traffic (keepalived leaves that to
		// them, and so does the converted file, which binds no real server host).
		a.exec(h.name, "ip addr add 198.51.100.100/32 dev lo && sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2")
	}
	dir := filepath.Join("..", "kaconvert", "testdata", "roundtrip")
	confs := []string{filepath.Join(dir, "director1.conf"), filepath.Join(dir, "director2.conf")}
	directors := []string{"director1", "director2"}
	const realServers = 10

	// The reference: keepalived running the files.
	for i, d := range directors {
		conf, err := os.ReadFile(confs[i])
		if err != nil {
			t.Fatal(err)
		}
		a.startKeepalived(d, string(conf))
	}
	want := map[string]string{}
	for _, d := range directors {
		table, err := a.ipvsTable(d, realServers)
		if err != nil {
			t.Fatalf("keepalived: %v\n%s", err, a.exec(d, "cat /var/log/lab-keepalived.log"))
		}
		want[d] = table
		t.Logf("%s, keepalived's table:\n%s", d, table)
	}
	wantAdvert, err := a.vrrpAdvert("real1", "198.51.100.11")
	if err != nil {
		t.Fatalf("keepalived's master: %v\n%s", err, a.exec("director1", "cat /var/log/lab-keepalived.log"))
	}
	t.Logf("keepalived's advert from director1: %+v", wantAdvert)

	// The converted files.
	var hclOut, report strings.Builder
	if code := kaconvert.Main(confs, &hclOut, &report); code != 0 {
		t.Fatalf("convert-keepalived: exit %d\n%s", code, report.String())
	}
	t.Logf("convert-keepalived's report:\n%s", report.String())
	cfg := hclOut.String()
	if !providerBlockRE.MatchString(cfg) || !terraformBlockRE.MatchString(cfg) {
		t.Fatalf("no provider or terraform block in the converted file:\n%s", cfg)
	}
	cfg = providerBlockRE.ReplaceAllLiteralString(cfg, "\n"+a.providerBlock())
	cfg = terraformBlockRE.ReplaceAllLiteralString(cfg, "\n")
	// The terraform CLI as an operator runs it, but at a lower CPU priority (with the provider,
	// its child): here it shares the lab's one CPU with the directors, the real servers and the
	// client, which in production it does not, and at the same priority the first apply's burst
	// of creates starved the client for seconds (requests timing out that no director dropped:
	// the prober itself paused 1.9 s between two sends; niced, at most 59 ms).
	tf := newTFCLI(t)
	wrapper := filepath.Join(t.TempDir(), "terraform")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nexec nice -n 10 "+tf.bin+" \"$@\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	tf.bin = wrapper
	tf.write(cfg)
	vars := func(runBy1 string) []string {
		return []string{"-var", "director1_host=198.51.100.11", "-var", "director2_host=198.51.100.12", "-var", "vi_1_auth_pass=s3cret", "-var", "director1_run_by=" + runBy1}
	}
	keepalived := func(host string, running bool) {
		t.Helper()
		out, _ := a.run(host, "pgrep -x keepalived || true")
		if got := strings.TrimSpace(out) != ""; got != running {
			t.Errorf("%s: keepalived running %v, want %v (pgrep: %q)", host, got, running, out)
		}
	}
	tables := func(hosts ...string) {
		t.Helper()
		for _, d := range hosts {
			got, err := a.ipvsTable(d, realServers)
			if err != nil {
				t.Error(err)
				continue
			}
			if got != want[d] {
				t.Errorf("%s: the agent's table differs from keepalived's:\n--- keepalived\n%s\n--- agent\n%s", d, want[d], got)
			}
		}
	}
	// statuses are the directors' status of the pair and of every VIP, virtual server and real
	// server, from the state.
	statuses := func() map[string][]string {
		t.Helper()
		var show struct {
			Values stateValuesJSON `json:"values"`
		}
		out := tf.must(0, "show", "-json").out
		if err := json.Unmarshal([]byte(out[strings.IndexByte(out, '{'):]), &show); err != nil {
			t.Fatalf("terraform show -json: %v", err)
		}
		got := map[string][]string{}
		for _, r := range show.Values.RootModule.Resources {
			var v struct {
				Status    []string `json:"status"`
				Directors []struct {
					Status string `json:"status"`
				} `json:"directors"`
			}
			if err := json.Unmarshal(r.Values, &v); err != nil {
				t.Fatalf("%s: %v", r.Address, err)
			}
			for _, d := range v.Directors {
				v.Status = append(v.Status, d.Status)
			}
			got[r.Address] = v.Status
		}
		return got
	}
	wantStatus := func(want0 string) {
		t.Helper()
		st := statuses()
		if len(st) < 17 {
			t.Errorf("%d resources in the state, want the pair, the VIP, 5 virtual servers and 10 real servers: %v", len(st), st)
		}
		for addr, s := range st {
			if !slices.Equal(s, []string{want0, "ready"}) {
				t.Errorf("%s: status %q, want [%s ready]", addr, s, want0)
			}
		}
	}

	a.waitVIPAnswers("http://198.51.100.100/")
	probe := a.startProbe("http://198.51.100.100/")
	time.Sleep(time.Second) // the probe's baseline before the first apply
	start := time.Now()

	// Step 1: director1, keepalived's MASTER, stays run by keepalived; keepalived on director2
	// (BACKUP) makes way for the agent, which peers with director1's keepalived.
	tf.must(0, append([]string{"apply", "-auto-approve"}, vars("keepalived")...)...)
	tf.must(0, append([]string{"plan", "-detailed-exitcode"}, vars("keepalived")...)...)
	wantStatus("keepalived")
	keepalived("director1", true)
	keepalived("director2", false)
	tables("director2")
	if st, err := a.agentStatus("director2"); err != nil {
		t.Error(err)
	} else {
		for _, v := range st.VIPs {
			if v.State != "BACKUP" || v.Master == "" {
				t.Errorf("director2's agent beside keepalived's MASTER: VRID %d is %s, master %q (%s)", v.VRID, v.State, v.Master, v.Reason)
			}
		}
	}
	t.Logf("step 1 after %s: the agent on director2 is BACKUP of keepalived on director1, its table keepalived's", time.Since(start).Round(time.Millisecond))

	// Step 2: director1 switches to the agent. The apply's plan says what it will do.
	apply := tf.must(0, append([]string{"apply", "-auto-approve"}, vars("agent")...)...)
	for _, re := range []string{`Director Switches From keepalived To The Agent`, `lvs_director_pair\.pair will be updated in-place`, `~ status\s+= "keepalived" -> "ready"`, `~ run_by\s+= "keepalived" -> "agent"`} {
		if !regexp.MustCompile(re).MatchString(apply.out) {
			t.Errorf("the plan of the switch does not say %s:\n%s", re, apply.out)
		}
	}
	took := time.Since(start)
	time.Sleep(time.Second) // and after it, with director1 master again
	if err := a.stopProbe(probe); err != nil {
		t.Fatal(err)
	}
	tf.must(0, append([]string{"plan", "-detailed-exitcode"}, vars("agent")...)...)
	wantStatus("ready")
	r := probe.res
	resets := 0
	for ans, n := range r.Answers {
		if strings.Contains(ans, "reset") {
			resets += n
		}
	}
	// The takeover from keepalived: the connections director2's agent sent back to director1
	// (its handover window), which held the VIPs on its loopback for them.
	fwd, _ := a.run("director2", `grep '"handover window closed"' /var/log/lvs-agent.log | grep -o '"previous_master":"198.51.100.11".*' || true`)
	t.Logf("director2's handover window towards director1 (keepalived): %s", strings.TrimSpace(fwd))
	t.Logf("migration from keepalived: both applies took %s; probe every 10 ms: %d requests, %d failed, %d resets, answers %v, longest gap %.0f ms (%d failed in it), longest pause between two sends %.0f ms, behind %v",
		took.Round(time.Millisecond), r.Requests, r.Failed, resets, r.Answers, r.LongestGapMS, r.GapFailed, r.MaxSendPauseMS, r.Behind)
	if r.Failed != 0 || resets != 0 {
		t.Logf("failed requests: %v", r.Failures)
		for _, h := range directors {
			out, _ := a.run(h, "grep -v '\"level\":\"DEBUG\"' /var/log/lvs-agent.log | grep -iE 'vrrp|state|master|backup|handover|stop|start' | tail -40; tail -20 /var/log/lab-keepalived.log")
			t.Logf("%s logs:\n%s", h, out)
		}
		t.Errorf("migration: %d of %d requests failed (%d resets): %v", r.Failed, r.Requests, resets, r.Answers)
	}
	if r.Requests < int(took/(10*time.Millisecond))/2 {
		t.Errorf("migration: only %d requests over %s: the probe did not cover the applies", r.Requests, took)
	}
	for _, d := range directors {
		keepalived(d, false)
	}
	// keepalived on director1 gave way to the agent's raised priority before it was stopped:
	// it left as a BACKUP.
	kaLog := a.exec("director1", "cat /var/log/lab-keepalived.log")
	if !regexp.MustCompile(`(?s)higher priority 254.*Entering BACKUP STATE`).MatchString(kaLog) || strings.Contains(kaLog, "sent 0 priority") {
		t.Errorf("keepalived on director1 did not go BACKUP on the agent's priority 254 before it stopped:\n%s", kaLog)
	}
	tables(directors...)
	got, err := a.vrrpAdvert("real1", "198.51.100.11")
	switch {
	case err != nil:
		t.Errorf("the agent's master: %v", err)
	case got != wantAdvert:
		t.Errorf("director1's advert: the agent's %+v, keepalived's %+v", got, wantAdvert)
	default:
		t.Logf("the agents' tables and advert equal keepalived's: %+v", got)
	}
}
