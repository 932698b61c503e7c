package provider_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBenchScale measures `terraform apply`, `plan` and `destroy` of one virtual server with 100
// and 1,000 real servers, with the provider binary as users run it (a separate process, through
// a real terraform CLI), and counts the SSH connections each run opened per host. It runs only
// with LVS_BENCH=1 (make bench); the targets are in DESIGN.md §7.
func TestBenchScale(t *testing.T) {
	if os.Getenv("LVS_BENCH") != "1" {
		t.Skip("benchmark: run with LVS_BENCH=1 (make bench)")
	}
	providerDir := os.Getenv("LVS_PROVIDER_DIR")
	if providerDir == "" {
		t.Fatal("LVS_PROVIDER_DIR must name the directory of the built provider (make bench sets it)")
	}
	a := newAccLab(t, director(1), director(2))
	tf := os.Getenv("TF_ACC_TERRAFORM_PATH")
	type row struct {
		n                     int
		apply, plan, destroy  time.Duration
		applyConns, planConns string
	}
	var rows []row
	for _, n := range []int{100, 1000} {
		dir := t.TempDir()
		rc := filepath.Join(dir, "terraformrc")
		if err := os.WriteFile(rc, []byte(fmt.Sprintf("provider_installation {\n  dev_overrides { \"lvs-provider/lvs\" = %q }\n  direct {}\n}\n", providerDir)), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := hcl(`terraform {`, `  required_providers {`, `    lvs = { source = "lvs-provider/lvs" }`, `  }`, `}`) +
			a.providerBlock() + hcl(
			`resource "lvs_director_pair" "p" {`,
			`  name      = "bench"`,
			`  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]`,
			`}`,
			`resource "lvs_vip" "v" {`,
			`  director_pair_id  = lvs_director_pair.p.id`,
			`  virtual_router_id = 91`,
			`  addresses         = ["2001:db8::100"]`,
			`}`,
			`resource "lvs_virtual_server" "s" {`,
			`  vip_id    = lvs_vip.v.id`,
			`  address   = "2001:db8::100"`,
			`  port      = 80`,
			`  scheduler = "wrr"`,
			`}`,
			// Destinations only: no traffic is sent to these documentation addresses.
			`resource "lvs_real_server" "r" {`,
			fmt.Sprintf(`  count             = %d`, n),
			`  virtual_server_id = lvs_virtual_server.s.id`,
			`  address           = format("2001:db8::1:%x", count.index + 1)`,
			`  port              = 80`,
			`  weight            = 1 + count.index % 3`,
			`}`,
		)
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		run := func(logName string, args ...string) (time.Duration, string) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			logPath := filepath.Join(dir, logName)
			cmd := exec.CommandContext(ctx, tf, args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "TF_LOG_PROVIDER=INFO", "TF_LOG_PATH="+logPath, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
			start := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			if err != nil {
				t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return took, sshConnections(t, logPath)
		}
		var r row
		r.n = n
		r.apply, r.applyConns = run("apply.log", "apply", "-auto-approve", "-no-color")
		r.plan, r.planConns = run("plan.log", "plan", "-detailed-exitcode", "-no-color")
		r.destroy, _ = run("destroy.log", "destroy", "-auto-approve", "-no-color")
		rows = append(rows, r)
		t.Logf("%d real servers: apply %v, plan %v, destroy %v; SSH connections: apply %s, plan %s", n, r.apply, r.plan, r.destroy, r.applyConns, r.planConns)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| real servers | terraform apply | terraform plan | terraform destroy | SSH connections per host, apply | plan |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %.1f s | %.1f s | %.1f s | %s | %s |\n", r.n, r.apply.Seconds(), r.plan.Seconds(), r.destroy.Seconds(), r.applyConns, r.planConns)
	}
	b.WriteString("\nMethod: provider binary via dev_overrides, terraform CLI, lab in User-Mode-Linux, 2 directors; targets: apply ≤ 30 s and plan ≤ 10 s at 1,000; one SSH connection per host per run.\n")
	t.Log(b.String())
}

var dialLine = regexp.MustCompile(`lvs: opened SSH connection: .*connection="?([^" ]+)"?`)

// sshConnections summarises the provider's "opened SSH connection" log lines as host=count.
func sshConnections(t *testing.T, logPath string) string {
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("read terraform log: %v", err)
	}
	counts := map[string]int{}
	var keys []string
	for _, m := range dialLine.FindAllStringSubmatch(string(b), -1) {
		if counts[m[1]] == 0 {
			keys = append(keys, m[1])
		}
		counts[m[1]]++
	}
	var parts []string
	for _, k := range keys {
		host := k
		if i := strings.IndexByte(k, '@'); i >= 0 {
			host = k[i+1:]
		}
		parts = append(parts, fmt.Sprintf("%s=%d", host, counts[k]))
	}
	if len(parts) == 0 {
		return "none logged"
	}
	return strings.Join(parts, " ")
}
