package provider_test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestExamples runs the real terraform CLI over examples/, which the docs are made from and
// users copy: `terraform fmt -check -recursive` over all of it, and `terraform validate` in every
// directory holding .tf files, against this provider's schema. The provider is the binary that
// `make build` leaves in bin/ (built here when missing), found through a CLI configuration whose
// dev_overrides point lvs-provider/lvs at it, so validate needs no `terraform init`. Nothing is
// written into examples/: terraform's data dir is a temp dir.
func TestExamples(t *testing.T) {
	t.Parallel()
	requireTerraform(t)
	tf := os.Getenv("TF_ACC_TERRAFORM_PATH")
	root := moduleRoot(t)
	examples := filepath.Join(root, "examples")

	bin := filepath.Join(root, "bin", "terraform-provider-lvs")
	if _, err := os.Stat(bin); err != nil {
		bin = filepath.Join(t.TempDir(), "terraform-provider-lvs")
		t.Logf("no %s (make build makes it): building the provider into %s", filepath.Join(root, "bin"), bin)
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	cfg := filepath.Join(t.TempDir(), "terraformrc")
	if err := os.WriteFile(cfg, []byte(`provider_installation {
  dev_overrides {
    "lvs-provider/lvs" = "`+filepath.Dir(bin)+`"
  }
  direct {}
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "TF_CLI_CONFIG_FILE="+cfg, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_INPUT=0")
	terraform := func(t *testing.T, dir string, args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, tf, append([]string{"-chdir=" + dir}, args...)...)
		cmd.Env = append(slices.Clip(env), "TF_DATA_DIR="+filepath.Join(t.TempDir(), "tfdata"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	var dirs []string
	err := filepath.WalkDir(examples, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != examples {
			return filepath.SkipDir // a .terraform left by a user's own run
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".tf") && !slices.Contains(dirs, filepath.Dir(path)) {
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 7 {
		t.Fatalf("found %d example directories with .tf files, want at least 7: %v", len(dirs), dirs)
	}

	t.Run("fmt", func(t *testing.T) {
		t.Parallel()
		if out, err := terraform(t, examples, "fmt", "-check", "-recursive", "-diff", "-no-color"); err != nil {
			t.Errorf("terraform fmt -check -recursive examples: %v\n%s", err, out)
		}
	})
	for _, dir := range dirs {
		rel, _ := filepath.Rel(examples, dir)
		t.Run("validate/"+rel, func(t *testing.T) {
			t.Parallel()
			out, err := terraform(t, dir, "validate", "-no-color")
			if err != nil || !strings.Contains(out, "Success! The configuration is valid") {
				t.Errorf("terraform validate in examples/%s: %v\n%s", rel, err, out)
			}
			// A provider installed some other way than the override would validate against
			// another schema: terraform names the override it used.
			if !strings.Contains(out, "Provider development overrides are in effect") {
				t.Errorf("examples/%s was not validated with the dev override of lvs-provider/lvs:\n%s", rel, out)
			}
		})
	}
}

// moduleRoot is the directory of go.mod above the test's working directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
