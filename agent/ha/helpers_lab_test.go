//go:build linux

package ha_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx"
)

// The lab tests drive real lvs-agent binaries on lab hosts through the agent API over SSH
// (`lvs-agent dial-stdio`, the provider's path), next to real keepalived. Programs the hosts run
// besides the agent — a TCP server naming its host, a client that probes the VIP, an advert
// injector — are this test binary itself, re-executed with LVS_HA_HELPER=1 (see TestMain),
// from a directory under the package that the hosts' root file systems show.

const helperEnv = "LVS_HA_HELPER"

func TestMain(m *testing.M) {
	lab.HelperMain(helperEnv, map[string]lab.Helper{
		// serve PORT NAME: the client closes first, and connections end with a reset, so that
		// no TCP state on a director outlives them (a lab host with some cannot be killed).
		// A connection lives up to a minute: TestLabHandover's connections in flight stay open
		// through a director's restart (3 s under load) and the 1.5 s of sends after it; with
		// 5 s the server reset the last three of 40 when the restart was slow.
		"serve":          func(args []string) error { return lab.ServeName(args, time.Minute, true) },
		"probe":          helperProbe,
		"watch":          helperWatch,
		"inject":         helperInject,
		"linger":         helperLinger,
		"handover-state": helperHandoverState,
		"forge":          helperForge,
		"steady":         helperSteady,
	})
	os.Exit(m.Run())
}

const (
	d1, d2, client = "director1", "director2", "client"
	servePort      = "7"
)

var labSpec = lab.Spec{Hosts: []lab.HostSpec{
	{Name: d1, IPv4: "198.51.100.11", IPv6: "2001:db8::11"},
	{Name: d2, IPv4: "198.51.100.12", IPv6: "2001:db8::12"},
	{Name: client, IPv4: "198.51.100.31", IPv6: "2001:db8::31"},
}}

var directors = []string{d1, d2}

// labEnv is a running lab with the agent installed on both directors.
type labEnv struct {
	t      *testing.T
	lab    *lab.Lab
	key    string
	agent  string // binary, visible in the hosts
	helper string // this test binary, visible in the hosts
}

func newLabEnv(t *testing.T) *labEnv {
	t.Helper()
	l := lab.NewForTest(t, labSpec)
	dir := lab.TestBinDir(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	e := &labEnv{t: t, lab: l, agent: lab.AgentBinary(t, filepath.Join(wd, "..", "..")), helper: lab.CopyTestBinary(t, dir)}
	key, err := os.ReadFile(l.PrivateKeyPath())
	if err != nil {
		t.Fatal(err)
	}
	e.key = string(key)
	for _, d := range directors {
		// What a booted director starts, as systemd would: the agent and the named TCP server.
		e.exec(d, fmt.Sprintf("install -m 0755 %s %s && mkdir -p %s && printf '%%s\\n' %q %q > %s",
			e.agent, agentapi.BinaryPath, filepath.Dir(lab.AutostartPath),
			agentapi.BinaryPath+" install",
			fmt.Sprintf("env %s=1 %s serve %s %s", helperEnv, e.helper, servePort, d),
			lab.AutostartPath))
		e.startServices(d)
	}
	return e
}

// startServices starts the agent (if not running) and the TCP server on a director.
func (e *labEnv) startServices(d string) {
	e.t.Helper()
	e.exec(d, agentapi.BinaryPath+" install")
	e.exec(d, fmt.Sprintf("pid=$(cat /run/lab-serve.pid 2>/dev/null) && kill -0 $pid 2>/dev/null || "+
		"{ env %s=1 setsid %s serve %s %s </dev/null >/dev/null 2>&1 & echo $! > /run/lab-serve.pid; }", helperEnv, e.helper, servePort, d))
}

func (e *labEnv) host(name string) *lab.Host { return e.lab.Host(name) }

func (e *labEnv) addr(name string) string { return e.host(name).IPv4 }

// exec runs a shell script on a host; failure fails the test.
func (e *labEnv) exec(host, script string) string {
	e.t.Helper()
	out, err := e.tryExec(host, script)
	if err != nil {
		e.t.Fatalf("%s: %s: %v\n%s", host, script, err, out)
	}
	return out
}

func (e *labEnv) tryExec(host, script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := e.host(host).Exec(ctx, "sh", "-c", script)
	return string(out), err
}

// client returns an API client of the agent on a director, over SSH and `lvs-agent
// dial-stdio` as the provider reaches it. Every stream has its own SSH connection, so that a
// killed host leaves nothing stale behind.
func (e *labEnv) client(host string) *agentclient.Client {
	addr := e.addr(host)
	return agentclient.New(addr, func(ctx context.Context) (net.Conn, error) {
		c, err := sshx.Dial(ctx, sshx.Config{Host: addr, PrivateKey: e.key, KnownHostsFile: e.lab.KnownHostsPath(), Timeout: 20 * time.Second})
		if err != nil {
			return nil, err
		}
		s, err := c.Stream(ctx, agentapi.BinaryPath+" dial-stdio")
		if err != nil {
			c.Close()
			return nil, err
		}
		return &ownedConn{Conn: s, owner: c}, nil
	})
}

type ownedConn struct {
	net.Conn
	owner *sshx.Client
	once  sync.Once
}

func (c *ownedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.owner.Close() })
	return err
}

