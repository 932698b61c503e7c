//go:build linux

package ipvs_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// The lab tests run the real lvs-agent binary on lab hosts and drive it through its API, as
// the provider does, over `lvs-agent dial-stdio` (entered with nsenter instead of SSH, which
// the provider's own tests cover). Programs the hosts run besides the agent — a TCP server
// that names its host, clients that count who answers or hold one connection open — are this
// test binary itself, re-executed with LVS_IPVS_HELPER=1 (see TestMain), from a directory
// under the package that the hosts' root file systems show. ipvsadm is used only to read and
// tamper with the kernel's table independently of the agent.

const helperEnv = "LVS_IPVS_HELPER"

func TestMain(m *testing.M) {
	lab.HelperMain(helperEnv, map[string]lab.Helper{
		// serve PORT NAME: connections stay open (at most 10 minutes) for hold.
		"serve": func(args []string) error { return lab.ServeName(args, 10*time.Minute, false) },
		"count": helperCount,
		"hold":  helperHold,
		"gone":  helperGone,
	})
	os.Exit(m.Run())
}

const (
	d1, r1, r2, client = "director1", "real1", "real2", "client"
)

var labSpec = lab.Spec{Hosts: []lab.HostSpec{
	{Name: d1, IPv4: "198.51.100.11", IPv6: "2001:db8::11"},
	{Name: r1, IPv4: "198.51.100.21", IPv6: "2001:db8::21"},
	{Name: r2, IPv4: "198.51.100.22", IPv6: "2001:db8::22"},
	{Name: client, IPv4: "198.51.100.31", IPv6: "2001:db8::31"},
}}

// labEnv is a running lab with the agent binary and the helper available to its hosts.
type labEnv struct {
	t      *testing.T
	lab    *lab.Lab
	agent  string // lvs-agent, built for the test
	helper string // this test binary
	ip6tnl bool   // the kernel has ip6_tunnel: IPv6 tunnel bindings must work
}

