package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	tfresource "github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/lvs-provider/terraform-provider-lvs/internal/provider"
)

// validateCase is one resource with bad attributes, checked by `terraform validate`: each want
// matches one of its errors ("SUMMARY: DETAIL"), and it has no other error.
type validateCase struct {
	name  string   // label of the resource in the configuration
	typ   string   // resource type without lvs_
	attrs []string // the schema attributes it covers, as "a.b" (no list indexes)
	body  string
	want  []string
}

// Unknown references for the cases: IDs of resources not created yet, and a variable, which
// `terraform validate` treats as unknown too.
const (
	unknownPair = `director_pair_id = lvs_director_pair.ok.id`
	unknownVIP  = `vip_id = lvs_vip.ok.id`
	unknownVS   = `virtual_server_id = lvs_virtual_server.ok.id`
	knownVS     = `virtual_server_id = "edge@198.51.100.11,198.51.100.12/vrid/91/tcp/198.51.100.100:80"`
)

// validResources are valid resources whose IDs the cases refer to, so that those IDs are
// unknown at validate time.
var validResources = hcl(
	`variable "unknown" {}`,
	`resource "lvs_director_pair" "ok" {`,
	`  name = "edge"`,
	`  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]`,
	`}`,
	`resource "lvs_vip" "ok" {`, `  `+unknownPair, `  addresses = ["198.51.100.100"]`, `  virtual_router_id = 91`, `}`,
	`resource "lvs_virtual_server" "ok" {`, `  `+unknownVIP, `  address = "198.51.100.100"`, `  port = 80`, `}`,
	`resource "lvs_real_server" "ok" {`, `  `+unknownVS, `  address = "198.51.100.21"`, `  port = 80`, `}`,
)

func pairCases() []validateCase {
	dirs := `directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]`
	return []validateCase{
		{"pair_name", "director_pair", []string{"name"}, `name = "edge@x"
  ` + dirs, []string{`Attribute name must be 1-63 letters, digits.*got: "edge@x"`}},
		{"pair_one_director", "director_pair", []string{"directors"}, `name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }]`, []string{`directors list must contain at least 2 elements`}},
		{"pair_three_directors", "director_pair", []string{"directors"}, `name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }, { host = "198.51.100.13", interface = "eth0" }]`,
			[]string{`directors list must contain at least 2 elements and at most 2 elements, got: 3`}},
		{"pair_same_hosts", "director_pair", []string{"directors.host"}, `name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.11", interface = "eth0" }]`,
			[]string{`^Duplicate Director: Attribute directors\[1\].host: Both directors are "198.51.100.11"`}},
		{"pair_bad_host", "director_pair", []string{"directors.host"}, `name = "edge"
  directors = [{ host = "198.51.100.11/24", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]`,
			[]string{`directors\[0\].host must be an IPv4 or IPv6 address or a DNS name, got: "198.51.100.11/24"`}},
		{"pair_interfaces", "director_pair", []string{"directors.interface"}, `name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0:1" }, { host = "198.51.100.12", interface = "all" }]`,
			[]string{`directors\[0\].interface must be a Linux interface name`, `directors\[1\].interface.*"all" is not an interface`}},
		{"pair_interface_dotdot", "director_pair", []string{"directors.interface"}, `name = "edge"
  directors = [{ host = "198.51.100.11", interface = ".." }, { host = "198.51.100.12", interface = "default" }]`,
			[]string{`directors\[0\].interface.*not a Linux interface name`, `directors\[1\].interface.*"default" is not an interface`}},
		{"pair_ipvs_timeouts", "director_pair", []string{"ipvs_timeouts.tcp", "ipvs_timeouts.tcp_fin", "ipvs_timeouts.udp"}, `name = "edge"
  ` + dirs + `
  ipvs_timeouts = { tcp = "1.5s", tcp_fin = "-1s", udp = 900 }`, []string{
			`ipvs_timeouts.tcp: 1.5s is not a whole number of seconds: IPVS keeps its connection timeouts in seconds`,
			`ipvs_timeouts.tcp_fin: -1s is outside 0s-596h31m23s`,
			`^Invalid Duration: Attribute ipvs_timeouts.udp: "900" has no unit: write "900s" for seconds`,
		}},
		{"pair_metrics_host_name", "director_pair", []string{"metrics", "metrics.listen"}, `name = "edge"
  ` + dirs + `
  metrics = { listen = "director1:9469" }`, []string{`metrics.listen.*"director1" of "director1:9469" is not an IP address`}},
		{"pair_metrics_no_port", "director_pair", []string{"metrics.listen"}, `name = "edge"
  ` + dirs + `
  metrics = { listen = "9469" }`, []string{`metrics.listen.*"9469" is not HOST:PORT`}},
		{"pair_metrics_port_0", "director_pair", []string{"metrics.listen"}, `name = "edge"
  ` + dirs + `
  metrics = { listen = ":0" }`, []string{`metrics.listen.*port "0"`}},
		{"pair_log_level", "director_pair", []string{"log_level"}, `name = "edge"
  ` + dirs + `
  log_level = "verbose"`, []string{`log_level value must be one of`}},
		{"pair_ipvs_timeout_not_duration", "director_pair", []string{"ipvs_timeouts.tcp"}, `name = "edge"
  ` + dirs + `
  ipvs_timeouts = { tcp = "soon" }`, []string{`^Invalid Duration: Attribute ipvs_timeouts.tcp: "soon" is not a duration: write a number with a unit, such as "300ms"`}},
		{"pair_operation_timeout", "director_pair", []string{"timeouts"}, `name = "edge"
  ` + dirs + `
  timeouts {
    create = "soon"
  }`, []string{`Invalid Attribute Value Time Duration.*"soon"`}},
		{"pair_sync_daemon", "director_pair", []string{"sync_daemon", "sync_daemon.interface", "sync_daemon.id", "sync_daemon.port", "sync_daemon.ttl", "sync_daemon.max_length", "sync_daemon.group"}, `name = "edge"
  ` + dirs + `
  sync_daemon = { interface = "all", id = 256, port = 0, ttl = 256, max_length = 65508, group = "198.51.100.81" }`, []string{
			`sync_daemon.interface.*"all" is not an interface`,
			`sync_daemon.id value must be between 0 and 255, got: 256`,
			`sync_daemon.port value must be between 1 and 65535, got: 0`,
			`sync_daemon.ttl value must be between 1 and 255, got: 256`,
			`sync_daemon.max_length value must be between 1 and 65507, got: 65508`,
			`^Invalid Sync Daemon Group: Attribute sync_daemon.group must be a multicast IP address: 198.51.100.81 is not a multicast address`,
		}},
		{"pair_sync_daemon_group_name", "director_pair", []string{"sync_daemon.group", "sync_daemon.id"}, `name = "edge"
  ` + dirs + `
  sync_daemon = { group = "sync.example", id = -1 }`, []string{
			`sync_daemon.group must be a multicast IP address: "sync.example" is not an IP address`,
			`sync_daemon.id value must be between 0 and 255, got: -1`,
		}},
		{"pair_run_by", "director_pair", []string{"directors.run_by", "keepalived_stop_command"}, `name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0", run_by = "systemd" }, { host = "198.51.100.12", interface = "eth0" }]
  keepalived_stop_command = ""`, []string{
			`directors\[0\].run_by value must be one of: \["agent" "keepalived"\], got: "systemd"`,
			`keepalived_stop_command string length must be at least 1, got: 0`,
		}},
		{"pair_run_by_both_keepalived", "director_pair", []string{"directors.run_by"}, `name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0", run_by = "keepalived" }, { host = "198.51.100.12", interface = "eth0", run_by = "keepalived" }]`, []string{
			`^Both Directors Run By keepalived: Attribute directors\[1\].run_by: At most one director may be run by keepalived`,
		}},
		{"pair_vrrp_address", "director_pair", []string{"directors.vrrp_address"}, `name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0", vrrp_address = "director1" }, { host = "198.51.100.12", interface = "eth0", vrrp_address = "fe80::12" }]`, []string{
			`^Invalid VRRP Address: Attribute directors\[0\].vrrp_address must be an IP address of the director on the VRRP link: "director1" is not an IP address`,
			`directors\[1\].vrrp_address.*fe80::12 is link-local`,
		}},
		{"pair_vrrp_address_multicast", "director_pair", []string{"directors.vrrp_address"}, `name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0", vrrp_address = "224.0.0.18" }, { host = "198.51.100.12", interface = "eth0", vrrp_address = "198.51.100.11" }]`, []string{
			`directors\[0\].vrrp_address.*224.0.0.18 is not the address of one host`,
			`^Invalid VRRP Address: Attribute directors\[1\].vrrp_address: 198.51.100.11 is the other director's host`,
		}},
		{"pair_vrrp_address_same", "director_pair", []string{"directors.vrrp_address"}, `name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0", vrrp_address = "198.51.100.111" }, { host = "198.51.100.12", interface = "eth0", vrrp_address = "198.51.100.111" }]`, []string{
			`^Invalid VRRP Address: Attribute directors\[1\].vrrp_address: 198.51.100.111 is directors\[0\].vrrp_address too`,
		}},
		{"pair_vrrp_address_families", "director_pair", []string{"directors.vrrp_address"}, `name = "edge"
  directors = [{ host = "198.51.100.11", interface = "eth0", vrrp_address = "198.51.100.111" }, { host = "198.51.100.12", interface = "eth0", vrrp_address = "2001:db8::112" }]`, []string{
			`directors\[1\].vrrp_address: 198.51.100.111 and 2001:db8::112 are of different families`,
		}},
		{"pair_unknown_hosts", "director_pair", []string{"directors.host"}, `name = var.unknown
  directors = [{ host = var.unknown, interface = "eth0" }, { host = var.unknown, interface = "all" }]`,
			[]string{`directors\[1\].interface.*"all" is not an interface`}},
	}
}

