package provider_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lvs-provider/terraform-provider-lvs/internal/kaconvert"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// startKeepalived writes conf on a director and starts keepalived (VRRP and checkers, as
// operators run it) in the background.
func (a *accLab) startKeepalived(host, conf string) {
	a.t.Helper()
	a.exec(host, "cat > /etc/lab-keepalived.conf <<'EOF'\n"+conf+"\nEOF\n"+
		"setsid keepalived -n -l -D -f /etc/lab-keepalived.conf -p /run/lab-ka.pid -r /run/lab-ka-vrrp.pid -c /run/lab-ka-chk.pid "+
		"</dev/null >/var/log/lab-keepalived.log 2>&1 & echo $! > /run/lab-ka-main.pid")
}

// stopKeepalived stops it as its systemd unit does (SIGTERM: priority 0 from a master, its
// VIPs and virtual servers removed) and waits until every keepalived process is gone.
func (a *accLab) stopKeepalived(host string) {
	a.t.Helper()
	a.exec(host, `kill -TERM $(cat /run/lab-ka-main.pid)
for i in $(seq 100); do pgrep -x keepalived >/dev/null || exit 0; sleep 0.1; done
echo "keepalived still running 10 s after SIGTERM"; cat /var/log/lab-keepalived.log; exit 1`)
}

// ipvsTable waits until the director's kernel table has n real servers, the same on two reads
// a second apart, and returns it as `ipvsadm -Sn` prints it, sorted.
func (a *accLab) ipvsTable(host string, n int) (string, error) {
	var last string
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		out, err := a.run(host, "ipvsadm -Sn")
		if err != nil {
			return "", err
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		slices.Sort(lines)
		got := strings.Join(lines, "\n")
		if strings.Count(got, "-a ") == n && got == last {
			return got, nil
		}
		last = got
		time.Sleep(time.Second)
	}
	return "", fmt.Errorf("%s: no stable table of %d real servers within a minute; last:\n%s", host, n, last)
}

// vrrpAdvert returns the first VRRP advert from src that watcher receives on the wire.
func (a *accLab) vrrpAdvert(watcher, src string) (lab.Advert, error) {
	out, err := a.run(watcher, fmt.Sprintf("%s vrrp-capture eth0 %s 10s", os.Getenv(lab.EnvBin), src))
	if err != nil {
		return lab.Advert{}, err
	}
	var adv lab.Advert
	if err := json.Unmarshal([]byte(out), &adv); err != nil {
		return lab.Advert{}, fmt.Errorf("vrrp-capture: %q: %w", out, err)
	}
	return adv, nil
}

// The converted file's provider block names a key and relies on ~/.ssh/known_hosts; the lab's
// hosts need the lab's. Its terraform block names the provider's registry source, which the
// test framework, serving the provider in-process, sets itself.
var (
	providerBlockRE  = regexp.MustCompile(`(?s)\nprovider "lvs" \{\n.*?\n\}\n`)
	terraformBlockRE = regexp.MustCompile(`(?s)\nterraform \{\n.*?\n\}\n`)
)

