//go:build linux

package ipvs_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/ipvs"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// VIPs of the lab. VRRP is another part of the agent: these tests put the VIPs on the
// director by hand and configure no VIP objects.
const (
	vipDR   = "198.51.100.100"
	vipNAT  = "198.51.100.101"
	vipTun  = "198.51.100.102"
	vip6DR  = "2001:db8::100"
	vip6Tun = "2001:db8::102"
)

// repairBound is how long a manual change may survive: the agent re-applies every 5s; the rest
// is slack for a loaded 2-core machine running UML.
const repairBound = 20 * time.Second

// healthMargin is what the lab adds to a health verdict's bound (interval × fall + timeout):
// the watcher polls the table every 2 ms, the rest is a User-Mode-Linux kernel on a loaded,
// shared 2-core machine scheduling the check, the agent and the watcher late.
const healthMargin = 400 * time.Millisecond

// umlModules is where the lab's UML kernel context keeps its module tree (see internal/lab).
const umlModules = "/run/lvs-lab-kmod"

// What the agent answers when the kernel lacks a piece: a scheduler module (the IPVS
// reconciler's explanation of ENOENT) or the IPv6 tunnel (netconf).
const (
	twosCode      = agentapi.CodeInternal
	twosReport    = `ipvs: add service tcp/198.51.100.100:1999: scheduler "twos" is not available in this kernel (no module ip_vs_twos): no such file or directory`
	twosMessage   = "stored, but applying it failed (the agent retries): " + twosReport
	ip6tnlMissing = "netconf: create ip6tnl0 (is the ip6_tunnel module available?)"
)

// kernelHasModule reports whether the running kernel has module name, built in or in its
// module tree (the lab kernel's is under umlModules): whether the lab could load it.
func kernelHasModule(t *testing.T, name string) bool {
	t.Helper()
	args := []string{"-F", "filename", name}
	if _, err := os.Stat(umlModules); err == nil {
		args = append([]string{"-b", umlModules}, args...)
	}
	out, err := exec.Command("modinfo", args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil && strings.TrimSpace(string(out)) != "":
		return true
	case errors.As(err, &ee) && strings.Contains(string(out), "not found"):
		return false
	}
	t.Fatalf("modinfo %s: %v: %s", strings.Join(args, " "), err, out)
	return false
}

func pair() *agentapi.Pair {
	return &agentapi.Pair{Name: "edge", Self: 0, SyncConnections: true,
		IPVSTimeouts: &agentapi.IPVSTimeouts{TCP: 600, TCPFin: 60, UDP: 30},
		Directors:    []agentapi.Director{{Host: "198.51.100.11", Interface: lab.HostIface}, {Host: "198.51.100.12", Interface: lab.HostIface}}}
}

func rs(addr string, port, weight int) *agentapi.RealServer {
	return &agentapi.RealServer{Address: addr, Port: port, Weight: weight}
}

func realServers(list ...*agentapi.RealServer) map[string]*agentapi.RealServer {
	m := map[string]*agentapi.RealServer{}
	for _, r := range list {
		m[agentapi.RealServerKey(r)] = r
	}
	return m
}

func (e *labEnv) putVS(vs *agentapi.VirtualServer) {
	e.t.Helper()
	e.call(d1, func(ctx context.Context, c *agentclient.Client) error {
		_, err := c.PutVirtualServer(ctx, vs)
		return err
	})
}

func (e *labEnv) deleteVS(key string) {
	e.t.Helper()
	e.call(d1, func(ctx context.Context, c *agentclient.Client) error {
		err := c.DeleteVirtualServer(ctx, key)
		if errors.Is(err, agentapi.ErrNotFound) {
			return nil
		}
		return err
	})
}

// setupLab installs the agent on the director and both real servers, gives the director its
// VIPs and the pair, binds the VIPs on the real servers (DR and tunnel) and starts the TCP
// servers (port 80 for DR and tunnel, 8080 for NAT).
func setupLab(t *testing.T) *labEnv {
	e := newLabEnv(t, labSpec)
	// The lab loads ip6_tunnel with the other modules (internal/lab); a kernel without it must
	// refuse the IPv6 tunnel binding with the agent's error, which the tunnel subtest checks.
	e.ip6tnl = kernelHasModule(t, "ip6_tunnel")
	for _, h := range []string{d1, r1, r2} {
		e.installAgent(h)
	}
	// IPv6 VIPs are deprecated (preferred_lft 0), as keepalived adds them: otherwise the director
	// picks a VIP as the source of its own packets to the real servers, including the outer
	// header of IPVS tunnel packets, and a real server that holds the same VIP drops those as
	// coming from itself.
	e.sh(d1, fmt.Sprintf("for a in %s %s %s; do ip addr add $a/32 dev eth0; done; for a in %s %s; do ip addr add $a/128 dev eth0 nodad preferred_lft 0; done",
		vipDR, vipNAT, vipTun, vip6DR, vip6Tun))
	e.call(d1, func(ctx context.Context, c *agentclient.Client) error { _, err := c.PutPair(ctx, pair()); return err })
	for _, h := range []string{r1, r2} {
		e.call(h, func(ctx context.Context, c *agentclient.Client) error {
			for id, b := range map[string]*agentapi.RealServerBinding{
				"dr4": {VIP: vipDR, ForwardingMethod: "dr"}, "dr6": {VIP: vip6DR, ForwardingMethod: "dr"},
				"tun4": {VIP: vipTun, ForwardingMethod: "tunnel"}, "tun6": {VIP: vip6Tun, ForwardingMethod: "tunnel"},
			} {
				_, err := c.PutBinding(ctx, id, b)
				if id == "tun6" && !e.ip6tnl {
					// No IPv6 tunnel in this kernel: the binding must say so, not half-work.
					if err == nil || !strings.Contains(err.Error(), ip6tnlMissing) {
						t.Errorf("%s: IPv6 tunnel binding without ip6_tunnel in the kernel: %v, want an error containing %q", h, err, ip6tnlMissing)
					}
					continue
				}
				if err != nil {
					return fmt.Errorf("binding %s: %w", id, err)
				}
			}
			return nil
		})
		e.startServer(h, 80, h)
		e.startServer(h, 8080, h+"-nat")
	}
	return e
}

