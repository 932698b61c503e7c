package kaconvert

import (
	"fmt"
	"strings"
)

// Row is one keyword of keepalived.conf and what the converter makes of it. The guide's
// mapping table is generated from these rows (TestGuideTable), so it cannot drift from the code.
type Row struct {
	Block   string // the block the keyword is in ("vrrp_instance", "real_server", ...; "" for the top)
	Keyword string
	To      string // the provider attribute it becomes; "" when none
	Kind    Kind   // for To == "": NotMapped or Ignored; Changed when To is set but differs
	Note    string // why, or how
}

// Blocks of the table, in the guide's order.
const (
	bTop      = "(top level)"
	bGlobal   = "global_defs"
	bScript   = "vrrp_script"
	bSync     = "vrrp_sync_group"
	bInstance = "vrrp_instance"
	bAuth     = "authentication"
	bVIP      = "virtual_ipaddress"
	bVS       = "virtual_server"
	bGroup    = "virtual_server_group"
	bRS       = "real_server"
	bChecker  = "checker (any)"
	bHTTP     = "HTTP_GET / SSL_GET"
	bURL      = "url"
	bMisc     = "MISC_CHECK"
	bDNS      = "DNS_CHECK"
	bSMTP     = "SMTP_CHECK"
	bUDP      = "UDP_CHECK"
)

const mapped Kind = -1

// provider-independent reasons, used by several rows.
const (
	whyLog        = "logging, mail and SNMP settings have no equivalent: lvs-agent logs to its journal and `lvs-agent status` shows state"
	whyScriptAs   = "the provider runs commands as root on the director; there is no per-script user"
	whyGARP       = "lvs-agent sends the frames of a burst back to back; of the announcements' timing, the `garp_master_*` settings are configurable (`lvs_vip.gratuitous_arp`)"
	whyGARPLow    = "a master that hears a lower-priority advert announces its addresses again at once, `gratuitous_arp.repeat` per address, at most once a second"
	noteGARPDef   = "the default of every instance of the file that does not set it"
	whySyncNotify = "no group notify: each member's `notify` runs on its own transitions, which the group makes together"
	whySyncTrack  = "put the tracking on one member (`track_interfaces`, `track_scripts`): a member's tracking applies to its whole group"
)