func vipCases() []validateCase {
	const a = `addresses = ["198.51.100.100"]
  virtual_router_id = 91`
	return []validateCase{
		{"vip_pair_id", "vip", []string{"director_pair_id"}, `director_pair_id = "edge"
  ` + a, []string{`^Invalid Director Pair ID: Attribute director_pair_id: director pair ID "edge": want NAME@HOST1,HOST2`}},
		{"vip_addresses", "vip", []string{"addresses"}, unknownPair + `
  addresses = ["198.51.100.100", "not-an-ip", "224.0.0.18", "198.51.100.100/24"]
  virtual_router_id = 91`, []string{
			`addresses\[1\]: "not-an-ip" is not an IPv4 or IPv6 address`,
			`addresses\[2\]: 224.0.0.18 cannot be a VIP: use a global unicast address`,
			`addresses\[3\]: 198.51.100.100 is listed twice \(as "198.51.100.100" and "198.51.100.100/24"\)`,
		}},
		{"vip_no_address", "vip", []string{"addresses"}, unknownPair + `
  addresses = []
  virtual_router_id = 91`, []string{`addresses list must contain at least 1 elements`}},
		{"vip_ipv6_v2", "vip", []string{"addresses", "vrrp_version"}, unknownPair + `
  addresses = ["2001:db8::100", var.unknown]
  virtual_router_id = 91
  vrrp_version = 2`, []string{`addresses\[0\]: 2001:db8::100 is IPv6, which needs vrrp_version 3 \(VRRPv2 is IPv4 only\)`}},
		{"vip_vrid", "vip", []string{"virtual_router_id"}, unknownPair + `
  addresses = ["198.51.100.100"]
  virtual_router_id = 0`, []string{`virtual_router_id value must be between 1 and 255, got: 0`}},
		{"vip_interface_empty", "vip", []string{"interface"}, unknownPair + `
  ` + a + `
  interface = ""`, []string{`interface: must not be empty \(the interface the addresses are held on; leave it unset for the pair's\)`}},
		{"vip_interface_all", "vip", []string{"interface"}, unknownPair + `
  ` + a + `
  interface = "all"`, []string{`interface: "all" is not an interface: net.ipv4.conf.all stands for every interface`}},
		{"vip_interface_long", "vip", []string{"interface"}, unknownPair + `
  ` + a + `
  interface = "eth0.1000000000000"`, []string{`interface: "eth0.1000000000000" is longer than 15 bytes, the longest Linux interface name`}},
		{"vip_interface_alias", "vip", []string{"interface"}, unknownPair + `
  ` + a + `
  interface = "eth1:0"`, []string{`interface: "eth1:0" is not a Linux interface name: printable ASCII without '/', ':' or white space`}},
		{"vip_sync_group_name", "vip", []string{"sync_group"}, unknownPair + `
  ` + a + `
  sync_group = "nat outside"`, []string{`sync_group: "nat outside": use letters, digits, '_', '-' and '.' only`}},
		{"vip_sync_group_empty", "vip", []string{"sync_group"}, unknownPair + `
  ` + a + `
  sync_group = ""`, []string{`sync_group: must not be empty: leave sync_group unset for a VIP of its own`}},
		{"vip_sync_group_long", "vip", []string{"sync_group"}, unknownPair + `
  ` + a + `
  sync_group = "` + strings.Repeat("g", 65) + `"`, []string{`sync_group: "g{65}" is longer than 64 characters`}},
		{"vip_equal_priorities", "vip", []string{"priority"}, unknownPair + `
  ` + a + `
  priority = [100, 100]`, []string{`priority\[1\]: equal priorities \(100 and 100\) leave the election to the higher IP address`}},
		{"vip_priority_range", "vip", []string{"priority"}, unknownPair + `
  ` + a + `
  priority = [0, 256]`, []string{`priority\[0\]: 0 is outside 1-255`, `priority\[1\]: 256 is outside 1-255`}},
		{"vip_three_priorities", "vip", []string{"priority"}, unknownPair + `
  ` + a + `
  priority = [1, 2, 3]`, []string{`priority list must contain at least 2 elements and at most 2 elements, got: 3`}},
		{"vip_v2_subsecond", "vip", []string{"advert_interval", "vrrp_version"}, unknownPair + `
  ` + a + `
  vrrp_version = 2
  advert_interval = "150ms"`, []string{`advert_interval: 150ms is not a whole number of seconds: VRRPv2 adverts are whole seconds; use vrrp_version = 3 for sub-second adverts`}},
		{"vip_interval_steps", "vip", []string{"advert_interval"}, unknownPair + `
  ` + a + `
  advert_interval = "15ms"`, []string{`advert_interval: 15ms is not a multiple of 10ms: VRRP adverts are timed in steps of 10ms`}},
		{"vip_interval_v3_max", "vip", []string{"advert_interval"}, unknownPair + `
  ` + a + `
  advert_interval = "41s"`, []string{`advert_interval: 41s is longer than 40.95s, the longest VRRPv3 advert interval \(vrrp_version is the default 3\)`}},
		{"vip_interval_not_duration", "vip", []string{"advert_interval"}, unknownPair + `
  ` + a + `
  advert_interval = "1 second"`, []string{`^Invalid Duration: Attribute advert_interval: "1 second" is not a duration`}},
		{"vip_version", "vip", []string{"vrrp_version"}, unknownPair + `
  ` + a + `
  vrrp_version = 4`, []string{`vrrp_version value must be one of: \["2" "3"\], got: 4`}},
		{"vip_preempt_delay", "vip", []string{"preempt_delay"}, unknownPair + `
  ` + a + `
  preempt_delay = "2h"`, []string{`preempt_delay: 2h is outside 0s-1h`}},
		{"vip_auth_default_v3", "vip", []string{"authentication"}, unknownPair + `
  ` + a + `
  authentication = "secret"`, []string{`authentication: authentication exists only in VRRPv2 \(RFC 5798 removed it\) and vrrp_version is the default 3: set vrrp_version = 2 or drop authentication`}},
		{"vip_auth_long", "vip", []string{"authentication"}, unknownPair + `
  ` + a + `
  vrrp_version = 2
  authentication = "fifteen-bytes!!"`, []string{`authentication: the password is 15 bytes; a VRRPv2 password is at most 8 bytes`}},
		{"vip_track_interfaces", "vip", []string{"track_interfaces.name", "track_interfaces.weight"}, unknownPair + `
  ` + a + `
  track_interfaces = [{ name = "all" }, { name = "eth1", weight = 300 }]`, []string{
			`track_interfaces\[0\].name.*"all" is not an interface`,
			`track_interfaces\[1\].weight value must be between -253 and 253, got: 300`,
		}},
		{"vip_track_scripts", "vip", []string{"track_scripts.name", "track_scripts.command", "track_scripts.interval", "track_scripts.timeout", "track_scripts.weight", "track_scripts.rise", "track_scripts.fall"}, unknownPair + `
  ` + a + `
  track_scripts = [
    { name = "nginx", command = "pidof nginx", interval = "5ms", timeout = "x", weight = 300 },
    { name = "nginx", command = "", rise = 0, fall = 0 },
    { name = "", command = var.unknown },
  ]`, []string{
			`track_scripts\[0\].interval: 5ms is shorter than 10ms`,
			`^Invalid Duration: Attribute track_scripts\[0\].timeout: "x" is not a duration`,
			`track_scripts\[0\].weight value must be between -253 and 253, got: 300`,
			`track_scripts\[1\].name: "nginx" is used by another track script of this VIP`,
			`track_scripts\[1\].command: must not be empty`,
			`track_scripts\[1\].rise value must be at least 1, got: 0`,
			`track_scripts\[1\].fall value must be at least 1, got: 0`,
			`track_scripts\[2\].name: must not be empty`,
		}},
		{"vip_garp_ranges", "vip", []string{"gratuitous_arp", "gratuitous_arp.delay", "gratuitous_arp.repeat", "gratuitous_arp.refresh", "gratuitous_arp.refresh_repeat"}, unknownPair + `
  ` + a + `
  gratuitous_arp = { delay = "2h", repeat = 0, refresh = "500ms", refresh_repeat = 256 }`, []string{
			`gratuitous_arp.delay: 2h is outside 0s-1h: the second burst follows the first by at most an hour; "0s" sends none \(keepalived garp_master_delay 0\)`,
			`gratuitous_arp.repeat value must be between 1 and 255, got: 0`,
			`gratuitous_arp.refresh: 500ms is outside 1s-24h: a master refreshes its announcements at most once a second \(keepalived's shortest garp_master_refresh\); "0s" turns the refresh off`,
			`gratuitous_arp.refresh_repeat value must be between 1 and 255, got: 256`,
		}},
		{"vip_garp_durations", "vip", []string{"gratuitous_arp.delay", "gratuitous_arp.refresh"}, unknownPair + `
  ` + a + `
  gratuitous_arp = { delay = "-1s", refresh = "5" }`, []string{
			`gratuitous_arp.delay: -1s is outside 0s-1h`,
			`^Invalid Duration: Attribute gratuitous_arp.refresh: "5" has no unit: write "5s" for seconds`,
		}},
		{"vip_garp_sub_ms", "vip", []string{"gratuitous_arp.delay", "gratuitous_arp.refresh"}, unknownPair + `
  ` + a + `
  gratuitous_arp = { delay = "1500us", refresh = "25h" }`, []string{
			`gratuitous_arp.delay: 1500us is not a whole number of milliseconds`,
			`gratuitous_arp.refresh: 25h is outside 1s-24h`,
		}},
		{"vip_unknown_lists", "vip", []string{"addresses", "priority", "track_scripts", "track_interfaces", "notify"}, unknownPair + `
  addresses = var.unknown
  virtual_router_id = 91
  priority = var.unknown
  track_scripts = var.unknown
  track_interfaces = var.unknown
  notify = var.unknown
  advert_interval = "15ms"`, []string{`advert_interval: 15ms is not a multiple of 10ms`}},
		{"vip_unknown_version", "vip", []string{"advert_interval", "authentication"}, unknownPair + `
  ` + a + `
  vrrp_version = var.unknown
  advert_interval = "150ms"
  authentication = "secret"`, nil},
	}
}

