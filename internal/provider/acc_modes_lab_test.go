package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// The forwarding methods beyond DR, and connection sync, proven through terraform: a real
// client's traffic goes through the VIP the provider set up, and what the kernel does is read
// back independently (ipvsadm, ip, /proc).

const (
	modesVIP    = "198.51.100.100"
	modesClient = "198.51.100.31"
)

func modesLab(t *testing.T) *accLab {
	a := newAccLab(t, director(1), director(2), labHost("real1", "198.51.100.21"), labHost("real2", "198.51.100.22"), labHost("client", modesClient))
	a.serveWeb("real1")
	a.serveWeb("real2")
	return a
}

// run runs a shell command on a lab host and returns its output; unlike exec it does not
// fail the test, for checks that report an error instead.
func (a *accLab) run(host, script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := a.lab.Host(host).Exec(ctx, "sh", "-c", script)
	if err != nil {
		return string(out), fmt.Errorf("%s: %s: %v: %s", host, script, err, out)
	}
	return string(out), nil
}

// checkHostsOutput checks that script's output on each host contains (want true) or lacks
// (want false) every one of subs.
func (a *accLab) checkHostsOutput(hosts []string, script string, want bool, subs ...string) error {
	for _, h := range hosts {
		out, err := a.run(h, script)
		if err != nil {
			return err
		}
		for _, s := range subs {
			if strings.Contains(out, s) != want {
				verb := "lacks"
				if !want {
					verb = "still has"
				}
				return fmt.Errorf("%s: `%s` %s %q:\n%s", h, script, verb, s, out)
			}
		}
	}
	return nil
}

// modesCleanHosts is the CheckDestroy of the tests here: no agent left anywhere, no service on
// the directors, no VIP on the real servers' loopback or tunnel device.
func (a *accLab) modesCleanHosts() error {
	for _, h := range []string{"director1", "director2", "real1", "real2"} {
		if err := a.hostClean(h); err != nil {
			return err
		}
	}
	if err := a.checkHostsOutput([]string{"director1", "director2"}, "ipvsadm -Ln", false, modesVIP); err != nil {
		return err
	}
	return a.checkHostsOutput([]string{"real1", "real2"}, "ip -o addr show dev lo; ip -o addr show dev tunl0 2>/dev/null; true", false, modesVIP)
}

// modesRealServers are two real servers of lvs_virtual_server.web on port, with extra lines.
func modesRealServers(port int, extra ...string) string {
	var s string
	for i, addr := range []string{"198.51.100.21", "198.51.100.22"} {
		s += hcl(append([]string{
			fmt.Sprintf(`resource "lvs_real_server" "r%d" {`, i+1),
			`  virtual_server_id = lvs_virtual_server.web.id`,
			fmt.Sprintf(`  address           = %q`, addr),
			fmt.Sprintf(`  port              = %d`, port),
		}, append(extra, `}`)...)...)
	}
	return s
}

// holdRun is what happened to one keep-alive connection while the master director died.
type holdRun struct {
	res        lab.HoldResult
	syncedConn string // director2's `ipvsadm -Lnc` line for the client's connection, before the kill
	before     string // both directors' connection tables before the kill
	after      string // director2's connection table after it took over
	killedAt   time.Time
	takeover   time.Duration // kill → director2 seen holding the VIP (polled: an upper bound)
	err        error         // the run itself failed
}

