package provider_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"golang.org/x/crypto/ssh"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentinstall"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// accLab is a lab for acceptance tests: real hosts with sshd, reached by the provider the test
// serves to a real terraform CLI.
type accLab struct {
	t   *testing.T
	lab *lab.Lab
	// sshTimeout is the provider block's SSH deadline; zero means labSSHTimeout.
	sshTimeout time.Duration
}

// labSSHTimeout leaves room for a handshake in a loaded UML guest on a shared 2-core machine.
const labSSHTimeout = 20 * time.Second

// sshDeadline is the SSH deadline the provider block sets.
func (a *accLab) sshDeadline() time.Duration {
	if a.sshTimeout > 0 {
		return a.sshTimeout
	}
	return labSSHTimeout
}

func newAccLab(t *testing.T, hosts ...lab.HostSpec) *accLab {
	t.Helper()
	lab.Required(t)
	requireTerraform(t)
	return &accLab{t: t, lab: lab.NewForTest(t, lab.Spec{Hosts: hosts})}
}

func director(n int) lab.HostSpec {
	return lab.HostSpec{Name: fmt.Sprintf("director%d", n), IPv4: fmt.Sprintf("198.51.100.%d", 10+n), IPv6: fmt.Sprintf("2001:db8::%d", 10+n)}
}

// providerBlock is the provider configuration that reaches the lab's hosts, with extra lines.
func (a *accLab) providerBlock(extra ...string) string {
	return hcl(append([]string{
		`provider "lvs" {`,
		`  ssh = {`,
		fmt.Sprintf(`    private_key_file = %q`, a.lab.PrivateKeyPath()),
		fmt.Sprintf(`    known_hosts_file = %q`, a.lab.KnownHostsPath()),
		fmt.Sprintf(`    timeout          = "%s"`, a.sshDeadline()),
		`  }`,
	}, append(extra, `}`)...)...)
}

// exec runs a shell command on a lab host and fails the test on error.
func (a *accLab) exec(host, script string) string {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := a.lab.Host(host).Exec(ctx, "sh", "-c", script)
	if err != nil {
		a.t.Fatalf("%s: %s: %v\n%s", host, script, err, out)
	}
	return string(out)
}

// agentStatus reads `lvs-agent status --json` on a host, as an operator would.
func (a *accLab) agentStatus(host string) (*agentapi.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := a.lab.Host(host).Exec(ctx, agentapi.BinaryPath, "status", "--json")
	if err != nil {
		return nil, fmt.Errorf("%s: lvs-agent status: %v: %s", host, err, out)
	}
	var st agentapi.Status
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("%s: status is not JSON: %v: %s", host, err, out)
	}
	return &st, nil
}

// checkPairOnHost checks through the agent itself that host holds the pair as director self.
func (a *accLab) checkPairOnHost(host string, self int, check func(*agentapi.Pair) error) resource.TestCheckFunc {
	return func(*terraform.State) error {
		st, err := a.agentStatus(host)
		if err != nil {
			return err
		}
		if st.Pair == nil {
			return fmt.Errorf("%s: agent holds no pair", host)
		}
		if st.Pair.Self != self {
			return fmt.Errorf("%s: agent thinks it is director %d, want %d", host, st.Pair.Self, self)
		}
		if check != nil {
			return check(st.Pair)
		}
		return nil
	}
}

