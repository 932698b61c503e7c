//go:build linux

package ha_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// TestLabHandover is a planned switchover with connections in flight: the client holds
// connections open on the master (as a client does whose handshake the old master answered
// just before the new master's gratuitous ARPs), and sends on them right after the new master's
// gratuitous ARPs moved it, while the old master still holds the VIP.
// Their packets now reach the new master, which has no socket for them; during the handover
// window it forwards them back to the old master, which still holds the VIP and serves them.
// Meanwhile a client starts a connection every 2 ms. Nothing may fail, in both halves of an
// upgrade (stop, then start again and preempt), and nothing of the window may be left on either
// director afterwards.
func TestLabHandover(t *testing.T) {
	e := newLabEnv(t)
	e.reset()
	e.putPair(false)
	e.putVIP(&agentapi.VIP{VRID: 72, Addresses: []string{vip4}, Priorities: [2]int{200, 100},
		AdvertIntervalCS: 10, Version: 3, Preempt: true})
	e.waitState(d1, 72, "MASTER", settle)
	e.waitState(d2, 72, "BACKUP", settle)
	e.waitAnswers(vip4, d1, settle)
	clean := map[string]string{}
	for _, d := range directors {
		clean[d] = e.handoverState(d, d1, d2)
		t.Logf("%s before: %s", d, clean[d])
	}
	// Resets seen by the client (RST alone: a host refusing a segment, not the servers' abortive
	// close), with the MAC they came from: which director refused what.
	e.exec(client, "tcpdump -i eth0 -nn -e -l -U 'tcp port 7 and tcp[13] == 4' >/tmp/rst.txt 2>/dev/null </dev/null & echo $! >/tmp/tcpdump.pid")
	e.exec(client, "tcpdump -i eth0 -nn -s 96 -U -w /tmp/all.pcap 'tcp port 7 or arp or ip proto 112' >/dev/null 2>&1 </dev/null & echo $! >/tmp/tcpdump2.pid")
	defer func() {
		out, _ := e.tryExec(client, "kill $(cat /tmp/tcpdump.pid) $(cat /tmp/tcpdump2.pid); sleep 0.3; head -40 /tmp/rst.txt")
		t.Logf("resets seen by the client:\n%s", out)
		if path := os.Getenv("LVS_HANDOVER_CAPTURE"); t.Failed() && path != "" {
			// The client's capture, as text, for a failure to be read after the lab is gone.
			out, _ := e.tryExec(client, "tcpdump -r /tmp/all.pcap -nn -e -tt 2>&1")
			_ = os.WriteFile(path, []byte(out), 0o644)
		}
	}()

	for _, step := range []struct{ name, from, to string }{
		{"planned stop", d1, d2},
		{"restart, preempt", d2, d1},
	} {
		// The old master keeps the VIP at least handoverGrace (300ms) after the new master's
		// advert, and as long as packets for it keep coming (150ms apart at most).
		l := e.startLinger(vip4, step.from, 40, 300*time.Millisecond)
		w := e.startWatch(vip4, step.to, 2*time.Millisecond)
		start := lab.MonotonicNow()
		if step.from == d1 {
			e.exec(d1, agentapi.BinaryPath+" stop")
		} else {
			e.startServices(d1)
		}
		lr, wr := l.result(), w.result()
		t.Logf("%s: %s answers after %v; new connections: %d of %d failed %v; connections in flight: %d of %d failed %v, answered by %v",
			step.name, step.to, time.Duration(wr.FirstExpect-start).Round(time.Millisecond), wr.Failed, wr.Attempts, wr.FailKinds,
			lr.Failed, lr.Sent, lr.FailKinds, lr.Names)
		if wr.Failed > 0 || lr.Failed > 0 {
			var at []string
			for _, f := range wr.Fails {
				at = append(at, time.Duration(f-start).Round(time.Millisecond).String())
			}
			t.Errorf("%s: failed connections: %d new (started at %v after the event), %d in flight (at %v ms after the client moved)",
				step.name, wr.Failed, at, lr.Failed, lr.FailedAt)
		}
		// The window lasts a couple of seconds after the takeover; then nothing of it stays.
		for _, d := range directors {
			took := e.waitFor(d+": handover window gone", 20*time.Second, func() bool {
				return e.handoverState(d, d1, d2) == clean[d]
			}, func() string { return "now: " + e.handoverState(d, d1, d2) + "; before: " + clean[d] })
			t.Logf("%s: clean %v after the connections ended", d, took.Round(time.Millisecond))
		}
		// The new master's account: its takeover, and the window's one line.
		var closed struct {
			Conns   int `json:"forwarded_connections"`
			Packets int `json:"forwarded_packets"`
		}
		out := e.exec(step.to, "grep -h 'takeover timing' "+agentapi.LogPath+" | tail -1; grep -h 'handover window closed' "+agentapi.LogPath+" | tail -1")
		t.Logf("%s log:\n%s", step.to, out)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) < 2 || json.Unmarshal([]byte(lines[1]), &closed) != nil || closed.Conns == 0 {
			t.Errorf("%s: no handover window that forwarded connections in the log", step.to)
		}
	}
}