// holdThroughFailover starts `lab hold` on the client against the VIP, waits until the
// connection is in director2's IPVS table (the sync daemon's doing) and at least 2 s have
// passed, cuts director1's power, waits for the hold to finish, and boots director1 again so
// that the next step can restart its agent and the test's destroy can reach it. With synced
// false (no sync daemon) it waits for the connection in director1's table instead, and requires
// that director2 has never heard of it.
func (a *accLab) holdThroughFailover(duration time.Duration, synced bool) (r holdRun) {
	bin := os.Getenv(lab.EnvBin)
	if bin == "" {
		r.err = fmt.Errorf("%s is not set: run inside `lab run`", lab.EnvBin)
		return r
	}
	// director1 is the one killed: it must be the master, also after an earlier step's reboot.
	if err := a.holdsVIP("director1", modesVIP, true); err != nil {
		r.err = fmt.Errorf("before the hold: %w", err)
		return r
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration+time.Minute)
	defer cancel()
	defer func() {
		if a.lab.Host("director1").Running() {
			return
		}
		bctx, bcancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer bcancel()
		if err := a.lab.Host("director1").Boot(bctx); err != nil && r.err == nil {
			r.err = fmt.Errorf("boot director1 after the kill: %w", err)
		}
	}()

	var stdout, stderr bytes.Buffer
	cmd := a.lab.Host("client").Command(ctx, bin, "hold", "http://"+modesVIP+"/keep", duration.String(), "--interval", "50ms", "--timeout", "5s")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	if err := cmd.Start(); err != nil {
		r.err = fmt.Errorf("start lab hold on the client: %w", err)
		return r
	}
	wait := func() error {
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("lab hold: %v: %s%s", err, stdout.String(), stderr.String())
		}
		if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r.res); err != nil {
			return fmt.Errorf("lab hold output %q (stderr %q): %v", stdout.String(), stderr.String(), err)
		}
		return nil
	}

	// The client's connection as the backup director knows it through the sync daemon:
	// "TCP 14:58 ESTABLISHED 198.51.100.31:41234 198.51.100.100:80 198.51.100.21:80".
	findConn := func(host string) (string, string) {
		out, _ := a.run(host, "ipvsadm -Lnc")
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "ESTABLISHED") && strings.Contains(line, modesClient+":") && strings.Contains(line, modesVIP+":80") {
				return strings.TrimSpace(line), out
			}
		}
		return "", out
	}
	// Without sync, the connection must be in director1's table (the client's traffic goes
	// through it) and never in director2's.
	watch := "director2"
	if !synced {
		watch = "director1"
	}
	deadline := started.Add(duration / 2)
	for {
		line, out := findConn(watch)
		if line != "" && time.Since(started) >= 2*time.Second {
			other := "director1"
			if !synced {
				other = "director2"
			}
			line2, out2 := findConn(other)
			if synced {
				r.syncedConn = line
				r.before = "director1:\n" + out2 + "director2:\n" + out
			} else {
				r.syncedConn = line2
				r.before = "director1:\n" + out + "director2:\n" + out2
			}
			if !synced && line2 != "" {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				r.err = fmt.Errorf("without sync_connections, director2 knows the client's connection before the failover:\n%s", r.before)
				return r
			}
			break
		}
		if time.Now().After(deadline) {
			_, out1 := findConn("director1")
			_, out2 := findConn("director2")
			r.before = "director1:\n" + out1 + "director2:\n" + out2
			daemons, _ := a.run("director2", "ipvsadm -L --daemon")
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			r.err = fmt.Errorf("the client's connection did not reach %s's IPVS table within %s (synced %v):\n%s\nsync daemons on director2:\n%s",
				watch, deadline.Sub(started).Round(time.Millisecond), synced, r.before, daemons)
			return r
		}
		time.Sleep(200 * time.Millisecond)
	}

	r.killedAt = time.Now()
	if err := a.lab.Host("director1").Kill(); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		r.err = fmt.Errorf("kill director1: %w", err)
		return r
	}
	if err := a.holdsVIP("director2", modesVIP, true); err == nil {
		r.takeover = time.Since(r.killedAt)
	}
	r.after, _ = a.run("director2", "ipvsadm -Lnc")
	r.err = wait()
	return r
}

