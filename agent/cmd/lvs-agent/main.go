// Command lvs-agent runs on every director and real server managed by terraform-provider-lvs.
//
// It keeps the host's VRRP, health checks and IPVS table as the provider asked, serves the agent
// API on a root-only unix socket, and bridges that API over SSH with `dial-stdio`.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/ha"
	"github.com/lvs-provider/terraform-provider-lvs/agent/handover"
	"github.com/lvs-provider/terraform-provider-lvs/agent/healthcheck"
	"github.com/lvs-provider/terraform-provider-lvs/agent/hostinstall"
	"github.com/lvs-provider/terraform-provider-lvs/agent/ipvs"
	"github.com/lvs-provider/terraform-provider-lvs/agent/loglevel"
	"github.com/lvs-provider/terraform-provider-lvs/agent/metrics"
	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/agent/rshost"
	"github.com/lvs-provider/terraform-provider-lvs/agent/server"
	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/agent/supervisor"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/version"
)

const usage = `usage: lvs-agent <command> [flags]

commands:
  serve        run the agent (systemd or the supervisor starts it)
  supervise    run and restart "serve" on hosts without systemd
  dial-stdio   bridge the API socket to stdin/stdout (the provider runs this over SSH)
  status       print what the agent holds and does
  version      print the agent's version
  install      start the agent as a service (restart it with --restart)
  stop         stop the service; what it programmed stays in place
  uninstall    remove everything the agent programmed, stop it and delete its files
  state        export or import the desired state (import recovers an unreadable one)
  release      remove the VIPs of a dead agent from this host (systemd runs it after a stop)
`

const exitUsage = 2

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(exitUsage)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "serve":
		err = serve(args)
	case "supervise":
		err = supervise(args)
	case "dial-stdio":
		err = dialStdio(args)
	case "status":
		err = status(args)
	case "version", "--version", "-v":
		err = printVersion(args)
	case "install":
		err = install(args)
	case "stop":
		err = stop(args)
	case "uninstall":
		err = uninstall(args)
	case "state":
		err = state(args)
	case "release":
		err = release(args)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "lvs-agent: unknown command %q\n\n%s", cmd, usage)
		os.Exit(exitUsage)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "lvs-agent %s: %v\n", cmd, err)
		var ec exitCoder
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

type exitCoder interface{ ExitCode() int }

type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

// common flags shared by the commands that touch the agent's files.
type common struct {
	socket, state string
}

func flags(name string, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.StringVar(&c.socket, "socket", agentapi.SocketPath, "API socket path")
	fs.StringVar(&c.state, "state", agentapi.StatePath, "state file path")
	return fs
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

func serve(args []string) error {
	var c common
	fs := flags("serve", &c)
	level := fs.String("log-level", "info", "debug, info, warn or error")
	resync := fs.Duration("resync", 5*time.Second, "how often the desired state is re-applied to repair drift")
	_ = fs.Parse(args)
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	// The pair's log_level, when it names one, replaces the flag's level live (loglevel.Part).
	levelVar := new(slog.LevelVar)
	levelVar.Set(lvl)
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: levelVar}))
	limitMemory()
	// Subsystems are added here as they exist; each sees the whole desired state.
	// Health checks come before IPVS so that a new real server's first verdict (start_down) is
	// known when IPVS first programs it; a verdict change re-programs IPVS at once.
	var ipvsPart *ipvs.Reconciler
	reconcile.Logger = log
	// The metrics read the parts' status at scrape time (parts is set below, before anything
	// is served); they are served only when the pair names metrics.listen.
	var parts reconcile.Multi
	mets := metrics.New(metrics.Config{Logger: log, Version: version.Version, Report: func(st *agentapi.Status) { parts.Report(st) }})
	checks := healthcheck.New(healthcheck.Config{Logger: log, OnChange: func() { ipvsPart.HealthChanged() },
		StatePath: filepath.Join(filepath.Dir(c.state), "health-verdicts.json"), OnResult: mets.ObserveCheck,
		OnNotify: mets.ObserveNotify})
	ipvsPart = ipvs.New(ipvs.Config{Logger: log, Health: checks, StateDir: filepath.Dir(c.state)})
	defer func() { _ = ipvsPart.Close() }()
	// A planned takeover forwards the previous master's connections back to it for a moment;
	// what a window of an earlier run left (a crash) goes first, and whatever is left on stop.
	fwd := handover.New(handover.Config{StateDir: filepath.Dir(c.state), Logger: log})
	if err := fwd.Cleanup(); err != nil {
		log.Warn("handover: cleanup", "err", err)
	}
	defer func() {
		if err := fwd.Cleanup(); err != nil {
			log.Warn("handover: cleanup", "err", err)
		}
	}()
	parts = reconcile.Multi{&loglevel.Part{Var: levelVar, Default: lvl, Logger: log},
		ha.New(ha.Config{Logger: log, Forwarder: fwd}), checks, ipvsPart,
		rshost.New(rshost.Config{Logger: log, StateDir: filepath.Dir(c.state)}), mets}
	srv, err := server.New(server.Config{Store: store.New(c.state), Reconciler: parts, IPVS: ipvsPart, Logger: log, Resync: *resync,
		Observe: mets.ObserveApply, CheckLink: checkLink})
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	return srv.Run(ctx, c.socket)
}

