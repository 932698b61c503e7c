package kaconvert

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/testreq"
)

// TestTerraformAcceptsOutput runs the real terraform CLI over every golden conversion:
// `terraform fmt -check` and `terraform validate` against this provider's schema. The provider
// is bin/terraform-provider-lvs (`make build`), built here when missing, found through
// dev_overrides so that validate needs no `terraform init`.
func TestTerraformAcceptsOutput(t *testing.T) {
	tf := os.Getenv("TF_ACC_TERRAFORM_PATH")
	if tf == "" {
		testreq.Missing(t, "needs a terraform CLI in TF_ACC_TERRAFORM_PATH; `make test` sets it")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin", "terraform-provider-lvs")
	if _, err := os.Stat(bin); err != nil {
		bin = filepath.Join(t.TempDir(), "terraform-provider-lvs")
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	cfg := filepath.Join(t.TempDir(), "terraformrc")
	if err := os.WriteFile(cfg, []byte("provider_installation {\n  dev_overrides {\n    \"lvs-provider/lvs\" = \""+filepath.Dir(bin)+"\"\n  }\n  direct {}\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "TF_CLI_CONFIG_FILE="+cfg, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_INPUT=0")

	// The documented command: the provider binary's subcommand gives the golden HCL.
	t.Run("subcommand", func(t *testing.T) {
		cmd := exec.Command(bin, Command, "lb1.conf", "lb2.conf")
		cmd.Dir = filepath.Join("testdata", "pair")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", bin, Command, err, stderr.String())
		}
		want, err := os.ReadFile(filepath.Join("testdata", "pair.tf.golden"))
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(want) {
			t.Errorf("%s %s lb1.conf lb2.conf differs from testdata/pair.tf.golden (is %s stale? make build):\n%s", bin, Command, bin, out)
		}
		if !strings.Contains(stderr.String(), "0 errors, 0 refused by the provider") {
			t.Errorf("report on stderr:\n%s", stderr.String())
		}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(filepath.Join("testdata", c.name+".tf.golden"))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "main.tf"), src, 0o644); err != nil {
				t.Fatal(err)
			}
			run := func(args ...string) (string, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, tf, append([]string{"-chdir=" + dir}, args...)...)
				cmd.Env = append(slices.Clip(env), "TF_DATA_DIR="+filepath.Join(dir, ".tfdata"))
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			if out, err := run("fmt", "-check", "-diff", "-no-color"); err != nil {
				t.Errorf("terraform fmt -check: %v\n%s", err, out)
			}
			out, err := run("validate", "-no-color")
			if err != nil || !strings.Contains(out, "Success! The configuration is valid") {
				t.Errorf("terraform validate: %v\n%s", err, out)
			}
			if !strings.Contains(out, "Provider development overrides are in effect") {
				t.Errorf("not validated with the dev override of lvs-provider/lvs:\n%s", out)
			}
		})
	}
}
