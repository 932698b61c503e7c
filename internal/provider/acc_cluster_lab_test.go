package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

func labHost(name, ip string) lab.HostSpec {
	return lab.HostSpec{Name: name, IPv4: ip, IPv6: "2001:db8::" + ip[strings.LastIndexByte(ip, '.')+1:]}
}

// serveWeb starts the lab's web server on a host, answering with the host's name.
func (a *accLab) serveWeb(host string) {
	a.t.Helper()
	bin := os.Getenv(lab.EnvBin)
	if bin == "" {
		a.t.Fatalf("%s is not set: run inside `lab run`", lab.EnvBin)
	}
	a.exec(host, fmt.Sprintf("setsid %s serve :80 %s </dev/null >/tmp/serve.log 2>&1 &", bin, host))
}

// fetch makes n requests from the client host to url and returns who answered.
func (a *accLab) fetch(url string, n int) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := a.lab.Host("client").Exec(ctx, os.Getenv(lab.EnvBin), "fetch", url, fmt.Sprint(n))
	if err != nil {
		return nil, fmt.Errorf("fetch: %v: %s", err, out)
	}
	var m map[string]int
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("fetch output %q: %v", out, err)
	}
	return m, nil
}

// checkSpread checks that n requests to the VIP are answered by the real servers in the ratio
// of want (within 15 %), with no failure.
func (a *accLab) checkSpread(n int, want map[string]int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		a.waitVIPAnswers("http://198.51.100.100/")
		got, err := a.fetch("http://198.51.100.100/", n)
		if err != nil {
			return err
		}
		total := 0
		for _, w := range want {
			total += w
		}
		for name, w := range want {
			exp := float64(n) * float64(w) / float64(total)
			if d := float64(got[name]) - exp; d > 0.15*float64(n) || d < -0.15*float64(n) {
				return fmt.Errorf("%d requests: %v, want about %.0f from %s", n, got, exp, name)
			}
		}
		for name, c := range got {
			if _, ok := want[name]; !ok && c > 0 {
				return fmt.Errorf("%d requests: %v; %d answered by %q", n, got, c, name)
			}
		}
		a.t.Logf("%d requests through the VIP: %v", n, got)
		return nil
	}
}