func (e *labEnv) call(host string, f func(ctx context.Context, c *agentclient.Client) error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := e.client(host)
	defer c.Close()
	if err := f(ctx, c); err != nil {
		e.t.Fatalf("%s: %v", host, err)
	}
}

// putPair stores the pair on both directors, each as itself.
func (e *labEnv) putPair(unicast bool) {
	e.t.Helper()
	for i, d := range directors {
		p := &agentapi.Pair{Name: "edge", Self: i, VRRPUnicast: unicast, Directors: []agentapi.Director{
			{Host: e.addr(d1), Interface: lab.HostIface}, {Host: e.addr(d2), Interface: lab.HostIface},
		}}
		e.call(d, func(ctx context.Context, c *agentclient.Client) error { _, err := c.PutPair(ctx, p); return err })
	}
}

func (e *labEnv) putVIP(v *agentapi.VIP, hosts ...string) {
	e.t.Helper()
	if len(hosts) == 0 {
		hosts = directors
	}
	for _, d := range hosts {
		e.call(d, func(ctx context.Context, c *agentclient.Client) error { _, err := c.PutVIP(ctx, v); return err })
	}
}

// reset brings both directors to: booted, agent running without configuration, no VIP on
// eth0, no keepalived, both on the bridge.
func (e *labEnv) reset() {
	e.t.Helper()
	for _, d := range directors {
		h := e.host(d)
		if err := h.Partition(false); err != nil {
			e.t.Fatal(err)
		}
		if !h.Running() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			err := h.Boot(ctx)
			cancel()
			if err != nil {
				e.t.Fatal(err)
			}
		}
		e.stopKeepalived(d, false)
		e.startServices(d)
		c := e.client(d)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := c.DeletePair(ctx)
		cancel()
		c.Close()
		if err != nil && !errors.Is(err, agentapi.ErrNotFound) {
			e.t.Fatalf("%s: delete pair: %v", d, err)
		}
		// Whatever a test did by hand.
		e.exec(d, "ip addr flush dev eth0 scope global && ip addr add "+h.IPv4+"/24 dev eth0 && ip addr add "+h.IPv6+"/64 dev eth0 nodad")
	}
}

// vrrp returns a director's VRRP status of a VIP, as its agent reports it.
func (e *labEnv) vrrp(host string, vrid int) (agentapi.VIPStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := e.client(host)
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return agentapi.VIPStatus{}, err
	}
	for _, v := range st.VIPs {
		if v.VRID == vrid {
			return v, nil
		}
	}
	return agentapi.VIPStatus{}, fmt.Errorf("no VIP %d in the status", vrid)
}

