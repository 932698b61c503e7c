package provider_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// ownedConfig is the first configuration: pair "edge" on director1 and director2, VIP
// 198.51.100.100 (VRID 91), a virtual server on it and real1 as its real server set up by the
// provider; then extra.
func ownedConfig(a *accLab, extra ...string) string {
	return pairAndVIP(a, "100ms") + hcl(
		`resource "lvs_virtual_server" "web" {`,
		`  vip_id    = lvs_vip.v.id`,
		`  address   = "198.51.100.100"`,
		`  port      = 80`,
		`}`,
		`resource "lvs_real_server" "r1" {`,
		`  virtual_server_id = lvs_virtual_server.web.id`,
		`  address           = "198.51.100.21"`,
		`  port              = 80`,
		`  host              = {}`,
		`}`,
	) + hcl(extra...)
}

// secondPair is another lvs_director_pair resource, with its own pair_uuid: what another
// workspace holds (the provider cannot tell another state from another resource of this one).
func secondPair(res, name, h1, h2 string) string {
	return hcl(
		fmt.Sprintf(`resource "lvs_director_pair" %q {`, res),
		fmt.Sprintf(`  name      = %q`, name),
		fmt.Sprintf(`  directors = [{ host = %q, interface = "eth0" }, { host = %q, interface = "eth0" }]`, h1, h2),
		`}`,
	)
}

// fingerprint is what the agents of hosts hold, as `lvs-agent status` shows it: the serial
// (every stored change bumps it), the pair and the bindings. Equal fingerprints: nothing was
// stored on those hosts in between.
func (a *accLab) fingerprint(hosts ...string) (string, error) {
	var b strings.Builder
	for _, h := range hosts {
		st, err := a.agentStatus(h)
		if err != nil {
			return "", err
		}
		j, _ := json.Marshal(struct {
			Serial   uint64
			Pair     *agentapi.Pair
			VIPs     int
			IPVS     int
			Bindings []agentapi.RealServerBinding
		}{st.Serial, st.Pair, len(st.VIPs), len(st.IPVS), st.Bindings})
		fmt.Fprintf(&b, "%s: %s\n", h, j)
	}
	return b.String(), nil
}

// checkUUIDOnHosts checks that the agents of hosts hold the pair_uuid of res in state, with the
// pair's creator and creation time.
func checkUUIDOnHosts(res string, a *accLab, hosts ...string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		want := s.RootModule().Resources[res].Primary.Attributes["pair_uuid"]
		for _, h := range hosts {
			st, err := a.agentStatus(h)
			if err != nil {
				return err
			}
			if st.Pair == nil || want == "" || st.Pair.UUID != want || !strings.HasSuffix(st.Pair.CreatedBy, " (workspace default)") || st.Pair.CreatedAt == "" {
				return fmt.Errorf("%s holds %+v, want pair_uuid %q with its creator (user@machine:dir (workspace default)) and time", h, st.Pair, want)
			}
		}
		return nil
	}
}