// checkHold checks what a keep-alive connection saw through the master director's death: dials
// connections (1: it survived; 2: it was reset and net/http retried the GET on a new one), no
// failed request, and, when the connection survived, one real server answering throughout.
func (a *accLab) checkHold(run *holdRun, what string, dials int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		if run.err != nil {
			return run.err
		}
		res := run.res
		a.t.Logf("%s: director2's entry for the client's connection before the kill: %q", what, run.syncedConn)
		a.t.Logf("%s: director2 took the VIP within %s of the kill (polled)", what, run.takeover.Round(time.Millisecond))
		a.t.Logf("%s: hold over the failover: %d requests, %d failed, answers %v, %d dial(s) %v, longest gap %.0f ms (ended %s), errors %v",
			what, res.Requests, res.Failed, res.Answers, res.Dials, res.Conns, res.LongestGapMS, res.GapEndedAt, res.Errors)
		var errs []string
		if res.Dials != dials {
			errs = append(errs, fmt.Sprintf("%d dials %v, want exactly %d", res.Dials, res.Conns, dials))
		}
		if len(res.Conns) != res.Dials {
			errs = append(errs, fmt.Sprintf("%d dials but %d connections %v: a dial failed", res.Dials, len(res.Conns), res.Conns))
		}
		if res.Failed != 0 {
			errs = append(errs, fmt.Sprintf("%d of %d requests failed: %v", res.Failed, res.Requests, res.Errors))
		}
		if dials == 1 && len(res.Answers) != 1 {
			errs = append(errs, fmt.Sprintf("answers %v, want one real server throughout", res.Answers))
		}
		for ans := range res.Answers {
			if ans != "real1" && ans != "real2" {
				errs = append(errs, fmt.Sprintf("answers %v: %q is not a real server", res.Answers, ans))
			}
		}
		if res.Requests < 50 {
			errs = append(errs, fmt.Sprintf("only %d requests in 10 s", res.Requests))
		}
		if len(errs) > 0 {
			return fmt.Errorf("%s: keep-alive connection across the failover:\n  %s\nconnection tables before the kill:\n%s\ndirector2 after it took over:\n%s",
				what, strings.Join(errs, "\n  "), run.before, run.after)
		}
		return nil
	}
}

// TestAccSyncSurvivesFailover: with sync_connections (the default), an established TCP
// connection through the VIP survives the master director's death: the backup director, which
// learned the connection from the IPVS sync daemon, forwards its next packets to the same real
// server, so a keep-alive HTTP client goes on over the same connection (one dial, no failed
// request). The negative control proves that the sync daemon is what keeps it: with
// sync_connections = false (no sync daemon on either director), the same failover resets the
// connection, as director2 does not know it, and the client needs exactly 2 dials (still no
// failed request: net/http retries the GET on a new connection). After each power cut,
// director1 boots again, an apply restarts its agent (the pair shows agent_stopped), and the
// destroy must leave every host clean.
func TestAccSyncSurvivesFailover(t *testing.T) {
	a := modesLab(t)
	config := clusterConfig(a, 1, 1)
	noSync := clusterConfig(a, 1, 1, `  sync_connections = false`)
	var synced, unsynced holdRun
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		CheckDestroy:             func(*terraform.State) error { return a.modesCleanHosts() },
		Steps: []resource.TestStep{
			{
				Config: config,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("lvs_director_pair.p", "sync_connections", "true"),
					a.checkSpread(40, map[string]int{"real1": 1, "real2": 1}),
					func(*terraform.State) error {
						return a.checkHostsOutput([]string{"director1", "director2"}, "ipvsadm -L --daemon", true, "master sync daemon (mcast=eth0", "backup sync daemon (mcast=eth0")
					},
				),
			},
			{
				PreConfig: func() { synced = a.holdThroughFailover(10*time.Second, true) },
				Config:    config,
				Check: resource.ComposeAggregateTestCheckFunc(
					a.checkHold(&synced, "with sync", 1),
					// The rebooted director has its agent back.
					resource.TestCheckResourceAttr("lvs_director_pair.p", "directors.0.status", "ready"),
					a.checkPairOnHost("director1", 0, nil),
					a.checkSpread(20, map[string]int{"real1": 1, "real2": 1}),
				),
			},
			// The negative control: no sync daemon, the same failover.
			{
				Config: noSync,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("lvs_director_pair.p", "sync_connections", "false"),
					func(*terraform.State) error {
						return a.checkHostsOutput([]string{"director1", "director2"}, "ipvsadm -L --daemon", false, "sync daemon")
					},
				),
			},
			{
				PreConfig: func() { unsynced = a.holdThroughFailover(10*time.Second, false) },
				Config:    noSync,
				Check: resource.ComposeAggregateTestCheckFunc(
					a.checkHold(&unsynced, "without sync", 2),
					resource.TestCheckResourceAttr("lvs_director_pair.p", "directors.0.status", "ready"),
					a.checkPairOnHost("director1", 0, nil),
				),
			},
		},
	})
}

