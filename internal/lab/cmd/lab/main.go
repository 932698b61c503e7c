//go:build linux

// Command lab runs commands in a kernel context with IP_VS and manages the lab's hosts there.
//
//	lab run [--mem 2G] [--timeout 40m] [--mode auto|uml|direct] [--native] [-v] -- CMD ARGS...
//	lab up [--spec default|FILE.json]
//	lab down
//	lab status
//	lab kill HOST
//	lab boot HOST
//	lab exec HOST -- CMD ARGS...
//	lab partition HOST on|off
//	lab serve ADDR NAME             (on a lab host: HTTP server answering NAME)
//	lab serve-tls ADDR NAME         (on a lab host: the same over TLS, self-signed for NAME)
//	lab serve-dns ADDR NAME IP      (on a lab host: DNS over UDP, NAME → IP, other names NXDOMAIN)
//	lab serve-smtp ADDR NAME        (on a lab host: SMTP greeting, HELO, QUIT)
//	lab serve-udp ADDR NAME         (on a lab host: answers each datagram with "NAME " and the datagram)
//	lab fetch URL N [--timeout 3s]  (on a lab host: N GETs, counts of answers as JSON)
//	lab vrrp-capture IFACE SRC TIMEOUT  (on a lab host: the first VRRP packet from SRC, as JSON)
//	lab probe URL DURATION [--interval 10ms] [--timeout 200ms]  (on a lab host: the longest outage seen)
//	lab hold URL DURATION [--interval 50ms] [--timeout 5s]  (on a lab host: one keep-alive connection, GETs on it, dials counted)
//	lab hold-many ADDR:PORT N DURATION [--interval 1s] [--path /keep] [--stop FILE]  (on a lab host: N long-lived connections, closed cleanly from this side)
//
// `lab run` is usable as `go test -exec "/abs/bin/lab run --"`. The other commands work inside
// the kernel context (from a command started by `lab run`), on the lab in $LVS_LAB_DIR. See
// package internal/lab.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

const usage = `usage:
  lab run [--mem 2G] [--timeout 40m] [--mode auto|uml|direct] [--native] [-v] -- CMD ARGS...
  lab up [--spec default|FILE.json]
  lab down
  lab status
  lab kill HOST
  lab boot HOST
  lab exec HOST -- CMD ARGS...
  lab partition HOST on|off
  lab serve ADDR NAME
  lab serve-tls ADDR NAME
  lab serve-dns ADDR NAME IP
  lab serve-smtp ADDR NAME
  lab serve-udp ADDR NAME
  lab fetch URL N [--timeout 3s]
  lab vrrp-capture IFACE SRC TIMEOUT
  lab probe URL DURATION [--interval 10ms] [--timeout 200ms]
  lab hold URL DURATION [--interval 50ms] [--timeout 5s]
  lab hold-many ADDR:PORT N DURATION [--interval 1s] [--path /keep] [--stop FILE]
`

func main() {
	code, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "lab: %v\n", err)
		if code == 0 {
			code = lab.ExitInternal
		}
	}
	os.Exit(code)
}

