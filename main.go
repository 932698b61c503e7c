// Command terraform-provider-lvs is the Terraform provider for LVS clusters: director pairs with
// VRRP, IPVS virtual and real servers, and health checks, run by an agent it installs over SSH.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/lvs-provider/terraform-provider-lvs/internal/provider"
	"github.com/lvs-provider/terraform-provider-lvs/internal/version"
)

// Generate the docs/ folder from schemas, templates/ and examples/.
//go:generate go run github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs generate --provider-name lvs

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run with support for debuggers like delve")
	flag.Parse()
	err := providerserver.Serve(context.Background(), provider.New(version.Version), providerserver.ServeOpts{
		Address: "registry.terraform.io/lvs-provider/lvs",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}