// waitVIPAnswers waits (up to 15 s) until a few requests to url are all answered: the VIP may
// still be moving in.
func (a *accLab) waitVIPAnswers(url string) {
	for i := 0; i < 30; i++ {
		if got, err := a.fetch(url, 4); err == nil && lab.Errors(got) == 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkSpreadExact checks that requests to the VIP are answered exactly want[name] times by each
// real server, with no failure and nobody else answering: sum(want) requests in all. It is for
// clusters where the split is deterministic: one director (the VRRP master) schedules every
// connection, `lab fetch` opens them one after the other (one request each, no keep-alive), and
// no health check changes the weights meanwhile. Then the kernel's wrr cycles through the real
// servers with a period of the sum of the weights, each taking weight-many of every period (rr
// is wrr with equal weights), so a run of whole periods splits exactly, whatever connections
// were scheduled before it.
func (a *accLab) checkSpreadExact(want map[string]int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		a.waitVIPAnswers("http://198.51.100.100/")
		n := 0
		for _, c := range want {
			n += c
		}
		got, err := a.fetch("http://198.51.100.100/", n)
		if err != nil {
			return err
		}
		a.t.Logf("%d requests through the VIP: %v (want exactly %v)", n, got, want)
		for name, c := range want {
			if got[name] != c {
				return fmt.Errorf("%d requests through the VIP: %v, want exactly %v", n, got, want)
			}
		}
		for name, c := range got {
			if _, ok := want[name]; !ok && c > 0 {
				return fmt.Errorf("%d requests through the VIP: %v, want exactly %v; %d answered by %q", n, got, want, c, name)
			}
		}
		return nil
	}
}

// pairAndVIP is the provider, the pair of director1 and director2 (with the lines pairExtra),
// and the VIP 198.51.100.100 (VRID 91) with adverts every advert.
func pairAndVIP(a *accLab, advert string, pairExtra ...string) string {
	return a.providerBlock() + hcl(append(append([]string{
		`resource "lvs_director_pair" "p" {`,
		`  name      = "edge"`,
		pairDirectors,
	}, pairExtra...), `}`)...) + hcl(
		`resource "lvs_vip" "v" {`,
		`  director_pair_id  = lvs_director_pair.p.id`,
		`  virtual_router_id = 91`,
		`  addresses         = ["198.51.100.100/24"]`,
		fmt.Sprintf(`  advert_interval   = %q`, advert),
		`}`,
	)
}

// pairDirectors is the directors line of pairAndVIP.
const pairDirectors = `  directors = [{ host = "198.51.100.11", interface = "eth0" }, { host = "198.51.100.12", interface = "eth0" }]`

// webVirtualServer is the wrr service on port 80 of pairAndVIP's VIP that the cluster tests share.
var webVirtualServer = hcl(
	`resource "lvs_virtual_server" "web" {`,
	`  vip_id    = lvs_vip.v.id`,
	`  address   = "198.51.100.100"`,
	`  port      = 80`,
	`  scheduler = "wrr"`,
	`}`,
)

// clusterConfig is pairAndVIP (with pairExtra) and a wrr virtual server on the VIP with real1
// and real2, of weights w1 and w2, set up as real servers by the provider.
func clusterConfig(a *accLab, w1, w2 int, pairExtra ...string) string {
	return pairAndVIP(a, "100ms", pairExtra...) + webVirtualServer + hcl(
		`resource "lvs_real_server" "r1" {`,
		`  virtual_server_id = lvs_virtual_server.web.id`,
		`  address           = "198.51.100.21"`,
		`  port              = 80`,
		fmt.Sprintf(`  weight            = %d`, w1),
		`  host              = {}`,
		`}`,
		`resource "lvs_real_server" "r2" {`,
		`  virtual_server_id = lvs_virtual_server.web.id`,
		`  address           = "198.51.100.22"`,
		`  port              = 80`,
		fmt.Sprintf(`  weight            = %d`, w2),
		`  host              = {}`,
		`}`,
	)
}

// sshLoginLine is the line sshd logs for each connection it lets in.
var sshLoginLine = regexp.MustCompile(`(?m)\bAccepted \S+ for \S+ from \S+ port \d+`)

// sshLogins counts the SSH connections the lab hosts' sshd accepted so far, per host (the
// "Accepted publickey for ..." lines in each host's console, where the lab runs `sshd -e`): the
// provider's connections as the hosts saw them, independently of the provider's own count.
// (The tests' own commands on hosts, a.exec and a.run, enter the host's namespaces: no SSH.)
type sshLogins struct {
	a     *accLab
	hosts []string
	last  map[string]int
}

// since returns the connections accepted per host since its previous call, or since the first
// call, which returns nil.
func (s *sshLogins) since() (map[string]int, error) {
	now := map[string]int{}
	for _, h := range s.hosts {
		b, err := os.ReadFile(s.a.lab.Host(h).ConsoleLog())
		if err != nil {
			return nil, err
		}
		now[h] = len(sshLoginLine.FindAll(b, -1))
	}
	last := s.last
	s.last = now
	if last == nil {
		return nil, nil
	}
	d := map[string]int{}
	for h, n := range now {
		d[h] = n - last[h]
	}
	return d, nil
}

// planCheck is a plan check from a function: a point between the terraform commands of a step.
type planCheck func() error

func (f planCheck) CheckPlan(_ context.Context, _ plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	resp.Error = f()
}

// TestAccDRCluster builds the tutorials' LVS-DR web cluster through terraform: two directors with
// a VRRP VIP, wrr over two real servers that the provider sets up (VIP on loopback, ARP
// suppression). A client's requests through the VIP are answered by both servers exactly in the
// weight ratio (see checkSpreadExact); import round-trips; weight 0 drains; destroy leaves every
// host clean.
//
// The first step also counts, on each host's sshd, the SSH connections that one `terraform
// apply` creating the cluster's five resources (pair, VIP, virtual server, two real servers with
// their host role) and the `terraform plan` after it opened: exactly one per host per command,
// not one per resource. The framework runs the apply as `terraform plan -out` and `terraform
// apply` of that plan, the two graph walks a `terraform apply` makes, each with its own provider
// instance; together they must open one connection per host. The plan counted is the framework's
// refreshing `terraform plan` after the apply, which reads every resource back.
//
// The pair runs with the keepalived-style settings an operator migrating from keepalived gives:
// sync_daemon (its id, port, ttl, max_length and group checked in `ipvsadm -L --daemon` on both
// directors, and connections synced to the backup with them) and, with vrrp_unicast, each
// director's vrrp_address, a second address of eth0 that its adverts must come from (the
// backup's agent names the master by the source of the adverts it takes). The directors forward
// (ip_forward=1, as the LVS-DR tutorials' directors): the ICMP redirects that the tutorials turn
// off with send_redirects=0 are counted on every host (see checkRedirects).
func TestAccDRCluster(t *testing.T) {
	a := newAccLab(t, director(1), director(2), labHost("real1", "198.51.100.21"), labHost("real2", "198.51.100.22"), labHost("client", "198.51.100.31"))
	a.serveWeb("real1")
	a.serveWeb("real2")
	for i, h := range []string{"director1", "director2"} {
		t.Logf("%s: ip_forward was %s", h, strings.TrimSpace(a.exec(h, "cat /proc/sys/net/ipv4/ip_forward")))
		a.exec(h, fmt.Sprintf("ip addr add 198.51.100.%d/24 dev eth0 && sysctl -qw net.ipv4.ip_forward=1", 111+i))
	}
	drConfig := func(w1, w2 int) string {
		return strings.Replace(clusterConfig(a, w1, w2, drPairExtra...), pairDirectors, drPairDirectors, 1)
	}
	logins := &sshLogins{a: a, hosts: []string{"director1", "director2", "real1", "real2", "client"}}
	onePerHost := map[string]int{"director1": 1, "director2": 1, "real1": 1, "real2": 1, "client": 0}
	var planWalk map[string]int
	checkLogins := func(what string, got map[string]int) error {
		t.Logf("SSH connections accepted per host during %s: %v", what, got)
		for h, n := range onePerHost {
			if got[h] != n {
				return fmt.Errorf("%s: SSH connections accepted per host %v, want exactly %v (one per host reached, whatever the number of resources)", what, got, onePerHost)
			}
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		CheckDestroy: func(*terraform.State) error {
			for _, h := range []string{"director1", "director2", "real1", "real2"} {
				if err := a.hostClean(h); err != nil {
					return err
				}
			}
			for _, h := range []string{"real1", "real2"} {
				if out := a.exec(h, "ip -o addr show dev lo"); strings.Contains(out, "198.51.100.100") {
					return fmt.Errorf("%s keeps the VIP on lo after destroy:\n%s", h, out)
				}
			}
			if out := a.exec("director1", "ipvsadm -Ln"); strings.Contains(out, "198.51.100.100") {
				return fmt.Errorf("director1 keeps the service after destroy:\n%s", out)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				PreConfig: func() {
					if _, err := logins.since(); err != nil {
						t.Fatal(err)
					}
				},
				Config: drConfig(1, 2),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{planCheck(func() (err error) {
						planWalk, err = logins.since()
						return err
					})},
					// Between the apply and the refreshing plan: the plan without refresh.
					PostApplyPreRefresh: []plancheck.PlanCheck{planCheck(func() error {
						d, err := logins.since()
						t.Logf("SSH connections accepted per host during terraform plan -refresh=false: %v", d)
						return err
					})},
					PostApplyPostRefresh: []plancheck.PlanCheck{planCheck(func() error {
						d, err := logins.since()
						if err != nil {
							return err
						}
						return checkLogins("terraform plan", d)
					})},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					func(*terraform.State) error {
						applyWalk, err := logins.since()
						if err != nil {
							return err
						}
						t.Logf("SSH connections accepted per host during terraform plan -out (the apply's plan walk): %v; terraform apply of the plan: %v", planWalk, applyWalk)
						sum := map[string]int{}
						for h := range onePerHost {
							sum[h] = planWalk[h] + applyWalk[h]
						}
						return checkLogins("terraform apply (plan and apply walks)", sum)
					},
					resource.TestCheckResourceAttr("lvs_virtual_server.web", "id", "edge@198.51.100.11,198.51.100.12/vrid/91/tcp/198.51.100.100:80"),
					resource.TestCheckResourceAttr("lvs_real_server.r1", "host.status", "ready"),
					resource.TestCheckResourceAttr("lvs_director_pair.p", "sync_daemon.group", "239.1.2.3"),
					resource.TestCheckResourceAttr("lvs_director_pair.p", "directors.1.vrrp_address", "198.51.100.112"),
					a.checkSyncDaemons,
					a.checkVRRPSource,
					a.checkSpreadExact(map[string]int{"real1": 100, "real2": 200}),
					a.checkSynced,
					a.checkSyncDaemonRepaired,
				),
			},
			{ResourceName: "lvs_director_pair.p", ImportState: true, ImportStateVerify: true},
			{ResourceName: "lvs_virtual_server.web", ImportState: true, ImportStateVerify: true},
			{ResourceName: "lvs_real_server.r2", ImportState: true, ImportStateVerify: true, ImportStateVerifyIgnore: []string{"host"}},
			{
				// A second resource for a real server the directors already hold is refused, and
				// the refusal leaves the first one's host set-up alone.
				Config: drConfig(1, 2) + hcl(
					`resource "lvs_real_server" "dup" {`,
					`  virtual_server_id = lvs_virtual_server.web.id`,
					`  address           = "198.51.100.21"`,
					`  port              = 80`,
					`  host              = {}`,
					`}`,
				),
				ExpectError: regexp.MustCompile(`Real Server Already Exists`),
			},
			{
				Config: drConfig(1, 2),
				Check: resource.ComposeAggregateTestCheckFunc(
					func(*terraform.State) error {
						if out := a.exec("real1", "ip -o addr show dev lo"); !strings.Contains(out, "198.51.100.100") {
							return fmt.Errorf("real1 lost the VIP on lo after a refused duplicate:\n%s", out)
						}
						return nil
					},
					a.checkSpreadExact(map[string]int{"real1": 50, "real2": 100}),
				),
			},
			{
				Config: drConfig(1, 1),
				// Exact although the client reuses ports of the steps before within seconds:
				// the agent sets conn_reuse_mode 3 on a DR director, so a reused port is
				// scheduled afresh instead of following its old entry (FIN_WAIT, 2 min) to the
				// old server. With the kernel's default it gave 98/102, 97/103, 98/102.
				Check: a.checkSpreadExact(map[string]int{"real1": 100, "real2": 100}),
			},
			{
				Config: drConfig(0, 1),
				Check:  resource.ComposeAggregateTestCheckFunc(a.checkDrained("director1", "198.51.100.21:80", 60), a.checkRedirects),
			},
		},
	})
}