func virtualServerCases() []validateCase {
	const a = unknownVIP + `
  address = "198.51.100.100"
  port = 80`
	return []validateCase{
		{"vs_vip_id", "virtual_server", []string{"vip_id"}, `vip_id = "edge"
  address = "198.51.100.100"
  port = 80`, []string{`^Invalid VIP ID: Attribute vip_id: VIP ID "edge": want PAIR_ID/vrid/N`}},
		{"vs_unknown_objects", "virtual_server", []string{"persistence", "health_check", "sorry_server", "quorum", "scheduler_flags"}, unknownVIP + `
  address = var.unknown
  port = 0
  persistence = var.unknown
  health_check = var.unknown
  sorry_server = var.unknown
  quorum = var.unknown
  scheduler_flags = var.unknown
  scheduler = "fastest"`, []string{`scheduler value must be one of:`}},
		{"vs_protocol", "virtual_server", []string{"protocol"}, a + `
  protocol = "icmp"`, []string{`protocol value must be one of: \["tcp" "udp" "sctp"\], got: "icmp"`}},
		{"vs_address", "virtual_server", []string{"address", "port"}, unknownVIP + `
  address = "198.51.100.300"
  port = 70000`, []string{`address: "198.51.100.300" is not an IPv4 or IPv6 address`, `port: 70000 is outside 0-65535`}},
		{"vs_no_address", "virtual_server", []string{"address"}, unknownVIP + `
  port = 80`, []string{`address: an address is required unless fwmark is set`}},
		{"vs_port_0", "virtual_server", []string{"port", "persistence"}, unknownVIP + `
  address = "198.51.100.100"
  port = 0`, []string{`port: port 0 \(every port\) needs persistence, as in ipvsadm`}},
		{"vs_fwmark_with_address", "virtual_server", []string{"fwmark"}, unknownVIP + `
  fwmark = 7
  address = "198.51.100.100"
  port = 80`, []string{`fwmark: a fwmark service has no protocol, address or port \(the mark selects the packets\), but address, port are set`}},
		{"vs_fwmark_range", "virtual_server", []string{"fwmark"}, unknownVIP + `
  fwmark = 0`, []string{`fwmark must be from 1 to 4294967295, got 0`}},
		{"vs_fwmark_reserved", "virtual_server", []string{"fwmark"}, unknownVIP + `
  fwmark = 1280704513`, []string{`^Reserved Firewall Mark: .*handover services`}},
		{"vs_family", "virtual_server", []string{"address_family"}, a + `
  address_family = "inet6"`, []string{`address_family: only fwmark services take an address family`}},
		{"vs_family_value", "virtual_server", []string{"address_family"}, unknownVIP + `
  fwmark = 7
  address_family = "inet7"`, []string{`address_family value must be one of: \["inet" "inet6"\], got: "inet7"`}},
		{"vs_scheduler", "virtual_server", []string{"scheduler"}, a + `
  scheduler = "fastest"`, []string{`scheduler value must be one of:`}},
		{"vs_scheduler_flags", "virtual_server", []string{"scheduler_flags"}, a + `
  scheduler_flags = ["sh-port", "fast", "sh-port"]`, []string{
			`scheduler_flags\[0\]: sh-port is only valid with scheduler sh, not with the default scheduler wlc`,
			`scheduler_flags\[1\]: "fast" is not one of sh-fallback, sh-port, mh-fallback, mh-port`,
			`scheduler_flags\[2\]: sh-port is only valid with scheduler sh`,
		}},
		{"vs_persistence", "virtual_server", []string{"persistence.timeout", "persistence.netmask"}, a + `
  persistence = { timeout = "1.5s", netmask = "255.0.255.0" }`, []string{
			`persistence.timeout: 1.5s is not a whole number of seconds: IPVS keeps persistence in seconds`,
			`persistence.netmask: "255.0.255.0" is not a contiguous netmask`,
		}},
		{"vs_one_packet_tcp", "virtual_server", []string{"one_packet_scheduling"}, a + `
  one_packet_scheduling = true`, []string{`one_packet_scheduling: is for UDP services, and this one's protocol is the default, tcp: remove it, or set protocol = "udp"`}},
		{"vs_persistence_range", "virtual_server", []string{"persistence.timeout"}, a + `
  persistence = { timeout = "0s" }`, []string{`persistence.timeout: 0s is outside 1s-720h`}},
		{"vs_forwarding_method", "virtual_server", []string{"forwarding_method", "on_failure"}, a + `
  forwarding_method = "gre"
  on_failure = "drop"`, []string{`forwarding_method value must be one of: \["dr" "nat" "tunnel"\], got: "gre"`, `on_failure value must be one of: \["quiesce" "remove"\], got: "drop"`}},
		{"vs_health_durations", "virtual_server", []string{"health_check.type", "health_check.interval", "health_check.retry_delay", "health_check.retries", "health_check.rise", "health_check.fall", "health_check.connect_address", "health_check.connect_port"}, a + `
  health_check = { type = "tcp", interval = "5ms", retry_delay = "-1s", retries = -1, rise = -1, fall = -1, connect_address = "224.0.0.1", connect_port = 70000 }`, []string{
			`health_check.interval: 5ms is shorter than 10ms`,
			`health_check.retry_delay: -1s is negative`,
			`health_check.retries: -1 must not be negative`,
			`health_check.rise: -1 must not be negative`,
			`health_check.fall: -1 must not be negative`,
			`health_check.connect_address: 224.0.0.1 cannot be used here`,
			`health_check.connect_port: 70000 is outside 0-65535`,
		}},
		// keepalived's connect_timeout 10 with delay_loop 6 is valid, and so is an interval shorter
		// than the default timeout (which then defaults to the interval).
		{"vs_health_timeout_longer", "virtual_server", []string{"health_check.timeout"}, a + `
  health_check = { type = "tcp", interval = "6s", timeout = "10s" }`, nil},
		{"vs_health_short_interval", "virtual_server", []string{"health_check.interval"}, a + `
  health_check = { type = "tcp", interval = "1s" }`, nil},
		{"vs_health_type", "virtual_server", []string{"health_check.type"}, a + `
  health_check = { type = "ping" }`, []string{`health_check.type value must be one of:`}},
		{"vs_health_http_on_tcp", "virtual_server", []string{"health_check.path", "health_check.expected_status", "health_check.host", "health_check.expected_body", "health_check.tls_server_name", "health_check.tls_verify", "health_check.command", "health_check.query_name", "health_check.query_type", "health_check.start_down"}, a + `
  health_check = { type = "tcp", start_down = true, path = "/", expected_status = ["200"], host = "x", expected_body = "ok", tls_server_name = "x", tls_verify = true, command = "true", query_name = "x", query_type = "A" }`, []string{
			`health_check.path: http settings do not apply to a tcp check`,
			`health_check.expected_status: http settings do not apply to a tcp check`,
			`health_check.host: http settings do not apply to a tcp check`,
			`health_check.expected_body: http settings do not apply to a tcp check`,
			`health_check.tls_server_name: http settings do not apply to a tcp check`,
			`health_check.tls_verify: http settings do not apply to a tcp check`,
			`health_check.command: exec settings do not apply to a tcp check`,
			`health_check.query_name: dns settings do not apply to a tcp check`,
			`health_check.query_type: dns settings do not apply to a tcp check`,
		}},
		{"vs_health_http", "virtual_server", []string{"health_check.path", "health_check.expected_status", "health_check.expected_body", "health_check.tls_server_name", "health_check.tls_verify"}, a + `
  health_check = { type = "http", path = "healthz", expected_status = ["2xx", "200-299"], expected_body = "(", tls_server_name = "x", tls_verify = true }`, []string{
			`health_check.path: "healthz" must start with /`,
			`health_check.expected_status\[0\]: "2xx" is not a status`,
			`health_check.expected_body: not an RE2 regular expression`,
			`health_check.tls_server_name: TLS settings need type https`,
			`health_check.tls_verify: TLS settings need type https`,
		}},
		{"vs_health_exec_dns_none", "virtual_server", []string{"health_check.command", "health_check.query_name", "health_check.query_type"}, a + `
  health_check = { type = "dns", query_type = "ANY" }`, []string{
			`health_check.query_name: a dns check needs a query name`,
			`health_check.query_type: "ANY" is not a DNS record type`,
		}},
		{"vs_health_exec", "virtual_server", []string{"health_check.command"}, a + `
  health_check = { type = "exec" }`, []string{`health_check.command: an exec check needs a command`}},
		{"vs_health_kinds_on_tcp", "virtual_server", []string{"health_check.digest", "health_check.urls", "health_check.dynamic_weight", "health_check.payload", "health_check.require_reply", "health_check.reply_pattern", "health_check.helo_name"}, a + `
  health_check = { type = "tcp", digest = "0123456789abcdef0123456789abcdef", urls = [{ path = "/" }], dynamic_weight = true, payload = "00", require_reply = true, reply_pattern = "00", helo_name = "lb1" }`, []string{
			`health_check.digest: http settings do not apply to a tcp check: remove digest or change type`,
			`health_check.urls: http settings do not apply to a tcp check`,
			`health_check.dynamic_weight: exec settings do not apply to a tcp check`,
			`health_check.payload: udp settings do not apply to a tcp check`,
			`health_check.require_reply: udp settings do not apply to a tcp check`,
			`health_check.reply_pattern: udp settings do not apply to a tcp check`,
			`health_check.helo_name: smtp settings do not apply to a tcp check`,
		}},
		{"vs_health_urls", "virtual_server", []string{"health_check.urls.path", "health_check.urls.expected_status", "health_check.urls.expected_body", "health_check.urls.digest"}, a + `
  health_check = { type = "http", path = "/", digest = "0123456789ABCDEF0123456789abcdef", urls = [{ path = "/ok" }, { path = "x", expected_status = ["99"], expected_body = "(", digest = "zz" }] }`, []string{
			`health_check.path: set either urls or path: with urls, move path into each of its entries`,
			`health_check.digest: set either urls or digest`,
			`health_check.urls\[1\].path: "x" must start with /`,
			`health_check.urls\[1\].expected_status\[0\]: "99" is not a status`,
			`health_check.urls\[1\].expected_body: not an RE2 regular expression`,
			`health_check.urls\[1\].digest: "zz" is not an MD5 digest: write the 32 hex digits keepalived's genhash prints`,
		}},
		{"vs_health_urls_empty", "virtual_server", []string{"health_check.urls"}, a + `
  health_check = { type = "http", urls = [] }`, []string{`health_check.urls list must contain at least 1 elements`}},
		{"vs_health_digest", "virtual_server", []string{"health_check.digest"}, a + `
  health_check = { type = "https", digest = "9b3a0c85a887a256d6939da88aabd8c" }`, []string{`health_check.digest: "9b3a0c85a887a256d6939da88aabd8c" is not an MD5 digest`}},
		{"vs_health_udp", "virtual_server", []string{"health_check.payload", "health_check.reply_pattern", "health_check.require_reply"}, a + `
  health_check = { type = "udp", payload = "zz", reply_pattern = "4f4g", require_reply = false }`, []string{
			`health_check.payload: not a hex string such as "4c 56 53": "z" is not a hex digit`,
			`health_check.reply_pattern: not a hex string such as "4f4b xx" \(x for any digit\): "g" is not a hex digit`,
			`health_check.require_reply: a reply_pattern needs a reply: remove require_reply = false or the pattern`,
		}},
		{"vs_health_udp_ok", "virtual_server", []string{"health_check.payload"}, a + `
  health_check = { type = "udp", payload = "Ab12f 3 456", reply_pattern = "4f4b xx" }`, nil},
		{"vs_health_smtp", "virtual_server", []string{"health_check.helo_name"}, a + `
  health_check = { type = "smtp", helo_name = "lb1 example" }`, []string{`health_check.helo_name: "lb1 example" must be one word`}},
		{"vs_health_exec_dynamic", "virtual_server", []string{"health_check.dynamic_weight"}, a + `
  health_check = { type = "exec", command = "exit 12", dynamic_weight = true }`, nil},
		{"vs_health_none", "virtual_server", []string{"health_check.connect_port"}, a + `
  health_check = { type = "none", connect_port = 81 }`, []string{`health_check.connect_port: a none check connects nowhere`}},
		{"vs_sorry_server", "virtual_server", []string{"sorry_server.address", "sorry_server.port", "sorry_server.forwarding_method"}, a + `
  sorry_server = { address = "x", port = 70000, forwarding_method = "gre" }`, []string{
			`sorry_server.address: "x" is not an IPv4 or IPv6 address`,
			`sorry_server.port: 70000 is outside 0-65535`,
			`sorry_server.forwarding_method value must be one of`,
		}},
		{"vs_sorry_server_port", "virtual_server", []string{"sorry_server.port"}, a + `
  sorry_server = { address = "2001:db8::30", port = 8080 }`, []string{
			`sorry_server.address: 2001:db8::30 is not of the virtual server's address family, which only tunnel forwarding mixes \(the default forwarding_method dr\)`,
			`sorry_server.port: with the default forwarding_method dr the packet keeps its port: the sorry server must use port 80`,
		}},
		{"vs_quorum", "virtual_server", []string{"quorum.min", "quorum.hysteresis"}, a + `
  quorum = { min = 0, hysteresis = -1 }`, []string{`quorum.min: 0: must be at least 1`, `quorum.hysteresis: -1: must not be negative`}},
		{"vs_quorum_hysteresis", "virtual_server", []string{"quorum.hysteresis"}, a + `
  quorum = { min = 2, hysteresis = 2 }`, []string{`quorum.hysteresis: 2: must be below min \(2\), from 0 to 1`}},
	}
}

