package provider_test

import (
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/lvs-provider/terraform-provider-lvs/internal/provider"
	"github.com/lvs-provider/terraform-provider-lvs/internal/testreq"
	"github.com/lvs-provider/terraform-provider-lvs/internal/version"
)

// factories serve the provider in-process to the real terraform CLI the test framework runs.
var factories = map[string]func() (tfprotov6.ProviderServer, error){
	"lvs": providerserver.NewProtocol6WithError(provider.New(version.Version)()),
}

// requireTerraform skips the test when no terraform CLI was given, and fails it clearly where
// one is required (both steps of `make test`, which always gives one).
func requireTerraform(t *testing.T) {
	t.Helper()
	if os.Getenv("TF_ACC_TERRAFORM_PATH") == "" {
		testreq.Missing(t, "needs a terraform CLI in TF_ACC_TERRAFORM_PATH; `make test` sets it")
	}
}

// hcl joins lines into a configuration, to keep test configurations readable.
func hcl(lines ...string) string { return strings.Join(lines, "\n") + "\n" }