// The pair settings of TestAccDRCluster: keepalived's lvs_sync_daemon with every option, unicast
// VRRP between second addresses of the directors' eth0.
var (
	drPairExtra = []string{
		`  vrrp_unicast = true`,
		`  sync_daemon  = { id = 91, port = 8850, ttl = 2, max_length = 1400, group = "239.1.2.3" }`,
	}
	drPairDirectors = `  directors = [{ host = "198.51.100.11", interface = "eth0", vrrp_address = "198.51.100.111" }, { host = "198.51.100.12", interface = "eth0", vrrp_address = "198.51.100.112" }]`
)

// checkSyncDaemons checks, with ipvsadm, that both directors' kernels run a master and a backup
// sync daemon with drPairExtra's settings.
func (a *accLab) checkSyncDaemons(*terraform.State) error {
	for _, h := range []string{"director1", "director2"} {
		out := a.exec(h, "ipvsadm -L --daemon")
		a.t.Logf("%s: ipvsadm -L --daemon:\n%s", h, out)
		for _, state := range []string{"master", "backup"} {
			want := state + " sync daemon (mcast=eth0, syncid=91, maxlen=1400, group=239.1.2.3, port=8850, ttl=2)"
			if !strings.Contains(out, want) {
				return fmt.Errorf("%s: ipvsadm -L --daemon has no %q:\n%s", h, want, out)
			}
		}
	}
	return nil
}

