package provider_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/bundle"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
	"github.com/lvs-provider/terraform-provider-lvs/internal/version"
)

// agentB is a second agent build for an upgrade: the bundled agent with its version stamp
// bumped one minor (same length, so the binary stays valid), which changes both the content
// (SHA-256) and the version it reports.
func agentB(t *testing.T) (bin []byte, ver, sum string) { return agentBumped(t, 1) }

// agentBumped is the bundled agent with its version stamp bumped by minors.
func agentBumped(t *testing.T, minors int) (bin []byte, ver, sum string) {
	t.Helper()
	a, err := bundle.For(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := a.Binary()
	if err != nil {
		t.Fatal(err)
	}
	verA := bundle.Version()
	v, err := version.Parse(verA)
	if err != nil {
		t.Fatal(err)
	}
	v.Minor += minors
	ver = v.String()
	if len(ver) != len(verA) || !bytes.Contains(raw, []byte(verA)) {
		t.Skipf("cannot derive a second agent from version %q", verA)
	}
	bin = bytes.ReplaceAll(raw, []byte(verA), []byte(ver))
	s := sha256.Sum256(bin)
	return bin, ver, hex.EncodeToString(s[:])
}

// probeTimeout bounds each probe request. The lab is one CPU shared by terraform, the provider,
// the prober and every host, and an agent restarting (a 9 MB binary staged, fsynced, started)
// stalls all of them for a second or two: requests caught in such a stall are late, not lost.
// 3 s still fails requests of a real outage: a SYN that finds no director is retransmitted after
// 1 s and 3 s, so every request sent in the first outage-1s of an outage fails, and both
// directors restarting at once (the agent restart alone takes seconds here) is such an outage.
const probeTimeout = 3 * time.Second

// probeRun is `lab probe` on the client host, ended by a stop file.
type probeRun struct {
	res  lab.ProbeResult
	done chan error
}

func (a *accLab) startProbe(url string) *probeRun {
	a.t.Helper()
	a.exec("client", "rm -f /tmp/probe.stop")
	p := &probeRun{done: make(chan error, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	var stdout, stderr bytes.Buffer
	cmd := a.lab.Host("client").Command(ctx, os.Getenv(lab.EnvBin), "probe", url, "5m", "--interval", "10ms", "--timeout", probeTimeout.String(), "--stop-file", "/tmp/probe.stop")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		a.t.Fatalf("start lab probe: %v", err)
	}
	go func() {
		defer cancel()
		err := cmd.Wait()
		if err == nil {
			err = json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &p.res)
		}
		if err != nil {
			err = fmt.Errorf("lab probe: %v: %s%s", err, stdout.String(), stderr.String())
		}
		p.done <- err
	}()
	return p
}

func (a *accLab) stopProbe(p *probeRun) error {
	a.exec("client", "touch /tmp/probe.stop")
	select {
	case err := <-p.done:
		return err
	case <-time.After(time.Minute):
		return fmt.Errorf("lab probe did not end within a minute of its stop file")
	}
}

// TestAccRollingUpgrade upgrades the agents of a running DR cluster (pair, VIP with preempt,
// virtual server, two real servers) from one agent build to another through terraform while a
// client sends a request to the VIP every 10 ms: not one request may fail (no timeout, no reset),
// the backup director must be restarted first, both directors must run the new build afterwards,
// director1 (priority 150) must be master again, and the plan after the apply must be empty.
func TestAccRollingUpgrade(t *testing.T) {
	a := modesLab(t)
	bin, verB, sumB := agentB(t)
	binC, verC, _ := agentBumped(t, 2)
	verA := bundle.Version()
	// Adverts every second, not 100 ms: terraform, the provider and every lab host share the
	// lab's one CPU, and a terraform command starting can starve an agent for a few hundred ms,
	// which with 100 ms adverts (master down after ~360 ms) is a false failover that has nothing
	// to do with the upgrade. A planned switchover does not wait for adverts (priority 0), and an
	// upgrade that restarted both directors together would still fail requests.
	config := strings.Replace(clusterConfig(a, 1, 1), `advert_interval   = "100ms"`, `advert_interval   = "1s"`, 1)
	if !strings.Contains(config, `"1s"`) {
		t.Fatal("clusterConfig no longer sets advert_interval the way this test replaces it")
	}
	var probe *probeRun
	var applyStart time.Time
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		CheckDestroy:             func(*terraform.State) error { return a.modesCleanHosts() },
		Steps: []resource.TestStep{
			{
				Config: config,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("lvs_director_pair.p", "directors.0.agent_version", verA),
					resource.TestCheckResourceAttr("lvs_director_pair.p", "directors.1.agent_version", verA),
					a.checkSpread(40, map[string]int{"real1": 1, "real2": 1}),
					a.checkHolder("director1", "director2", modesVIP),
				),
			},
			{
				// The same provider, with agent B bundled: both agents are planned for a
				// reinstall, nothing else.
				PreConfig: func() {
					restore := bundle.ReplaceForTest(runtime.GOARCH, bin, verB)
					t.Cleanup(restore)
					a.waitVIPAnswers("http://" + modesVIP + "/")
					probe = a.startProbe("http://" + modesVIP + "/")
					time.Sleep(time.Second) // the probe's baseline before the apply
					applyStart = time.Now()
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("lvs_director_pair.p", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("lvs_vip.v", plancheck.ResourceActionNoop),
					plancheck.ExpectResourceAction("lvs_virtual_server.web", plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					func(*terraform.State) error {
						took := time.Since(applyStart)
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
						t.Logf("rolling upgrade %s -> %s: apply took %s; probe every 10 ms: %d requests, %d failed, %d resets, answers %v, "+
							"longest gap %.0f ms (%d failed in it), longest pause between two sends (all answered: the longest time without an answer) %.0f ms, behind %v",
							verA, verB, took.Round(time.Millisecond), r.Requests, r.Failed, resets, r.Answers, r.LongestGapMS, r.GapFailed, r.MaxSendPauseMS, r.Behind)
						if r.Failed != 0 || resets != 0 {
							t.Logf("failed requests: %v", r.Failures)
							for _, h := range []string{"director1", "director2"} {
								out, _ := a.run(h, "grep -v '\"level\":\"DEBUG\"' /var/log/lvs-agent.log | grep -iE 'vrrp|state|master|backup|handover|stop|start' | tail -60")
								t.Logf("%s agent log:\n%s", h, out)
							}
							return fmt.Errorf("rolling upgrade: %d of %d requests failed (%d resets): %v; longest gap %.0f ms from %s", r.Failed, r.Requests, resets, r.Answers, r.LongestGapMS, r.FirstGapAt)
						}
						if r.Requests < int(took/(10*time.Millisecond))/2 {
							return fmt.Errorf("rolling upgrade: only %d requests over %s: the probe did not cover the apply", r.Requests, took)
						}
						return nil
					},
					resource.TestCheckResourceAttr("lvs_director_pair.p", "directors.0.agent_version", verB),
					resource.TestCheckResourceAttr("lvs_director_pair.p", "directors.1.agent_version", verB),
					func(*terraform.State) error {
						// Both run B; the backup (director2) was restarted first.
						started := map[string]time.Time{}
						for _, h := range []string{"director1", "director2"} {
							st, err := a.agentStatus(h)
							if err != nil {
								return err
							}
							if st.Version.Version != verB || st.Version.BinarySHA256 != sumB {
								return fmt.Errorf("%s runs %s (%s), want %s (%s)", h, st.Version.Version, st.Version.BinarySHA256, verB, sumB)
							}
							ts, err := time.Parse(time.RFC3339Nano, st.StartedAt)
							if err != nil {
								return fmt.Errorf("%s: started_at %q: %v", h, st.StartedAt, err)
							}
							if ts.Before(applyStart) {
								return fmt.Errorf("%s: agent started %s, before the apply (%s): not restarted", h, ts, applyStart)
							}
							started[h] = ts
						}
						t.Logf("agents started: director2 (backup) %s, director1 (master) %s, %s later",
							started["director2"].Format(time.RFC3339Nano), started["director1"].Format(time.RFC3339Nano), started["director1"].Sub(started["director2"]).Round(time.Millisecond))
						if !started["director2"].Before(started["director1"]) {
							return fmt.Errorf("director1 (the master) was restarted at %s, before director2 (the backup) at %s", started["director1"], started["director2"])
						}
						return nil
					},
					a.checkHolder("director1", "director2", modesVIP),
				),
			},
			{
				// Nothing left to do: the same configuration plans nothing.
				Config:   config,
				PlanOnly: true,
			},
			{
				// An agent outside the compatibility window (two minors past this provider)
				// on director2: refresh fails naming both versions, and changes nothing.
				PreConfig: func() {
					a.installAgentBinary("director2", binC)
					if st, err := a.agentStatus("director2"); err != nil || st.Version.Version != verC {
						t.Fatalf("director2 should run %s: %+v %v", verC, st, err)
					}
				},
				Config:      config,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)(Agent Outside The Compatibility Window|Agent Version Skew).*` + regexp.QuoteMeta(verC)),
			},
			{
				// The documented way out: stop that agent (its VIPs, if any, move to the peer)
				// and apply, which installs this provider's agent there.
				PreConfig: func() { a.exec("director2", agentapi.BinaryPath+" stop") },
				Config:    config,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("lvs_director_pair.p", "directors.1.agent_version", verB),
					resource.TestCheckResourceAttr("lvs_director_pair.p", "directors.1.status", "ready"),
					a.checkHolder("director1", "director2", modesVIP),
				),
			},
			{
				// An unreadable state on director2, which restarts on it: the plan stops with
				// "Agent State Corrupt" and the recovery steps, and director1 keeps serving.
				PreConfig: func() {
					a.exec("director2", "echo '{not json' > "+agentapi.StatePath+" && "+agentapi.BinaryPath+" install --restart")
				},
				Config:      config,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Agent State Corrupt.*state\s+import\s+--from-peer`),
			},
			{
				// The documented recovery, without a flush: director1's state imported on
				// director2. The plan is empty and director1 still holds the VIP.
				PreConfig: func() {
					exported := a.exec("director1", agentapi.BinaryPath+" state export")
					a.exec("director2", "cat > /tmp/peer-state.json <<'EOF'\n"+exported+"EOF\n"+agentapi.BinaryPath+" state import --from-peer /tmp/peer-state.json")
				},
				Config:           config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check: resource.ComposeAggregateTestCheckFunc(
					a.checkHolder("director1", "director2", modesVIP),
					a.checkSpread(40, map[string]int{"real1": 1, "real2": 1}),
				),
			},
		},
	})
}

// installAgentBinary puts bin in place of the agent on host and restarts the agent from it.
func (a *accLab) installAgentBinary(host string, bin []byte) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := a.lab.Host(host).Command(ctx, "sh", "-c", "cat > /tmp/lvs-agent.new && install -m 0755 /tmp/lvs-agent.new "+agentapi.BinaryPath+" && "+agentapi.BinaryPath+" install --restart")
	cmd.Stdin = bytes.NewReader(bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		a.t.Fatalf("%s: install agent binary: %v: %s", host, err, out)
	}
}