func (e *labEnv) mustVRRP(host string, vrid int) agentapi.VIPStatus {
	e.t.Helper()
	v, err := e.vrrp(host, vrid)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// waitState waits until the director reports the VIP in state.
func (e *labEnv) waitState(host string, vrid int, state string, timeout time.Duration) time.Duration {
	e.t.Helper()
	var last agentapi.VIPStatus
	var lastErr error
	return e.waitFor(fmt.Sprintf("%s: VIP %d %s", host, vrid, state), timeout, func() bool {
		last, lastErr = e.vrrp(host, vrid)
		return lastErr == nil && last.State == state
	}, func() string { return fmt.Sprintf("last status %+v, err %v", last, lastErr) })
}

// waitFor polls cond every 100ms until it holds, and returns (and logs) how long it took. It
// fails the test when a poll that started timeout or later after the call finds cond false:
// the last poll starts at the deadline, so a bound is not stretched by a poll interval, nor by
// the time a poll itself takes (a command run in a lab host).
func (e *labEnv) waitFor(what string, timeout time.Duration, cond func() bool, detail func() string) time.Duration {
	e.t.Helper()
	start := time.Now()
	for {
		polled := time.Since(start)
		if cond() {
			took := time.Since(start)
			e.t.Logf("%s after %v (bound %v)", what, took.Round(time.Millisecond), timeout)
			return took
		}
		if polled >= timeout {
			msg := ""
			if detail != nil {
				msg = detail()
			}
			e.t.Fatalf("%s: not yet after %v; %s", what, timeout, msg)
		}
		time.Sleep(min(100*time.Millisecond, timeout-time.Since(start)))
	}
}

// holds reports whether the host has addr on eth0.
func (e *labEnv) holds(host, addr string) bool {
	e.t.Helper()
	out, err := e.tryExec(host, "ip -o addr show dev eth0")
	if err != nil {
		return false
	}
	for _, f := range strings.Fields(out) {
		if p, err := netip.ParsePrefix(f); err == nil && p.Addr().String() == addr {
			return true
		}
	}
	return false
}

// holders lists the directors that have addr on eth0.
func (e *labEnv) holders(addr string) []string {
	var hs []string
	for _, d := range directors {
		if e.host(d).Running() && e.holds(d, addr) {
			hs = append(hs, d)
		}
	}
	return hs
}

// answers returns which host the client reaches at addr (by TCP, port 7), or an error.
func (e *labEnv) answers(addr string) (string, error) {
	out, err := e.tryExec(client, fmt.Sprintf("env %s=1 %s probe %s", helperEnv, e.helper, net.JoinHostPort(addr, servePort)))
	return strings.TrimSpace(out), err
}

// waitAnswers waits until the client reaches host at addr.
func (e *labEnv) waitAnswers(addr, host string, timeout time.Duration) {
	e.t.Helper()
	var got string
	var err error
	e.waitFor(fmt.Sprintf("client reaching %s at %s", host, addr), timeout, func() bool {
		got, err = e.answers(addr)
		return err == nil && got == host
	}, func() string { return fmt.Sprintf("last answer %q, %v", got, err) })
}

// keepalived writes conf on a host and starts keepalived (VRRP only) in the background.
func (e *labEnv) startKeepalived(host, conf string) {
	e.t.Helper()
	cmd := e.host(host).Command(context.Background(), "sh", "-c", "cat > /etc/lab-keepalived.conf")
	cmd.Stdin = strings.NewReader(conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("%s: write keepalived.conf: %v: %s", host, err, out)
	}
	e.exec(host, "setsid keepalived -n -l -D --vrrp -f /etc/lab-keepalived.conf -p /run/lab-ka.pid -r /run/lab-ka-vrrp.pid -c /run/lab-ka-chk.pid "+
		"</dev/null >/var/log/lab-keepalived.log 2>&1 & echo $! > /run/lab-ka-main.pid")
	e.waitFor(host+": keepalived running", time.Minute, func() bool {
		_, err := e.tryExec(host, "test -s /run/lab-ka-vrrp.pid && kill -0 $(cat /run/lab-ka-vrrp.pid)")
		return err == nil
	}, func() string { out, _ := e.tryExec(host, "cat /var/log/lab-keepalived.log"); return out })
}

// stopKeepalived stops the keepalived started by startKeepalived, by its PIDs: SIGTERM (it
// sends priority 0 and removes its VIPs) or, with crash, SIGKILL of both its processes.
func (e *labEnv) stopKeepalived(host string, crash bool) {
	e.t.Helper()
	if !e.host(host).Running() {
		return
	}
	// SIGTERM goes to the main process, which stops its VRRP child. A crash stops both first
	// and then kills them: the child has PR_SET_PDEATHSIG=SIGTERM and would shut down gracefully
	// (priority 0) if it outlived its parent, and the parent would respawn a dead child.
	kill := "[ -s /run/lab-ka-main.pid ] && kill -TERM $(cat /run/lab-ka-main.pid) 2>/dev/null"
	if crash {
		kill = "pids=$(cat /run/lab-ka-main.pid /run/lab-ka-vrrp.pid 2>/dev/null); kill -STOP $pids; kill -KILL $pids"
	}
	e.exec(host, fmt.Sprintf(`%s
for i in $(seq 100); do
  kill -0 $(cat /run/lab-ka-main.pid 2>/dev/null) 2>/dev/null || kill -0 $(cat /run/lab-ka-vrrp.pid 2>/dev/null) 2>/dev/null || break
  sleep 0.1
done
rm -f /run/lab-ka-main.pid /run/lab-ka-vrrp.pid /run/lab-ka.pid
true`, kill))
}

func (e *labEnv) keepalivedLog(host string) string {
	out, _ := e.tryExec(host, "cat /var/log/lab-keepalived.log")
	return out
}

// kaConf is a keepalived configuration with one VRRP instance.
type kaConf struct {
	Version   int
	VRID      int
	Priority  int
	Interval  string // advert_int
	Pass      string
	NoPreempt bool
	Unicast   []string // peer addresses
	VIPs      []string
}

func (c kaConf) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id lab\n  vrrp_version %d\n}\n", c.Version)
	fmt.Fprintf(&b, "vrrp_instance VI_%d {\n  state BACKUP\n  interface eth0\n  virtual_router_id %d\n  priority %d\n  advert_int %s\n",
		c.VRID, c.VRID, c.Priority, c.Interval)
	if c.NoPreempt {
		b.WriteString("  nopreempt\n")
	}
	if c.Pass != "" {
		fmt.Fprintf(&b, "  authentication {\n    auth_type PASS\n    auth_pass %s\n  }\n", c.Pass)
	}
	if len(c.Unicast) > 0 {
		fmt.Fprintf(&b, "  unicast_peer {\n    %s\n  }\n", strings.Join(c.Unicast, "\n    "))
	}
	fmt.Fprintf(&b, "  virtual_ipaddress {\n    %s\n  }\n}\n", strings.Join(c.VIPs, "\n    "))
	return b.String()
}