func realServerCases() []validateCase {
	const a = unknownVS + `
  address = "198.51.100.21"
  port = 80`
	return []validateCase{
		{"rs_vs_id", "real_server", []string{"virtual_server_id"}, `virtual_server_id = "edge"
  address = "198.51.100.21"
  port = 80`, []string{`^Invalid Virtual Server ID: Attribute virtual_server_id: `}},
		{"rs_address_port", "real_server", []string{"address", "port"}, unknownVS + `
  address = "127.0.0.1"
  port = 70000`, []string{`address: 127.0.0.1 cannot be used here`, `port value must be between 0 and 65535, got: 70000`}},
		{"rs_unknown_objects", "real_server", []string{"thresholds", "health_check", "host"}, unknownVS + `
  address = var.unknown
  port = var.unknown
  thresholds = var.unknown
  health_check = var.unknown
  host = var.unknown
  weight = -1`, []string{`weight value must be between 0 and 65535, got: -1`}},
		{"rs_weight", "real_server", []string{"weight", "forwarding_method"}, a + `
  weight = 70000
  forwarding_method = "gre"`, []string{`weight value must be between 0 and 65535, got: 70000`, `forwarding_method value must be one of`}},
		{"rs_dr_port_mapping", "real_server", []string{"port", "forwarding_method"}, knownVS + `
  address = "2001:db8::21"
  port = 8080
  forwarding_method = "dr"`, []string{
			`address: 2001:db8::21 is not of the virtual server's address family \(198.51.100.100\); only tunnel forwarding mixes families`,
			`port: with forwarding_method dr the packet keeps its port: the real server must use port 80, the virtual server's`,
		}},
		{"rs_thresholds", "real_server", []string{"thresholds.upper", "thresholds.lower"}, a + `
  thresholds = { upper = 10, lower = 20 }`, []string{`thresholds.lower: 20 is above the upper threshold 10`}},
		{"rs_thresholds_range", "real_server", []string{"thresholds.upper", "thresholds.lower"}, a + `
  thresholds = { upper = -1, lower = 4294967296 }`, []string{`thresholds.upper: -1 is outside 0`, `thresholds.lower: 4294967296 is outside 0`}},
		{"rs_host", "real_server", []string{"host.ssh_address"}, a + `
  host = { ssh_address = "bad host" }`, []string{`host.ssh_address: "bad host" is not an IPv4 or IPv6 address or a DNS name`}},
		{"rs_health_check", "real_server", []string{"health_check.type", "health_check.command"}, a + `
  health_check = { type = "exec" }`, []string{`health_check.command: an exec check needs a command`}},
		{"rs_on_failure", "real_server", []string{"on_failure"}, a + `
  on_failure = "inhibit"`, []string{`on_failure value must be one of: \["quiesce" "remove"\]`}},
		{"rs_notify", "real_server", []string{"notify", "notify.up", "notify.down"}, a + `
  notify = { up = "  ", down = "logger down\nreboot" }`, []string{
			`^Invalid Notify Command: Attribute notify.up is blank: give a command, or leave the attribute unset`,
			`^Invalid Notify Command: Attribute notify.down holds a line break or NUL: give one command line \(call a script for more\)`,
		}},
		{"rs_notify_long", "real_server", []string{"notify.up"}, a + `
  notify = { up = format("%04097d", 0) }`, []string{`^Invalid Notify Command: Attribute notify.up is 4097 bytes long, over 4096: call a script`}},
		{"rs_drain_timeout", "real_server", []string{"drain_timeout"}, a + `
  drain_timeout = "5 minutes"`, []string{`^Invalid Drain Timeout: .*drain_timeout.*"5 minutes" is not a duration`}},
		{"rs_drain_negative", "real_server", []string{"drain_timeout"}, a + `
  drain_timeout = "-1s"`, []string{`drain_timeout.*"-1s" is not a duration from 0`}},
		{"rs_drain_default_delete", "real_server", []string{"drain_timeout", "timeouts"}, a + `
  drain_timeout = "10m"`, []string{`drain_timeout.*10m0s does not fit in timeouts.delete \(10m0s\).*at least 11m0s`}},
		{"rs_drain_delete", "real_server", []string{"drain_timeout", "timeouts"}, a + `
  drain_timeout = "90s"
  timeouts { delete = "2m" }`, []string{`drain_timeout.*1m30s does not fit in timeouts.delete \(2m0s\).*at least 2m30s`}},
	}
}

