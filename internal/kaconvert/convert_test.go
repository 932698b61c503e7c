package kaconvert

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/keepalived"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// cases are the golden conversions: testdata/NAME/ holds the keepalived.conf files (director 1,
// then director 2), NAME.tf.golden the HCL and NAME.report.golden the report.
var cases = []struct {
	name  string
	files []string
}{
	{"manpage", []string{"keepalived.conf"}},
	{"lab-interop", []string{"director1.conf", "director2.conf"}},
	{"lab-health", []string{"keepalived.conf"}},
	{"pair", []string{"lb1.conf", "lb2.conf"}},
	{"mismatch", []string{"lb1.conf", "lb2.conf"}},
	{"roundtrip", []string{"director1.conf", "director2.conf"}},
	{"syncgroup", []string{"lb1.conf", "lb2.conf"}},
}

// convertDir converts a case from inside its directory, so that positions in the report are
// relative to it.
func convertDir(t *testing.T, dir string, files []string) *Result {
	t.Helper()
	t.Chdir(filepath.Join("testdata", dir))
	var inputs []Input
	for _, f := range files {
		cfg, err := keepalived.ParseFile(f, keepalived.Options{})
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, Input{Config: cfg})
	}
	res, err := Convert(inputs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestGolden(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := convertDir(t, c.name, c.files)
			var rep bytes.Buffer
			if err := res.Report.Write(&rep); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("..", c.name+".tf.golden"), res.HCL)
			golden(t, filepath.Join("..", c.name+".report.golden"), rep.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/kaconvert -run TestGolden -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the conversion (run with -update if the change is intended):\n--- got\n%s", path, got)
	}
}

// report finds the entries of the report whose keyword and reason contain the given texts.
func find(r Report, kind Kind, kw, why string) []Entry {
	var out []Entry
	for _, e := range r.Entries {
		if e.Kind == kind && strings.Contains(e.Keyword, kw) && strings.Contains(e.Why, why) {
			out = append(out, e)
		}
	}
	return out
}

func TestMergeErrors(t *testing.T) {
	res := convertDir(t, "mismatch", []string{"lb1.conf", "lb2.conf"})
	for _, w := range []struct{ kw, why string }{
		{"VI_1: virtual_router_id", "is 61 here and 51 in lb1.conf:1"},
		{"VI_1: virtual_ipaddress", "keepalived drops adverts whose addresses differ"},
		{"VI_1: authentication", "each host drops the other's adverts"},
		{"VI_1: advert_int", "is 2s here and 1s"},
	} {
		if len(find(res.Report, Error, w.kw, w.why)) != 1 {
			t.Errorf("no error %q: %q in the report:\n%v", w.kw, w.why, res.Report.Entries)
		}
	}
	// VI_2 has the same priority on both: made different, and said so.
	if len(find(res.Report, Changed, "VI_2: priority", "both directors have priority 150")) != 1 {
		t.Errorf("equal priorities not reported: %v", res.Report.Entries)
	}
	if !bytes.Contains(res.HCL, []byte("priority          = [150, 149]")) {
		t.Errorf("VI_2's priorities are not [150, 149]:\n%s", res.HCL)
	}
	if got := res.Report.Count(Error); got != 4 {
		t.Errorf("%d errors, want 4: %v", got, res.Report.Entries)
	}
	// An instance on one host only breaks nothing in keepalived, but cannot be an lvs_vip.
	if len(find(res.Report, NotMapped, "vrrp_instance VI_3", "has no counterpart")) != 1 {
		t.Errorf("VI_3 (in lb2.conf only) not reported: %v", res.Report.Entries)
	}
}

func TestMergePair(t *testing.T) {
	res := convertDir(t, "pair", []string{"lb1.conf", "lb2.conf"})
	if n := res.Report.Count(Error); n != 0 {
		t.Errorf("%d errors in a consistent pair: %v", n, res.Report.Entries)
	}
	for _, want := range []string{
		`priority          = [150, 100]`,
		`interface    = "eth0"`, `interface    = "eth1"`,
		`vrrp_address = "198.51.100.11"`, `vrrp_address = "198.51.100.12"`,
		// lvs_sync_daemon on each director's own interface, no id: the instance's VRID.
		"sync_daemon = {\n    id    = 91\n    port  = 8850\n    ttl   = 2\n    group = \"239.1.2.3\"\n  }",
		`default     = "198.51.100.11"`, `default     = "198.51.100.12"`,
		`vrrp_unicast = true`,
		`authentication    = var.vi_web_auth_pass`,
		`command  = "/usr/bin/pgrep -x nginx"`,
		`weight   = -30`,
		// connect_timeout 10 with delay_loop 6: mapped as is.
		`interval = "6s"`, `timeout  = "10s"`,
	} {
		if !bytes.Contains(res.HCL, []byte(want)) {
			t.Errorf("no %q in the HCL:\n%s", want, res.HCL)
		}
	}
	// As keepalived, the provider takes a timeout longer than the interval: nothing to report.
	if got := find(res.Report, Refused, "TCP_CHECK", ""); len(got) != 0 {
		t.Errorf("the timeout longer than the interval is reported: %v", got)
	}
	// "state MASTER ; this ..." has words keepalived ignores; the report has the keyword.
	if len(find(res.Report, Ignored, "VI_web: state", "")) != 2 {
		t.Errorf("state not reported as ignored in both files: %v", res.Report.Entries)
	}
}