func run(args []string) (int, error) {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2, nil
	}
	ctx := context.Background()
	cmd, args := args[0], args[1:]
	switch cmd {
	case "run":
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		var o lab.RunOptions
		fs.StringVar(&o.Mem, "mem", "2G", "UML memory")
		fs.DurationVar(&o.Timeout, "timeout", 40*time.Minute, "kill the command after this long")
		fs.StringVar(&o.Mode, "mode", "auto", "auto, uml (User-Mode-Linux) or direct (this kernel)")
		fs.BoolVar(&o.Verbose, "v", false, "show the kernel console")
		fs.BoolVar(&o.Native, "native", false, "UML: link a network namespace of this machine to the lab bridge, where the command can run programs natively (lab.RunNative)")
		if err := fs.Parse(args); err != nil {
			return 2, err
		}
		if fs.NArg() == 0 {
			return 2, errors.New("run: no command (lab run -- CMD ARGS...)")
		}
		return lab.Run(ctx, fs.Args(), o)
	case "up":
		fs := flag.NewFlagSet("up", flag.ContinueOnError)
		specArg := fs.String("spec", "default", `"default" or a JSON file {"hosts":[{"name","ipv4","ipv6"}]}`)
		if err := fs.Parse(args); err != nil {
			return 2, err
		}
		spec, err := loadSpec(*specArg)
		if err != nil {
			return 2, err
		}
		start := time.Now()
		l, err := lab.Up(ctx, spec)
		if err != nil {
			return 1, err
		}
		fmt.Printf("lab up in %s (%s): %d hosts\n", time.Since(start).Round(time.Millisecond), l.Dir(), len(l.Hosts()))
		return 0, status(l)
	case "down":
		if l, err := lab.Load(lab.Dir()); err == nil {
			return 0, l.Down(ctx)
		}
		return 0, lab.Clean(lab.Dir())
	case "status":
		l, err := lab.Load(lab.Dir())
		if errors.Is(err, os.ErrNotExist) {
			fmt.Println("no lab in", lab.Dir())
			return 0, nil
		}
		if err != nil {
			return 1, err
		}
		return 0, status(l)
	case "serve":
		if len(args) != 2 {
			return 2, errors.New("usage: serve ADDR NAME, e.g. serve :80 real1")
		}
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return 0, lab.Serve(ctx, args[0], args[1])
	case "serve-tls":
		if len(args) != 2 {
			return 2, errors.New("usage: serve-tls ADDR NAME, e.g. serve-tls :443 real1")
		}
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return 0, lab.ServeTLS(ctx, args[0], args[1])
	case "serve-dns":
		var ip netip.Addr
		var err error
		if len(args) == 3 {
			ip, err = netip.ParseAddr(args[2])
		}
		if len(args) != 3 || err != nil {
			return 2, errors.New("usage: serve-dns ADDR NAME IP, e.g. serve-dns :53 www.example.test 198.51.100.21")
		}
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return 0, lab.ServeDNS(ctx, args[0], args[1], ip)
	case "vrrp-capture":
		var src netip.Addr
		var timeout time.Duration
		var err error
		if len(args) == 3 {
			src, err = netip.ParseAddr(args[1])
			if err == nil {
				timeout, err = time.ParseDuration(args[2])
			}
		}
		if len(args) != 3 || err != nil || timeout <= 0 || timeout > time.Minute {
			return 2, errors.New("usage: vrrp-capture IFACE SRC TIMEOUT, e.g. vrrp-capture eth0 198.51.100.11 5s (TIMEOUT up to 1m)")
		}
		a, err := lab.CaptureVRRP(ctx, args[0], src, timeout)
		if err != nil {
			return 1, err
		}
		b, err := json.Marshal(a)
		if err != nil {
			return 1, err
		}
		fmt.Println(string(b))
		return 0, nil
	case "serve-smtp", "serve-udp":
		if len(args) != 2 {
			return 2, fmt.Errorf("usage: %s ADDR NAME, e.g. %s :25 real1", cmd, cmd)
		}
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		if cmd == "serve-smtp" {
			return 0, lab.ServeSMTP(ctx, args[0], args[1])
		}
		return 0, lab.ServeUDP(ctx, args[0], args[1])
	case "fetch":
		fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
		timeout := fs.Duration("timeout", 3*time.Second, "bound of each request")
		if len(args) < 2 {
			return 2, errors.New("usage: fetch URL N [--timeout 3s]")
		}
		if err := fs.Parse(args[2:]); err != nil {
			return 2, err
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 || n > 100000 {
			return 2, fmt.Errorf("fetch: N %q is not 1-100000", args[1])
		}
		b, err := json.Marshal(lab.Fetch(ctx, args[0], n, *timeout))
		if err != nil {
			return 1, err
		}
		fmt.Println(string(b))
		return 0, nil
	case "probe":
		fs := flag.NewFlagSet("probe", flag.ContinueOnError)
		interval := fs.Duration("interval", 10*time.Millisecond, "time between requests")
		timeout := fs.Duration("timeout", 200*time.Millisecond, "bound of each request")
		stopFile := fs.String("stop-file", "", "end early once this file exists")
		if len(args) < 2 {
			return 2, errors.New("usage: probe URL DURATION [--interval 10ms] [--timeout 200ms] [--stop-file PATH]")
		}
		if err := fs.Parse(args[2:]); err != nil {
			return 2, err
		}
		d, err := time.ParseDuration(args[1])
		if err != nil || d <= 0 || d > 10*time.Minute {
			return 2, fmt.Errorf("probe: DURATION %q is not a duration up to 10m", args[1])
		}
		stop := make(chan struct{})
		if *stopFile != "" {
			go func() {
				for {
					if _, err := os.Stat(*stopFile); err == nil {
						close(stop)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			}()
		}
		b, err := json.Marshal(lab.ProbeUntil(ctx, args[0], d, *interval, *timeout, stop))
		if err != nil {
			return 1, err
		}
		fmt.Println(string(b))
		return 0, nil
	case "hold":
		fs := flag.NewFlagSet("hold", flag.ContinueOnError)
		interval := fs.Duration("interval", 50*time.Millisecond, "time between requests")
		timeout := fs.Duration("timeout", 5*time.Second, "bound of each request (longer than TCP's retransmissions through a failover)")
		if len(args) < 2 {
			return 2, errors.New("usage: hold URL DURATION [--interval 50ms] [--timeout 5s]")
		}
		if err := fs.Parse(args[2:]); err != nil {
			return 2, err
		}
		d, err := time.ParseDuration(args[1])
		if err != nil || d <= 0 || d > 10*time.Minute {
			return 2, fmt.Errorf("hold: DURATION %q is not a duration up to 10m", args[1])
		}
		if *interval <= 0 || *timeout <= 0 {
			return 2, errors.New("hold: --interval and --timeout must be positive")
		}
		b, err := json.Marshal(lab.Hold(ctx, args[0], d, *interval, *timeout))
		if err != nil {
			return 1, err
		}
		fmt.Println(string(b))
		return 0, nil
	case "hold-many":
		fs := flag.NewFlagSet("hold-many", flag.ContinueOnError)
		interval := fs.Duration("interval", time.Second, "time between the GETs on each connection")
		urlPath := fs.String("path", "/keep", "path of the GETs")
		stop := fs.String("stop", "", "stop and close the connections once this file exists")
		if len(args) < 3 {
			return 2, errors.New("usage: hold-many ADDR:PORT N DURATION [--interval 1s] [--path /keep] [--stop FILE]")
		}
		if err := fs.Parse(args[3:]); err != nil {
			return 2, err
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 || n > 1000 {
			return 2, fmt.Errorf("hold-many: N %q is not 1-1000", args[1])
		}
		d, err := time.ParseDuration(args[2])
		if err != nil || d <= 0 || d > 10*time.Minute {
			return 2, fmt.Errorf("hold-many: DURATION %q is not a duration up to 10m", args[2])
		}
		if *interval <= 0 {
			return 2, errors.New("hold-many: --interval must be positive")
		}
		b, err := json.Marshal(lab.HoldMany(ctx, args[0], *urlPath, n, *interval, d, *stop))
		if err != nil {
			return 1, err
		}
		fmt.Println(string(b))
		return 0, nil
	case "kill", "boot", "exec", "partition":
		if len(args) == 0 {
			return 2, fmt.Errorf("%s: which host?", cmd)
		}
		l, err := lab.Load(lab.Dir())
		if err != nil {
			return 1, err
		}
		h := l.Host(args[0])
		if h == nil {
			return 2, fmt.Errorf("no host %q in the lab", args[0])
		}
		return hostCmd(ctx, cmd, h, args[1:])
	default:
		fmt.Fprint(os.Stderr, usage)
		return 2, fmt.Errorf("unknown command %q", cmd)
	}
}

func hostCmd(ctx context.Context, cmd string, h *lab.Host, args []string) (int, error) {
	switch cmd {
	case "kill":
		return 0, h.Kill()
	case "boot":
		return 0, h.Boot(ctx)
	case "partition":
		if len(args) != 1 || (args[0] != "on" && args[0] != "off") {
			return 2, errors.New("partition HOST on|off")
		}
		return 0, h.Partition(args[0] == "on")
	}
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return 2, errors.New("usage: exec HOST -- CMD ARGS")
	}
	c := h.Command(ctx, args...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	return 0, err
}

func loadSpec(arg string) (lab.Spec, error) {
	if arg == "default" {
		return lab.DefaultSpec(), nil
	}
	b, err := os.ReadFile(arg)
	if err != nil {
		return lab.Spec{}, err
	}
	var s lab.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return lab.Spec{}, fmt.Errorf("%s: %w", arg, err)
	}
	return s, s.Validate()
}

func status(l *lab.Lab) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "HOST\tIPV4\tIPV6\tSTATE\tPID")
	for _, h := range l.Hosts() {
		st, pid := "down", "-"
		if p := h.PID(); p != 0 {
			st, pid = "running", fmt.Sprint(p)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", h.Name, h.IPv4, h.IPv6, st, pid)
	}
	fmt.Fprintf(w, "\nssh: ssh -i %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes %s@ADDRESS\n", l.PrivateKeyPath(), l.KnownHostsPath(), l.SSHUser())
	return w.Flush()
}