// handoverState is what a handover window installs on a director, as one line: tc qdiscs and
// filters on eth0, fwmark services, IPVS connections towards the directors, and the sysctls it holds.
func (e *labEnv) handoverState(d string, peers ...string) string {
	e.t.Helper()
	args := []string{}
	for _, p := range peers {
		args = append(args, e.addr(p))
	}
	out, err := e.tryExec(d, fmt.Sprintf("env %s=1 %s handover-state %s", helperEnv, e.helper, strings.Join(args, " ")))
	if err != nil {
		e.t.Fatalf("%s: handover-state: %v: %s", d, err, out)
	}
	return strings.TrimSpace(out)
}

// helperHandoverState prints, on one line: eth0's clsact qdisc and ingress filters, the IPVS fwmark services, the
// IPVS connections whose destination is one of the given addresses, and the sysctls a handover
// window changes.
func helperHandoverState(args []string) error {
	var parts []string
	if link, err := netlink.LinkByName("eth0"); err == nil {
		if qs, err := netlink.QdiscList(link); err == nil {
			for _, q := range qs {
				if q.Type() == "clsact" {
					parts = append(parts, "qdisc:clsact")
				}
			}
		}
		if fs, err := netlink.FilterList(link, netlink.HANDLE_MIN_INGRESS); err == nil {
			for _, f := range fs {
				parts = append(parts, "filter:"+f.Type())
			}
		}
	}
	if b, err := os.ReadFile("/proc/net/ip_vs"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "FWM") {
				parts = append(parts, "ipvs:"+strings.Join(strings.Fields(l), "_"))
			}
		}
	}
	if b, err := os.ReadFile("/proc/net/ip_vs_conn"); err == nil {
		for _, a := range args {
			ip := net.ParseIP(a).To4()
			hex := strings.ToUpper(fmt.Sprintf("%02x%02x%02x%02x", ip[0], ip[1], ip[2], ip[3]))
			n := 0
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) > 5 && strings.EqualFold(f[5], hex) {
					n++
				}
			}
			if n > 0 {
				parts = append(parts, fmt.Sprintf("conns-to-%s:%d", a, n))
			}
		}
	}
	for _, s := range []string{"sloppy_tcp", "expire_nodest_conn"} {
		b, err := os.ReadFile("/proc/sys/net/ipv4/vs/" + s)
		if err == nil {
			parts = append(parts, s+"="+strings.TrimSpace(string(b)))
		}
	}
	sort.Strings(parts)
	fmt.Println(strings.Join(parts, " "))
	return nil
}

// lingerResult is what `linger` prints at the end, one JSON line.
type lingerResult struct {
	Sent      int            `json:"sent"`
	Failed    int            `json:"failed"`
	FailKinds map[string]int `json:"fail_kinds,omitempty"`
	FailedAt  []int64        `json:"failed_at,omitempty"` // ms after the client moved
	Names     map[string]int `json:"names"`               // who answered the sends
}

type linger struct {
	e    *labEnv
	done chan struct{}
	out  string
	err  error
	res  lingerResult
}