// probe ADDR:PORT: print who answers.
func helperProbe(args []string) error {
	if len(args) != 1 {
		return errors.New("probe ADDR:PORT")
	}
	name, err := lab.DialName(args[0], 2*time.Second)
	if err != nil {
		return err
	}
	fmt.Println(name)
	return nil
}

// watchResult is what `watch` prints at the end, one JSON line.
type watchResult struct {
	Attempts int `json:"attempts"`
	Failed   int `json:"failed"`
	// FirstExpect is when the first connection answered by the expected host completed
	// (CLOCK_MONOTONIC ns); 0 if none did in time.
	FirstExpect int64 `json:"first_expect"`
	// FirstFail and LastFail bound the failed attempts (their start times); Recovered is when
	// the first connection started after the last failure completed, so Recovered-FirstFail is
	// the outage a client saw.
	FirstFail int64 `json:"first_fail"`
	LastFail  int64 `json:"last_fail"`
	Recovered int64 `json:"recovered"`
	// Others counts answers from a host other than the expected one after the first failure
	// or after the expected host first answered (flapping).
	Others int `json:"others"`
	// MaxRun is the longest run of consecutive failed attempts (by start time): 1 is a
	// connection caught mid-handshake by the client's switch to the new master, more is an
	// outage.
	MaxRun int `json:"max_run"`
	// FailKinds counts the failed attempts by cause: "timeout", "reset", "refused", "other".
	FailKinds map[string]int `json:"fail_kinds,omitempty"`
	// Fails are the start times of the failed attempts (the first maxSeenAdverts).
	Fails []int64 `json:"fails,omitempty"`
	// Adverts are the IPv4 VRRP adverts the client saw on its link while watching, at their
	// kernel receive time: the wire view of a takeover, the same for every implementation.
	Adverts []seenAdvert `json:"adverts,omitempty"`
}

// seenAdvert is a VRRP advert as the client received it.
type seenAdvert struct {
	At       int64  `json:"at"` // CLOCK_MONOTONIC ns
	Src      string `json:"src"`
	Priority int    `json:"prio"`
}

// maxSeenAdverts bounds what a watch records (a minute of 100 ms adverts from two routers).
const maxSeenAdverts = 2000

// failKind classifies a failed connection attempt.
func failKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, unix.ECONNRESET) || errors.Is(err, io.EOF):
		return "reset"
	case errors.Is(err, unix.ECONNREFUSED):
		return "refused"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}