// TestAccTunnelMode: an IP-tunnel (ipip) virtual server. The provider puts the VIP on the real
// servers' tunl0 (not on lo), the directors program "Tunnel" destinations, the client's
// requests reach both real servers encapsulated (tunl0 counts them), and destroy takes the VIP
// off tunl0.
func TestAccTunnelMode(t *testing.T) {
	a := modesLab(t)
	config := pairAndVIP(a, "100ms") + hcl(
		`resource "lvs_virtual_server" "web" {`,
		`  vip_id            = lvs_vip.v.id`,
		`  address           = "198.51.100.100"`,
		`  port              = 80`,
		`  scheduler         = "rr"`,
		`  forwarding_method = "tunnel"`,
		`}`,
	) + modesRealServers(80, `  host              = {}`)
	reals := []string{"real1", "real2"}
	const rxPackets = "cat /sys/class/net/tunl0/statistics/rx_packets"
	rx := map[string]int{}
	readRX := func() error {
		for _, h := range reals {
			out, err := a.run(h, rxPackets)
			if err != nil {
				return err
			}
			if rx[h], err = strconv.Atoi(strings.TrimSpace(out)); err != nil {
				return fmt.Errorf("%s: %s: %q", h, rxPackets, out)
			}
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		CheckDestroy:             func(*terraform.State) error { return a.modesCleanHosts() },
		Steps: []resource.TestStep{
			{
				Config: config,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("lvs_virtual_server.web", "forwarding_method", "tunnel"),
					resource.TestCheckResourceAttr("lvs_real_server.r1", "host.status", "ready"),
					resource.TestCheckResourceAttr("lvs_real_server.r2", "host.status", "ready"),
					func(*terraform.State) error {
						if err := a.checkHostsOutput(reals, "ip -o addr show dev tunl0", true, " "+modesVIP+"/32"); err != nil {
							return err
						}
						if err := a.checkHostsOutput(reals, "ip -o addr show dev lo", false, modesVIP); err != nil {
							return err
						}
						return a.checkHostsOutput([]string{"director1", "director2"}, "ipvsadm -Ln", true, "198.51.100.21:80", "198.51.100.22:80", "Tunnel")
					},
					func(*terraform.State) error { return readRX() },
					a.checkSpread(60, map[string]int{"real1": 1, "real2": 1}),
					func(*terraform.State) error {
						before := map[string]int{"real1": rx["real1"], "real2": rx["real2"]}
						if err := readRX(); err != nil {
							return err
						}
						for _, h := range reals {
							// 30 connections of about 5 client packets each reached h.
							if d := rx[h] - before[h]; d < 30 {
								return fmt.Errorf("%s: tunl0 received %d packets during 60 requests: not tunnelled", h, d)
							}
						}
						t.Logf("ipip packets received on tunl0 during the requests: real1 %d, real2 %d", rx["real1"]-before["real1"], rx["real2"]-before["real2"])
						return nil
					},
				),
			},
			{ResourceName: "lvs_virtual_server.web", ImportState: true, ImportStateVerify: true},
		},
	})
}