// TestAccOwnership: a host holds one pair. Against a working cluster (pair "edge", VIP,
// service, real server, traffic flowing), another lvs_director_pair resource (another pair_uuid,
// as from a second workspace) on its hosts fails at apply naming the owner and the import
// command, under another name or the same; a second lvs_vip with the VRID of the first fails
// naming it; nothing of the first cluster changes (its agents' serials stay) and its traffic
// flows. A pair stored before pairs had a UUID is adopted by the next apply. A failed create takes back only what it added: an agent it installed goes, an agent
// that ran before stays. Two pairs on four directors coexist, and destroying either leaves the
// other intact. Destroy leaves a director that another pair took over as it is.
func TestAccOwnership(t *testing.T) {
	a := newAccLab(t, director(1), director(2), director(3), director(4), labHost("real1", "198.51.100.21"), labHost("client", "198.51.100.31"))
	a.serveWeb("real1")
	agentBin := os.Getenv(lab.EnvAgentBin)
	if agentBin == "" {
		t.Fatalf("%s is not set: run with LVS_AGENT_BIN=$PWD/bin/lvs-agent", lab.EnvAgentBin)
	}
	first := []string{"director1", "director2", "real1"}
	var before string
	snapshot := func(*terraform.State) error {
		var err error
		before, err = a.fingerprint(first...)
		t.Logf("first cluster's agents:\n%s", before)
		return err
	}
	untouched := func(*terraform.State) error {
		now, err := a.fingerprint(first...)
		if err != nil {
			return err
		}
		if now != before {
			return fmt.Errorf("the first cluster's agents changed:\nbefore %s\nnow    %s", before, now)
		}
		return nil
	}
	clean := func(hosts ...string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			for _, h := range hosts {
				if err := a.hostClean(h); err != nil {
					return err
				}
			}
			return nil
		}
	}
	holds := func(host, name string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			st, err := a.agentStatus(host)
			if err != nil {
				return err
			}
			if st.Pair == nil || st.Pair.Name != name {
				return fmt.Errorf("%s holds %+v, want pair %q", host, st.Pair, name)
			}
			return nil
		}
	}
	traffic := a.checkSpreadExact(map[string]int{"real1": 20})
	// The first cluster, checked unchanged after every refused apply.
	firstIntact := resource.ComposeAggregateTestCheckFunc(untouched, traffic, a.checkHolder("director1", "director2", "198.51.100.100"))
	// A stage path that is a directory makes the agent's upload to director4 fail.
	const blockD4 = "mkdir -p /usr/local/sbin/.lvs-agent.new"
	const unblockD4 = "rm -rf /usr/local/sbin/.lvs-agent.new"
	heldBy := `(?s)Director Held By Another Pair.*198\.51\.100\.12\s+is\s+held\s+by\s+director\s+pair\s+"edge".*pair_uuid\s+[0-9a-f-]{36}.*` +
		`terraform\s+import\s+lvs_director_pair\.<resource\s+name>\s+edge@198\.51\.100\.11,198\.51\.100\.12`

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(
			clean("director1", "director2", "director4", "real1"),
			// Destroy found director3 taken over by another pair and left it.
			holds("director3", "intruder"),
		),
		Steps: []resource.TestStep{
			{
				Config: ownedConfig(a),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestMatchResourceAttr("lvs_director_pair.p", "pair_uuid", regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)),
					checkUUIDOnHosts("lvs_director_pair.p", a, "director1", "director2"),
					traffic,
					snapshot,
				),
			},
			// Import adopts the pair's UUID.
			{ResourceName: "lvs_director_pair.p", ImportState: true, ImportStateVerify: true},
			// A pair stored before pairs had a UUID (made here through the agents' API: the
			// whole state again without the uuid) is adopted by the next apply, with everything
			// it holds.
			{
				PreConfig: func() {
					curl := fmt.Sprintf(`curl -sf --unix-socket %s -H '%s: %d'`, agentapi.SocketPath, agentapi.HeaderAPIVersion, agentapi.APIVersion)
					for _, h := range []string{"director1", "director2"} {
						a.exec(h, fmt.Sprintf(`s=$(%[1]s http://agent%[2]s) && %[1]s -X DELETE http://agent%[3]s && echo "$s" | sed 's/"uuid":"[^"]*",//' | %[1]s -X PUT --data-binary @- http://agent%[2]s >/dev/null`,
							curl, agentapi.PathState, agentapi.PathPair))
						if st, err := a.agentStatus(h); err != nil || st.Pair == nil || st.Pair.UUID != "" {
							t.Fatalf("%s: not a legacy pair: %+v, %v", h, st, err)
						}
					}
				},
				Config: ownedConfig(a),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("lvs_director_pair.p", plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue("lvs_director_pair.p", tfjsonpath.New("pair_uuid")),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(checkUUIDOnHosts("lvs_director_pair.p", a, "director1", "director2"), traffic, snapshot),
			},
			// Another pair, another name, one host of the first: refused before anything changes
			// anywhere (director3 gets no agent).
			{Config: ownedConfig(a, secondPair("q", "other", "198.51.100.12", "198.51.100.13")), ExpectError: regexp.MustCompile(heldBy)},
			{Config: ownedConfig(a), Check: resource.ComposeAggregateTestCheckFunc(firstIntact, clean("director3"))},
			// The same name and hosts, another resource (another workspace's state).
			{Config: ownedConfig(a, secondPair("q", "edge", "198.51.100.11", "198.51.100.12")), ExpectError: regexp.MustCompile(heldBy)},
			{Config: ownedConfig(a), Check: firstIntact},
			// Two lvs_vip with one virtual_router_id.
			{
				Config: ownedConfig(a,
					`resource "lvs_vip" "dup" {`,
					`  director_pair_id  = lvs_director_pair.p.id`,
					`  virtual_router_id = 91`,
					`  addresses         = ["198.51.100.101/24"]`,
					`}`),
				ExpectError: regexp.MustCompile(`(?s)VIP Already Exists.*virtual_router_id\s+91\s+\(addresses\s+198\.51\.100\.100/24\).*` +
					`terraform\s+import\s+lvs_vip\.<resource\s+name>\s+edge@198\.51\.100\.11,198\.51\.100\.12/vrid/91`),
			},
			{
				Config: ownedConfig(a),
				Check: resource.ComposeAggregateTestCheckFunc(firstIntact, func(*terraform.State) error {
					return a.holdsVIP("director1", "198.51.100.101", false)
				}),
			},
			// A create that fails takes back what it added: director3's agent, which it
			// installed, goes.
			{
				PreConfig:   func() { a.exec("director4", blockD4) },
				Config:      ownedConfig(a, secondPair("q", "other", "198.51.100.13", "198.51.100.14")),
				ExpectError: regexp.MustCompile(`(?s)upload lvs-agent.*198\.51\.100\.14`),
			},
			{
				PreConfig: func() { a.exec("director4", unblockD4) },
				Config:    ownedConfig(a),
				Check:     resource.ComposeAggregateTestCheckFunc(firstIntact, clean("director3", "director4")),
			},
			// An agent that ran before the failed create stays, running.
			{
				PreConfig: func() {
					a.exec("director3", fmt.Sprintf("install -D -m 0755 %s %s && %s install", agentBin, agentapi.BinaryPath, agentapi.BinaryPath))
					a.exec("director4", blockD4)
				},
				Config:      ownedConfig(a, secondPair("q", "other", "198.51.100.13", "198.51.100.14")),
				ExpectError: regexp.MustCompile(`(?s)upload lvs-agent.*198\.51\.100\.14`),
			},
			{
				PreConfig: func() { a.exec("director4", unblockD4) },
				Config:    ownedConfig(a),
				Check: resource.ComposeAggregateTestCheckFunc(firstIntact, clean("director4"), func(*terraform.State) error {
					st, err := a.agentStatus("director3")
					if err != nil {
						return fmt.Errorf("the agent that ran on director3 before the failed create: %w", err)
					}
					if st.Pair != nil {
						return fmt.Errorf("director3 holds %+v after a failed create", st.Pair)
					}
					return nil
				}),
			},
			// Two pairs on four directors coexist; destroying the second leaves the first.
			{
				Config: ownedConfig(a, secondPair("q", "other", "198.51.100.13", "198.51.100.14")),
				Check:  resource.ComposeAggregateTestCheckFunc(firstIntact, holds("director3", "other"), holds("director4", "other")),
			},
			{Config: ownedConfig(a), Check: resource.ComposeAggregateTestCheckFunc(firstIntact, clean("director3", "director4"))},
			// And destroying the first leaves the second.
			{
				Config: ownedConfig(a, secondPair("q", "other", "198.51.100.13", "198.51.100.14")),
				Check:  resource.ComposeAggregateTestCheckFunc(firstIntact, holds("director3", "other"), holds("director4", "other")),
			},
			{
				Config: a.providerBlock() + secondPair("q", "other", "198.51.100.13", "198.51.100.14"),
				Check:  resource.ComposeAggregateTestCheckFunc(clean("director1", "director2", "real1"), holds("director3", "other"), holds("director4", "other")),
			},
			// Destroy leaves a director that another pair took over behind Terraform's back
			// (by hand, through the agent's socket) as it is, and cleans the other.
			{
				PreConfig: func() {
					curl := fmt.Sprintf(`curl -sf --unix-socket %s -H '%s: %d'`, agentapi.SocketPath, agentapi.HeaderAPIVersion, agentapi.APIVersion)
					a.exec("director3", fmt.Sprintf(`%[1]s -X DELETE http://agent%[2]s && %[1]s -X PUT -d '{"name":"intruder","uuid":"11111111-2222-4333-8444-555555555555","directors":[{"host":"198.51.100.13","interface":"eth0"},{"host":"198.51.100.14","interface":"eth0"}],"self":0}' http://agent%[2]s`,
						curl, agentapi.PathPair))
				},
				Config: a.providerBlock(),
				Check:  resource.ComposeAggregateTestCheckFunc(holds("director3", "intruder"), clean("director4")),
			},
		},
	})
}