// sniffAdverts records the IPv4 VRRP adverts that reach the client's eth0 until stop is
// closed, with their kernel receive times (SO_TIMESTAMPNS) moved onto CLOCK_MONOTONIC.
func sniffAdverts(stop <-chan struct{}) (<-chan []seenAdvert, error) {
	pc, err := net.ListenPacket("ip4:112", "0.0.0.0")
	if err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByName("eth0")
	if err == nil {
		err = ipv4.NewPacketConn(pc).JoinGroup(ifi, &net.IPAddr{IP: vrrp.MulticastIPv4.AsSlice()})
	}
	var serr error
	if sc, e := pc.(*net.IPConn).SyscallConn(); e == nil && err == nil {
		err = sc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) })
	}
	if err = errors.Join(err, serr); err != nil {
		pc.Close()
		return nil, err
	}
	// Gratuitous ARPs too: when the client learnt the new master's MAC.
	arps, err := sniffGARPs(0, stop)
	if err != nil {
		pc.Close()
		return nil, err
	}
	garps := make(chan []seenAdvert, 1)
	go func() {
		var seen []seenAdvert
		for _, g := range <-arps {
			seen = append(seen, seenAdvert{At: g.At, Src: "garp " + g.Addr.String(), Priority: -1})
		}
		garps <- seen
	}()
	out := make(chan []seenAdvert, 1)
	go func() {
		<-stop
		pc.Close()
	}()
	go func() {
		var seen []seenAdvert
		buf, oob := make([]byte, 1500), make([]byte, 128)
		for {
			n, oobn, _, _, err := pc.(*net.IPConn).ReadMsgIP(buf, oob)
			if err != nil {
				break
			}
			at := rxMono(oob[:oobn])
			// A raw IPv4 socket gets the IP header: source at 12, VRRP priority 2 bytes into
			// the payload.
			hl := int(buf[0]&0x0f) * 4
			if n < hl+4 || len(seen) >= maxSeenAdverts {
				continue
			}
			src, _ := netip.AddrFromSlice(buf[12:16])
			seen = append(seen, seenAdvert{At: at, Src: src.String(), Priority: int(buf[hl+2])})
		}
		out <- append(seen, <-garps...)
	}()
	return out, nil
}

// seenGARP is a gratuitous ARP as a lab host (or the lab's bridge) received it.
type seenGARP struct {
	At   int64 // CLOCK_MONOTONIC ns
	MAC  string
	Addr netip.Addr
}

// sniffGARPs records the gratuitous ARPs (sender and target address the same) that reach the
// interface ifindex (0: every interface of this network namespace) until stop is closed, with
// their kernel receive times (SO_TIMESTAMPNS) moved onto CLOCK_MONOTONIC; at most
// maxSeenAdverts.
func sniffGARPs(ifindex int, stop <-chan struct{}) (<-chan []seenGARP, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
	if err == nil && ifindex != 0 {
		err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifindex})
	}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}
	if err == nil {
		err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
	}
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("ARP socket: %w", err)
	}
	out := make(chan []seenGARP, 1)
	go func() {
		defer unix.Close(fd)
		var seen []seenGARP
		buf, oob := make([]byte, 64), make([]byte, 128)
		for {
			select {
			case <-stop:
				out <- seen
				return
			default:
			}
			n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
			if err != nil || n < 28 || len(seen) >= maxSeenAdverts {
				continue
			}
			// ARP: sender hardware address at 8, sender protocol address at 14, target
			// protocol address at 24.
			if !slices.Equal(buf[14:18], buf[24:28]) {
				continue
			}
			src, _ := netip.AddrFromSlice(buf[14:18])
			seen = append(seen, seenGARP{At: rxMono(oob[:oobn]), MAC: net.HardwareAddr(buf[8:14]).String(), Addr: src})
		}
	}()
	return out, nil
}