// TestAccNATMode: a masquerading virtual server on port 8080 of the VIP mapping to port 80 of
// real servers that the provider does not touch (no host block). The real servers route their
// replies to the client through a second VIP of the pair, the floating gateway; the directors
// get ip_forward=1 (and no ICMP redirects) while the NAT service exists, and their original
// values back after destroy.
// TestAccNATMode is a two-armed NAT director pair: VRRP and the service VIP on eth0, the real
// servers on an inside link (eth1, lab1) whose gateway is a VIP on the directors' eth1
// (lvs_vip.interface), the two VIPs in one sync group. The inside VIP is on the master's eth1
// only, its gratuitous ARPs reach the inside link, a failover moves both VIPs, an address moved
// to eth0 by hand goes back, and the traffic flows through NAT before and after.
func TestAccNATMode(t *testing.T) {
	inside := func(h lab.HostSpec, v4 string) lab.HostSpec {
		h.InsideIPv4, h.InsideIPv6 = v4, "2001:db8:1::"+v4[strings.LastIndexByte(v4, '.')+1:]
		return h
	}
	a := newAccLab(t, inside(director(1), "198.51.100.201"), inside(director(2), "198.51.100.202"),
		inside(labHost("real1", "198.51.100.21"), "198.51.100.221"), inside(labHost("real2", "198.51.100.22"), "198.51.100.222"),
		labHost("client", modesClient))
	a.serveWeb("real1")
	a.serveWeb("real2")
	directors := []string{"director1", "director2"}
	const gw = "198.51.100.254" // in the inside /26
	for _, h := range []string{"real1", "real2"} {
		// The directors' inside VIP is the real servers' gateway; the lab has no default
		// route, so a host route to the client stands for it. It goes out of eth1 (the
		// gateway is in eth1's /26).
		a.exec(h, fmt.Sprintf("ip route add %s/32 via %s", modesClient, gw))
	}
	const sysctls = "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/all/send_redirects"
	orig := map[string]string{}
	for _, h := range directors {
		orig[h] = a.exec(h, sysctls)
	}
	config := func(prio string) string {
		return a.providerBlock() + hcl(
			`resource "lvs_director_pair" "p" {`,
			`  name      = "edge"`,
			pairDirectors,
			`}`,
			`resource "lvs_vip" "v" {`,
			`  director_pair_id  = lvs_director_pair.p.id`,
			`  virtual_router_id = 91`,
			`  addresses         = ["198.51.100.100/24"]`,
			`  advert_interval   = "100ms"`,
			`  priority          = `+prio,
			`  sync_group        = "nat"`,
			`}`,
			`resource "lvs_vip" "gw" {`,
			`  director_pair_id  = lvs_director_pair.p.id`,
			`  virtual_router_id = 92`,
			`  addresses         = ["198.51.100.254/26"]`,
			`  interface         = "eth1"`,
			`  advert_interval   = "100ms"`,
			`  priority          = `+prio,
			`  sync_group        = "nat"`,
			`}`,
			`resource "lvs_virtual_server" "web" {`,
			`  vip_id            = lvs_vip.v.id`,
			`  address           = "198.51.100.100"`,
			`  port              = 8080`,
			`  scheduler         = "rr"`,
			`  forwarding_method = "nat"`,
			// The gateway must be up before the service is used.
			`  depends_on        = [lvs_vip.gw]`,
			`}`,
		) + natRealServers("198.51.100.221", "198.51.100.222")
	}
	// Where the two VIPs are: master holds the outside one on eth0 and the gateway on eth1
	// only; the other director holds neither, anywhere.
	placed := func(master, other string) error {
		for _, c := range []struct {
			host, ifname, addr string
			want               bool
		}{
			{master, "eth0", modesVIP, true}, {master, "eth1", gw, true}, {master, "eth0", gw, false},
			{other, "eth0", modesVIP, false}, {other, "eth1", gw, false}, {other, "eth0", gw, false},
		} {
			if err := a.holdsOn(c.host, c.ifname, c.addr, c.want); err != nil {
				return err
			}
		}
		st, err := a.agentStatus(master)
		if err != nil {
			return err
		}
		for _, v := range st.VIPs {
			if v.VRID == 92 && (v.Interface != "eth1" || len(v.HeldAddresses) != 1 || v.State != "MASTER") {
				return fmt.Errorf("%s: lvs-agent status of the gateway VIP: %+v, want MASTER holding it on eth1", master, v)
			}
		}
		return nil
	}
	var garps *garpWatch
	var movedAt time.Time
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		CheckDestroy: func(*terraform.State) error {
			if err := a.modesCleanHosts(); err != nil {
				return err
			}
			if err := a.checkHostsOutput(directors, "ip -o addr show dev eth1", false, " "+gw+"/"); err != nil {
				return err
			}
			for _, h := range directors {
				if got, err := a.run(h, sysctls); err != nil || got != orig[h] {
					return fmt.Errorf("%s: ip_forward, send_redirects after destroy = %q (%v), want the original %q", h, got, err, orig[h])
				}
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: config("[150, 100]"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("lvs_virtual_server.web", "forwarding_method", "nat"),
					resource.TestCheckResourceAttr("lvs_vip.gw", "interface", "eth1"),
					resource.TestCheckResourceAttr("lvs_real_server.r1", "port", "80"),
					func(*terraform.State) error {
						for _, h := range directors {
							out, err := a.run(h, sysctls)
							if err != nil {
								return err
							}
							if got := strings.Fields(out); len(got) != 2 || got[0] != "1" || got[1] != "0" {
								return fmt.Errorf("%s: ip_forward, conf.all.send_redirects = %v, want 1 0 while a NAT service exists", h, got)
							}
						}
						if err := placed("director1", "director2"); err != nil {
							return err
						}
						return a.checkHostsOutput(directors, "ipvsadm -Ln", true, "TCP  198.51.100.100:8080", "198.51.100.221:80", "198.51.100.222:80", "Masq")
					},
					// The replies come back through the gateway VIP on eth1.
					a.checkSpreadURL("http://198.51.100.100:8080/", 60, map[string]int{"real1": 1, "real2": 1}),
				),
			},
			{
				// Failover: the sync group moves both VIPs to director2, whose gratuitous
				// ARPs for the gateway reach the inside link (seen by real1).
				PreConfig: func() { garps = a.watchGARP("real1", "eth1", gw, lab.MACFor("198.51.100.202")) },
				Config:    config("[100, 150]"),
				Check: resource.ComposeAggregateTestCheckFunc(
					func(*terraform.State) error {
						if err := placed("director2", "director1"); err != nil {
							return err
						}
						return garps.wait()
					},
					a.checkSpreadURL("http://198.51.100.100:8080/", 60, map[string]int{"real1": 1, "real2": 1}),
				),
			},
			{
				// Drift: the gateway moved to eth0 by hand on the master. The agent puts it back
				// on eth1 (its repair, every 2 s) and takes it off eth0; the plan is then empty.
				PreConfig: func() {
					a.exec("director2", fmt.Sprintf("ip addr del %s/26 dev eth1 && ip addr add %[1]s/26 dev eth0", gw))
					movedAt = time.Now()
				},
				Config: config("[100, 150]"),
				Check: func(*terraform.State) error {
					if err := placed("director2", "director1"); err != nil {
						return err
					}
					a.t.Logf("the gateway VIP moved to eth0 by hand was back on eth1 only within %v of the move", time.Since(movedAt).Round(time.Millisecond))
					return nil
				},
			},
			{Config: config("[100, 150]"), PlanOnly: true},
			{
				// An interface the directors lack: refused, naming the VIP and the interface;
				// the create is undone (CheckDestroy finds no agent state left).
				Config: config("[100, 150]") + hcl(
					`resource "lvs_vip" "bad" {`,
					`  director_pair_id  = lvs_director_pair.p.id`,
					`  virtual_router_id = 93`,
					`  addresses         = ["198.51.100.253/26"]`,
					`  interface         = "eth9"`,
					`}`,
				),
				ExpectError: regexp.MustCompile(`rejected\s+interface:\s+VIP\s+93:\s+interface\s+eth9\s+is\s+not\s+on\s+this\s+director`),
			},
			{ResourceName: "lvs_real_server.r1", ImportState: true, ImportStateVerify: true},
		},
	})
}