// vipRoles returns the directors holding VRID 91 as master and as backup, with the backup's view.
func (a *accLab) vipRoles() (master, backup string, bst *agentapi.VIPStatus, err error) {
	for _, h := range []string{"director1", "director2"} {
		st, err := a.agentStatus(h)
		if err != nil {
			return "", "", nil, err
		}
		for i, v := range st.VIPs {
			switch {
			case v.VRID != 91:
			case v.State == "MASTER":
				master = h
			case v.State == "BACKUP":
				backup, bst = h, &st.VIPs[i]
			}
		}
	}
	if master == "" || backup == "" {
		return "", "", nil, fmt.Errorf("VRID 91 has master %q and backup %q", master, backup)
	}
	return master, backup, bst, nil
}

// checkVRRPSource checks that the backup takes the master's adverts, from the master's
// vrrp_address (not its host address), and drops none as not from the peer.
func (a *accLab) checkVRRPSource(*terraform.State) error {
	var last error
	for range 20 { // the backup may not have taken an advert yet: up to 10 s
		master, backup, v, err := a.vipRoles()
		if err == nil {
			want := map[string]string{"director1": "198.51.100.111", "director2": "198.51.100.112"}[master]
			a.t.Logf("VRRP: %s is master; %s sees master %s, %d adverts in, dropped %v", master, backup, v.Master, v.AdvertsIn, v.Dropped)
			// The master as the backup knows it: "ADDRESS (priority N)".
			switch {
			case !strings.HasPrefix(v.Master, want+" "):
				err = fmt.Errorf("%s names the master %s, want %s's vrrp_address %s", backup, v.Master, master, want)
			case v.AdvertsIn == 0:
				err = fmt.Errorf("%s took no advert", backup)
			case v.Dropped["not_peer"] != 0:
				err = fmt.Errorf("%s dropped %d adverts as not the peer's", backup, v.Dropped["not_peer"])
			}
		}
		if err == nil {
			return nil
		}
		last = err
		time.Sleep(500 * time.Millisecond)
	}
	return last
}