// startLinger opens n connections from the client to addr (all answered by expect), and sends
// on them one after another over spread once the client has moved to the new master; it
// returns once they are open.
func (e *labEnv) startLinger(addr, expect string, n int, spread time.Duration) *linger {
	e.t.Helper()
	l := &linger{e: e, done: make(chan struct{})}
	cmd := e.host(client).Command(context.Background(), "env", helperEnv+"=1", e.helper, "linger",
		net.JoinHostPort(addr, servePort), fmt.Sprint(n), spread.String(), expect)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		defer close(l.done)
		var all strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if sc.Text() == "ready" {
				close(ready)
			}
		}
		l.err = cmd.Wait()
		l.out = all.String()
		lines := strings.Split(strings.TrimSpace(l.out), "\n")
		if l.err == nil {
			l.err = json.Unmarshal([]byte(lines[len(lines)-1]), &l.res)
		}
	}()
	select {
	case <-ready:
	case <-l.done:
		e.t.Fatalf("linger: %v\n%s", l.err, l.out)
	case <-time.After(time.Minute):
		e.t.Fatal("linger: not ready within a minute")
	}
	return l
}

func (l *linger) result() lingerResult {
	l.e.t.Helper()
	select {
	case <-l.done:
	case <-time.After(time.Minute):
		l.e.t.Fatal("linger did not end")
	}
	if l.err != nil {
		l.e.t.Fatalf("linger: %v\n%s", l.err, l.out)
	}
	return l.res
}

// linger ADDR:PORT N SPREAD EXPECT: open N connections (each answered by EXPECT), print
// "ready", and once the client's ARP entry for ADDR changes (the new master's gratuitous ARP),
// send a line on each in turn, evenly over SPREAD, and read the answer.
func helperLinger(args []string) error {
	if len(args) != 4 {
		return errors.New("linger ADDR:PORT N SPREAD EXPECT")
	}
	var n int
	if _, err := fmt.Sscan(args[1], &n); err != nil || n < 1 || n > 1000 {
		return fmt.Errorf("linger: N %q", args[1])
	}
	spread, err := time.ParseDuration(args[2])
	if err != nil {
		return err
	}
	type held struct {
		c net.Conn
		r *bufio.Reader
	}
	var conns []held
	defer func() {
		for _, h := range conns {
			h.c.Close()
		}
	}()
	for range n {
		c, err := net.DialTimeout("tcp", args[0], 2*time.Second)
		if err != nil {
			return err
		}
		r := bufio.NewReader(c)
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		name, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if name = strings.TrimSpace(name); name != args[3] {
			return fmt.Errorf("linger: answered by %s, not %s", name, args[3])
		}
		conns = append(conns, held{c, r})
	}
	// The VIP's MAC address as the client has it: the sends start when the new master's
	// gratuitous ARPs change it, which is when connections in flight move to it.
	vip, err := netip.ParseAddrPort(args[0])
	if err != nil {
		return err
	}
	link, err := netlink.LinkByName("eth0")
	if err != nil {
		return err
	}
	mac := func() string {
		ns, _ := netlink.NeighList(link.Attrs().Index, netlink.FAMILY_V4)
		for _, n := range ns {
			if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == vip.Addr() {
				return n.HardwareAddr.String()
			}
		}
		return ""
	}
	before := mac()
	fmt.Println("ready")
	for deadline := time.Now().Add(30 * time.Second); mac() == before; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("linger: the VIP's MAC address stayed %s", before)
		}
	}
	res := lingerResult{Names: map[string]int{}}
	start := time.Now()
	// Each connection sends at its own time, so that one slow answer delays no other.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, h := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Until(start.Add(time.Duration(i) * spread / time.Duration(n))))
			_ = h.c.SetDeadline(time.Now().Add(time.Second))
			sent := time.Since(start)
			_, err := io.WriteString(h.c, "again\n")
			var name string
			if err == nil {
				name, err = h.r.ReadString('\n')
			}
			mu.Lock()
			defer mu.Unlock()
			res.Sent++
			if err != nil {
				res.Failed++
				if res.FailKinds == nil {
					res.FailKinds = map[string]int{}
				}
				res.FailKinds[failKind(err)]++
				res.FailedAt = append(res.FailedAt, sent.Milliseconds())
				return
			}
			res.Names[strings.TrimSpace(name)]++
		}()
	}
	wg.Wait()
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return nil
}