// Attributes with nothing to check: any value of their type is valid.
var nothingToCheck = []string{
	"lvs_director_pair.sync_connections", "lvs_director_pair.vrrp_unicast", "lvs_director_pair.ipvs_timeouts",
	"lvs_vip.preempt", "lvs_vip.notify.master", "lvs_vip.notify.backup", "lvs_vip.notify.fault",
	"lvs_vip.timeouts", "lvs_virtual_server.timeouts", // the framework's block, checked as the pair's
}

// TestValidation runs bad configurations through `terraform validate` (the real CLI, which runs
// no plan and reaches no host): each resource's every configurable attribute is covered, the
// IDs it refers to are unknown (references to resources not created yet), and each error names
// the attribute with its value as written. All cases are resources of one configuration, so this
// also shows that every error of a configuration is reported in one run.
func TestValidation(t *testing.T) {
	requireTerraform(t)
	t.Parallel()
	var cases []validateCase
	for _, f := range []func() []validateCase{pairCases, vipCases, virtualServerCases, realServerCases} {
		cases = append(cases, f()...)
	}
	config := validResources
	for _, c := range cases {
		config += hcl(fmt.Sprintf(`resource "lvs_%s" %q {`, c.typ, c.name), "  "+c.body, `}`)
	}
	got := terraformValidate(t, config)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			diags := got[fmt.Sprintf(`resource "lvs_%s" %q`, c.typ, c.name)]
			matchDiags(t, diags, c.want)
		})
	}
	if extra := got[`resource "lvs_director_pair" "ok"`]; len(extra) > 0 {
		t.Errorf("the valid resources have errors: %q", extra)
	}
	for _, r := range []string{"lvs_vip", "lvs_virtual_server", "lvs_real_server"} {
		if extra := got[fmt.Sprintf(`resource %q "ok"`, r)]; len(extra) > 0 {
			t.Errorf("%s.ok has errors: %q", r, extra)
		}
	}

	t.Run("every attribute", func(t *testing.T) {
		covered := map[string]bool{}
		for _, c := range cases {
			for _, a := range c.attrs {
				covered["lvs_"+c.typ+"."+a] = true
				if h, ok := strings.CutPrefix(a, "health_check."); ok && c.typ == "virtual_server" {
					// One function checks the health_check of both.
					covered["lvs_real_server.health_check."+h] = true
				}
			}
		}
		all := configurableAttributes(t)
		for _, a := range all {
			if !covered[a] && !slices.Contains(nothingToCheck, a) {
				t.Errorf("no TestValidation case covers %s (or list it in nothingToCheck)", a)
			}
		}
		for _, a := range nothingToCheck {
			if covered[a] || !slices.Contains(all, a) {
				t.Errorf("nothingToCheck lists %s, which a case covers or which is not an attribute", a)
			}
		}
	})
}

