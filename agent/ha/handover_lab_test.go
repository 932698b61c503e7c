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
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
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
	e.exec(client, "tcpdump -i eth0 -nn -s 96 -B 16384 -U -w /tmp/all.pcap 'tcp port 7 or arp or ip proto 112' >/dev/null 2>/tmp/tcpdump2.err </dev/null & echo $! >/tmp/tcpdump2.pid")
	// A new connection the client counts as timed out is the directors' fault only if the wire
	// shows it: the lab is one CPU shared by every host, and the client starting a connection
	// every 2ms is sometimes not scheduled in time to send its SYN or read the answer. The
	// client's capture is the judge of those (see checkWire); resets and in-flight failures
	// count as they are.
	var timeouts []string
	defer func() {
		out, _ := e.tryExec(client, "kill $(cat /tmp/tcpdump.pid) $(cat /tmp/tcpdump2.pid); sleep 0.3; head -40 /tmp/rst.txt")
		t.Logf("resets seen by the client:\n%s", out)
		text := e.exec(client, "tcpdump -r /tmp/all.pcap -nn -e -tt 2>/dev/null")
		stats, _ := e.tryExec(client, "cat /tmp/tcpdump2.err")
		w := checkWire(text, vip4+".7", e.addr(client))
		stats = " " + strings.Join(strings.Fields(stats), " ")
		t.Logf("client's capture: %d connections to the VIP; tcpdump:%s", w.conns, stats)
		for i, p := range w.problems {
			if i == 20 {
				t.Errorf("on the wire: %d more", len(w.problems)-i)
				break
			}
			t.Errorf("on the wire: %s", p)
		}
		if len(timeouts) > 0 {
			if !strings.Contains(stats, " 0 packets dropped by kernel") {
				t.Errorf("%s; the capture dropped packets, so it cannot clear them", strings.Join(timeouts, "; "))
			} else if len(w.problems) == 0 {
				t.Logf("%s, each of them answered on the wire in time: the lab did not run the client in time", strings.Join(timeouts, "; "))
			}
		}
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
		// The old master keeps the VIP, silent to ARP, for the new master's window (2s after the
		// new master's advert): the connections in flight send over 1.5s from the move.
		l := e.startLinger(vip4, step.from, 40, 1500*time.Millisecond)
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
		if step.from == d1 {
			// A planned stop: from director1's priority 0 advert, as the client received it, to
			// director2's first answer is Skew_Time (61 ms at 100 ms adverts) and the takeover's
			// work.
			prio0, _, ok := takeoverOnWire(wr.Adverts, e.addr(d1), e.addr(d2))
			skew := vrrp.SkewTime(3, 100, advert)
			if !ok || !slices.ContainsFunc(wr.Adverts, func(a seenAdvert) bool { return a.At == prio0 && a.Src == e.addr(d1) && a.Priority == 0 }) {
				t.Errorf("%s: no priority 0 advert from director1 before director2's on the wire: %+v", step.name, wr.Adverts)
			} else if gap := time.Duration(wr.FirstExpect - prio0); gap > skew+labMargin {
				t.Errorf("%s: director2 answers %v after the priority 0 advert, bound Skew_Time %v + %v", step.name, gap.Round(time.Millisecond), skew.Round(time.Millisecond), labMargin)
			} else {
				t.Logf("%s: director2 answers %v after the priority 0 advert (bound Skew_Time %v + %v)", step.name, gap.Round(time.Millisecond), skew.Round(time.Millisecond), labMargin)
			}
		}
		if lr.MACAskedAt != lr.MACMoved || lr.MACMoved == lr.MACBefore {
			t.Errorf("%s: the client had the VIP at %s, moved to %s, and asking by ARP halfway heard %q (want the new master's alone)",
				step.name, lr.MACBefore, lr.MACMoved, lr.MACAskedAt)
		}
		if wr.Failed > 0 || lr.Failed > 0 {
			var at []string
			for _, f := range wr.Fails {
				at = append(at, time.Duration(f-start).Round(time.Millisecond).String())
			}
			msg := fmt.Sprintf("%s: failed connections: %d new %v (started at %v after the event), %d in flight (at %v ms after the client moved)",
				step.name, wr.Failed, wr.FailKinds, at, lr.Failed, lr.FailedAt)
			if lr.Failed > 0 || wr.Failed > wr.FailKinds["timeout"] {
				t.Error(msg)
			} else {
				timeouts = append(timeouts, msg)
			}
		}
		// The window lasts handoverWindow (agent/vrrp: maxGrace + 250 ms) from the takeover,
		// which was before the connections in flight ended; then nothing of it stays.
		for _, d := range directors {
			e.waitFor(d+": handover window gone after the connections ended", maxGrace+250*time.Millisecond+labMargin, func() bool {
				return e.handoverState(d, d1, d2) == clean[d]
			}, func() string { return "now: " + e.handoverState(d, d1, d2) + "; before: " + clean[d] })
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
	// The VIP's MAC address as the client had it before the move, after it, and the MAC
	// addresses that answered when it asked by ARP halfway through the sends (the old master
	// still holds the VIP then, but must not answer).
	MACBefore  string `json:"mac_before"`
	MACMoved   string `json:"mac_moved"`
	MACAskedAt string `json:"mac_asked"`
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
	res := lingerResult{Names: map[string]int{}, MACBefore: before, MACMoved: mac()}
	start := time.Now()
	asked := make(chan error, 1)
	go func() {
		// Halfway, the client asks for the VIP's address by ARP (on a packet socket, leaving
		// its neighbour table alone): only the new master may answer.
		time.Sleep(spread / 2)
		macs, err := askARP(link, vip.Addr(), 300*time.Millisecond)
		res.MACAskedAt = strings.Join(macs, " ") // read after <-asked
		asked <- err
	}()
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
	if err := <-asked; err != nil {
		return fmt.Errorf("linger: ask for the VIP's address again: %w", err)
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return nil
}

// askARP broadcasts an ARP request for addr from link's address and returns the MAC addresses
// that answered within wait, in the order they came.
func askARP(link netlink.Link, addr netip.Addr, wait time.Duration) ([]string, error) {
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("no IPv4 address on %s: %v", link.Attrs().Name, err)
	}
	own := addrs[0].IP.To4()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 20000}); err != nil {
		return nil, err
	}
	// Ethernet, IPv4, request; sender: our MAC and address; target: addr.
	req := []byte{0, 1, 8, 0, 6, 4, 0, 1}
	req = append(req, link.Attrs().HardwareAddr...)
	req = append(req, own...)
	req = append(req, 0, 0, 0, 0, 0, 0)
	req = append(req, addr.AsSlice()...)
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: link.Attrs().Index, Halen: 6,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	if err := unix.Sendto(fd, req, 0, to); err != nil {
		return nil, fmt.Errorf("ARP request: %w", err)
	}
	var macs []string
	buf := make([]byte, 64)
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		// A reply (operation 2) from addr: sender MAC at 8, sender address at 14.
		if err != nil || n < 28 || buf[7] != 2 || !slices.Equal(buf[14:18], addr.AsSlice()) {
			continue
		}
		macs = append(macs, net.HardwareAddr(buf[8:14]).String())
	}
	return macs, nil
}