// natRealServers are the real servers of lvs_virtual_server.web on port 80 at addrs.
func natRealServers(addrs ...string) string {
	var s string
	for i, addr := range addrs {
		s += hcl(
			fmt.Sprintf(`resource "lvs_real_server" "r%d" {`, i+1),
			`  virtual_server_id = lvs_virtual_server.web.id`,
			fmt.Sprintf(`  address           = %q`, addr),
			`  port              = 80`,
			`}`,
		)
	}
	return s
}

// holdsOn waits up to 20 s until host has (want) or lacks addr on ifname.
func (a *accLab) holdsOn(host, ifname, addr string, want bool) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := a.run(host, "ip -o addr show dev "+ifname)
		if err != nil {
			return err
		}
		if has := strings.Contains(out, " "+addr+"/"); has == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: holds %s on %s = %v after 20 s, want %v:\n%s", host, addr, ifname, !want, want, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// garpWatch is a tcpdump on a lab host waiting for one gratuitous ARP for an address.
type garpWatch struct {
	addr string
	mac  string
	out  bytes.Buffer
	done chan error
}

// watchGARP starts capturing, on host's ifname, the first gratuitous ARP (sender and target
// addr) from mac for at most 60 s; it returns once the capture listens. (The old master sends
// some too: a master announces again when its priority changes.)
func (a *accLab) watchGARP(host, ifname, addr, mac string) *garpWatch {
	a.t.Helper()
	ip := netip.MustParseAddr(addr).As4()
	word := fmt.Sprintf("0x%02x%02x%02x%02x", ip[0], ip[1], ip[2], ip[3])
	w := &garpWatch{addr: addr, mac: mac, done: make(chan error, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	a.t.Cleanup(cancel)
	cmd := a.lab.Host(host).Command(ctx, "timeout", "60", "tcpdump", "-i", ifname, "-n", "-e", "-l", "-c", "1",
		fmt.Sprintf("ether src %s and arp and arp[14:4] = %s and arp[24:4] = %s", mac, word, word))
	cmd.Stdout = &w.out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		a.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		a.t.Fatalf("%s: tcpdump: %v", host, err)
	}
	listening := make(chan struct{})
	go func() {
		var once bool
		buf := make([]byte, 4096)
		var seen []byte
		for {
			n, err := stderr.Read(buf)
			seen = append(seen, buf[:n]...)
			if !once && bytes.Contains(seen, []byte("listening on")) {
				once = true
				close(listening)
			}
			if err != nil {
				break
			}
		}
		if !once {
			close(listening)
		}
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%s: tcpdump: %v: %s", host, err, seen)
		}
		w.done <- err
	}()
	select {
	case <-listening:
	case <-time.After(30 * time.Second):
		a.t.Fatalf("%s: tcpdump did not start listening within 30 s", host)
	}
	return w
}