// TestValidationAllAtOnce: the configuration of issue 15 (four mistakes in two resources, with
// unknown IDs) fails `terraform validate` with all four errors in one run, each in the user's
// units and naming the attribute. (The virtual server refers to another VIP than the bad one:
// terraform does not validate a resource that depends on one that failed validation.)
func TestValidationAllAtOnce(t *testing.T) {
	requireTerraform(t)
	t.Parallel()
	got := terraformValidate(t, validResources+hcl(
		`resource "lvs_vip" "web" {`, `  `+unknownPair, `  addresses = ["198.51.100.100"]`, `  virtual_router_id = 92`,
		`  priority = [100, 100]`, `  vrrp_version = 2`, `  advert_interval = "150ms"`, `  authentication = "fifteen-bytes!!"`, `}`,
		`resource "lvs_virtual_server" "web" {`, `  `+unknownVIP, `  address = "198.51.100.100"`, `  port = 443`,
		`  persistence = { timeout = "1.5s" }`, `}`,
	))
	matchDiags(t, got[`resource "lvs_vip" "web"`], []string{
		`priority\[1\]: equal priorities`,
		`advert_interval: 150ms is not a whole number of seconds: VRRPv2 adverts are whole seconds; use vrrp_version = 3 for sub-second adverts`,
		`authentication: the password is 15 bytes; a VRRPv2 password is at most 8 bytes`,
	})
	matchDiags(t, got[`resource "lvs_virtual_server" "web"`], []string{`persistence.timeout: 1.5s is not a whole number of seconds`})
}

