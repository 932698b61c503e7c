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

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

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
	vars := func(runBy1 string) config.Variables {
		return config.Variables{
			"director1_host":   config.StringVariable("198.51.100.11"),
			"director2_host":   config.StringVariable("198.51.100.12"),
			"vi_1_auth_pass":   config.StringVariable("s3cret"),
			"director1_run_by": config.StringVariable(runBy1),
		}
	}
	keepalived := func(host string, running bool) error {
		out, _ := a.run(host, "pgrep -x keepalived || true")
		if got := strings.TrimSpace(out) != ""; got != running {
			return fmt.Errorf("%s: keepalived running %v, want %v (pgrep: %q)", host, got, running, out)
		}
		return nil
	}
	tables := func(hosts ...string) error {
		for _, d := range hosts {
			got, err := a.ipvsTable(d, realServers)
			if err != nil {
				return err
			}
			if got != want[d] {
				return fmt.Errorf("%s: the agent's table differs from keepalived's:\n--- keepalived\n%s\n--- agent\n%s", d, want[d], got)
			}
		}
		return nil
	}
	a.waitVIPAnswers("http://198.51.100.100/")
	probe := a.startProbe("http://198.51.100.100/")
	time.Sleep(time.Second) // the probe's baseline before the first apply
	start := time.Now()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{{
			// Step 1: director1, keepalived's MASTER, stays run by keepalived; keepalived on
			// director2 (BACKUP) makes way for the agent, which peers with director1's keepalived.
			Config:          cfg,
			ConfigVariables: vars("keepalived"),
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("lvs_director_pair.pair", "directors.0.status", "keepalived"),
				resource.TestCheckResourceAttr("lvs_director_pair.pair", "directors.1.status", "ready"),
				resource.TestCheckResourceAttr("lvs_vip.vi_1", "status.0", "keepalived"),
				func(*terraform.State) error {
					if err := keepalived("director1", true); err != nil {
						return err
					}
					if err := keepalived("director2", false); err != nil {
						return err
					}
					if err := tables("director2"); err != nil {
						return err
					}
					st, err := a.agentStatus("director2")
					if err != nil {
						return err
					}
					for _, v := range st.VIPs {
						if v.State != "BACKUP" || v.Master == "" {
							return fmt.Errorf("director2's agent beside keepalived's MASTER: VRID %d is %s, master %q (%s)", v.VRID, v.State, v.Master, v.Reason)
						}
					}
					t.Logf("step 1 after %s: the agent on director2 is BACKUP of keepalived on director1, its table keepalived's", time.Since(start).Round(time.Millisecond))
					return nil
				},
			),
		}, {
			// Step 2: director1 switches to the agent.
			Config:          cfg,
			ConfigVariables: vars("agent"),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("lvs_director_pair.pair", plancheck.ResourceActionUpdate),
				plancheck.ExpectKnownValue("lvs_director_pair.pair", tfjsonpath.New("directors").AtSliceIndex(0).AtMapKey("status"), knownvalue.StringExact("ready")),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("lvs_director_pair.pair", "directors.0.status", "ready"),
				resource.TestCheckResourceAttr("lvs_vip.vi_1", "status.0", "ready"),
				func(*terraform.State) error {
					took := time.Since(start)
					time.Sleep(time.Second) // and after it, with director1 master again
					if err := a.stopProbe(probe); err != nil {
						return err
					}
					r := probe.res
					resets := 0
					for ans, n := range r.Answers {
						if strings.Contains(ans, "reset") {
							resets += n
						}
					}
					// The takeover from keepalived: the connections director2's agent sent back to
					// director1 (its handover window), which held the VIPs on its loopback for them.
					fwd, _ := a.run("director2", `grep '"handover window closed"' /var/log/lvs-agent.log | grep -o '"previous_master":"198.51.100.11".*' || true`)
					t.Logf("director2's handover window towards director1 (keepalived): %s", strings.TrimSpace(fwd))
					t.Logf("migration from keepalived: both applies took %s; probe every 10 ms: %d requests, %d failed, %d resets, answers %v, longest gap %.0f ms (%d failed in it), longest pause between two sends %.0f ms",
						took.Round(time.Millisecond), r.Requests, r.Failed, resets, r.Answers, r.LongestGapMS, r.GapFailed, r.MaxSendPauseMS)
					if r.Failed != 0 || resets != 0 {
						t.Logf("failed requests: %v", r.Failures)
						for _, h := range directors {
							out, _ := a.run(h, "grep -v '\"level\":\"DEBUG\"' /var/log/lvs-agent.log | grep -iE 'vrrp|state|master|backup|handover|stop|start' | tail -40; tail -20 /var/log/lab-keepalived.log")
							t.Logf("%s logs:\n%s", h, out)
						}
						return fmt.Errorf("migration: %d of %d requests failed (%d resets): %v", r.Failed, r.Requests, resets, r.Answers)
					}
					if r.Requests < int(took/(10*time.Millisecond))/2 {
						return fmt.Errorf("migration: only %d requests over %s: the probe did not cover the applies", r.Requests, took)
					}
					for _, d := range directors {
						if err := keepalived(d, false); err != nil {
							return err
						}
					}
					// keepalived on director1 gave way to the agent's raised priority before it
					// was stopped: it left as a BACKUP.
					kaLog := a.exec("director1", "cat /var/log/lab-keepalived.log")
					gaveWay := regexp.MustCompile(`(?s)higher priority 254.*Entering BACKUP STATE`)
					if !gaveWay.MatchString(kaLog) || strings.Contains(kaLog, "sent 0 priority") {
						return fmt.Errorf("keepalived on director1 did not go BACKUP on the agent's priority 254 before it stopped:\n%s", kaLog)
					}
					if err := tables(directors...); err != nil {
						return err
					}
					got, err := a.vrrpAdvert("real1", "198.51.100.11")
					if err != nil {
						return fmt.Errorf("the agent's master: %w", err)
					}
					if got != wantAdvert {
						return fmt.Errorf("director1's advert: the agent's %+v, keepalived's %+v", got, wantAdvert)
					}
					t.Logf("the agents' tables and advert equal keepalived's: %+v", got)
					return nil
				},
			),
		}},
	})
}