// wait waits for the capture and checks what it caught.
func (w *garpWatch) wait() error {
	if err := <-w.done; err != nil {
		return fmt.Errorf("no gratuitous ARP for %s from %s: %v", w.addr, w.mac, err)
	}
	if !strings.Contains(w.out.String(), w.mac+" > ff:ff:ff:ff:ff:ff") {
		return fmt.Errorf("the gratuitous ARP for %s did not come from %s: %s", w.addr, w.mac, w.out.String())
	}
	return nil
}

// checkSpreadURL checks that n requests from the client to url are all answered, by the real
// servers in the ratio of want (within 15 %).
func (a *accLab) checkSpreadURL(url string, n int, want map[string]int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		var got map[string]int
		var err error
		for i := 0; i < 30; i++ { // the VIPs may still be moving in
			if got, err = a.fetch(url, 4); err == nil && lab.Errors(got) == 0 {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if got, err = a.fetch(url, n); err != nil {
			return err
		}
		total := 0
		for _, w := range want {
			total += w
		}
		for name, w := range want {
			exp := float64(n) * float64(w) / float64(total)
			if d := float64(got[name]) - exp; d > 0.15*float64(n) || d < -0.15*float64(n) {
				return fmt.Errorf("%d requests to %s: %v, want about %.0f from %s", n, url, got, exp, name)
			}
		}
		for name, c := range got {
			if _, ok := want[name]; !ok && c > 0 {
				return fmt.Errorf("%d requests to %s: %v; %d answered by %q", n, url, got, c, name)
			}
		}
		a.t.Logf("%d requests to %s: %v", n, url, got)
		return nil
	}
}