// TestLabIPVS proves the IPVS part of the agent in a real kernel: what it programs, that
// traffic flows as configured, that updates and restarts keep connections, and that drift is
// repaired.
func TestLabIPVS(t *testing.T) {
	e := setupLab(t)

	t.Run("every scheduler, flags, persistence, protocols, fwmark, methods, thresholds, IPv6 in the kernel", func(t *testing.T) {
		e.t = t
		var want []string
		port := 1000
		// twos is not in the Debian UML kernel (no ip_vs_twos): there it must fail with the
		// agent's error, below; in a kernel that has it, it must work like every other.
		haveTwos := kernelHasModule(t, "ip_vs_twos")
		t.Logf("kernel has ip_vs_twos: %v", haveTwos)
		for _, s := range agentapi.Schedulers {
			if s == "twos" && !haveTwos {
				continue
			}
			port++
			vs := &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vipDR, Port: port, Scheduler: s, ForwardingMethod: "dr",
				RealServers: realServers(rs("198.51.100.21", port, 1), rs("198.51.100.22", port, 3))}
			e.putVS(vs)
			want = append(want, fmt.Sprintf("-A -t %s:%d -s %s", vipDR, port, s),
				fmt.Sprintf("-a -t %s:%d -r 198.51.100.21:%d -g -w 1", vipDR, port, port),
				fmt.Sprintf("-a -t %s:%d -r 198.51.100.22:%d -g -w 3", vipDR, port, port))
		}
		e.putVS(&agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vipDR, Port: 1100, Scheduler: "sh", SchedulerFlags: []string{"sh-fallback", "sh-port"},
			ForwardingMethod: "dr", RealServers: realServers(rs("198.51.100.21", 1100, 1))})
		e.putVS(&agentapi.VirtualServer{VRID: 91, Protocol: "udp", Address: vipDR, Port: 1101, Scheduler: "mh", SchedulerFlags: []string{"mh-port"},
			Persistence: &agentapi.Persistence{TimeoutS: 300, Netmask: "255.255.255.0"}, ForwardingMethod: "nat",
			RealServers: realServers(&agentapi.RealServer{Address: "198.51.100.21", Port: 5353, Weight: 2, UpperThreshold: 100, LowerThreshold: 10})})
		e.putVS(&agentapi.VirtualServer{VRID: 91, Protocol: "sctp", Address: vipDR, Port: 1102, Scheduler: "rr", ForwardingMethod: "tunnel",
			RealServers: realServers(rs("198.51.100.22", 1102, 1))})
		e.putVS(&agentapi.VirtualServer{VRID: 91, FWMark: 7, Family: "inet", Scheduler: "wlc", Persistence: &agentapi.Persistence{TimeoutS: 60},
			RealServers: realServers(rs("198.51.100.21", 0, 1))})
		e.putVS(&agentapi.VirtualServer{VRID: 91, FWMark: 8, Family: "inet6", Scheduler: "lc", ForwardingMethod: "nat",
			RealServers: realServers(rs("2001:db8::21", 80, 4))})
		e.putVS(&agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vip6DR, Port: 1103, Scheduler: "sed",
			Persistence: &agentapi.Persistence{TimeoutS: 120, Netmask: "64"}, ForwardingMethod: "dr",
			RealServers: realServers(rs("2001:db8::21", 1103, 1), &agentapi.RealServer{Address: "2001:db8::22", Port: 1103, Weight: 5, ForwardingMethod: "tunnel"})})
		save := e.ipvsSave(d1)
		t.Logf("ipvsadm -Sn:\n%s", strings.Join(save, "\n"))
		want = append(want,
			"-A -t 198.51.100.100:1100 -s sh -b sh-fallback,sh-port",
			"-a -t 198.51.100.100:1100 -r 198.51.100.21:1100 -g -w 1",
			"-A -u 198.51.100.100:1101 -s mh -p 300 -M 255.255.255.0 -b mh-port",
			"-a -u 198.51.100.100:1101 -r 198.51.100.21:5353 -m -w 2",
			"-A --sctp-service 198.51.100.100:1102 -s rr",
			"-a --sctp-service 198.51.100.100:1102 -r 198.51.100.22:1102 -i -w 1 --tun-type ipip",
			"-A -f 7 -s wlc -p 60",
			"-a -f 7 -r 198.51.100.21:0 -g -w 1",
			"-A -f 8 -6 -s lc",
			"-a -f 8 -6 -r [2001:db8::21]:80 -m -w 4",
			"-A -t [2001:db8::100]:1103 -s sed -p 120 -M 64",
			"-a -t [2001:db8::100]:1103 -r [2001:db8::21]:1103 -g -w 1",
			"-a -t [2001:db8::100]:1103 -r [2001:db8::22]:1103 -i -w 5 --tun-type ipip",
		)
		for _, w := range want {
			if !slices.Contains(save, w) {
				t.Errorf("kernel table lacks %q", w)
			}
		}
		// ipvsadm -S leaves thresholds out; --thresholds shows them: upper, lower.
		th := e.sh(d1, "ipvsadm -Ln --thresholds -u 198.51.100.100:1101")
		if !slices.ContainsFunc(strings.Split(th, "\n"), func(l string) bool {
			f := strings.Fields(l)
			return len(f) >= 4 && f[1] == "198.51.100.21:5353" && f[2] == "100" && f[3] == "10"
		}) {
			t.Errorf("thresholds:\n%s", th)
		}
		// The agent's own report agrees and owns them all.
		rep := e.report(d1)
		for _, s := range rep.Services {
			if !s.Managed || s.Missing || s.Error != "" {
				t.Errorf("report: %+v", s)
			}
		}
		nsched := len(agentapi.Schedulers)
		if !haveTwos {
			nsched--
		}
		if len(rep.Services) != nsched+6 {
			t.Errorf("report has %d services, want %d", len(rep.Services), nsched+6)
		}
		if !haveTwos {
			// Stored, but the kernel refuses it: the write fails with the agent's explanation,
			// and the report shows the service missing with the same explanation.
			err := e.tryCall(d1, func(ctx context.Context, c *agentclient.Client) error {
				_, err := c.PutVirtualServer(ctx, &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vipDR, Port: 1999, Scheduler: "twos"})
				return err
			})
			var ae *agentapi.Error
			if !errors.As(err, &ae) || ae.Code != twosCode || ae.Message != twosMessage {
				t.Errorf("twos in a kernel without it: %#v (%v), want an agentapi.Error %s: %s", err, err, twosCode, twosMessage)
			}
			found := false
			for _, s := range e.report(d1).Services {
				if s.Key == "tcp/198.51.100.100:1999" {
					found = true
					if !s.Managed || !s.Missing || s.Error != twosReport {
						t.Errorf("twos in the report: %+v, want managed, missing, error %q", s, twosReport)
					}
				}
			}
			if !found {
				t.Error("twos is not in the report")
			}
		}
		e.deleteVS("tcp/198.51.100.100:1999")
		out := e.sh(d1, agentapi.BinaryPath+" status")
		if !strings.Contains(out, "TCP  198.51.100.100:1001") || !strings.Contains(out, "-> 198.51.100.22:1001") {
			t.Errorf("lvs-agent status:\n%s", out)
		}
	})

	t.Run("timeouts and sync daemons", func(t *testing.T) {
		e.t = t
		id := ipvs.SyncID("edge")
		out := e.sh(d1, "ipvsadm -L --timeout; ipvsadm -L --daemon")
		for _, w := range []string{"Timeout (tcp tcpfin udp): 600 60 30",
			fmt.Sprintf("master sync daemon (mcast=eth0, syncid=%d", id), fmt.Sprintf("backup sync daemon (mcast=eth0, syncid=%d", id)} {
			if !strings.Contains(out, w) {
				t.Errorf("lacks %q:\n%s", w, out)
			}
		}
		rep := e.report(d1)
		if rep.Timeouts == nil || *rep.Timeouts != (agentapi.IPVSTimeouts{TCP: 600, TCPFin: 60, UDP: 30}) || len(rep.SyncDaemons) != 2 {
			t.Errorf("report timeouts %+v daemons %+v", rep.Timeouts, rep.SyncDaemons)
		}
		// Tampered: a daemon stopped, a timeout changed. Both come back.
		e.sh(d1, "ipvsadm --stop-daemon backup && ipvsadm --set 900 0 0")
		e.waitFor("sync daemon and timeouts repaired", repairBound, func() bool {
			out := e.sh(d1, "ipvsadm -L --timeout; ipvsadm -L --daemon")
			return strings.Contains(out, "600 60 30") && strings.Contains(out, "backup sync daemon")
		}, func() string { return e.sh(d1, "ipvsadm -L --timeout; ipvsadm -L --daemon") })
	})

	const drKey = "tcp/198.51.100.100:80"
	drVS := func() *agentapi.VirtualServer {
		return &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vipDR, Port: 80, Scheduler: "rr", ForwardingMethod: "dr",
			RealServers: realServers(rs("198.51.100.21", 80, 1), rs("198.51.100.22", 80, 1))}
	}
	putRS := func(vsKey string, r *agentapi.RealServer) {
		e.t.Helper()
		e.call(d1, func(ctx context.Context, c *agentclient.Client) error {
			_, err := c.PutRealServer(ctx, vsKey, r)
			return err
		})
	}

	t.Run("DR end to end: rr even, wrr 1:2, persistence, weight 0 drains", func(t *testing.T) {
		e.t = t
		e.putVS(drVS())
		c := e.counts(vipDR+":80", 200)
		t.Logf("rr over 200 connections: %v", c)
		if c["error"] != 0 || c[r1] < 90 || c[r2] < 90 {
			t.Errorf("rr: %v, want about 100 each", c)
		}
		vs := drVS()
		vs.Scheduler = "wrr"
		vs.RealServers = nil // keeps them
		e.putVS(vs)
		putRS(drKey, rs("198.51.100.22", 80, 2))
		c = e.counts(vipDR+":80", 300)
		ratio := float64(c[r2]) / float64(max(c[r1], 1))
		t.Logf("wrr 1:2 over 300 connections: %v (ratio %.2f)", c, ratio)
		if c["error"] != 0 || ratio < 1.7 || ratio > 2.3 {
			t.Errorf("wrr: %v, ratio %.2f, want 2 within 15%%", c, ratio)
		}
		vs.Persistence = &agentapi.Persistence{TimeoutS: 60}
		e.putVS(vs)
		c = e.counts(vipDR+":80", 60)
		t.Logf("persistent over 60 connections: %v", c)
		if c["error"] != 0 || len(c) != 1 {
			t.Errorf("persistence: %v, want one real server for every connection", c)
		}
		vs.Persistence = nil
		vs.Scheduler = "rr"
		e.putVS(vs)
		putRS(drKey, rs("198.51.100.21", 80, 0))
		c = e.counts(vipDR+":80", 40)
		t.Logf("real1 at weight 0, 40 connections: %v", c)
		if c[r2] != 40 {
			t.Errorf("drain: %v, want all on real2", c)
		}
		putRS(drKey, rs("198.51.100.21", 80, 1))
		putRS(drKey, rs("198.51.100.22", 80, 1))
	})

	t.Run("updates in place and an agent restart keep an established connection", func(t *testing.T) {
		e.t = t
		e.putVS(drVS())
		h := e.hold(vipDR + ":80")
		held := "198.51.100.21:80"
		other := r2
		if h.name == r2 {
			held, other = "198.51.100.22:80", r1
		}
		t.Logf("holding a connection to %s", held)
		addr, port := strings.Split(held, ":")[0], 80
		// Weight, scheduler, persistence, thresholds: each an edit in place.
		putRS(drKey, rs(addr, port, 5))
		vs := drVS()
		vs.RealServers = nil
		vs.Scheduler = "wlc"
		e.putVS(vs)
		vs.Persistence = &agentapi.Persistence{TimeoutS: 30}
		e.putVS(vs)
		vs.Persistence = nil
		e.putVS(vs)
		putRS(drKey, &agentapi.RealServer{Address: addr, Port: port, Weight: 5, UpperThreshold: 1000})
		// Quiesce the held server: new connections go elsewhere, the established one goes on.
		putRS(drKey, rs(addr, port, 0))
		if c := e.counts(vipDR+":80", 20); c[other] != 20 {
			t.Errorf("new connections with %s at weight 0: %v", held, c)
		}
		// Restart the agent: it re-applies its stored state to a table that already matches
		// and changes nothing.
		before := e.ipvsSave(d1)
		changes := strings.Count(e.sh(d1, "cat "+agentapi.LogPath), "IPVS change")
		e.sh(d1, agentapi.BinaryPath+" stop && "+agentapi.BinaryPath+" install")
		e.waitFor("a resync after the restart", time.Minute, func() bool {
			var rep *agentapi.IPVSReport
			err := e.tryCall(d1, func(ctx context.Context, c *agentclient.Client) (err error) { rep, err = c.IPVS(ctx); return err })
			return err == nil && rep.LastReconcile != nil && rep.LastReconcile.Changes == 0
		}, nil)
		if after := e.ipvsSave(d1); !slices.Equal(before, after) {
			t.Errorf("the restart changed the table:\nbefore %v\nafter  %v", before, after)
		}
		if n := strings.Count(e.sh(d1, "cat "+agentapi.LogPath), "IPVS change"); n != changes {
			t.Errorf("the restart made %d changes", n-changes)
		}
		conns := e.sh(d1, "ipvsadm -Lnc")
		if !strings.Contains(conns, held) || !strings.Contains(conns, "ESTABLISHED") {
			t.Errorf("connection entry gone:\n%s", conns)
		}
		r := h.finish(t)
		t.Logf("held connection: %+v", r)
		if r.Error != "" || r.Replies < 20 {
			t.Errorf("the established connection broke: %+v", r)
		}
		e.putVS(drVS())
	})

	t.Run("manual changes are repaired and reported; foreign services are left alone", func(t *testing.T) {
		e.t = t
		e.putVS(drVS())
		start := e.report(d1).Repairs
		e.sh(d1, "ipvsadm -A -t 198.51.100.100:9999 -s rr")
		tampers := []struct {
			name, script string
			ok           func([]string) bool
		}{
			{"ipvsadm -d", "ipvsadm -d -t 198.51.100.100:80 -r 198.51.100.21:80",
				func(s []string) bool {
					return slices.Contains(s, "-a -t 198.51.100.100:80 -r 198.51.100.21:80 -g -w 1")
				}},
			{"ipvsadm -e", "ipvsadm -e -t 198.51.100.100:80 -r 198.51.100.22:80 -m -w 9",
				func(s []string) bool {
					return slices.Contains(s, "-a -t 198.51.100.100:80 -r 198.51.100.22:80 -g -w 1")
				}},
			{"ipvsadm -a", "ipvsadm -a -t 198.51.100.100:80 -r 198.51.100.23:80 -g -w 1",
				func(s []string) bool {
					return !slices.Contains(s, "-a -t 198.51.100.100:80 -r 198.51.100.23:80 -g -w 1")
				}},
			{"ipvsadm -E", "ipvsadm -E -t 198.51.100.100:80 -s lc -p 10",
				func(s []string) bool { return slices.Contains(s, "-A -t 198.51.100.100:80 -s rr") }},
			{"ipvsadm -D", "ipvsadm -D -t 198.51.100.100:1001",
				func(s []string) bool {
					return slices.Contains(s, "-A -t 198.51.100.100:1001 -s rr") && slices.Contains(s, "-a -t 198.51.100.100:1001 -r 198.51.100.22:1001 -g -w 3")
				}},
		}
		for _, tc := range tampers {
			e.sh(d1, tc.script)
			took := e.waitFor(tc.name+" repaired", repairBound, func() bool { return tc.ok(e.ipvsSave(d1)) },
				func() string { return strings.Join(e.ipvsSave(d1), "\n") })
			t.Logf("%s repaired after %v", tc.name, took.Round(100*time.Millisecond))
		}
		rep := e.report(d1)
		if rep.Repairs < start+5 {
			t.Errorf("repairs %d -> %d, want at least 5 more", start, rep.Repairs)
		}
		joined := strings.Join(rep.RecentRepairs, "\n")
		for _, w := range []string{"198.51.100.21:80", "weight 9, want 1", "198.51.100.23:80", "scheduler lc, want rr", "tcp/198.51.100.100:1001"} {
			if !strings.Contains(joined, w) {
				t.Errorf("recent repairs lack %q:\n%s", w, joined)
			}
		}
		if log := e.sh(d1, "cat "+agentapi.LogPath); !strings.Contains(log, "IPVS drift repaired") {
			t.Error("no repair in the agent's log")
		}
		foreign := false
		for _, s := range rep.Services {
			if s.Key == "tcp/198.51.100.100:9999" {
				foreign = !s.Managed
			}
		}
		if !foreign || !slices.Contains(e.ipvsSave(d1), "-A -t 198.51.100.100:9999 -s rr") {
			t.Errorf("the foreign service was touched or not reported as unmanaged")
		}
	})

	t.Run("IPv6 DR end to end", func(t *testing.T) {
		e.t = t
		e.putVS(&agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vip6DR, Port: 80, Scheduler: "rr", ForwardingMethod: "dr",
			RealServers: realServers(rs("2001:db8::21", 80, 1), rs("2001:db8::22", 80, 1))})
		c := e.counts("["+vip6DR+"]:80", 40)
		t.Logf("IPv6 rr over 40 connections: %v", c)
		if c[r1] < 15 || c[r2] < 15 {
			t.Errorf("IPv6 DR: %v", c)
		}
	})

	t.Run("health check: a dead web server is out of the table within interval × fall + timeout", func(t *testing.T) {
		e.t = t
		// The README's figure (0.95 s median at interval 1 s, timeout 1 s; make bench,
		// TestLabBenchHealth) with the same settings: one run per way to die, against the bound.
		const interval, timeout, fall = time.Second, time.Second, 1
		bound := interval*fall + timeout + healthMargin
		bin := os.Getenv(lab.EnvBin)
		if bin == "" {
			t.Fatalf("%s is not set: run inside `lab run`", lab.EnvBin)
		}
		const port = 8000
		startWeb := func(h string) {
			e.sh(h, fmt.Sprintf("setsid %s serve :%d %s </dev/null >/tmp/web-%d.log 2>&1 & echo $! >/run/lab-web-%d.pid", bin, port, h, port, port))
		}
		for _, h := range []string{r1, r2} {
			startWeb(h)
		}
		t.Cleanup(func() {
			for _, h := range []string{r1, r2} {
				_, _ = e.trySh(h, fmt.Sprintf("p=$(cat /run/lab-web-%d.pid) && kill -CONT $p; kill $p; true", port))
			}
		})
		hc := &agentapi.HealthCheck{Type: "http", IntervalMS: int(interval.Milliseconds()), TimeoutMS: int(timeout.Milliseconds()),
			Retries: 0, Rise: 1, Fall: fall, HTTP: &agentapi.HTTPCheck{Path: "/healthz", ExpectedStatus: []string{"200"}}}
		vs := &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vipDR, Port: port, Scheduler: "rr", ForwardingMethod: "dr",
			HealthCheck: hc, OnFailure: "remove", RealServers: realServers(rs("198.51.100.21", port, 1), rs("198.51.100.22", port, 1))}
		e.putVS(vs)
		svc, dest := fmt.Sprintf("%s:%d", vipDR, port), fmt.Sprintf("198.51.100.21:%d", port)
		for i, ev := range []struct{ name, kill string }{
			{"stopped (refused)", fmt.Sprintf("kill $(cat /run/lab-web-%d.pid)", port)},
			{"hung (SIGSTOP: the check times out)", fmt.Sprintf("kill -STOP $(cat /run/lab-web-%d.pid)", port)},
		} {
			if i > 0 {
				startWeb(r1)
			}
			// watchGone returns once dest is in the table: for the hung server, right after the
			// check that brought it back (rise 1), so that the kill falls about an interval
			// before the next check, which then times out: the worst phase, interval + timeout.
			w := e.watchGone(svc, dest, bound+10*time.Second)
			killed := lab.MonotonicNow()
			e.sh(r1, ev.kill)
			gone, err := w()
			if err != nil {
				t.Fatalf("%s: %v", ev.name, err)
			}
			took := time.Duration(gone - killed)
			t.Logf("web server %s: out of the table after %v (bound %v)", ev.name, took.Round(time.Millisecond), bound)
			if took > bound {
				t.Errorf("web server %s: out of the table after %v, bound interval × fall + timeout + margin = %v", ev.name, took.Round(time.Millisecond), bound)
			}
		}
		e.deleteVS(agentapi.VirtualServerKey(vs))
	})

	t.Run("health check kinds of keepalived: smtp, udp, several URLs with a digest, dynamic weight", func(t *testing.T) {
		e.t = t
		bin := os.Getenv(lab.EnvBin)
		if bin == "" {
			t.Fatalf("%s is not set: run inside `lab run`", lab.EnvBin)
		}
		const smtpPort, udpPort, webPort = 2525, 5300, 8001
		start := func(h, what string, port int) {
			e.sh(h, fmt.Sprintf("setsid %s %s :%d %s </dev/null >/tmp/%s-%d.log 2>&1 & echo $! >/run/lab-kinds-%s-%d.pid", bin, what, port, h, what, port, what, port))
		}
		stop := func(what string, port int) string {
			return fmt.Sprintf("kill $(cat /run/lab-kinds-%s-%d.pid)", what, port)
		}
		for _, h := range []string{r1, r2} {
			start(h, "serve-smtp", smtpPort)
			start(h, "serve-udp", udpPort)
			start(h, "serve", webPort)
		}
		t.Cleanup(func() {
			for _, h := range []string{r1, r2} {
				_, _ = e.trySh(h, "for f in /run/lab-kinds-*.pid; do kill $(cat $f); rm -f $f; done; true")
			}
		})
		dest := func(vsKey, rsKey string) *agentapi.IPVSDestination {
			for _, s := range e.report(d1).Services {
				if s.Key != vsKey {
					continue
				}
				for i := range s.Destinations {
					if s.Destinations[i].Key == rsKey {
						return &s.Destinations[i]
					}
				}
			}
			return nil
		}
		reasonHas := func(vsKey, rsKey, want string) func() bool {
			return func() bool { d := dest(vsKey, rsKey); return d != nil && strings.Contains(d.HealthReason, want) }
		}
		describe := func() string { return fmt.Sprintf("%+v; table %v", e.report(d1).Services, e.ipvsSave(d1)) }
		// gone waits for dest to leave svc after kill runs on r1, and returns how long it took.
		gone := func(svc, rsAddr, kill string, limit time.Duration) time.Duration {
			t.Helper()
			w := e.watchGone(svc, rsAddr, limit)
			killed := lab.MonotonicNow()
			e.sh(r1, kill)
			at, err := w()
			if err != nil {
				t.Fatalf("%s: %v", rsAddr, err)
			}
			return time.Duration(at - killed)
		}
		const interval, timeout = 500 * time.Millisecond, 3 * time.Second
		check := func(typ string) *agentapi.HealthCheck {
			return &agentapi.HealthCheck{Type: typ, IntervalMS: int(interval.Milliseconds()), TimeoutMS: int(timeout.Milliseconds()), Rise: 1, Fall: 1}
		}
		r1Key, r2Key := func(p int) string { return fmt.Sprintf("198.51.100.21:%d", p) }, func(p int) string { return fmt.Sprintf("198.51.100.22:%d", p) }

		// SMTP: the greeting, HELO and QUIT pass; a stopped server goes; a server that takes
		// the connection but speaks no SMTP stays out (a tcp check would pass it).
		hc := check("smtp")
		hc.SMTP = &agentapi.SMTPCheck{HeloName: "director1.lab"}
		smtpVS := &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vipDR, Port: smtpPort, Scheduler: "rr", ForwardingMethod: "dr",
			HealthCheck: hc, OnFailure: "remove", RealServers: realServers(rs("198.51.100.21", smtpPort, 1), rs("198.51.100.22", smtpPort, 1))}
		e.putVS(smtpVS)
		smtpKey := agentapi.VirtualServerKey(smtpVS)
		took := gone(fmt.Sprintf("%s:%d", vipDR, smtpPort), r1Key(smtpPort), stop("serve-smtp", smtpPort), interval+timeout+10*time.Second)
		t.Logf("smtp: a stopped server is out after %v (interval %v)", took.Round(time.Millisecond), interval)
		// A refused connect fails at once: the next check takes it out, well before the
		// interval + timeout a check that waits would need.
		fast := interval + timeout/2
		if took > fast {
			t.Errorf("smtp: out after %v, want within the interval + half the timeout, %v (a refused connect)", took.Round(time.Millisecond), fast)
		}
		e.waitFor("the refusal in the reason", 10*time.Second, reasonHas(smtpKey, r1Key(smtpPort), "smtp: connect 198.51.100.21:2525: connection refused"), describe)
		start(r1, "serve", smtpPort) // HTTP on the SMTP port: connects, but never greets
		e.waitFor("the missing greeting in the reason", 10*time.Second, reasonHas(smtpKey, r1Key(smtpPort), "smtp: timeout after 3s"), describe)
		if d := dest(smtpKey, r2Key(smtpPort)); d == nil || d.Health != "up" || d.Weight != 1 {
			t.Errorf("real2's smtp server: %+v, want up at weight 1", d)
		}
		e.sh(r1, stop("serve", smtpPort))
		e.deleteVS(smtpKey)

		// UDP with a reply pattern (x: any digit; the servers answer "real1 ..." and "real2
		// ..."): both pass; a stopped server's ICMP port unreachable takes it out at the next
		// check, long before the timeout a missing reply would need.
		hc = check("udp")
		hc.UDP = &agentapi.UDPCheck{Payload: "6c 76 73", ReplyPattern: "7265616c 3x 20 6c7673"}
		udpVS := &agentapi.VirtualServer{VRID: 91, Protocol: "udp", Address: vipDR, Port: udpPort, Scheduler: "rr", ForwardingMethod: "dr",
			HealthCheck: hc, OnFailure: "remove", RealServers: realServers(rs("198.51.100.21", udpPort, 1), rs("198.51.100.22", udpPort, 1))}
		e.putVS(udpVS)
		udpKey := agentapi.VirtualServerKey(udpVS)
		took = gone(fmt.Sprintf("%s:%d", vipDR, udpPort), r1Key(udpPort), stop("serve-udp", udpPort), interval+timeout+10*time.Second)
		t.Logf("udp: a stopped server is out after %v (interval %v, timeout %v)", took.Round(time.Millisecond), interval, timeout)
		if took > fast {
			t.Errorf("udp: out after %v, want within the interval + half the timeout, %v: by the ICMP port unreachable, not by a missing reply", took.Round(time.Millisecond), fast)
		}
		e.waitFor("the ICMP error in the reason", 10*time.Second, reasonHas(udpKey, r1Key(udpPort), "udp: 198.51.100.21:5300: connection refused"), describe)
		if d := dest(udpKey, r2Key(udpPort)); d == nil || d.Health != "up" {
			t.Errorf("real2's udp server: %+v, want up", d)
		}
		e.deleteVS(udpKey)

		// Several URLs, all of which must pass; the second's digest is the MD5 of real1's page,
		// so real2, whose page differs, is out.
		hc = check("http")
		sum := md5.Sum([]byte(r1 + "\n"))
		hc.HTTP = &agentapi.HTTPCheck{URLs: []agentapi.HTTPURL{{Path: "/healthz", ExpectedStatus: []string{"200"}}, {Path: "/", Digest: hex.EncodeToString(sum[:])}}}
		webVS := &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vipDR, Port: webPort, Scheduler: "rr", ForwardingMethod: "dr",
			HealthCheck: hc, OnFailure: "remove", RealServers: realServers(rs("198.51.100.21", webPort, 1), rs("198.51.100.22", webPort, 1))}
		e.putVS(webVS)
		webKey := agentapi.VirtualServerKey(webVS)
		e.waitFor("real2 out by its digest", 10*time.Second, func() bool {
			d := dest(webKey, r2Key(webPort))
			return d != nil && d.Health == "down" && strings.Contains(d.HealthReason, ", expected "+hex.EncodeToString(sum[:])+" (6 bytes) (url /)")
		}, describe)
		if got := e.ipvsSave(d1); !slices.Contains(got, "-a -t 198.51.100.100:8001 -r 198.51.100.21:8001 -g -w 1") ||
			slices.ContainsFunc(got, func(l string) bool { return strings.Contains(l, "-r 198.51.100.22:8001") }) {
			t.Errorf("table with the digest check: %v, want real1 only", got)
		}
		e.deleteVS(webKey)

		// An exec check with dynamic_weight (keepalived misc_dynamic): exit 9 sets weight 7 in
		// the kernel while the configured weight stays 2; exit 1 takes the server out; exit 0
		// brings back the configured weight.
		e.sh(d1, "echo 9 >/tmp/dyn-198.51.100.21; echo 0 >/tmp/dyn-198.51.100.22")
		hc = check("exec")
		hc.Exec = &agentapi.ExecCheck{Command: "exit $(cat /tmp/dyn-$LVS_RS_ADDRESS)", DynamicWeight: true}
		dynVS := &agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vipDR, Port: webPort, Scheduler: "wrr", ForwardingMethod: "dr",
			HealthCheck: hc, OnFailure: "remove", RealServers: realServers(rs("198.51.100.21", webPort, 2), rs("198.51.100.22", webPort, 2))}
		e.putVS(dynVS)
		dynKey := agentapi.VirtualServerKey(dynVS)
		weightIs := func(rsKey string, w int) func() bool {
			return func() bool {
				return slices.Contains(e.ipvsSave(d1), fmt.Sprintf("-a -t 198.51.100.100:8001 -r %s -g -w %d", rsKey, w))
			}
		}
		e.waitFor("weight 7 from exit 9", 10*time.Second, weightIs(r1Key(webPort), 7), describe)
		if d := dest(dynKey, r1Key(webPort)); d == nil || d.Weight != 7 || d.ConfiguredWeight != 2 || d.HealthReason != "weight 7 set by the check (exit status 9)" {
			t.Errorf("status of real1: %+v, want kernel weight 7, configured 2, the exit status in the reason", d)
		}
		if !weightIs(r2Key(webPort), 2)() {
			t.Errorf("real2 (exit 0) is not at its configured weight 2: %v", e.ipvsSave(d1))
		}
		e.call(d1, func(ctx context.Context, c *agentclient.Client) error {
			got, err := c.GetVirtualServer(ctx, dynKey)
			if err == nil && got.RealServers[r1Key(webPort)].Weight != 2 {
				t.Errorf("stored weight of real1 %d, want the configured 2", got.RealServers[r1Key(webPort)].Weight)
			}
			return err
		})
		e.sh(d1, "echo 1 >/tmp/dyn-198.51.100.21")
		e.waitFor("real1 out on exit 1", 10*time.Second, func() bool {
			return !slices.ContainsFunc(e.ipvsSave(d1), func(l string) bool { return strings.Contains(l, "-r 198.51.100.21:8001") })
		}, describe)
		e.sh(d1, "echo 0 >/tmp/dyn-198.51.100.21")
		e.waitFor("real1 back at its configured weight on exit 0", 10*time.Second, weightIs(r1Key(webPort), 2), describe)
		e.deleteVS(dynKey)
	})

	t.Run("NAT end to end with the director sysctls", func(t *testing.T) {
		e.t = t
		orig := e.sh(d1, "sysctl -n net.ipv4.ip_forward net.ipv4.conf.all.send_redirects net.ipv4.conf.eth0.send_redirects")
		// The real servers answer the client through the director, as their default route
		// would in a NAT setup (the lab is one subnet, so a host route stands for it).
		for _, h := range []string{r1, r2} {
			e.sh(h, "ip route replace 198.51.100.31/32 via 198.51.100.11")
		}
		t.Cleanup(func() {
			for _, h := range []string{r1, r2} {
				_, _ = e.trySh(h, "ip route del 198.51.100.31/32")
			}
		})
		const natKey = "tcp/198.51.100.101:80"
		e.putVS(&agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vipNAT, Port: 80, Scheduler: "rr", ForwardingMethod: "nat",
			RealServers: realServers(rs("198.51.100.21", 8080, 1), rs("198.51.100.22", 8080, 1))})
		got := e.sh(d1, "sysctl -n net.ipv4.ip_forward net.ipv4.conf.all.send_redirects net.ipv4.conf.eth0.send_redirects")
		if strings.Fields(got)[0] != "1" || strings.Fields(got)[1] != "0" || strings.Fields(got)[2] != "0" {
			t.Errorf("director sysctls for NAT: %q", got)
		}
		c := e.counts(vipNAT+":80", 40)
		t.Logf("NAT rr over 40 connections: %v", c)
		if c[r1+"-nat"] < 15 || c[r2+"-nat"] < 15 {
			t.Errorf("NAT: %v", c)
		}
		e.deleteVS(natKey)
		if got := e.sh(d1, "sysctl -n net.ipv4.ip_forward net.ipv4.conf.all.send_redirects net.ipv4.conf.eth0.send_redirects"); got != orig {
			t.Errorf("sysctls after the last NAT service: %q, want the originals %q", got, orig)
		}
	})

	t.Run("tunnel end to end", func(t *testing.T) {
		e.t = t
		e.putVS(&agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vipTun, Port: 80, Scheduler: "rr", ForwardingMethod: "tunnel",
			RealServers: realServers(rs("198.51.100.21", 80, 1), rs("198.51.100.22", 80, 1))})
		c := e.counts(vipTun+":80", 40)
		t.Logf("ipip rr over 40 connections: %v", c)
		if c[r1] < 15 || c[r2] < 15 {
			t.Errorf("tunnel: %v", c)
		}
		if !e.ip6tnl {
			// setupLab checked that the binding failed with the agent's error.
			t.Log("no ip6_tunnel in this kernel: IPv6 tunnel forwarding not tried")
			return
		}
		for _, h := range []string{r1, r2} {
			if out, err := e.trySh(h, "ip -6 addr show dev ip6tnl0 up"); err != nil || !strings.Contains(out, vip6Tun+"/128") {
				t.Fatalf("%s: want %s on an up ip6tnl0: %v\n%s", h, vip6Tun, err, out)
			}
		}
		e.putVS(&agentapi.VirtualServer{VRID: 91, Protocol: "tcp", Address: vip6Tun, Port: 80, Scheduler: "rr", ForwardingMethod: "tunnel",
			RealServers: realServers(rs("2001:db8::21", 80, 1), rs("2001:db8::22", 80, 1))})
		c = e.counts("["+vip6Tun+"]:80", 40)
		t.Logf("ip6ip6 rr over 40 connections: %v", c)
		if c[r1] < 15 || c[r2] < 15 {
			t.Errorf("IPv6 tunnel: %v", c)
		}
	})

	t.Run("deleting the pair removes exactly what the agent programmed", func(t *testing.T) {
		e.t = t
		e.call(d1, func(ctx context.Context, c *agentclient.Client) error { return c.DeletePair(ctx) })
		if got := e.ipvsSave(d1); !slices.Equal(got, []string{"-A -t 198.51.100.100:9999 -s rr"}) {
			t.Errorf("table after teardown: %v", got)
		}
		out := e.sh(d1, "ipvsadm -L --timeout; ipvsadm -L --daemon")
		if !strings.Contains(out, "900 120 300") || strings.Contains(out, "sync daemon") {
			t.Errorf("timeouts and daemons after teardown:\n%s", out)
		}
		if _, err := e.trySh(d1, "ls /var/lib/lvs-agent/ipvs-owned.json"); err == nil {
			t.Error("ownership ledger left behind")
		}
	})
}