// serveMemoryLimit is the agent's soft memory limit (the target: RSS ≤ 30 MB). With 10,000
// IPVS destinations the runtime otherwise kept ~40 MB resident, mostly garbage of bursts (the
// state's JSON, a kernel table dump) it had not returned. Measured in the lab: 24 MiB gives
// 28.8 MB RSS with re-verification as fast as without a limit; 20 MiB gave 25.5 MB but made it
// 2-5x slower (GC). It is soft: a bigger live heap is still served, at some CPU.
const serveMemoryLimit = 24 << 20

// limitMemory sets serveMemoryLimit unless GOMEMLIMIT (the operator's say) is set.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serveMemoryLimit)
	}
}

func supervise(args []string) error {
	var c common
	fs := flags("supervise", &c)
	pidFile := fs.String("pid-file", agentapi.SupervisorPID, "supervisor pid file")
	logPath := fs.String("log", "", "log file for the supervisor and the server, rotated by size (default: stderr)")
	logMax := fs.Int64("log-max-bytes", supervisor.DefaultLogMaxBytes, "size at which the log file moves to LOG.1")
	_ = fs.Parse(args)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	var out io.Writer = os.Stderr
	var logFile *supervisor.Log
	if *logPath != "" {
		if logFile, err = supervisor.OpenLog(*logPath, *logMax); err != nil {
			return err
		}
		defer func() { _ = logFile.Close() }()
		out = logFile
	}
	log := slog.New(slog.NewJSONHandler(out, nil))
	cfg := supervisor.Config{
		Command: []string{self, "serve", "--socket", c.socket, "--state", c.state},
		PIDFile: *pidFile,
		Logger:  log,
		OnDeath: releaser(c.state, log),
	}
	if logFile != nil {
		cfg.Output = logFile
	}
	err = supervisor.Run(ctx, cfg)
	if err != nil {
		log.Error("supervisor", "err", err)
	}
	return err
}

// dialStdio copies stdin to the socket and the socket to stdout, like `docker system dial-stdio`.
// It half-closes each direction so HTTP clients see a clean end of stream.
func dialStdio(args []string) error {
	var c common
	fs := flags("dial-stdio", &c)
	_ = fs.Parse(args)
	conn, err := net.Dial("unix", c.socket)
	if err != nil {
		return &exitError{code: agentapi.ExitAgentNotRunning, err: fmt.Errorf("agent not running (%w)", err)}
	}
	defer conn.Close()
	uc := conn.(*net.UnixConn)
	go func() {
		_, _ = io.Copy(uc, os.Stdin)
		_ = uc.CloseWrite()
	}()
	// Only the answer direction ending means the client has everything it will get; stdin may
	// close long before that.
	_, err = io.Copy(os.Stdout, uc)
	return err
}

func client(socket string) *agentclient.Client {
	return agentclient.New("localhost", agentclient.Unix(socket))
}

func status(args []string) error {
	var c common
	fs := flags("status", &c)
	asJSON := fs.Bool("json", false, "print JSON")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := client(c.socket)
	defer cl.Close()
	st, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Print(formatStatus(st))
	return nil
}