// TestValidationProvider: the provider's own settings fail the plan (they are checked when the
// provider is configured, which `terraform validate` does not do).
func TestValidationProvider(t *testing.T) {
	requireTerraform(t)
	pair := hcl(`resource "lvs_director_pair" "p" {`, `  name = "edge"`,
		`  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]`, `}`)
	for _, c := range []struct{ name, config, want string }{
		{"no auth", hcl(`provider "lvs" {`, `  ssh = { use_agent = false }`, `}`) + pair, `(?s)no SSH authentication configured`},
		{"bad timeout", hcl(`provider "lvs" {`, `  ssh = { password = "x", timeout = "soon" }`, `}`) + pair, `(?s)timeout "soon" is not a positive duration`},
	} {
		t.Run(c.name, func(t *testing.T) {
			tfresource.UnitTest(t, tfresource.TestCase{
				ProtoV6ProviderFactories: factories,
				Steps:                    []tfresource.TestStep{{Config: c.config, PlanOnly: true, ExpectError: regexp.MustCompile(c.want)}},
			})
		})
	}
}

// terraformValidate runs `terraform validate -json` on config and returns its errors
// ("SUMMARY: DETAIL", white space folded) by the resource block they are in.
func terraformValidate(t *testing.T, config string) map[string][]string {
	t.Helper()
	tf := newTFCLI(t)
	tf.write(config)
	r := tf.run("validate", "-json")
	var out struct {
		Valid       bool `json:"valid"`
		Diagnostics []struct {
			Severity string `json:"severity"`
			Summary  string `json:"summary"`
			Detail   string `json:"detail"`
			Snippet  *struct {
				Context string `json:"context"`
			} `json:"snippet"`
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal([]byte(r.out), &out); err != nil {
		t.Fatalf("terraform validate -json: exit %d, %v:\n%s", r.code, err, r.out)
	}
	got := map[string][]string{}
	for _, d := range out.Diagnostics {
		if d.Severity != "error" {
			continue
		}
		where := ""
		if d.Snippet != nil {
			where = d.Snippet.Context
		}
		got[where] = append(got[where], strings.Join(strings.Fields(d.Summary+": "+d.Detail), " "))
	}
	t.Logf("errors by resource: %q", got)
	if extra := got[""]; len(extra) > 0 {
		t.Errorf("errors outside any resource: %q", extra)
	}
	return got
}

// matchDiags checks that each want matches one diagnostic and that there are no others.
func matchDiags(t *testing.T, diags, want []string) {
	t.Helper()
	left := slices.Clone(diags)
	for _, w := range want {
		re := regexp.MustCompile(w)
		i := slices.IndexFunc(left, re.MatchString)
		if i < 0 {
			t.Errorf("no error matches %q; errors:\n  %s", w, strings.Join(diags, "\n  "))
			continue
		}
		left = slices.Delete(left, i, i+1)
	}
	if len(left) > 0 {
		t.Errorf("unexpected errors:\n  %s", strings.Join(left, "\n  "))
	}
}

// configurableAttributes lists every attribute of every resource that a configuration can set,
// as "lvs_vip.track_scripts.interval".
func configurableAttributes(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	p := provider.New("test")()
	var out []string
	var walk func(prefix string, attrs map[string]schema.Attribute)
	walk = func(prefix string, attrs map[string]schema.Attribute) {
		for name, a := range attrs {
			if !a.IsOptional() && !a.IsRequired() {
				continue
			}
			out = append(out, prefix+name)
			switch n := a.(type) {
			case schema.SingleNestedAttribute:
				walk(prefix+name+".", n.Attributes)
			case schema.ListNestedAttribute:
				walk(prefix+name+".", n.NestedObject.Attributes)
			}
		}
	}
	for _, f := range p.Resources(ctx) {
		r := f()
		var md resource.MetadataResponse
		r.Metadata(ctx, resource.MetadataRequest{ProviderTypeName: "lvs"}, &md)
		var sr resource.SchemaResponse
		r.Schema(ctx, resource.SchemaRequest{}, &sr)
		walk(md.TypeName+".", sr.Schema.Attributes)
		if _, ok := sr.Schema.Blocks["timeouts"]; ok {
			out = append(out, md.TypeName+".timeouts")
		}
	}
	sort.Strings(out)
	return out
}
