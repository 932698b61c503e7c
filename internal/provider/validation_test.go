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
		{"interface all", pair(`name = "edge"
  directors = [{ host = "198.51.100.11", interface = "all" }, { host = "198.51.100.12", interface = "eth0" }]`), `(?s)directors\[0\].interface.*"all"\s+is\s+not\s+an\s+interface`},
		{"interface default", pair(`name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "default" }]`), `(?s)directors\[1\].interface.*"default"\s+is\s+not\s+an\s+interface`},
		{"interface dotdot", pair(`name = "edge"
  directors = [{ host = "198.51.100.11", interface = ".." }, { host = "198.51.100.12", interface = "eth0" }]`), `(?s)directors\[0\].interface.*not\s+a\s+Linux\s+interface\s+name`},
		{"bad host", pair(`name = "edge"
  directors = [{ host = "198.51.100.11/24", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]`), `(?s)directors\[0\].host.*IPv4 or IPv6 address`},
		{"bad operation timeout", pair(`name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]
  timeouts {
    create = "soon"
  }`), `(?s)Invalid Attribute Value Time Duration.*create = "soon".*"300ms"`},
		{"negative timeout", pair(`name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]
  ipvs_timeouts = { tcp = -1 }`), `(?s)ipvs_timeouts.tcp.*between 0 and`},
		{"metrics host name", pair(`name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]
  metrics = { listen = "director1:9469" }`), `(?s)metrics.listen.*"director1"\s+of\s+"director1:9469"\s+is\s+not\s+an\s+IP\s+address`},
		{"metrics no port", pair(`name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]
  metrics = { listen = "9469" }`), `(?s)metrics.listen.*"9469"\s+is\s+not\s+HOST:PORT`},
		{"metrics port 0", pair(`name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]
  metrics = { listen = ":0" }`), `(?s)metrics.listen.*port\s+"0"`},
		{"bad log level", pair(`name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]
  log_level = "verbose"`), `(?s)log_level.*value must be one of`},
		{"no auth", hcl(`provider "lvs" {`, `  ssh = { use_agent = false }`, `}`) + hcl(`resource "lvs_director_pair" "p" {`, `name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]`, `}`), `(?s)no SSH authentication configured`},
		{"bad timeout", hcl(`provider "lvs" {`, `  ssh = { password = "x", timeout = "soon" }`, `}`) + hcl(`resource "lvs_director_pair" "p" {`, `name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]`, `}`), `(?s)timeout "soon" is not a positive duration`},
	}
	vip := func(body string) string {
		return provider + hcl(`resource "lvs_vip" "v" {`, `  director_pair_id = "edge@198.51.100.11,198.51.100.12"`, body, `}`)
	}
	cases = append(cases, []struct{ name, config, want string }{
		{"vrid 0", vip(`addresses = ["198.51.100.100"]
  virtual_router_id = 0`), `(?s)virtual_router_id.*between 1 and 255`},
		{"equal priorities", vip(`addresses = ["198.51.100.100"]
  virtual_router_id = 91
  priority = [100, 100]`), `(?s)priority\[1\].*equal priorities`},
		{"auth with v3", vip(`addresses = ["198.51.100.100"]
  virtual_router_id = 91
  authentication = "secret"`), `(?s)authentication.*only in VRRPv2`},
		{"ipv6 with v2", vip(`addresses = ["2001:db8::100"]
  virtual_router_id = 91
  vrrp_version = 2`), `(?s)addresses\[0\].*IPv6 needs vrrp_version 3`},
		{"v2 sub-second", vip(`addresses = ["198.51.100.100"]
  virtual_router_id = 91
  vrrp_version = 2
  advert_interval = "100ms"`), `(?s)advert_interval.*whole seconds`},
		{"interval not in cs", vip(`addresses = ["198.51.100.100"]
  virtual_router_id = 91
  advert_interval = "15ms"`), `(?s)advert_interval.*steps of\s+10ms`},
		{"bad address", vip(`addresses = ["198.51.100.100", "not-an-ip"]
  virtual_router_id = 91`), `(?s)addresses\[1\].*not an IPv4 or IPv6 address`},
		{"multicast address", vip(`addresses = ["224.0.0.18"]
  virtual_router_id = 91`), `(?s)addresses\[0\].*cannot be a VIP`},
		{"bad pair id", hcl(provider, `resource "lvs_vip" "v" {`, `  director_pair_id = "edge"`, `  addresses = ["198.51.100.100"]`, `  virtual_router_id = 9`, `}`), `(?s)director_pair_id.*want NAME@HOST1,HOST2`},
		{"track all", vip(`addresses = ["198.51.100.100"]
  virtual_router_id = 91
  track_interfaces = [{ name = "all" }]`), `(?s)track_interfaces\[0\].name.*"all"\s+is\s+not\s+an\s+interface`},
		{"script rise 0", vip(`addresses = ["198.51.100.100"]
  virtual_router_id = 91
  track_scripts = [{ name = "nginx", command = "pidof nginx", rise = 0 }]`), `(?s)track_scripts\[0\].rise.*at least 1`},
	}...)
	vs := func(body string) string {
		return provider + hcl(`resource "lvs_virtual_server" "s" {`, `  vip_id = "edge@198.51.100.11,198.51.100.12/vrid/91"`, body, `}`)
	}
	rs := func(body string) string {
		return provider + hcl(`resource "lvs_real_server" "r" {`, `  virtual_server_id = "edge@198.51.100.11,198.51.100.12/vrid/91/tcp/198.51.100.100:80"`, body, `}`)
	}
	cases = append(cases, []struct{ name, config, want string }{
		{"unknown scheduler", vs(`address = "198.51.100.100"
  port = 80
  scheduler = "fastest"`), `(?s)scheduler.*value must be one of`},
		{"flag of another scheduler", vs(`address = "198.51.100.100"
  port = 80
  scheduler = "wrr"
  scheduler_flags = ["sh-port"]`), `(?s)scheduler_flags\[0\].*only valid with scheduler sh`},
		{"port 0 without persistence", vs(`address = "198.51.100.100"
  port = 0`), `(?s)port.*needs persistence`},
		{"fwmark with address", vs(`address = "198.51.100.100"
  fwmark = 7`), `(?s)fwmark.*has no protocol, address or port`},
		{"handover fwmark", vs(`fwmark = 1280704513`), `(?s)fwmark.*handover\s+services`},
		{"http fields on tcp check", vs(`address = "198.51.100.100"
  port = 80
  health_check = { type = "tcp", path = "/healthz" }`), `(?s)health_check.path.*do not apply to a tcp check`},
		{"exec without command", vs(`address = "198.51.100.100"
  port = 80
  health_check = { type = "exec" }`), `(?s)health_check.command.*needs a command`},
		{"bad status range", vs(`address = "198.51.100.100"
  port = 80
  health_check = { type = "http", expected_status = ["2xx"] }`), `(?s)expected_status\[0\]`},
		{"weight too high", rs(`address = "198.51.100.21"
  port = 80
  weight = 70000`), `(?s)weight.*between 0 and 65535`},
		{"dr port mapping", rs(`address = "198.51.100.21"
  port = 8080
  forwarding_method = "dr"`), `(?s)port.*keeps its port`},
		{"thresholds inverted", rs(`address = "198.51.100.21"
  port = 80
  thresholds = { upper = 10, lower = 20 }`), `(?s)thresholds.lower.*above the upper`},
		{"drain timeout not a duration", rs(`address = "198.51.100.21"
  port = 80
  drain_timeout = "5 minutes"`), `(?s)Invalid Drain Timeout.*drain_timeout.*"5 minutes" is not a duration`},
		{"negative drain timeout", rs(`address = "198.51.100.21"
  port = 80
  drain_timeout = "-1s"`), `(?s)drain_timeout.*"-1s" is not a duration from 0`},
		{"drain longer than default delete timeout", rs(`address = "198.51.100.21"
  port = 80
  drain_timeout = "10m"`), `(?s)drain_timeout.*10m0s does not fit in\s+timeouts.delete \(10m0s\).*at\s+least 11m0s`},
		{"drain longer than delete timeout", rs(`address = "198.51.100.21"
  port = 80
  drain_timeout = "90s"
  timeouts { delete = "2m" }`), `(?s)drain_timeout.*1m30s does not fit in\s+timeouts.delete \(2m0s\).*at\s+least 2m30s`},
	}...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: factories,
				Steps:                    []resource.TestStep{{Config: c.config, PlanOnly: true, ExpectError: regexp.MustCompile(c.want)}},
			})
		})
	}
}