// rxMono is the kernel receive time of a packet (SO_TIMESTAMPNS) on CLOCK_MONOTONIC.
func rxMono(oob []byte) int64 {
	at := lab.MonotonicNow()
	if msgs, err := unix.ParseSocketControlMessage(oob); err == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= 16 {
				ts := time.Unix(int64(binary.NativeEndian.Uint64(m.Data)), int64(binary.NativeEndian.Uint64(m.Data[8:])))
				at -= max(0, time.Now().UnixNano()-ts.UnixNano())
			}
		}
	}
	return at
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// watch ADDR:PORT EVERY TIMEOUT MAX EXPECT: start a connection every EVERY (each with its
// own TIMEOUT, so a connection stuck on a dead host does not hold the next ones up) until
// EXPECT has answered (and TIMEOUT more), or MAX passed. It prints "ready NAME" after the first success, then the
// watchResult. At most MAX/EVERY attempts.
func helperWatch(args []string) error {
	if len(args) != 5 {
		return errors.New("watch ADDR:PORT EVERY TIMEOUT MAX EXPECT")
	}
	addr, expect := args[0], args[4]
	var ds [3]time.Duration
	for i, s := range args[1:4] {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		ds[i] = d
	}
	every, timeout, maxDur := ds[0], ds[1], ds[2]
	stopSniff := make(chan struct{})
	adverts, err := sniffAdverts(stopSniff)
	if err != nil {
		return fmt.Errorf("watch VRRP adverts: %w", err)
	}
	type attempt struct {
		start, end int64
		name       string
		err        error
	}
	results := make(chan attempt, 1024)
	var wg sync.WaitGroup
	var res watchResult
	ready := false
	done := false
	deadline := time.Now().Add(maxDur)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var all []attempt
	handle := func(a attempt) {
		all = append(all, a)
		if a.err == nil && !ready {
			ready = true
			fmt.Printf("ready %s\n", a.name)
		}
		if a.err == nil && a.name == expect && (res.FirstExpect == 0 || a.end < res.FirstExpect) {
			res.FirstExpect = a.end
			done = true
		}
	}
	// After the expected host answered, go on a little so that every failure has a later
	// success to measure the outage against.
	var doneAt time.Time
	for time.Now().Before(deadline) {
		if done && doneAt.IsZero() {
			doneAt = time.Now()
		}
		if done && time.Since(doneAt) > timeout+100*time.Millisecond {
			break
		}
		select {
		case <-tick.C:
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := lab.MonotonicNow()
				name, err := lab.DialName(addr, timeout)
				results <- attempt{start: start, end: lab.MonotonicNow(), name: name, err: err}
			}()
		case a := <-results:
			handle(a)
		}
	}
	go func() { wg.Wait(); close(results) }()
	for a := range results {
		handle(a)
	}
	slices.SortFunc(all, func(a, b attempt) int { return int(a.start - b.start) })
	run := 0
	for _, a := range all {
		res.Attempts++
		if a.err == nil {
			run = 0
		} else {
			run++
			res.MaxRun = max(res.MaxRun, run)
		}
		if a.err != nil {
			res.Failed++
			if res.FailKinds == nil {
				res.FailKinds = map[string]int{}
			}
			res.FailKinds[failKind(a.err)]++
			if len(res.Fails) < maxSeenAdverts {
				res.Fails = append(res.Fails, a.start)
			}
			if res.FirstFail == 0 {
				res.FirstFail = a.start
			}
			res.LastFail = a.start
		} else if a.name != expect && (res.FirstFail != 0 || (res.FirstExpect != 0 && a.start > res.FirstExpect)) {
			res.Others++
		}
	}
	for _, a := range all {
		if a.err == nil && res.FirstFail != 0 && a.start > res.LastFail && (res.Recovered == 0 || a.end < res.Recovered) {
			res.Recovered = a.end
		}
	}
	close(stopSniff)
	res.Adverts = <-adverts
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return nil
}

// inject SRC KIND VRID PASS ADDR: send one VRRPv2 advert (priority 254, 1s, PASS) to
// 224.0.0.18 on eth0 from SRC, spoiled as KIND says: ttl (TTL 64), auth (wrong password),
// checksum, or none (a valid advert).
func helperInject(args []string) error {
	if len(args) != 5 {
		return errors.New("inject SRC KIND VRID PASS ADDR")
	}
	src := netip.MustParseAddr(args[0])
	vrid, err := strconv.Atoi(args[2])
	if err != nil {
		return err
	}
	pass, err := vrrp.PassAuthData(args[3])
	if err != nil {
		return err
	}
	adv := &vrrp.Advert{Version: 2, VRID: uint8(vrid), Priority: 254, AuthType: vrrp.AuthPass, AuthData: pass,
		AdvertInterval: 1, Addresses: []netip.Addr{netip.MustParseAddr(args[4])}}
	ttl := vrrp.TTL
	switch args[1] {
	case "ttl":
		ttl = 64
	case "auth":
		adv.AuthData = [8]byte{'w', 'r', 'o', 'n', 'g'}
	case "checksum", "none":
	default:
		return fmt.Errorf("unknown kind %q", args[1])
	}
	b, err := adv.Marshal(src, vrrp.MulticastIPv4)
	if err != nil {
		return err
	}
	if args[1] == "checksum" {
		b[6] ^= 0x5a
	}
	pc, err := net.ListenPacket("ip4:112", "0.0.0.0")
	if err != nil {
		return err
	}
	defer pc.Close()
	rc, err := ipv4.NewRawConn(pc)
	if err != nil {
		return err
	}
	ifi, err := net.InterfaceByName("eth0")
	if err != nil {
		return err
	}
	if err := rc.SetMulticastInterface(ifi); err != nil {
		return err
	}
	h := &ipv4.Header{Version: 4, Len: ipv4.HeaderLen, TotalLen: ipv4.HeaderLen + len(b), TTL: ttl, Protocol: vrrp.IPProto,
		Src: src.AsSlice(), Dst: vrrp.MulticastIPv4.AsSlice()}
	return rc.WriteTo(h, b, nil)
}

