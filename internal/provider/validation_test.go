package provider_test

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// TestValidation runs bad configurations through the real terraform CLI: each must fail at plan
// time with an error naming the attribute, before any host is touched (the hosts do not exist).
func TestValidation(t *testing.T) {
	requireTerraform(t)
	provider := hcl(`provider "lvs" {`, `  ssh = { password = "unused", known_hosts_file = "/dev/null" }`, `}`)
	pair := func(body string) string {
		return provider + hcl(`resource "lvs_director_pair" "p" {`, body, `}`)
	}
	cases := []struct {
		name, config string
		want         string
	}{
		{"same hosts", pair(`name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.11", interface = "eth0" }]`), `(?s)Duplicate Director.*Both directors are "198.51.100.11"`},
		{"one director", pair(`name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }]`), `(?s)directors.*list must contain at least 2 elements`},
		{"three directors", pair(`name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }, { host = "198.51.100.13", interface = "eth0" }]`), `(?s)directors.*at most 2\s+elements, got: 3`},
		{"bad name", pair(`name = "edge@x"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]`), `(?s)Attribute name must be 1-63 letters`},
		{"bad interface", pair(`name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0:1" }, { host = "198.51.100.12", interface = "eth0" }]`), `(?s)directors\[0\].interface.*Linux interface name`},
		{"bad host", pair(`name = "edge"
  directors = [{ host = "198.51.100.11/24", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]`), `(?s)directors\[0\].host.*IPv4 or IPv6 address`},
		{"negative timeout", pair(`name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]
  ipvs_timeouts = { tcp = -1 }`), `(?s)ipvs_timeouts.tcp.*between 0 and`},
		{"no auth", hcl(`provider "lvs" {`, `  ssh = { use_agent = false }`, `}`) + hcl(`resource "lvs_director_pair" "p" {`, `name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]`, `}`), `(?s)no SSH authentication configured`},
		{"bad timeout", hcl(`provider "lvs" {`, `  ssh = { password = "x", timeout = "soon" }`, `}`) + hcl(`resource "lvs_director_pair" "p" {`, `name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]`, `}`), `(?s)timeout "soon" is not a positive duration`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: factories,
				Steps:                    []resource.TestStep{{Config: c.config, PlanOnly: true, ExpectError: regexp.MustCompile(c.want)}},
			})
		})
	}
}