// hostClean reports what the agent left on host, if anything.
func (a *accLab) hostClean(host string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	script := fmt.Sprintf(`for f in %s %s %s %s; do [ -e "$f" ] && echo "left behind: $f"; done; pgrep -a lvs-agent | sed 's/^/process left: /'; true`,
		agentapi.BinaryPath, agentapi.StateDir, agentapi.RunDir, agentapi.LogPath)
	out, err := a.lab.Host(host).Exec(ctx, "sh", "-c", script)
	if err != nil {
		return fmt.Errorf("%s: %v: %s", host, err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		return fmt.Errorf("%s is not clean:\n%s", host, s)
	}
	return nil
}

func pairConfig(a *accLab, hosts [2]string, body ...string) string {
	return a.providerBlock(`  hosts = { "198.51.100.12" = { user = "lvsadmin" } }`) + hcl(append([]string{
		`resource "lvs_director_pair" "p" {`,
		`  name      = "edge"`,
		fmt.Sprintf(`  directors = [{ host = %q, interface = "eth0" }, { host = %q, interface = "eth0" }]`, hosts[0], hosts[1]),
	}, append(body, `}`)...)...)
}

// TestAccDirectorPair walks the pair's life through a real terraform CLI against lab hosts:
// create (one director reached as a sudo user whose sudoers rule is the documented one) → import → update → three kinds of drift, each
// shown by plan and repaired by apply → replacing one director in place → destroy, which must
// leave every host clean.
func TestAccDirectorPair(t *testing.T) {
	a := newAccLab(t, director(1), director(2), director(3))
	// director2's sudo user gets exactly the rule the docs give, not the lab's NOPASSWD: ALL:
	// the pair's whole life below runs through it.
	a.exec("director2", fmt.Sprintf("printf '%%s\\n' %q > /etc/sudoers.d/%s && visudo -cqf /etc/sudoers.d/%s && ! su %s -s /bin/sh -c 'sudo -n id' 2>/dev/null",
		agentinstall.SudoersRule(lab.SudoUser), lab.SudoUser, lab.SudoUser, lab.SudoUser))
	orig := [2]string{"198.51.100.11", "198.51.100.12"}
	moved := [2]string{"198.51.100.11", "198.51.100.13"}
	const res = "lvs_director_pair.p"

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		CheckDestroy: func(*terraform.State) error {
			for _, h := range []string{"director1", "director2", "director3"} {
				if err := a.hostClean(h); err != nil {
					return err
				}
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: pairConfig(a, orig),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(res, "id", "edge@198.51.100.11,198.51.100.12"),
					resource.TestCheckResourceAttr(res, "directors.0.status", "ready"),
					resource.TestCheckResourceAttr(res, "directors.1.status", "ready"),
					resource.TestCheckResourceAttrSet(res, "directors.1.agent_version"),
					resource.TestCheckResourceAttr(res, "sync_connections", "true"),
					a.checkPairOnHost("director1", 0, nil),
					a.checkPairOnHost("director2", 1, nil),
				),
			},
			{ResourceName: res, ImportState: true, ImportStateVerify: true},
			{
				Config: pairConfig(a, orig) + hcl(`data "lvs_director_status" "s" {`, `  director_pair_id = lvs_director_pair.p.id`, `}`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("data.lvs_director_status.s", "directors.#", "2"),
					resource.TestCheckResourceAttr("data.lvs_director_status.s", "directors.0.host", "198.51.100.11"),
					resource.TestCheckResourceAttr("data.lvs_director_status.s", "directors.1.agent_state", "ready"),
					resource.TestCheckResourceAttrPair("data.lvs_director_status.s", "directors.1.agent_version", res, "directors.1.agent_version"),
				),
			},
			{
				Config: pairConfig(a, orig, `  sync_connections = false`, `  vrrp_unicast = true`, `  ipvs_timeouts = { tcp = "900s", udp = "60s" }`),
				Check: a.checkPairOnHost("director2", 1, func(p *agentapi.Pair) error {
					if p.SyncConnections || !p.VRRPUnicast || p.IPVSTimeouts == nil || p.IPVSTimeouts.TCP != 900 || p.IPVSTimeouts.UDP != 60 || p.IPVSTimeouts.TCPFin != 0 {
						return fmt.Errorf("update did not reach the agent: %+v %+v", p, p.IPVSTimeouts)
					}
					return nil
				}),
			},
			// Drift 1: the agent is stopped on one director.
			{
				PreConfig:          func() { a.exec("director2", agentapi.BinaryPath+" stop") },
				Config:             pairConfig(a, orig, `  sync_connections = false`, `  vrrp_unicast = true`, `  ipvs_timeouts = { tcp = "900s", udp = "60s" }`),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config: pairConfig(a, orig, `  sync_connections = false`, `  vrrp_unicast = true`, `  ipvs_timeouts = { tcp = "900s", udp = "60s" }`),
				Check:  a.checkPairOnHost("director2", 1, nil),
			},
			// Drift 2: the agent's stored state is wiped.
			{
				PreConfig: func() {
					a.exec("director1", fmt.Sprintf("%[1]s stop && rm -f %[2]s && %[1]s install", agentapi.BinaryPath, agentapi.StatePath))
				},
				Config:             pairConfig(a, orig, `  sync_connections = false`, `  vrrp_unicast = true`, `  ipvs_timeouts = { tcp = "900s", udp = "60s" }`),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config: pairConfig(a, orig, `  sync_connections = false`, `  vrrp_unicast = true`, `  ipvs_timeouts = { tcp = "900s", udp = "60s" }`),
				Check:  a.checkPairOnHost("director1", 0, nil),
			},
			// Drift 3: the agent is removed from a director (a rebuilt host).
			{
				PreConfig:          func() { a.exec("director2", agentapi.BinaryPath+" uninstall") },
				Config:             pairConfig(a, orig, `  sync_connections = false`, `  vrrp_unicast = true`, `  ipvs_timeouts = { tcp = "900s", udp = "60s" }`),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config: pairConfig(a, orig, `  sync_connections = false`, `  vrrp_unicast = true`, `  ipvs_timeouts = { tcp = "900s", udp = "60s" }`),
				Check:  a.checkPairOnHost("director2", 1, nil),
			},
			// Replacing director2 by director3 updates in place and cleans director2.
			{
				Config: pairConfig(a, moved, `  sync_connections = false`, `  vrrp_unicast = true`, `  ipvs_timeouts = { tcp = "900s", udp = "60s" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(res, plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(res, "id", "edge@198.51.100.11,198.51.100.13"),
					a.checkPairOnHost("director3", 1, func(p *agentapi.Pair) error {
						if p.Directors[1].Host != "198.51.100.13" || p.IPVSTimeouts == nil || p.IPVSTimeouts.TCP != 900 {
							return fmt.Errorf("director3 holds %+v", p)
						}
						return nil
					}),
					a.checkPairOnHost("director1", 0, func(p *agentapi.Pair) error {
						if p.Directors[1].Host != "198.51.100.13" {
							return fmt.Errorf("director1 still pairs with %s", p.Directors[1].Host)
						}
						return nil
					}),
					func(*terraform.State) error { return a.hostClean("director2") },
				),
			},
		},
	})
}

// TestAccDirectorPairErrors: each way of failing to reach a host ends in its own diagnostic, and a
// create that fails on one director leaves the other clean.
func TestAccDirectorPairErrors(t *testing.T) {
	a := newAccLab(t, director(1), director(2))
	pub, err := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	if err != nil {
		t.Fatal(err)
	}
	otherHostKey := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	strangerKey := string(pem.EncodeToMemory(block))
	emptyKnownHosts := t.TempDir() + "/known_hosts"
	if err := os.WriteFile(emptyKnownHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pair := func(h2 string) string {
		return hcl(`resource "lvs_director_pair" "p" {`, `  name = "edge"`,
			fmt.Sprintf(`  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = %q, interface = "eth0" }]`, h2), `}`)
	}
	cases := []struct {
		name, config, want string
	}{
		{"unreachable", a.providerBlock() + pair("198.51.100.99"), `(?s)Host Unreachable.*198\.51\.100\.99:22`},
		{"auth refused", a.providerBlock(fmt.Sprintf(`  hosts = { "198.51.100.12" = { private_key = %q } }`, strangerKey)) + pair("198.51.100.12"), `(?s)SSH Authentication Failed.*root`},
		{"unknown host key", a.providerBlock(fmt.Sprintf(`  hosts = { "198.51.100.12" = { known_hosts_file = %q } }`, emptyKnownHosts)) + pair("198.51.100.12"), `(?s)Unknown SSH Host Key.*SHA256:.*198\.51\.100\.12`},
		{"host key mismatch", a.providerBlock(fmt.Sprintf(`  hosts = { "198.51.100.12" = { host_key = %q } }`, otherHostKey)) + pair("198.51.100.12"), `(?s)SSH Host Key Mismatch`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: factories,
				Steps:                    []resource.TestStep{{Config: c.config, ExpectError: regexp.MustCompile(c.want)}},
			})
			// Nothing may stay half set up on the director that was reachable.
			if err := a.hostClean("director1"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