func formatStatus(st *agentapi.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "lvs-agent %s (API v%d, %s/%s), running since %s, %d stored changes\n",
		st.Version.Version, st.Version.APIVersion, st.Version.GOOS, st.Version.GOARCH, st.StartedAt, st.Serial)
	if st.StateError != "" {
		fmt.Fprintf(&b, "STATE UNREADABLE: %s\n", st.StateError)
	}
	for _, p := range st.Panics {
		fmt.Fprintf(&b, "part %s: %d panics recovered, last at %s: %s\n", p.Part, p.Count, p.LastAt, p.Last)
	}
	b.WriteString(formatBindings(st.Bindings))
	p := st.Pair
	if p == nil {
		b.WriteString("director pair: none (this host holds no configuration)\n")
		return b.String()
	}
	fmt.Fprintf(&b, "director pair %q\n", p.Name)
	for i, d := range p.Directors {
		self := ""
		if i == p.Self {
			self = "  <- this host"
		}
		vrrpAt := ""
		if d.VRRPAddress != "" {
			vrrpAt = ", VRRP from " + d.VRRPAddress
		}
		fmt.Fprintf(&b, "  director %d: %s on %s%s%s\n", i, d.Host, d.Interface, vrrpAt, self)
	}
	fmt.Fprintf(&b, "  sync_connections: %v   vrrp_unicast: %v\n", p.SyncConnections, p.VRRPUnicast)
	if s := p.SyncDaemon; s != nil && p.SyncConnections {
		j, _ := json.Marshal(s)
		fmt.Fprintf(&b, "  sync_daemon: %s\n", j)
	}
	if t := p.IPVSTimeouts; t != nil {
		fmt.Fprintf(&b, "  ipvs_timeouts: tcp %ds, tcp_fin %ds, udp %ds (0 = kernel default)\n", t.TCP, t.TCPFin, t.UDP)
	}
	for _, v := range st.VIPs {
		fmt.Fprintf(&b, "VIP vrid %d: %s, priority %d", v.VRID, v.State, v.Priority)
		if v.Master != "" {
			fmt.Fprintf(&b, ", master %s", v.Master)
		}
		if v.LastTransition != "" {
			fmt.Fprintf(&b, ", since %s", v.LastTransition)
		}
		if v.SyncGroup != "" {
			fmt.Fprintf(&b, ", sync group %s", v.SyncGroup)
		}
		fmt.Fprintf(&b, "\n  addresses %s; held here: %s", strings.Join(v.Addresses, " "), orNone(v.HeldAddresses))
		if v.Interface != "" {
			fmt.Fprintf(&b, " (on %s)", v.Interface)
		}
		b.WriteString("\n")
		if len(v.StrayAddresses) > 0 {
			fmt.Fprintf(&b, "  on the wrong interface (being removed): %s\n", strings.Join(v.StrayAddresses, ", "))
		}
		fmt.Fprintf(&b, "  adverts in %d, out %d; dropped: %s\n", v.AdvertsIn, v.AdvertsOut, formatCounts(v.Dropped))
		if v.GARP != nil {
			fmt.Fprintf(&b, "  gratuitous ARP/NA on takeover: %s\n", formatGARP(v.GARP))
		}
		if v.Reason != "" {
			fmt.Fprintf(&b, "  why: %s\n", v.Reason)
		}
	}
	b.WriteString(formatIPVS(st.IPVS))
	return b.String()
}

// formatGARP says a VIP's announcement policy in keepalived's terms.
func formatGARP(g *agentapi.GARP) string {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	s := fmt.Sprintf("%d per address", g.Repeat)
	if g.DelayMS > 0 {
		s += fmt.Sprintf(", %d more after %v", g.Repeat, ms(g.DelayMS))
	} else {
		s += ", no second burst"
	}
	if g.RefreshMS > 0 {
		return s + fmt.Sprintf("; then %d every %v while master", g.RefreshRepeat, ms(g.RefreshMS))
	}
	return s + "; no refresh while master"
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}

func formatCounts(m map[string]uint64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func printVersion(args []string) error {
	fs := flag.NewFlagSet("version", flag.ExitOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	_ = fs.Parse(args)
	info := server.Info()
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(info)
	}
	fmt.Printf("lvs-agent %s (API v%d, %s/%s)\n", info.Version, info.APIVersion, info.GOOS, info.GOARCH)
	return nil
}

// manager builds a hostinstall.Manager whose paths follow the flags, so tests can run it in a
// temp dir; the binary is the running executable.
func manager(c common) (*hostinstall.Manager, error) {
	m := hostinstall.New()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	m.Paths.Binary = self
	m.Paths.Socket = c.socket
	m.Paths.RunDir = filepath.Dir(c.socket)
	m.Paths.StateDir = filepath.Dir(c.state)
	m.Paths.State = c.state
	if m.Paths.Socket != agentapi.SocketPath {
		// A non-default layout (tests): keep every file of the agent under it.
		m.Paths.PIDFile = filepath.Join(m.Paths.RunDir, "supervisor.pid")
		m.Paths.Log = filepath.Join(m.Paths.StateDir, "agent.log")
		m.Init = hostinstall.InitSupervisor
	}
	return m, nil
}

func install(args []string) error {
	var c common
	fs := flags("install", &c)
	restart := fs.Bool("restart", false, "restart a running agent (after an upgrade)")
	_ = fs.Parse(args)
	m, err := manager(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	changed, err := m.Start(ctx, *restart)
	if err != nil {
		return err
	}
	// The provider reads this line to report whether install changed anything.
	what := agentapi.InstallUnchanged
	if changed {
		what = agentapi.InstallStarted
	}
	fmt.Printf("%s %s %s\n", what, version.Version, m.Init)
	return nil
}

func stop(args []string) error {
	var c common
	fs := flags("stop", &c)
	_ = fs.Parse(args)
	m, err := manager(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return m.Stop(ctx)
}

func uninstall(args []string) error {
	var c common
	fs := flags("uninstall", &c)
	_ = fs.Parse(args)
	m, err := manager(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if m.Running(ctx) {
		// Let the running agent remove everything it programmed (director and real-server
		// roles alike) before it goes: an empty desired state tears all of it down.
		cl := client(c.socket)
		err := cl.PutState(ctx, &agentapi.State{})
		cl.Close()
		if err != nil {
			return fmt.Errorf("remove the configuration before uninstalling: %w", err)
		}
	}
	if err := m.Uninstall(ctx); err != nil {
		return err
	}
	fmt.Println("lvs-agent uninstalled")
	return nil
}

// checkLink tells why the host has no interface name (a VIP's interface).
func checkLink(name string) error {
	_, err := net.InterfaceByName(name)
	return err
}