// TestEveryKeywordReported: every statement of the man-page configuration is either mapped
// (no entry) or has an entry naming its line; none disappears. The mapped keywords are those of
// the table; the test lists, per line, what the report says.
func TestEveryKeywordReported(t *testing.T) {
	res := convertDir(t, "manpage", []string{"keepalived.conf"})
	cfg, err := keepalived.ParseFile("keepalived.conf", keepalived.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lines := map[int]bool{}
	for _, e := range res.Report.Entries {
		lines[e.Pos.Line] = true
	}
	var walk func(block string, ns []*keepalived.Node)
	walk = func(block string, ns []*keepalived.Node) {
		for _, n := range ns {
			r := row(block, n.Keyword())
			if r == nil && block != "" && !lines[n.Pos.Line] {
				// Values (addresses, script names, group members) are not keywords.
				switch block {
				case bVIP, bGroup, "track_interface", "track_script", "group", "notification_email", "unicast_peer", "url", bChecker, bAuth:
				default:
					t.Errorf("line %d: %s in %s: neither in the table nor in the report", n.Pos.Line, n.Keyword(), block)
				}
			}
			if r != nil && r.Kind != mapped && r.To == "" && !lines[n.Pos.Line] {
				t.Errorf("line %d: %s is %s by the table but not in the report", n.Pos.Line, n.Keyword(), r.Kind)
			}
			if r != nil && r.Kind != mapped && r.To == "" {
				continue // reported with its block
			}
			sub := n.Keyword()
			switch {
			case block == "" && sub == "virtual_server_group":
				sub = bGroup
			case block == "" || sub == "virtual_ipaddress" || sub == "virtual_ipaddress_excluded":
				if sub == "virtual_ipaddress" || sub == "virtual_ipaddress_excluded" {
					sub = bVIP
				}
			case sub == "real_server":
				sub = bRS
			case strings.HasSuffix(sub, "_CHECK") || strings.HasSuffix(sub, "_GET"):
				sub = bChecker
			}
			if block == "" {
				sub = map[string]string{"global_defs": bGlobal, "vrrp_script": bScript, "vrrp_instance": bInstance, "virtual_server": bVS, "virtual_server_group": bGroup, "vrrp_sync_group": "group"}[n.Keyword()]
			}
			walk(sub, n.Block)
		}
	}
	walk("", cfg.Nodes)
}

func TestOneLineAndManyLinesAgree(t *testing.T) {
	many := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  198.51.100.100\n }\n}\n" +
		"virtual_server 198.51.100.100 80 {\n lb_kind DR\n real_server 198.51.100.21 80 {\n  TCP_CHECK {\n   connect_timeout 3\n  }\n }\n}\n"
	one := "vrrp_instance VI_1 { interface eth0\nvirtual_router_id 7\nvirtual_ipaddress { 198.51.100.100 } }\n" +
		"virtual_server 198.51.100.100 80 { lb_kind DR\nreal_server 198.51.100.21 80 { TCP_CHECK { connect_timeout 3 } } }"
	conv := func(src string) string {
		res, err := Convert([]Input{{Config: keepalived.Parse("k.conf", []byte(src), nil, keepalived.Options{})}})
		if err != nil {
			t.Fatal(err)
		}
		// Positions differ (one line or many): compare without the comments.
		var out []string
		for _, l := range strings.Split(string(res.HCL), "\n") {
			if !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	if a, b := conv(many), conv(one); a != b {
		t.Errorf("one-line blocks convert differently:\n%s\n---\n%s", a, b)
	}
}

// TestOnePacketScheduling: keepalived's ops becomes one_packet_scheduling on a UDP service; on a
// TCP one keepalived ignores it, and so does the converter, saying so.
func TestOnePacketScheduling(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(conf, []byte(`vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 150
  virtual_ipaddress { 198.51.100.100 }
}
virtual_server 198.51.100.100 53 {
  protocol UDP
  ops
  real_server 198.51.100.21 53 { weight 1 }
}
virtual_server 198.51.100.100 80 {
  protocol TCP
  ops
  real_server 198.51.100.21 80 { weight 1 }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := keepalived.ParseFile(conf, keepalived.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert([]Input{{Config: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(res.HCL, []byte("one_packet_scheduling = true")); n != 1 {
		t.Errorf("one_packet_scheduling set %d times, want once (the UDP service):\n%s", n, res.HCL)
	}
	if got := find(res.Report, Ignored, "virtual_server 198.51.100.100 80: ops", "UDP"); len(got) != 1 {
		t.Errorf("ops on the TCP service not reported as ignored: %v", res.Report.Entries)
	}
}

// TestGARP: the garp_master_* settings of an instance, and global_defs' vrrp_garp_master_* as
// the defaults of every instance (wherever global_defs is in the file), become gratuitous_arp;
// an instance that sets nothing, in a file that sets nothing, gets none.
func TestGARP(t *testing.T) {
	src := "vrrp_instance A {\n interface eth0\n virtual_router_id 7\n garp_master_repeat 3\n garp_master_delay 0\n virtual_ipaddress { 198.51.100.100 }\n}\n" +
		"vrrp_instance B {\n interface eth0\n virtual_router_id 8\n virtual_ipaddress { 198.51.100.101 }\n}\n" +
		"global_defs {\n vrrp_garp_master_refresh 30\n vrrp_garp_master_refresh_repeat 2\n vrrp_garp_master_repeat 4\n}\n"
	res, err := Convert([]Input{{Config: keepalived.Parse("k.conf", []byte(src), nil, keepalived.Options{})}})
	if err != nil {
		t.Fatal(err)
	}
	hcl := string(res.HCL)
	for _, want := range []string{
		"gratuitous_arp = {\n    delay          = \"0s\"\n    repeat         = 3\n    refresh        = \"30s\"\n    refresh_repeat = 2\n  }",
		"gratuitous_arp = {\n    repeat         = 4\n    refresh        = \"30s\"\n    refresh_repeat = 2\n  }",
	} {
		if !strings.Contains(hcl, want) {
			t.Errorf("no\n%s\nin the HCL:\n%s", want, hcl)
		}
	}
	if n := len(res.Report.Entries); n != 2 { // the other director's priority, per instance
		t.Errorf("report: %v", res.Report.Entries)
	}

	res, err = Convert([]Input{{Config: keepalived.Parse("k.conf", []byte("vrrp_instance A {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress { 198.51.100.100 }\n}\n"), nil, keepalived.Options{})}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.HCL), "gratuitous_arp") {
		t.Errorf("gratuitous_arp without garp settings:\n%s", res.HCL)
	}

	// Two files that differ: the first file's, and a note.
	res = convertDir(t, "mismatch", []string{"lb1.conf", "lb2.conf"})
	if len(find(res.Report, Changed, "VI_2: garp_master_*", "the provider announces a new master the same way on both directors")) != 1 {
		t.Errorf("differing garp settings not reported: %v", res.Report.Entries)
	}
}

func TestSyncDaemonMapping(t *testing.T) {
	inst := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n priority %d\n virtual_ipaddress { 198.51.100.100 }\n}\n"
	conv := func(g1, g2 string) *Result {
		t.Helper()
		var in []Input
		for i, g := range []string{g1, g2} {
			src := "global_defs {\n" + g + "\n}\n" + fmt.Sprintf(inst, 150-50*i)
			in = append(in, Input{Config: keepalived.Parse(fmt.Sprintf("lb%d.conf", i+1), []byte(src), nil, keepalived.Options{})})
		}
		res, err := Convert(in)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// The old positional form: INTERFACE INSTANCE SYNC_ID.
	res := conv("lvs_sync_daemon eth1 VI_1 42", "lvs_sync_daemon eth1 VI_1 42")
	if !bytes.Contains(res.HCL, []byte("sync_daemon = {\n    interface = \"eth1\"\n    id        = 42\n  }")) {
		t.Errorf("positional id:\n%s", res.HCL)
	}
	// Without an instance keepalived's id is 0; directors that differ are reported.
	res = conv("lvs_sync_daemon eth0", "lvs_sync_daemon eth0 id 9 port 9000")
	if !bytes.Contains(res.HCL, []byte("sync_daemon = {\n    id = 0\n  }")) {
		t.Errorf("no instance:\n%s", res.HCL)
	}
	if len(find(res.Report, Changed, "lvs_sync_daemon", "differs from lb1.conf's")) != 1 {
		t.Errorf("difference not reported: %v", res.Report.Entries)
	}
	// An instance the file lacks, and bad values.
	res = conv("lvs_sync_daemon eth0 VI_9 port 0 group 198.51.100.1", "")
	if !bytes.Contains(res.HCL, []byte("id = 0")) || len(find(res.Report, Changed, "lvs_sync_daemon", "names vrrp_instance VI_9")) != 1 ||
		len(find(res.Report, Error, "lvs_sync_daemon", `port "0" is not a number from 1 to 65535`)) != 1 ||
		len(find(res.Report, Error, "lvs_sync_daemon", "198.51.100.1 is not a multicast address")) != 1 {
		t.Errorf("report %v\n%s", res.Report.Entries, res.HCL)
	}
}

// virtual_ipaddress dev: one dev is lvs_vip.interface (also when interface comes after the
// addresses, and dev naming the instance's interface is no dev); addresses on a second dev go to
// a second lvs_vip with a free virtual_router_id in the instance's sync group, named after the
// instance; a dev that differs between the files is reported.
func TestVIPDev(t *testing.T) {
	one := func(body string) string {
		return "vrrp_instance NAT {\n virtual_router_id 7\n priority 150\n virtual_ipaddress {\n" + body + " }\n interface eth0\n track_interface { eth2 }\n}\n" +
			"vrrp_instance OTHER {\n interface eth0\n virtual_router_id 1\n priority 150\n virtual_ipaddress { 198.51.100.100 }\n}\n"
	}
	lb1 := one("  198.51.100.101 dev eth0\n  198.51.100.254/26 dev eth1\n  2001:db8:1::254 dev eth1\n")
	lb2 := strings.ReplaceAll(strings.ReplaceAll(lb1, "priority 150", "priority 100"), "2001:db8:1::254 dev eth1", "2001:db8:1::254 dev eth2")
	res, err := Convert([]Input{
		{Config: keepalived.Parse("lb1.conf", []byte(lb1), nil, keepalived.Options{})},
		{Config: keepalived.Parse("lb2.conf", []byte(lb2), nil, keepalived.Options{})},
	})
	if err != nil {
		t.Fatal(err)
	}
	hcl := string(res.HCL)
	for _, want := range []string{
		"resource \"lvs_vip\" \"nat\" {\n  director_pair_id  = lvs_director_pair.pair.id\n  virtual_router_id = 7\n  addresses         = [\"198.51.100.101\"]\n",
		"resource \"lvs_vip\" \"nat_eth1\" {\n  director_pair_id  = lvs_director_pair.pair.id\n  virtual_router_id = 2\n  addresses         = [\"198.51.100.254/26\", \"2001:db8:1::254\"]\n  interface         = \"eth1\"\n",
	} {
		if !strings.Contains(hcl, want) {
			t.Errorf("no\n%s\nin the HCL:\n%s", want, hcl)
		}
	}
	if n := strings.Count(hcl, `sync_group        = "NAT"`); n != 2 {
		t.Errorf("%d VIPs in sync group NAT, want 2:\n%s", n, hcl)
	}
	if n := strings.Count(hcl, `name = "eth2"`); n != 1 {
		t.Errorf("the tracking is on %d VIPs, want the instance's only:\n%s", n, hcl)
	}
	if len(find(res.Report, Changed, "NAT: virtual_ipaddress", "go to lvs_vip.nat_eth1, virtual_router_id 2")) != 1 ||
		len(find(res.Report, Changed, "NAT: virtual_ipaddress", `2001:db8:1::254 is on dev "eth2" here and "eth1"`)) != 1 {
		t.Errorf("report: %v", res.Report.Entries)
	}
	for _, e := range res.Report.Entries {
		if e.Kind == NotMapped && strings.Contains(e.Why, "dev") {
			t.Errorf("dev reported as not mapped: %+v", e)
		}
	}

	// All on one dev: that is the VIP's interface, no second VIP.
	res, err = Convert([]Input{{Config: keepalived.Parse("k.conf", []byte(one("  198.51.100.254/26 dev eth1\n")), nil, keepalived.Options{})}})
	if err != nil {
		t.Fatal(err)
	}
	if h := string(res.HCL); !strings.Contains(h, "interface         = \"eth1\"") || strings.Contains(h, "nat_eth1") || strings.Contains(h, "sync_group") {
		t.Errorf("one dev:\n%s", h)
	}
}