// wireCheck is what the client's capture says of the connections to the VIP.
type wireCheck struct {
	conns    int
	problems []string
}

// checkWire reads the client's capture (tcpdump -nn -e -tt text) and reports every
// connection from client to vip ("ADDR.PORT") whose SYN got no SYN-ACK within 300ms or that
// got no data from the VIP at all, every bare reset the VIP sent, and every ARP request of the
// client's for the VIP that got no reply within 300ms.
func checkWire(text, vip, client string) wireCheck {
	type conn struct {
		syn, synAck, data float64
		rst               bool
	}
	vipAddr := vip[:strings.LastIndex(vip, ".")]
	conns := map[string]*conn{}
	var order []string
	var arpAsked []float64
	var arpAnswered []float64
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		var at float64
		if _, err := fmt.Sscan(f[0], &at); err != nil {
			continue
		}
		if i := slices.Index(f, "Request"); i >= 0 && i+2 < len(f) && f[i+1] == "who-has" && f[i+2] == vipAddr && slices.Contains(f, client+",") {
			arpAsked = append(arpAsked, at)
			continue
		}
		if i := slices.Index(f, "Reply"); i >= 0 && i+1 < len(f) && f[i+1] == vipAddr {
			arpAnswered = append(arpAnswered, at)
			continue
		}
		i := slices.Index(f, "Flags")
		if i < 3 || i+1 >= len(f) {
			continue
		}
		src, dst, flags := f[i-3], strings.TrimSuffix(f[i-1], ":"), strings.Trim(f[i+1], "[],")
		length := 0 // the TCP payload's: the last "length" on the line
		for j := len(f) - 2; j > i; j-- {
			if f[j] == "length" {
				_, _ = fmt.Sscan(f[j+1], &length)
				break
			}
		}
		switch {
		case dst == vip && strings.HasPrefix(src, client+"."):
			c := conns[src]
			if c == nil && flags == "S" {
				c = &conn{syn: at}
				conns[src] = c
				order = append(order, src)
			}
		case src == vip && strings.HasPrefix(dst, client+"."):
			c := conns[dst]
			if c == nil {
				continue // a connection opened before the capture
			}
			switch {
			case flags == "R":
				// A bare reset: a host refusing a segment (the test server itself ends
				// its connections with RST+ACK, an abortive close).
				c.rst = true
			case flags == "S." && c.synAck == 0:
				c.synAck = at
			case length > 0 && c.data == 0:
				c.data = at
			}
		}
	}
	w := wireCheck{conns: len(order)}
	for _, p := range order {
		c := conns[p]
		switch {
		case c.rst:
			w.problems = append(w.problems, fmt.Sprintf("%s: reset by the VIP", p))
		case c.synAck == 0 || c.synAck-c.syn > 0.3:
			w.problems = append(w.problems, fmt.Sprintf("%s: SYN at %.6f not answered within 300ms", p, c.syn))
		case c.data == 0:
			w.problems = append(w.problems, fmt.Sprintf("%s: no data from the VIP", p))
		}
	}
	for _, a := range arpAsked {
		if !slices.ContainsFunc(arpAnswered, func(r float64) bool { return r >= a && r-a <= 0.3 }) {
			w.problems = append(w.problems, fmt.Sprintf("client's ARP request for the VIP at %.6f not answered within 300ms", a))
		}
	}
	return w
}