// forgeResult is what `forge` prints at the end, one JSON line.
type forgeResult struct {
	Rounds int            `json:"rounds"`
	Sent   int            `json:"sent"`
	Failed int            `json:"failed"`
	Kinds  map[string]int `json:"kinds"` // sent, by "v2|v3 IPv4|IPv6 multicast|unicast prio N"
	Err    string         `json:"err,omitempty"`
}

// forge VRID DURATION EVERY VIP4 VIP6 TARGET...: what a third host on the link can send without
// forging a director's own addresses, for DURATION: VRRP adverts for VRID with priority 0 and
// 254 — VRRPv2 and v3 over IPv4 from this host's address and from 198.51.100.66, VRRPv3 over
// IPv6 from its link-local and global addresses and from fe80::66 — each to the multicast group
// and to every TARGET (the directors' addresses) by unicast, with TTL 255 and valid checksums:
// everything right but the source (the interval is 1 s). Every EVERY it sends the finding's advert (VRRPv3, IPv4,
// priority 0, from 198.51.100.66 to the group) and the next forgeBatch of the others in turn.
// It prints a forgeResult.
func helperForge(args []string) error {
	if len(args) < 5 {
		return errors.New("forge VRID DURATION EVERY VIP4 VIP6 TARGET...")
	}
	vrid, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	dur, err := time.ParseDuration(args[1])
	if err != nil {
		return err
	}
	every, err := time.ParseDuration(args[2])
	if err != nil {
		return err
	}
	vip4, vip6 := netip.MustParseAddr(args[3]), netip.MustParseAddr(args[4])
	ifi, err := net.InterfaceByName("eth0")
	if err != nil {
		return err
	}
	src4 := []netip.Addr{netip.MustParseAddr("198.51.100.66")}
	src6 := []netip.Addr{netip.MustParseAddr("fe80::66")}
	ifAddrs, err := ifi.Addrs()
	if err != nil {
		return err
	}
	for _, a := range ifAddrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && !slices.Contains([]netip.Addr{vip4, vip6}, p.Addr()) {
			if p.Addr().Is4() {
				src4 = append(src4, p.Addr())
			} else {
				src6 = append(src6, p.Addr())
			}
		}
	}
	dst4 := []netip.Addr{vrrp.MulticastIPv4}
	dst6 := []netip.Addr{vrrp.MulticastIPv6}
	for _, s := range args[5:] {
		a := netip.MustParseAddr(s)
		if a.Is4() {
			dst4 = append(dst4, a)
		} else {
			dst6 = append(dst6, a)
		}
	}
	// IPv4: a raw socket that writes its own header (any source). IPv6: whole packets on a
	// packet socket, to the group's MAC or the target's, which the neighbour table gives once
	// a datagram made the kernel resolve it.
	pc, err := net.ListenPacket("ip4:112", "0.0.0.0")
	if err != nil {
		return err
	}
	defer pc.Close()
	rc, err := ipv4.NewRawConn(pc)
	if err != nil {
		return err
	}
	if err := rc.SetMulticastInterface(ifi); err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	macs := map[netip.Addr]net.HardwareAddr{vrrp.MulticastIPv6: {0x33, 0x33, 0, 0, 0, 0x12}}
	for _, d := range dst6[1:] {
		if c, err := net.Dial("udp6", net.JoinHostPort(d.String(), "9")); err == nil {
			_, _ = c.Write([]byte{0})
			c.Close()
		}
		for i := 0; i < 200 && macs[d] == nil; i++ {
			time.Sleep(10 * time.Millisecond)
			out, _ := exec.Command("ip", "-6", "neigh", "show", d.String(), "dev", "eth0").Output()
			f := strings.Fields(string(out))
			if i := slices.Index(f, "lladdr"); i >= 0 && i+1 < len(f) {
				macs[d], _ = net.ParseMAC(f[i+1])
			}
		}
		if macs[d] == nil {
			return fmt.Errorf("no MAC address for %v", d)
		}
	}
	type pkt struct {
		kind     string
		src, dst netip.Addr
		payload  []byte
	}
	var pkts []pkt
	for _, prio := range []uint8{0, 254} {
		for _, v := range []uint8{3, 2} {
			for _, s := range src4 {
				for _, d := range dst4 {
					a := &vrrp.Advert{Version: v, VRID: uint8(vrid), Priority: prio, AdvertInterval: 100, Addresses: []netip.Addr{vip4}}
					if v == 2 {
						a.AdvertInterval = 1 // seconds
					}
					b, err := a.Marshal(s, d)
					if err != nil {
						return err
					}
					pkts = append(pkts, pkt{fmt.Sprintf("v%d IPv4 %s prio %d", v, castOf(d), prio), s, d, b})
				}
			}
		}
		for _, s := range src6 {
			for _, d := range dst6 {
				a := &vrrp.Advert{Version: 3, VRID: uint8(vrid), Priority: prio, AdvertInterval: 100, Addresses: []netip.Addr{vip6}}
				b, err := a.Marshal(s, d)
				if err != nil {
					return err
				}
				h := make([]byte, 40, 40+len(b))
				h[0], h[6], h[7] = 0x60, vrrp.IPProto, vrrp.TTL
				binary.BigEndian.PutUint16(h[4:], uint16(len(b)))
				copy(h[8:24], s.AsSlice())
				copy(h[24:40], d.AsSlice())
				pkts = append(pkts, pkt{fmt.Sprintf("v3 IPv6 %s prio %d", castOf(d), prio), s, d, append(h, b...)})
			}
		}
	}
	res := forgeResult{Kinds: map[string]int{}}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var errs []error
	next := 0
	for end := time.Now().Add(dur); time.Now().Before(end); <-tick.C {
		res.Rounds++
		batch := []pkt{pkts[0]} // v3 IPv4 priority 0 from 198.51.100.66 to the group
		for range forgeBatch {
			next = next%(len(pkts)-1) + 1
			batch = append(batch, pkts[next])
		}
		for _, p := range batch {
			var err error
			if p.src.Is4() {
				h := &ipv4.Header{Version: 4, Len: ipv4.HeaderLen, TOS: 0xc0, TotalLen: ipv4.HeaderLen + len(p.payload), TTL: vrrp.TTL,
					Protocol: vrrp.IPProto, Src: p.src.AsSlice(), Dst: p.dst.AsSlice()}
				err = rc.WriteTo(h, p.payload, nil)
			} else {
				sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IPV6), Ifindex: ifi.Index, Halen: 6}
				copy(sa.Addr[:], macs[p.dst])
				err = unix.Sendto(fd, p.payload, 0, sa)
			}
			if err != nil {
				res.Failed++
				if len(errs) < 3 {
					errs = append(errs, err)
				}
				continue
			}
			res.Sent++
			res.Kinds[p.kind]++
		}
	}
	if err := errors.Join(errs...); err != nil {
		res.Err = err.Error()
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return nil
}