// checkSynced checks that the connections the master scheduled reached the backup's kernel
// through the sync daemons (group 239.1.2.3, port 8850, id 91).
func (a *accLab) checkSynced(*terraform.State) error {
	_, backup, _, err := a.vipRoles()
	if err != nil {
		return err
	}
	n := 0
	for range 20 { // the master sends within 2 s (IPVS_SYNC_FLUSH_TIME)
		n = strings.Count(a.exec(backup, "ipvsadm -Lnc"), "198.51.100.100:80")
		if n > 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	a.t.Logf("connections synced to the backup %s: %d", backup, n)
	if n == 0 {
		return fmt.Errorf("the backup %s holds no synced connection of 198.51.100.100:80:\n%s", backup, a.exec(backup, "ipvsadm -Lnc; ipvsadm -L --daemon"))
	}
	return nil
}

// checkSyncDaemonRepaired: the agents started each daemon once and never found it changed
// (the kernel's clamped length and filled-in defaults are what was asked); then someone restarts
// director1's master daemon on port 9999, and its agent puts it back within a resync (5 s).
func (a *accLab) checkSyncDaemonRepaired(*terraform.State) error {
	for _, h := range []string{"director1", "director2"} {
		log := a.exec(h, "grep 'sync daemon' "+agentapi.LogPath+"; true")
		if n := strings.Count(log, "IPVS sync daemon started"); n != 2 || strings.Contains(log, "drift repaired") {
			return fmt.Errorf("%s: want the master and the backup daemon started once each, never repaired; log:\n%s", h, log)
		}
	}
	a.exec("director1", "ipvsadm --stop-daemon master && ipvsadm --start-daemon master --mcast-interface eth0 --syncid 91 --mcast-port 9999 --mcast-group 239.1.2.3 --mcast-ttl 2 --sync-maxlen 1400")
	const want = "master sync daemon (mcast=eth0, syncid=91, maxlen=1400, group=239.1.2.3, port=8850, ttl=2)"
	var out string
	for range 30 {
		time.Sleep(500 * time.Millisecond)
		if out = a.exec("director1", "ipvsadm -L --daemon"); strings.Contains(out, want) {
			log := a.exec("director1", "grep 'drift repaired' "+agentapi.LogPath+"; true")
			a.t.Logf("director1 put back its master sync daemon: %s", strings.TrimSpace(log))
			if !strings.Contains(log, "port 9999") {
				return fmt.Errorf("director1: the repair is not logged with what was found:\n%s", log)
			}
			return nil
		}
	}
	return fmt.Errorf("director1: master sync daemon not put back in 15 s:\n%s", out)
}

// icmpCounter reads one counter of the Icmp line of a host's /proc/net/snmp.
func (a *accLab) icmpCounter(host, name string) (int, error) {
	lines := strings.Split(a.exec(host, "grep '^Icmp:' /proc/net/snmp"), "\n")
	if len(lines) < 2 {
		return 0, fmt.Errorf("%s: no Icmp counters: %q", host, lines)
	}
	names, vals := strings.Fields(lines[0]), strings.Fields(lines[1])
	for i, n := range names {
		if n == name && i < len(vals) {
			var v int
			_, err := fmt.Sscan(vals[i], &v)
			return v, err
		}
	}
	return 0, fmt.Errorf("%s: no Icmp %s in %q", host, name, lines)
}

// checkRedirects is the evidence for leaving send_redirects alone on a DR director. Through the
// whole test (every request of the steps above went client → VIP on the master → real server),
// with ip_forward=1 on both directors, no host sent or got an ICMP redirect: IPVS takes a VIP's
// packets at LOCAL_IN and sends them to the real server itself, never through ip_forward,
// where redirects are made. Then the client is made to send to the backup (its neighbour entry
// for the VIP pinned to the backup's MAC, a stale ARP entry after a failover): the backup,
// which does not hold the VIP, routes those packets to the master out of the interface they came
// in on; the redirects that costs are counted and logged (the client, on the link, ignores
// them: its route to the VIP has no gateway to replace).
func (a *accLab) checkRedirects(*terraform.State) error {
	count := func() (map[string]int, error) {
		got := map[string]int{}
		for _, h := range []string{"director1", "director2", "real1", "real2", "client"} {
			for _, c := range []string{"OutRedirects", "InRedirects"} {
				v, err := a.icmpCounter(h, c)
				if err != nil {
					return nil, err
				}
				if v != 0 {
					got[h+" "+c] = v
				}
			}
		}
		return got, nil
	}
	before, err := count()
	if err != nil {
		return err
	}
	a.t.Logf("ICMP redirects through the DR test with ip_forward=1 on the directors: %v", before)
	if len(before) != 0 {
		return fmt.Errorf("ICMP redirects sent or received during DR traffic: %v", before)
	}
	_, backup, _, err := a.vipRoles()
	if err != nil {
		return err
	}
	mac := strings.TrimSpace(a.exec(backup, "cat /sys/class/net/eth0/address"))
	a.exec("client", "ip neigh replace 198.51.100.100 lladdr "+mac+" dev eth0 nud permanent")
	got, ferr := a.fetch("http://198.51.100.100/", 20)
	a.exec("client", "ip neigh del 198.51.100.100 dev eth0")
	after, err := count()
	if err != nil {
		return err
	}
	route := strings.TrimSpace(a.exec("client", "ip route get 198.51.100.100"))
	a.t.Logf("20 requests sent to the backup %s (stale ARP): answers %v (%v); ICMP redirects now %v; the client's route to the VIP: %s", backup, got, ferr, after, route)
	return nil
}

// scheduled reads how many connections the director's kernel scheduled to dest (ipvsadm's Conns
// counter), independently of the agent.
func (a *accLab) scheduled(director, dest string) (int, error) {
	out := a.exec(director, "ipvsadm -Ln --stats")
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "->" && f[1] == dest {
			var n int
			if _, err := fmt.Sscan(f[2], &n); err != nil {
				return 0, fmt.Errorf("%s: %q: %v", director, line, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s has no destination %s:\n%s", director, dest, out)
}

// checkDrained checks that after weight 0 the director schedules no new connection to dest
// while n requests go through the VIP, and that they are all answered. (A client that reuses
// the address and port of a connection IPVS still remembers in TIME_WAIT is sent to the same
// server, as IPVS does for any existing connection; that is not a new one.)
func (a *accLab) checkDrained(director, dest string, n int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		before, err := a.scheduled(director, dest)
		if err != nil {
			return err
		}
		got, err := a.fetch("http://198.51.100.100/", n)
		if err != nil {
			return err
		}
		after, err := a.scheduled(director, dest)
		if err != nil {
			return err
		}
		a.t.Logf("weight 0: %d requests answered %v; new connections scheduled to %s: %d", n, got, dest, after-before)
		if after != before {
			return fmt.Errorf("weight 0: %d new connections scheduled to %s (answers %v)", after-before, dest, got)
		}
		if lab.Errors(got) > 0 {
			return fmt.Errorf("weight 0: %d of %d requests failed: %v", lab.Errors(got), n, got)
		}
		return nil
	}
}