// TestAccKeepalivedRoundTrip: keepalived 2.2.7 runs a pair's two keepalived.conf files (VRRPv2
// with PASS authentication, two addresses; DR services: wrr with HTTP_GET, lc with persistence
// and TCP_CHECK, UDP with DNS_CHECK and one-packet scheduling, a virtual_server_group over both
// addresses) on the lab's directors; then `convert-keepalived` turns the same files
// into HCL, which terraform applies. Each director's kernel table (`ipvsadm -Sn`, sorted) and
// the master's adverts on the wire must be the same, byte for byte, as keepalived's.
func TestAccKeepalivedRoundTrip(t *testing.T) {
	a := newAccLab(t, director(1), director(2), labHost("real1", "198.51.100.21"), labHost("real2", "198.51.100.22"))
	bin := os.Getenv(lab.EnvBin)
	for _, h := range []struct{ name, ip string }{{"real1", "198.51.100.21"}, {"real2", "198.51.100.22"}} {
		a.serveWeb(h.name)
		a.exec(h.name, fmt.Sprintf("setsid %s serve-tls :443 %s </dev/null >/tmp/serve-tls.log 2>&1 &", bin, h.name))
		a.exec(h.name, fmt.Sprintf("setsid %s serve-dns :53 www.example.test %s </dev/null >/tmp/serve-dns.log 2>&1 &", bin, h.ip))
	}
	dir := filepath.Join("..", "kaconvert", "testdata", "roundtrip")
	confs := []string{filepath.Join(dir, "director1.conf"), filepath.Join(dir, "director2.conf")}
	directors := []string{"director1", "director2"}
	const realServers = 10

	// The reference: keepalived running the files.
	for i, d := range directors {
		conf, err := os.ReadFile(confs[i])
		if err != nil {
			t.Fatal(err)
		}
		a.startKeepalived(d, string(conf))
	}
	want := map[string]string{}
	for _, d := range directors {
		table, err := a.ipvsTable(d, realServers)
		if err != nil {
			t.Fatalf("keepalived: %v\n%s", err, a.exec(d, "cat /var/log/lab-keepalived.log"))
		}
		want[d] = table
		t.Logf("%s, keepalived's table:\n%s", d, table)
	}
	wantAdvert, err := a.vrrpAdvert("real1", "198.51.100.11")
	if err != nil {
		t.Fatalf("keepalived's master: %v\n%s", err, a.exec("director1", "cat /var/log/lab-keepalived.log"))
	}
	t.Logf("keepalived's advert from director1: %+v", wantAdvert)
	for _, d := range []string{"director2", "director1"} {
		a.stopKeepalived(d)
		// keepalived removes its VIP and virtual servers as it stops; whatever it left would
		// make the comparison below the agent's tables plus leftovers.
		if left := strings.TrimSpace(a.exec(d, "ipvsadm -Sn; ip -o addr show dev eth0 | grep -wE '198.51.100.10[01]' || true")); left != "" {
			t.Fatalf("%s: keepalived stopped and left:\n%s", d, left)
		}
	}

	// The converted files, applied.
	var hclOut, report strings.Builder
	if code := kaconvert.Main(confs, &hclOut, &report); code != 0 {
		t.Fatalf("convert-keepalived: exit %d\n%s", code, report.String())
	}
	t.Logf("convert-keepalived's report:\n%s", report.String())
	cfg := hclOut.String()
	if !providerBlockRE.MatchString(cfg) || !terraformBlockRE.MatchString(cfg) {
		t.Fatalf("no provider or terraform block in the converted file:\n%s", cfg)
	}
	cfg = providerBlockRE.ReplaceAllLiteralString(cfg, "\n"+a.providerBlock())
	cfg = terraformBlockRE.ReplaceAllLiteralString(cfg, "\n")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{{
			Config: cfg,
			ConfigVariables: config.Variables{
				"director1_host": config.StringVariable("198.51.100.11"),
				"director2_host": config.StringVariable("198.51.100.12"),
				"vi_1_auth_pass": config.StringVariable("s3cret"),
			},
			Check: func(*terraform.State) error {
				for _, d := range directors {
					got, err := a.ipvsTable(d, realServers)
					if err != nil {
						return err
					}
					if got != want[d] {
						return fmt.Errorf("%s: the agent's table differs from keepalived's:\n--- keepalived\n%s\n--- agent\n%s", d, want[d], got)
					}
				}
				got, err := a.vrrpAdvert("real1", "198.51.100.11")
				if err != nil {
					return fmt.Errorf("the agent's master: %w", err)
				}
				if got != wantAdvert {
					return fmt.Errorf("director1's advert: the agent's %+v, keepalived's %+v", got, wantAdvert)
				}
				t.Logf("the agent's tables and advert equal keepalived's: %+v", got)
				return nil
			},
		}},
	})
}
