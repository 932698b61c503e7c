package provider_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/lvs-provider/terraform-provider-lvs/internal/provider"
	"github.com/lvs-provider/terraform-provider-lvs/internal/version"
)

// envServeProvider makes the test binary serve the provider instead of running tests, as a
// plugin that terraform starts itself (see cliDir): tests that read what terraform prints, such
// as warnings, run the terraform CLI directly against the code under test.
const envServeProvider = "LVS_TEST_SERVE_PROVIDER"

func TestMain(m *testing.M) {
	// Terraform sets the plugin magic cookie in the environment of every plugin it starts.
	if os.Getenv(envServeProvider) == "1" && os.Getenv("TF_PLUGIN_MAGIC_COOKIE") != "" {
		err := providerserver.Serve(context.Background(), provider.New(version.Version), providerserver.ServeOpts{
			Address: "registry.terraform.io/lvs-provider/lvs",
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// cliDir makes a terraform working directory whose lvs-provider/lvs provider is this test
// binary (dev_overrides, no terraform init), and returns it and the environment to run
// terraform in it with.
func cliDir(t *testing.T) (dir string, env []string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	if err := os.Mkdir(plugins, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(plugins, "terraform-provider-lvs")); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(dir, "terraformrc")
	if err := os.WriteFile(rc, []byte(fmt.Sprintf("provider_installation {\n  dev_overrides { \"lvs-provider/lvs\" = %q }\n  direct {}\n}\n", plugins)), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, []string{"TF_CLI_CONFIG_FILE=" + rc, envServeProvider + "=1", "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_INPUT=0"}
}