// forgeBatch is how many of the forged adverts besides the finding's `forge` sends each time:
// with 3, each of the 42 kinds goes every 14 rounds (210 ms at 15 ms), about 270 adverts a
// second in all. (A flood of thousands a second starves the lab's one User-Mode-Linux CPU, and
// then the directors' own adverts are late: that is a denial of service by load, which no
// source filter prevents, not what this test is about.)
const forgeBatch = 3

func castOf(a netip.Addr) string {
	if a.IsMulticast() {
		return "multicast"
	}
	return "unicast"
}

// steadyResult is what `steady` prints at the end, one JSON line.
type steadyResult struct {
	Attempts int            `json:"attempts"`
	Failed   int            `json:"failed"`
	Answers  map[string]int `json:"answers"` // by the name of the host that answered
	Errors   []string       `json:"errors,omitempty"`
}

// steady ADDR:PORT EVERY DURATION: start a connection every EVERY for DURATION (each with a 1 s
// timeout) and print a steadyResult: who answered, how many failed.
func helperSteady(args []string) error {
	if len(args) != 3 {
		return errors.New("steady ADDR:PORT EVERY DURATION")
	}
	every, err := time.ParseDuration(args[1])
	if err != nil {
		return err
	}
	dur, err := time.ParseDuration(args[2])
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	res := steadyResult{Answers: map[string]int{}}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for end := time.Now().Add(dur); time.Now().Before(end); <-tick.C {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name, err := lab.DialName(args[0], time.Second)
			mu.Lock()
			defer mu.Unlock()
			res.Attempts++
			if err != nil {
				res.Failed++
				if len(res.Errors) < 5 {
					res.Errors = append(res.Errors, err.Error())
				}
				return
			}
			res.Answers[name]++
		}()
	}
	wg.Wait()
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return nil
}
