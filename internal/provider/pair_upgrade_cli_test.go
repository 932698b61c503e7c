package provider_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/bundle"
)

// TestPairStateUpgradeCLI proves the lvs_director_pair state upgrade (schema 0, ipvs_timeouts
// in bare seconds, to 1, durations) through the real terraform CLI: a state file as the previous
// release wrote it (made by hand here: the test framework cannot run an older provider release)
// plans no change against the configuration in the new spelling, and the plan's prior state is
// the upgraded one. The plan runs with -refresh=false, so it reaches no host: its directors are
// loopback addresses whose SSH port refuses at once (the plan asks the agents their version
// and, finding none, keeps the state's).
func TestPairStateUpgradeCLI(t *testing.T) {
	requireTerraform(t)
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // closed: connections to it are refused

	tf := newTFCLI(t)
	tf.write(hcl(
		`provider "lvs" {`, fmt.Sprintf(`  ssh = { password = "unused", known_hosts_file = "/dev/null", port = %d, timeout = "2s" }`, port), `}`,
		`resource "lvs_director_pair" "p" {`, `  name = "edge"`,
		`  directors = [{ host = "127.0.0.1", interface = "eth0" }, { host = "127.0.0.2", interface = "eth0" }]`,
		`  ipvs_timeouts = { tcp = "900s", udp = "60s" }`, `}`))
	agent := bundle.Version()
	v0 := map[string]any{
		"id": "edge@127.0.0.1,127.0.0.2", "name": "edge", "pair_uuid": "0b0e5c55-6d2f-4f4e-9d7a-5a4f2c1e8b01",
		"directors": []map[string]any{
			{"host": "127.0.0.1", "interface": "eth0", "agent_version": agent, "status": "ready"},
			{"host": "127.0.0.2", "interface": "eth0", "agent_version": agent, "status": "ready"},
		},
		"sync_connections": true, "vrrp_unicast": false, "timeouts": nil,
		"ipvs_timeouts": map[string]any{"tcp": 900, "tcp_fin": nil, "udp": 60},
	}
	writePairState(t, tf.dir, 0, v0, "5e1a7c0e-2b7d-4c1f-9a55-0c3f4b2d6e77")
	r := tf.run("plan", "-refresh=false", "-detailed-exitcode", "-out=plan")
	if r.code != 0 || !strings.Contains(r.out, "No changes.") {
		t.Fatalf("plan of the upgraded state: exit %d, want 0 (no changes):\n%s", r.code, r.out)
	}
	show := tf.run("show", "-json", "plan")
	var plan struct {
		PriorState struct {
			Values struct {
				RootModule struct {
					Resources []struct {
						Values struct {
							IPVSTimeouts map[string]any `json:"ipvs_timeouts"`
						} `json:"values"`
					} `json:"resources"`
				} `json:"root_module"`
			} `json:"values"`
		} `json:"prior_state"`
	}
	if err := json.Unmarshal([]byte(show.out), &plan); err != nil || len(plan.PriorState.Values.RootModule.Resources) != 1 {
		t.Fatalf("terraform show -json: %v\n%s", err, show.out)
	}
	got := plan.PriorState.Values.RootModule.Resources[0].Values.IPVSTimeouts
	if got["tcp"] != "900s" || got["udp"] != "60s" || got["tcp_fin"] != nil {
		t.Errorf("upgraded ipvs_timeouts = %v, want tcp 900s, udp 60s, tcp_fin null", got)
	}
}

// TestPairStateBeforeSyncDaemonCLI: a schema version 1 state written before sync_daemon and
// directors[*].vrrp_address existed (neither attribute in it) plans no change against a
// configuration that does not set them, through the real terraform CLI (-refresh=false, as
// TestPairStateUpgradeCLI).
func TestPairStateBeforeSyncDaemonCLI(t *testing.T) {
	requireTerraform(t)
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	tf := newTFCLI(t)
	tf.write(hcl(
		`provider "lvs" {`, fmt.Sprintf(`  ssh = { password = "unused", known_hosts_file = "/dev/null", port = %d, timeout = "2s" }`, port), `}`,
		`resource "lvs_director_pair" "p" {`, `  name = "edge"`,
		`  directors = [{ host = "127.0.0.1", interface = "eth0" }, { host = "127.0.0.2", interface = "eth0" }]`, `}`))
	agent := bundle.Version()
	v1 := map[string]any{
		"id": "edge@127.0.0.1,127.0.0.2", "name": "edge", "pair_uuid": "0b0e5c55-6d2f-4f4e-9d7a-5a4f2c1e8b01",
		"directors": []map[string]any{
			{"host": "127.0.0.1", "interface": "eth0", "agent_version": agent, "status": "ready"},
			{"host": "127.0.0.2", "interface": "eth0", "agent_version": agent, "status": "ready"},
		},
		"sync_connections": true, "vrrp_unicast": false, "timeouts": nil, "ipvs_timeouts": nil, "metrics": nil, "log_level": "info",
	}
	writePairState(t, tf.dir, 1, v1, "5e1a7c0e-2b7d-4c1f-9a55-0c3f4b2d6e78")
	if r := tf.run("plan", "-refresh=false", "-detailed-exitcode"); r.code != 0 || !strings.Contains(r.out, "No changes.") {
		t.Fatalf("plan of a state without sync_daemon and vrrp_address: exit %d, want 0 (no changes):\n%s", r.code, r.out)
	}
}

// writePairState writes a terraform.tfstate in dir holding one lvs_director_pair "p" of the
// given schema version and attributes, as an older provider left it.
func writePairState(t *testing.T, dir string, schemaVersion int, attrs map[string]any, lineage string) {
	t.Helper()
	state := map[string]any{
		"version": 4, "terraform_version": "1.9.0", "serial": 1, "lineage": lineage, "outputs": map[string]any{},
		"resources": []map[string]any{{
			"mode": "managed", "type": "lvs_director_pair", "name": "p",
			"provider":  `provider["registry.terraform.io/lvs-provider/lvs"]`,
			"instances": []map[string]any{{"schema_version": schemaVersion, "attributes": attrs, "sensitive_attributes": []any{}}},
		}},
	}
	b, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "terraform.tfstate"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