// newLabEnv brings up a lab of spec and builds the agent (CGO_ENABLED=0, as shipped) into a
// directory the hosts see.
func newLabEnv(t *testing.T, spec lab.Spec) *labEnv {
	t.Helper()
	l := lab.NewForTest(t, spec)
	dir := lab.TestBinDir(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	e := &labEnv{t: t, lab: l, agent: lab.AgentBinary(t, filepath.Join(wd, "..", "..")), helper: lab.CopyTestBinary(t, dir)}
	return e
}

func (e *labEnv) host(name string) *lab.Host { return e.lab.Host(name) }

// sh runs a shell script on a host; failure fails the test.
func (e *labEnv) sh(host, script string) string {
	e.t.Helper()
	out, err := e.trySh(host, script)
	if err != nil {
		e.t.Fatalf("%s: %s: %v\n%s", host, script, err, out)
	}
	return out
}

func (e *labEnv) trySh(host, script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := e.host(host).Exec(ctx, "sh", "-c", script)
	return string(out), err
}

// installAgent puts the agent binary on a host and starts it (the lab has no systemd, so
// lvs-agent install uses its supervisor).
func (e *labEnv) installAgent(host string) {
	e.t.Helper()
	e.sh(host, fmt.Sprintf("install -m 0755 %s %s && %s install", e.agent, agentapi.BinaryPath, agentapi.BinaryPath))
}

// client returns an API client of the agent on host: every stream is a `lvs-agent
// dial-stdio` run inside the host.
func (e *labEnv) client(host string) *agentclient.Client {
	h := e.host(host)
	return agentclient.New(host, func(context.Context) (net.Conn, error) {
		return h.DialStdio(agentapi.BinaryPath, "dial-stdio")
	})
}

// call runs f with a client of host's agent; an error fails the test.
func (e *labEnv) call(host string, f func(ctx context.Context, c *agentclient.Client) error) {
	e.t.Helper()
	if err := e.tryCall(host, f); err != nil {
		e.t.Fatalf("%s: %v", host, err)
	}
}

func (e *labEnv) tryCall(host string, f func(ctx context.Context, c *agentclient.Client) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := e.client(host)
	defer c.Close()
	return f(ctx, c)
}

func (e *labEnv) report(host string) *agentapi.IPVSReport {
	e.t.Helper()
	var rep *agentapi.IPVSReport
	e.call(host, func(ctx context.Context, c *agentclient.Client) (err error) { rep, err = c.IPVS(ctx); return err })
	return rep
}

// waitFor polls cond every 200ms until it holds or timeout passes; it returns how long it took.
func (e *labEnv) waitFor(what string, timeout time.Duration, cond func() bool, detail func() string) time.Duration {
	e.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			msg := ""
			if detail != nil {
				msg = detail()
			}
			e.t.Fatalf("timed out after %v waiting for %s; %s", timeout, what, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return time.Since(start)
}

// ipvsSave returns the host's table as `ipvsadm -Sn` prints it, lines sorted.
func (e *labEnv) ipvsSave(host string) []string {
	e.t.Helper()
	out := e.sh(host, "ipvsadm -Sn")
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines
}

// startServer starts the helper TCP server on host at port, answering with name. It keeps
// running across tests; starting it again is a no-op.
func (e *labEnv) startServer(host string, port int, name string) {
	e.t.Helper()
	pid := fmt.Sprintf("/run/lab-serve-%d.pid", port)
	e.sh(host, fmt.Sprintf("p=$(cat %[1]s 2>/dev/null) && kill -0 $p 2>/dev/null || "+
		"{ env %[2]s=1 setsid %[3]s serve %[4]d %[5]s </dev/null >/var/log/lab-serve-%[4]d.log 2>&1 & echo $! > %[1]s; }",
		pid, helperEnv, e.helper, port, name))
}

// counts makes n sequential connections from the client to addr and returns who answered.
func (e *labEnv) counts(addr string, n int) map[string]int {
	e.t.Helper()
	out, err := e.trySh(client, fmt.Sprintf("env %s=1 %s count %s %d", helperEnv, e.helper, addr, n))
	if err != nil {
		e.t.Fatalf("count %s: %v\n%s", addr, err, out)
	}
	var m map[string]int
	if err := json.Unmarshal([]byte(lastLine(out)), &m); err != nil {
		e.t.Fatalf("count output %q: %v", out, err)
	}
	return m
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// holder is one TCP connection from the client through the VIP, pinged every 50ms.
type holder struct {
	name  string // who answered
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *strings.Builder
	done  chan error
}

type holdResult struct {
	Name    string `json:"name"`
	Replies int    `json:"replies"`
	Error   string `json:"error,omitempty"`
}

// hold opens a connection from the client to addr and keeps it busy until finish.
func (e *labEnv) hold(addr string) *holder {
	e.t.Helper()
	cmd := e.host(client).Command(context.Background(), e.helper, "hold", addr)
	cmd.Env = append(slices.Clone(cmd.Env), helperEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	out := &strings.Builder{}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	h := &holder{cmd: cmd, stdin: stdin, out: out, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				ready <- sc.Text()
				first = false
			}
			out.WriteString(sc.Text() + "\n")
		}
		if first {
			close(ready)
		}
		h.done <- cmd.Wait()
	}()
	select {
	case l, ok := <-ready:
		if !ok || !strings.HasPrefix(l, "connected ") {
			e.t.Fatalf("hold %s: %q", addr, l)
		}
		h.name = strings.TrimPrefix(l, "connected ")
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		e.t.Fatalf("hold %s: no connection in 30s", addr)
	}
	return h
}

// finish ends the connection and returns what it saw.
func (h *holder) finish(t *testing.T) holdResult {
	t.Helper()
	_ = h.stdin.Close()
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
		t.Fatal("hold did not end")
	}
	var r holdResult
	if err := json.Unmarshal([]byte(lastLine(h.out.String())), &r); err != nil {
		t.Fatalf("hold output %q: %v", h.out.String(), err)
	}
	return r
}

// count ADDR:PORT N: N connections one after the other, each reading the first line; prints
// a JSON object of counts by answer ("error" for failures). Each attempt has a 3s bound.
func helperCount(args []string) error {
	if len(args) != 2 {
		return errors.New("count ADDR:PORT N")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 1 || n > 100000 {
		return fmt.Errorf("bad count %q", args[1])
	}
	m := map[string]int{}
	for range n {
		name, err := lab.DialName(args[0], 3*time.Second)
		if err != nil {
			name = "error"
		}
		m[name]++
	}
	b, _ := json.Marshal(m)
	fmt.Println(string(b))
	return nil
}

// hold ADDR:PORT: one connection, "connected NAME" once it answers, then a ping every 50ms
// until stdin closes (or 10 minutes pass), then one JSON line: who answered, how many replies,
// and the first error. Every reply must come within 5s and name the same server.
func helperHold(args []string) error {
	if len(args) != 1 {
		return errors.New("hold ADDR:PORT")
	}
	c, err := net.DialTimeout("tcp", args[0], 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	rd := bufio.NewReader(c)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	first, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	name := strings.TrimSpace(first)
	fmt.Println("connected " + name)
	stop := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stop) }()
	res := holdResult{Name: name}
	deadline := time.After(10 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	ping := func() bool {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "ping\n"); err != nil {
			res.Error = err.Error()
			return false
		}
		l, err := rd.ReadString('\n')
		if err != nil {
			res.Error = err.Error()
			return false
		}
		if got := strings.TrimSpace(l); got != name {
			res.Error = fmt.Sprintf("answer from %q, connected to %q", got, name)
			return false
		}
		res.Replies++
		return true
	}
loop:
	for {
		select {
		case <-stop:
			ping()
			break loop
		case <-deadline:
			break loop
		case <-tick.C:
			if !ping() {
				break loop
			}
		}
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return nil
}