var table = []Row{
	{bTop, "global_defs", "", mapped, "read for `vrrp_version`, `lvs_sync_daemon`, `lvs_timeouts`"},
	{bTop, "vrrp_script", "lvs_vip.track_scripts", mapped, "each instance that tracks it gets the script's settings"},
	{bTop, "vrrp_instance", "lvs_vip", mapped, "one `lvs_vip` per instance; the two files' instances are matched by name, then by `virtual_router_id`"},
	{bTop, "vrrp_sync_group", "lvs_vip.sync_group", mapped, "each instance of its `group` gets the group's name; the members must prefer the same director"},
	{bTop, "virtual_server", "lvs_virtual_server", mapped, "`IP PORT`, `IP` (port 0, persistent), `fwmark N` and `group NAME`"},
	{bTop, "virtual_server_group", "lvs_virtual_server", mapped, "one `lvs_virtual_server` (with its real servers) per address, range entry or fwmark of the group"},
	{bTop, "include", "", mapped, "read, with globs and brace lists, relative to the including file"},
	{bTop, "static_ipaddress", "", NotMapped, "addresses outside VRRP are not managed by the provider"},
	{bTop, "static_routes", "", NotMapped, "routes are not managed by the provider"},
	{bTop, "static_rules", "", NotMapped, "rules are not managed by the provider"},
	{bTop, "garp_group", "", NotMapped, whyGARP},
	{bTop, "linkbeat_interfaces", "", NotMapped, "lvs-agent follows links by netlink"},
	{bTop, "bfd_instance", "", NotMapped, "the provider has no BFD"},
	{bTop, "vrrp_track_process", "", NotMapped, "no process tracking: use a `track_scripts` entry running e.g. `pidof NAME`"},
	{bTop, "track_file", "", NotMapped, "no file tracking: use a `track_scripts` entry that tests the file"},
	{bTop, "net_namespace", "", NotMapped, "lvs-agent runs in the host's network namespace"},
	{bTop, "instance", "", Ignored, "one lvs-agent per host"},
	{bTop, "use_pid_dir", "", Ignored, "lvs-agent keeps its own files"},
	{bTop, "SSL", "", NotMapped, "https checks use the director's CA store (`tls_verify`); no client certificate"},

	{bGlobal, "vrrp_version", "lvs_vip.vrrp_version", mapped, "keepalived's default is 2 (3 for IPv6): the converter writes the version keepalived runs"},
	{bGlobal, "lvs_sync_daemon", "lvs_director_pair.sync_connections, sync_daemon", mapped, "`true` when present; `interface` (when not the pair's), `id` (always written: keepalived's default is the named instance's `virtual_router_id`, the provider's comes from the pair's name), `port`, `ttl`, `maxlen` → `max_length`, `group`; both directors run a master and a backup daemon"},
	{bGlobal, "lvs_timeouts", "lvs_director_pair.ipvs_timeouts", mapped, "`tcp`, `tcpfin`, `udp`"},
	{bGlobal, "router_id", "", Ignored, "a host name for logs and mail"},
	{bGlobal, "notification_email", "", Ignored, whyLog},
	{bGlobal, "notification_email_from", "", Ignored, whyLog},
	{bGlobal, "smtp_server", "", Ignored, whyLog},
	{bGlobal, "smtp_connect_timeout", "", Ignored, whyLog},
	{bGlobal, "enable_traps", "", Ignored, whyLog},
	{bGlobal, "enable_script_security", "", Ignored, whyScriptAs},
	{bGlobal, "script_user", "", Ignored, whyScriptAs},
	{bGlobal, "vrrp_strict", "", NotMapped, "lvs-agent's VRRP always checks TTL 255 and the peer's address (see the trust model in `lvs_vip`); it has no other strict-mode rules"},
	{bGlobal, "vrrp_skip_check_adv_addr", "", Ignored, "lvs-agent takes adverts from the peer director only"},
	{bGlobal, "vrrp_garp_master_delay", "lvs_vip.gratuitous_arp.delay", mapped, noteGARPDef},
	{bGlobal, "vrrp_garp_master_repeat", "lvs_vip.gratuitous_arp.repeat", mapped, noteGARPDef},
	{bGlobal, "vrrp_garp_master_refresh", "lvs_vip.gratuitous_arp.refresh", mapped, noteGARPDef},
	{bGlobal, "vrrp_garp_master_refresh_repeat", "lvs_vip.gratuitous_arp.refresh_repeat", mapped, noteGARPDef},
	{bGlobal, "vrrp_garp_lower_prio_delay", "", NotMapped, whyGARPLow},
	{bGlobal, "vrrp_garp_lower_prio_repeat", "", NotMapped, whyGARPLow},
	{bGlobal, "vrrp_garp_interval", "", NotMapped, whyGARP},
	{bGlobal, "vrrp_gna_interval", "", NotMapped, whyGARP},

	{bScript, "script", "track_scripts[].command", mapped, ""},
	{bScript, "interval", "track_scripts[].interval", mapped, "keepalived's default 1s is written out"},
	{bScript, "timeout", "track_scripts[].timeout", mapped, "keepalived's default (the interval) is written out"},
	{bScript, "weight", "track_scripts[].weight", mapped, "`reverse` is not mapped"},
	{bScript, "rise", "track_scripts[].rise", mapped, ""},
	{bScript, "fall", "track_scripts[].fall", mapped, ""},
	{bScript, "user", "", NotMapped, whyScriptAs},
	{bScript, "init_fail", "", NotMapped, "a track script starts as succeeding"},
	{bSync, "group", "lvs_vip.sync_group", mapped, "the members: instances of this file"},
	{bSync, "notify_master", "", NotMapped, whySyncNotify},
	{bSync, "notify_backup", "", NotMapped, whySyncNotify},
	{bSync, "notify_fault", "", NotMapped, whySyncNotify},
	{bSync, "notify_stop", "", NotMapped, whySyncNotify},
	{bSync, "notify", "", NotMapped, whySyncNotify},
	{bSync, "smtp_alert", "", Ignored, whyLog},
	{bSync, "global_tracking", "", Ignored, "the members of a sync group always share their tracking"},
	{bSync, "sync_group_tracking_weight", "", Ignored, "the members of a sync group always share their tracking: the weights of all members' tracked objects add up"},
	{bSync, "track_interface", "", NotMapped, whySyncTrack},
	{bSync, "track_script", "", NotMapped, whySyncTrack},
	{bSync, "track_file", "", NotMapped, whySyncTrack},
	{bSync, "track_process", "", NotMapped, whySyncTrack},
	{bSync, "track_bfd", "", NotMapped, whySyncTrack},

	{bInstance, "interface", "lvs_director_pair.directors[].interface", mapped, "one interface per director: instances on another interface than the first instance's are not converted"},
	{bInstance, "virtual_router_id", "lvs_vip.virtual_router_id", mapped, "must be the same in both files"},
	{bInstance, "priority", "lvs_vip.priority", mapped, "one per director, from each file; keepalived's default 100. Equal priorities are made different (the provider requires it)"},
	{bInstance, "state", "", Ignored, "the initial state follows from the priorities"},
	{bInstance, "advert_int", "lvs_vip.advert_interval", mapped, "must be the same in both files"},
	{bInstance, "version", "lvs_vip.vrrp_version", mapped, ""},
	{bInstance, "authentication", "lvs_vip.authentication", mapped, "`auth_type PASS` only; the password goes into a sensitive variable"},
	{bInstance, "virtual_ipaddress", "lvs_vip.addresses", mapped, "must be the same in both files; `dev` is `lvs_vip.interface` (addresses on two devs: one more `lvs_vip` per dev, in the instance's sync group)"},
	{bInstance, "virtual_ipaddress_excluded", "lvs_vip.addresses", Changed, "added to the addresses, which the agent also puts in its adverts"},
	{bInstance, "nopreempt", "lvs_vip.preempt", mapped, "`false`"},
	{bInstance, "preempt", "lvs_vip.preempt", mapped, "`true` (the default)"},
	{bInstance, "preempt_delay", "lvs_vip.preempt_delay", mapped, ""},
	{bInstance, "track_interface", "lvs_vip.track_interfaces", mapped, "`reverse` is not mapped"},
	{bInstance, "track_script", "lvs_vip.track_scripts", mapped, "the `vrrp_script` it names is copied in; `reverse` is not mapped"},
	{bInstance, "notify_master", "lvs_vip.notify.master", Changed, "the command also gets the new state as last argument"},
	{bInstance, "notify_backup", "lvs_vip.notify.backup", Changed, "the command also gets the new state as last argument"},
	{bInstance, "notify_fault", "lvs_vip.notify.fault", Changed, "the command also gets the new state as last argument"},
	{bInstance, "notify", "", NotMapped, "no generic notify: use `notify.master`, `notify.backup` and `notify.fault`, which get the state as last argument"},
	{bInstance, "notify_stop", "", NotMapped, "no notify on stop"},
	{bInstance, "notify_master_rx_lower_pri", "", NotMapped, "no such notify"},
	{bInstance, "unicast_peer", "lvs_director_pair.vrrp_unicast, directors[N].vrrp_address", mapped, "`true`; a single peer is the other director's `vrrp_address` (and the default of its host variable)"},
	{bInstance, "unicast_src_ip", "lvs_director_pair.directors[N].vrrp_address", mapped, "adverts of its family come from it; also the default of the director's host variable (set that to the SSH address if it differs)"},
	{bInstance, "mcast_src_ip", "lvs_director_pair.directors[N].vrrp_address", mapped, "as `unicast_src_ip`"},
	{bInstance, "smtp_alert", "", Ignored, whyLog},
	{bInstance, "notify_priority_changes", "", Ignored, whyLog},
	{bInstance, "debug", "", Ignored, whyLog},
	{bInstance, "garp_master_delay", "lvs_vip.gratuitous_arp.delay", mapped, "whole seconds, at most 1h; 0 is no second burst"},
	{bInstance, "garp_master_repeat", "lvs_vip.gratuitous_arp.repeat", mapped, "1-255 (0 is taken as 1, as keepalived does)"},
	{bInstance, "garp_master_refresh", "lvs_vip.gratuitous_arp.refresh", mapped, "whole seconds, at most 24h; 0 (the default) is off"},
	{bInstance, "garp_master_refresh_repeat", "lvs_vip.gratuitous_arp.refresh_repeat", mapped, "1-255 (0 is taken as 1, as keepalived does)"},
	{bInstance, "garp_lower_prio_delay", "", NotMapped, whyGARPLow},
	{bInstance, "garp_lower_prio_repeat", "", NotMapped, whyGARPLow},
	{bInstance, "use_vmac", "", NotMapped, "no VRRP virtual MAC: VIPs are added to the interface itself"},
	{bInstance, "vmac_xmit_base", "", NotMapped, "no VRRP virtual MAC"},
	{bInstance, "use_ipvlan", "", NotMapped, "no ipvlan interfaces"},
	{bInstance, "dont_track_primary", "", NotMapped, "the VIP always follows its interface's link"},
	{bInstance, "track_file", "", NotMapped, "no file tracking: use a track script"},
	{bInstance, "track_process", "", NotMapped, "no process tracking: use a track script"},
	{bInstance, "track_bfd", "", NotMapped, "no BFD"},
	{bInstance, "virtual_routes", "", NotMapped, "routes are not managed by the provider"},
	{bInstance, "virtual_rules", "", NotMapped, "rules are not managed by the provider"},
	{bInstance, "accept", "", Ignored, "the agent's VIPs accept traffic (the VRRPv3 accept mode)"},
	{bInstance, "no_accept", "", NotMapped, "the agent's VIPs always accept traffic"},
	{bInstance, "strict_mode", "", NotMapped, "see `vrrp_strict`"},
	{bInstance, "native_ipv6", "", Ignored, "the addresses give the family"},
	{bInstance, "promote_secondaries", "", NotMapped, "interface settings are not managed by the provider"},
	{bInstance, "skip_check_adv_addr", "", Ignored, "lvs-agent takes adverts from the peer director only"},
	{bInstance, "check_unicast_src", "", Ignored, "lvs-agent takes adverts from the peer director only, always"},
	{bInstance, "unicast_ttl", "", NotMapped, "adverts are sent and required with TTL 255"},
	{bInstance, "mcast_dst_ip", "", NotMapped, "multicast adverts go to 224.0.0.18 / ff02::12"},
	{bInstance, "down_timer_adverts", "", NotMapped, "the master-down timer is the RFC's 3 adverts + skew"},

	{bAuth, "auth_type", "", mapped, "`PASS`; `AH` is not mapped"},
	{bAuth, "auth_pass", "lvs_vip.authentication", mapped, "through a sensitive variable `<instance>_auth_pass`"},

	{bVIP, "ADDRESS[/LEN]", "lvs_vip.addresses[]", mapped, "`label`, `scope`, `brd` and the other `ip addr` options are not mapped"},
	{bVIP, "dev", "lvs_vip.interface", mapped, "addresses of one instance on another dev than the instance's interface go to a second `lvs_vip` (a free `virtual_router_id`) in the instance's `sync_group` (named after the instance if it has none)"},

	{bVS, "lb_algo", "lvs_virtual_server.scheduler", mapped, "also `lvs_sched`"},
	{bVS, "lvs_sched", "lvs_virtual_server.scheduler", mapped, ""},
	{bVS, "lb_kind", "lvs_virtual_server.forwarding_method", mapped, "also `lvs_method`; NAT (keepalived's default), DR, TUN (ipip only)"},
	{bVS, "lvs_method", "lvs_virtual_server.forwarding_method", mapped, ""},
	{bVS, "protocol", "lvs_virtual_server.protocol", mapped, "TCP (default), UDP, SCTP"},
	{bVS, "persistence_timeout", "lvs_virtual_server.persistence.timeout", mapped, "without a value, keepalived's 360s"},
	{bVS, "persistence_granularity", "lvs_virtual_server.persistence.netmask", mapped, ""},
	{bVS, "persistence_engine", "", NotMapped, "no persistence engines (sip)"},
	{bVS, "quorum", "lvs_virtual_server.quorum.min", mapped, ""},
	{bVS, "hysteresis", "lvs_virtual_server.quorum.hysteresis", mapped, ""},
	{bVS, "quorum_up", "", NotMapped, "no quorum notify"},
	{bVS, "quorum_down", "", NotMapped, "no quorum notify"},
	{bVS, "sorry_server", "lvs_virtual_server.sorry_server", mapped, ""},
	{bVS, "sorry_server_lvs_method", "lvs_virtual_server.sorry_server.forwarding_method", mapped, ""},
	{bVS, "sorry_server_inhibit", "", NotMapped, "the sorry server is not checked"},
	{bVS, "inhibit_on_failure", "lvs_virtual_server.on_failure", mapped, "`quiesce`; without it, `remove` (keepalived's default) is written"},
	{bVS, "alpha", "health_check.start_down", mapped, ""},
	{bVS, "omega", "", Ignored, "lvs-agent behaves as with `omega` whenever real servers leave IPVS: `notify.down` runs for each up real server removed, also by destroying its virtual server or the director pair (keepalived without `omega` skips it at shutdown). Stopping or restarting lvs-agent leaves IPVS serving, so there is nothing to notify then. There is no quorum notify"},
	{bVS, "delay_loop", "health_check.interval", mapped, "keepalived's default 60s is written out"},
	{bVS, "connect_timeout", "health_check.timeout", mapped, "keepalived's default 5s is written out"},
	{bVS, "retry", "health_check.retries", mapped, "also `nb_get_retry`"},
	{bVS, "delay_before_retry", "health_check.retry_delay", mapped, ""},
	{bVS, "virtualhost", "health_check.host", mapped, ""},
	{bVS, "warmup", "", NotMapped, "checks start at once"},
	{bVS, "ha_suspend", "", NotMapped, "both directors always check"},
	{bVS, "ip_family", "lvs_virtual_server.address_family", mapped, "fwmark services"},
	{bVS, "sh-port", "lvs_virtual_server.scheduler_flags", mapped, "also `flag-2` with sh"},
	{bVS, "sh-fallback", "lvs_virtual_server.scheduler_flags", mapped, "also `flag-1` with sh"},
	{bVS, "mh-port", "lvs_virtual_server.scheduler_flags", mapped, "also `flag-2` with mh"},
	{bVS, "mh-fallback", "lvs_virtual_server.scheduler_flags", mapped, "also `flag-1` with mh"},
	{bVS, "flag-1", "lvs_virtual_server.scheduler_flags", mapped, "`sh-fallback` or `mh-fallback`"},
	{bVS, "flag-2", "lvs_virtual_server.scheduler_flags", mapped, "`sh-port` or `mh-port`"},
	{bVS, "flag-3", "", NotMapped, "no scheduler uses it"},
	{bVS, "hashed", "", NotMapped, "no such scheduler flag"},
	{bVS, "ops", "lvs_virtual_server.one_packet_scheduling", mapped, "UDP services only, as in keepalived, which ignores it elsewhere"},
	{bVS, "real_server", "lvs_real_server", mapped, ""},
	{bVS, "smtp_alert", "", Ignored, whyLog},
	{bVS, "snmp_name", "", Ignored, whyLog},

	{bGroup, "ADDRESS [PORT]", "lvs_virtual_server.address, port", mapped, "ranges (`A.B.C.D-E`, `A.B.C.D/N`) are expanded, up to 64 addresses"},
	{bGroup, "fwmark", "lvs_virtual_server.fwmark", mapped, "with its family"},

	{bRS, "weight", "lvs_real_server.weight", mapped, ""},
	{bRS, "lvs_method", "lvs_real_server.forwarding_method", mapped, "also `lb_kind`"},
	{bRS, "uthreshold", "lvs_real_server.thresholds.upper", mapped, ""},
	{bRS, "lthreshold", "lvs_real_server.thresholds.lower", mapped, ""},
	{bRS, "inhibit_on_failure", "lvs_real_server.on_failure", mapped, "written only where it differs from the virtual server's"},
	{bRS, "notify_up", "lvs_real_server.notify.up", mapped, "run on verdict changes, not for the initial state (as keepalived without `rs_init_notifies`); killed after 30s; no per-script user"},
	{bRS, "notify_down", "lvs_real_server.notify.down", mapped, "also run when an up real server is removed, as keepalived does on a reload; killed after 30s; no per-script user"},
	{bRS, "alpha", "health_check.start_down", mapped, ""},
	{bRS, "delay_loop", "health_check.interval", mapped, ""},
	{bRS, "connect_timeout", "health_check.timeout", mapped, ""},
	{bRS, "retry", "health_check.retries", mapped, ""},
	{bRS, "delay_before_retry", "health_check.retry_delay", mapped, ""},
	{bRS, "virtualhost", "health_check.host", mapped, ""},
	{bRS, "warmup", "", NotMapped, "checks start at once"},
	{bRS, "smtp_alert", "", Ignored, whyLog},
	{bRS, "snmp_name", "", Ignored, whyLog},
	{bRS, "TCP_CHECK", "health_check.type = \"tcp\"", mapped, "one checker per real server: further ones are not mapped"},
	{bRS, "HTTP_GET", "health_check.type = \"http\"", mapped, ""},
	{bRS, "SSL_GET", "health_check.type = \"https\"", mapped, ""},
	{bRS, "MISC_CHECK", "health_check.type = \"exec\"", mapped, ""},
	{bRS, "DNS_CHECK", "health_check.type = \"dns\"", mapped, ""},
	{bRS, "SMTP_CHECK", "health_check.type = \"smtp\"", mapped, "greeting 220, `HELO`, 250, `QUIT`; a real server of port 0 is checked on port 25"},
	{bRS, "UDP_CHECK", "health_check.type = \"udp\"", mapped, "an ICMP port or host unreachable is down; without `require_reply`, silence until the timeout is up"},
	{bRS, "PING_CHECK", "", NotMapped, "no ICMP check: the real server is not checked"},
	{bRS, "FILE_CHECK", "", NotMapped, "no file check"},
	{bRS, "BFD_CHECK", "", NotMapped, "no BFD"},

	{bChecker, "connect_ip", "health_check.connect_address", mapped, ""},
	{bChecker, "connect_port", "health_check.connect_port", mapped, ""},
	{bChecker, "connect_timeout", "health_check.timeout", mapped, "a timeout longer than the interval is taken as keepalived takes it: the next check comes an interval after a long one ended"},
	{bChecker, "delay_loop", "health_check.interval", mapped, ""},
	{bChecker, "retry", "health_check.retries", mapped, "also `nb_get_retry`"},
	{bChecker, "nb_get_retry", "health_check.retries", mapped, ""},
	{bChecker, "delay_before_retry", "health_check.retry_delay", mapped, ""},
	{bChecker, "alpha", "health_check.start_down", mapped, ""},
	{bChecker, "bindto", "", NotMapped, "checks use the director's routing for their source address"},
	{bChecker, "bind_port", "", NotMapped, "checks use an ephemeral source port"},
	{bChecker, "bind_if", "", NotMapped, "checks use the director's routing"},
	{bChecker, "fwmark", "", NotMapped, "check packets are not marked"},
	{bChecker, "warmup", "", NotMapped, "checks start at once"},
	{bChecker, "log_all_failures", "", Ignored, whyLog},

	{bHTTP, "url", "health_check.path, expected_status, expected_body, digest", mapped, "several `url` blocks become `health_check.urls`, all of which must pass"},
	{bHTTP, "virtualhost", "health_check.host", mapped, ""},
	{bHTTP, "sni_name", "health_check.tls_server_name", mapped, ""},
	{bHTTP, "enable_sni", "health_check.tls_server_name", mapped, "the virtual host"},
	{bHTTP, "http_protocol", "", Ignored, "checks speak HTTP/1.1 with Connection: close"},
	{bHTTP, "fast_recovery", "", Ignored, "a check passes on its first success"},
	{bHTTP, "tls_compliant", "", Ignored, "TLS connections are closed properly"},
	{bURL, "path", "health_check.path", mapped, ""},
	{bURL, "status_code", "health_check.expected_status", mapped, ""},
	{bURL, "regex", "health_check.expected_body", mapped, "must be RE2 (Go) syntax, which PCRE mostly is"},
	{bURL, "virtualhost", "health_check.host", mapped, "one host for all the URLs of a check: a later url's other virtualhost is not mapped"},
	{bURL, "digest", "health_check.digest", mapped, "MD5 of the body, as `genhash` prints it; `urls[*].digest` with several url blocks"},
	{bURL, "regex_no_match", "", NotMapped, "no negated body match"},
	{bURL, "regex_options", "", NotMapped, "RE2 flags go in the expression, e.g. `(?i)`"},
	{bURL, "regex_min_offset", "", NotMapped, ""},
	{bURL, "regex_max_offset", "", NotMapped, ""},
	{bURL, "regex_stack", "", Ignored, ""},
	{bMisc, "misc_path", "health_check.command", mapped, ""},
	{bMisc, "misc_timeout", "health_check.timeout", mapped, ""},
	{bMisc, "misc_dynamic", "health_check.dynamic_weight", mapped, "exit 0: the configured weight, 1: down, 2-255: weight status - 2; the weight in state stays the configured one"},
	{bMisc, "user", "", NotMapped, whyScriptAs},
	{bDNS, "type", "health_check.query_type", mapped, "keepalived's default SOA is written out"},
	{bDNS, "name", "health_check.query_name", mapped, "keepalived's default `.` is written out"},
	{bSMTP, "helo_name", "health_check.helo_name", mapped, "keepalived's default `smtpchecker.keepalived.org` is the provider's"},
	{bSMTP, "host", "", NotMapped, "a check connects to one address: use a `connect_ip` (`connect_address`)"},
	{bUDP, "payload", "health_check.payload", mapped, "hex, as keepalived writes it; without it 32 random bytes"},
	{bUDP, "require_reply", "health_check.require_reply, reply_pattern", mapped, "the hex string (`x` for any digit) becomes `reply_pattern`"},
	{bUDP, "min_reply_length", "", NotMapped, "the reply's length is not checked"},
	{bUDP, "max_reply_length", "", NotMapped, "the reply's length is not checked (keepalived fails replies over 255 bytes by default)"},
}

var rowIndex = func() map[[2]string]*Row {
	m := map[[2]string]*Row{}
	for i := range table {
		r := &table[i]
		m[[2]string{r.Block, r.Keyword}] = r
	}
	return m
}()

func row(block, kw string) *Row { return rowIndex[[2]string{block, kw}] }

// MarkdownTable is the guide's mapping table: every row, by block.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| block | keyword | becomes | note |\n|---|---|---|---|\n")
	esc := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	for _, r := range table {
		to := "`" + r.To + "`"
		switch {
		case r.To == "" && r.Kind == mapped:
			to = "(read)"
		case r.To == "":
			to = "— (" + r.Kind.String() + ")"
		case r.Kind == Changed:
			to += " (changed)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", r.Block, r.Keyword, esc(to), esc(r.Note))
	}
	return b.String()
}
