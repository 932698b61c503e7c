package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RunOptions configure Run.
type RunOptions struct {
	Mem     string        // UML memory, e.g. "2G"
	Timeout time.Duration // whole run; the command is killed after it
	Mode    string        // "auto" (default), "uml" or "direct"
	UML     string        // path of the UML kernel; default /usr/bin/linux.uml
	Verbose bool          // copy the kernel console to stderr
	// Native (UML mode only) links a fresh network namespace of the machine to the lab bridge
	// and lets the command run programs there, natively: see RunNative. In direct mode the
	// command runs natively already, and Native changes nothing.
	Native bool
	Stdout io.Writer // default os.Stdout
	Stderr io.Writer // default os.Stderr
}

// Exit codes of Run when the command's own is not known.
const (
	ExitTimeout  = 124
	ExitInternal = 125
)

// runSpec is what the outer `lab run` hands the UML guest init, in run.json of the run directory.
type runSpec struct {
	Argv    []string `json:"argv"`
	Env     []string `json:"env"`
	Dir     string   `json:"dir"`
	Started int64    `json:"started"` // unix nanoseconds, for the boot time
	// Shares are directories found on the machine (the module around Dir, the lab binary's
	// directory) that the guest mounts at their paths: inside, /tmp hides a checkout there.
	Shares []string `json:"shares"`
	// Native: the tap of the machine's native namespace is UML's vec0; see RunOptions.Native.
	Native bool `json:"native,omitempty"`
}

// Run runs argv in a kernel context with IP_VS: in the admin network namespace of this machine if
// its kernel has IP_VS (direct mode), else in the admin namespace inside a User-Mode-Linux kernel.
// The command gets this process's environment and working directory plus LVS_LAB=1 and
// LVS_LAB_DIR; its output streams to opts.Stdout/Stderr. Run returns the command's exit code.
// It leaves nothing behind: no processes, namespaces, mounts or temporary files.
func Run(ctx context.Context, argv []string, opts RunOptions) (int, error) {
	if len(argv) == 0 {
		return ExitInternal, errors.New("no command")
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Mem == "" {
		opts.Mem = "2G"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 40 * time.Minute
	}
	if os.Getenv(EnvLab) == "1" {
		// Already in a kernel context (a nested `lab run`): just run the command.
		return runPlain(ctx, argv, opts)
	}
	if os.Geteuid() != 0 {
		return ExitInternal, errors.New("lab run needs root (namespaces, mounts, modules)")
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	mode := opts.Mode
	if mode == "" || mode == "auto" {
		mode = os.Getenv(EnvMode)
	}
	if mode == "" || mode == "auto" {
		mode = "uml"
		if kernelHasIPVS(ctx) {
			mode = "direct"
		}
	}
	var code int
	var err error
	switch mode {
	case "uml":
		code, err = runUML(ctx, argv, opts)
	case "direct":
		code, err = runDirect(ctx, argv, opts)
	default:
		return ExitInternal, fmt.Errorf("unknown mode %q: want auto, uml or direct", mode)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ExitTimeout, fmt.Errorf("timeout after %s; killed", opts.Timeout)
	}
	if ctx.Err() != nil {
		return ExitInternal, errors.New("interrupted by a signal; killed the command")
	}
	return code, err
}

// kernelHasIPVS reports whether the running kernel has IP_VS, loading the module if needed.
func kernelHasIPVS(ctx context.Context) bool {
	if haveIPVS() {
		return true
	}
	if _, err := exec.LookPath("modprobe"); err == nil {
		_ = exec.CommandContext(ctx, "modprobe", "ip_vs").Run()
	}
	return haveIPVS()
}

func runPlain(ctx context.Context, argv []string, opts RunOptions) (int, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, opts.Stdout, opts.Stderr
	return exitCode(cmd.Run())
}

func exitCode(err error) (int, error) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return ExitInternal, err
	}
	return 0, nil
}

// cmdEnv is the command's environment: ours, with the lab's variables set.
func cmdEnv(base []string, mode string, started time.Time) []string {
	set := map[string]string{
		EnvLab:      "1",
		EnvDir:      DefaultDir,
		EnvMode:     mode,
		EnvBootSecs: strconv.FormatFloat(time.Since(started).Seconds(), 'f', 2, 64),
	}
	// The lab binary itself, so commands can call its host tools (serve, fetch) on lab hosts,
	// whose root shows the machine's files at the same paths.
	if exe, err := os.Executable(); err == nil {
		set[EnvBin] = exe
	}

	if mode == "uml" {
		set["TMPDIR"] = "/tmp" // the only writable temporary directory inside UML
	}
	var env []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; !ok {
			env = append(env, kv)
		}
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

// ---- direct mode ----

// runDirect runs argv in the admin namespace of this machine. One direct run at a time: the lock
// is an abstract unix socket, released by the kernel however this process ends.
func runDirect(ctx context.Context, argv []string, opts RunOptions) (int, error) {
	started := time.Now()
	lock, err := lockDirect(ctx)
	if err != nil {
		return ExitInternal, err
	}
	defer lock.Close()
	modLog := io.Discard
	if opts.Verbose {
		modLog = opts.Stderr
	}
	loadModules(ctx, "", modLog)
	if !haveIPVS() {
		fmt.Fprintln(opts.Stderr, "lab run: warning: this kernel has no IP_VS; IPVS tests will fail")
	}
	// Leftovers of a run that was killed (only ours: we hold the lock).
	cleanupDirect()
	// `ip netns add` makes /run/netns (a self bind mount) if missing; take it away afterwards.
	_, err = os.Stat(netnsDir)
	hadNetnsDir := err == nil
	defer func() {
		cleanupDirect()
		if !hadNetnsDir {
			removeNetnsDir()
		}
	}()
	if err := setupAdmin(ctx); err != nil {
		return ExitInternal, err
	}
	// Host inits outlive the processes that booted them; as a subreaper this process inherits
	// them (instead of the machine's init) and can reap and kill them.
	if err := setChildSubreaper(); err != nil {
		return ExitInternal, err
	}
	full := adminArgv(argv)
	path, err := exec.LookPath(full[0])
	if err != nil {
		return ExitInternal, err
	}
	dir, _ := os.Getwd()
	outF, closeOut, err := asFile(opts.Stdout)
	if err != nil {
		return ExitInternal, err
	}
	defer closeOut()
	errF, closeErr, err := asFile(opts.Stderr)
	if err != nil {
		return ExitInternal, err
	}
	defer closeErr()
	p, err := os.StartProcess(path, full, &os.ProcAttr{
		Dir:   dir,
		Env:   cmdEnv(os.Environ(), "direct", started),
		Files: []*os.File{os.Stdin, outF, errF},
	})
	if err != nil {
		return ExitInternal, err
	}
	pid := p.Pid
	_ = p.Release() // reaped by reapUntil
	code, err := reapUntil(ctx, pid)
	closeOut()
	closeErr()
	return code, err
}

// asFile returns w as an *os.File for a child, through a pipe if it is not one.
func asFile(w io.Writer) (*os.File, func(), error) {
	if f, ok := w.(*os.File); ok {
		return f, func() {}, nil
	}
	r, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() { _, _ = io.Copy(w, r); close(done) }()
	var once sync.Once
	return pw, func() {
		once.Do(func() {
			pw.Close()
			select { // the command's orphans may hold the pipe until cleanup kills them
			case <-done:
			case <-time.After(5 * time.Second):
			}
			r.Close()
		})
	}, nil
}

// reapUntil reaps every child (we are a subreaper) until pid exits, and returns its exit code.
// When ctx ends it kills pid and everything else we are the parent of.
func reapUntil(ctx context.Context, pid int) (int, error) {
	type res struct {
		ws  syscall.WaitStatus
		err error
	}
	done := make(chan res, 1)
	go func() {
		for { // ends when pid is reaped or there is no child left; each Wait4 reaps one child
			var ws syscall.WaitStatus
			got, err := syscall.Wait4(-1, &ws, 0, nil)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || got == pid {
				done <- res{ws, err}
				return
			}
		}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return ExitInternal, r.err
		}
		return waitCode(r.ws), nil
	case <-ctx.Done():
		_ = syscall.Kill(pid, syscall.SIGKILL)
		killChildren()
		select {
		case <-done:
		case <-time.After(killTimeout):
		}
		return ExitInternal, ctx.Err()
	}
}

func waitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// killChildren SIGKILLs every child of this process and reaps them. A killed host init takes its
// whole PID namespace with it.
func killChildren() {
	me := os.Getpid()
	_ = killMatching(killTimeout, func(_ int, s procStat) bool { return s.ppid == me })
	for range 10000 { // reap what is left; bounded by the number of possible children
		var ws syscall.WaitStatus
		if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
			return
		}
	}
}

func cleanupDirect() {
	killChildren()
	if l, err := Load(DefaultDir); err == nil {
		_ = l.Down(context.Background())
	}
	_ = Clean(DefaultDir)
	_ = deleteAdmin(context.Background())
}

const netnsDir = "/run/netns"

// removeNetnsDir undoes what `ip netns add` did to a machine that had no /run/netns, if no
// namespace is named there now.
func removeNetnsDir() {
	if ents, err := os.ReadDir(netnsDir); err != nil || len(ents) > 0 {
		return
	}
	for _, m := range mountsUnder(netnsDir) {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	_ = os.Remove(netnsDir)
}

func lockDirect(ctx context.Context) (net.Listener, error) {
	var last error
	for i := 0; i < 36000; i++ { // up to an hour, or until ctx ends
		l, err := net.Listen("unix", "@lvs-lab-direct")
		if err == nil {
			return l, nil
		}
		last = err
		if i == 0 {
			fmt.Fprintln(os.Stderr, "lab run: waiting for another direct-mode lab run to finish")
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock direct mode: %w (%v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("lock direct mode: %v", last)
}

func setChildSubreaper() error {
	const prSetChildSubreaper = 36
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", e)
	}
	return nil
}

// ---- UML mode ----

// runUML boots a UML kernel whose init is this binary (guestInitMain), which runs argv and
// writes its exit code to the run directory, then powers off.
func runUML(ctx context.Context, argv []string, opts RunOptions) (int, error) {
	started := time.Now()
	uml := opts.UML
	if uml == "" {
		uml = "/usr/bin/linux.uml"
	}
	if _, err := os.Stat(uml); err != nil {
		return ExitInternal, fmt.Errorf("no UML kernel (install Debian's user-mode-linux): %w", err)
	}
	memBytes, err := parseMem(opts.Mem)
	if err != nil {
		return ExitInternal, err
	}
	self, err := os.Executable()
	if err != nil {
		return ExitInternal, err
	}
	removeStaleRunDirs()
	runDir, err := os.MkdirTemp("", runDirPrefix)
	if err != nil {
		return ExitInternal, err
	}
	defer os.RemoveAll(runDir)
	if err := writeOwner(runDir); err != nil {
		return ExitInternal, err
	}
	dir, err := os.Getwd()
	if err != nil {
		return ExitInternal, err
	}
	spec, err := json.Marshal(runSpec{Argv: argv, Env: os.Environ(), Dir: dir, Started: started.UnixNano(), Shares: sharedTrees(dir), Native: opts.Native})
	if err != nil {
		return ExitInternal, err
	}
	if err := os.WriteFile(filepath.Join(runDir, "run.json"), spec, 0o600); err != nil {
		return ExitInternal, err
	}
	shim, err := buildXstateShim(ctx, runDir)
	if err != nil {
		return ExitInternal, err
	}

	// The command's stdout and stderr are UML consoles 1 and 2 (fds 3 and 4); the kernel console
	// and UML's own messages go to a log shown only on failure (or with Verbose). Pipes rather
	// than our own stdout: UML makes its fds non-blocking, which must not leak to the caller's.
	outR, outW, err := os.Pipe()
	if err != nil {
		return ExitInternal, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return ExitInternal, err
	}
	logR, logW, err := os.Pipe()
	if err != nil {
		return ExitInternal, err
	}
	var native *nativeSide
	if opts.Native {
		if native, err = startNative(ctx, runDir); err != nil {
			return ExitInternal, fmt.Errorf("native mode: %w", err)
		}
		defer native.close()
	}
	umid := filepath.Base(runDir)
	args := []string{
		"mem=" + opts.Mem, "root=/dev/root", "rootfstype=hostfs", "hostfs=/", "ro",
		"init=" + self, "con=null", "ssl=null", "con0=null,fd:1", "con1=null,fd:3", "con2=null,fd:4",
		"quiet", "loglevel=0", "umid=" + umid, "uml_dir=" + runDir,
		"--", reexecGuestInit, runDir,
	}
	cmd := exec.Command(uml, args...)
	if native != nil {
		cmd.Path, cmd.Args = native.umlArgv(uml, args)
		if cmd.Path, err = exec.LookPath(cmd.Path); err != nil {
			return ExitInternal, err
		}
	}
	cmd.Env = umlEnv(memBytes, shim)
	cmd.Stdout, cmd.Stderr = logW, logW
	cmd.ExtraFiles = []*os.File{outW, errW}
	// UML is the init of a new PID namespace: when it dies, the kernel kills every helper
	// process it made. Pdeathsig makes it die with us, even when we are SIGKILLed.
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID,
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
	}
	// UML must not leave a core file in the working directory when it panics.
	_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
	if err := cmd.Start(); err != nil {
		return ExitInternal, fmt.Errorf("start %s: %w", uml, err)
	}
	outW.Close()
	errW.Close()
	logW.Close()
	var copies sync.WaitGroup
	copyTo := func(w io.Writer, r *os.File) {
		copies.Add(1)
		go func() {
			defer copies.Done()
			_, _ = io.Copy(w, r)
			r.Close()
		}()
	}
	copyTo(opts.Stdout, outR)
	copyTo(opts.Stderr, errR)
	log := &tailBuffer{max: 256 << 10}
	if opts.Verbose {
		copyTo(io.MultiWriter(log, opts.Stderr), logR)
	} else {
		copyTo(log, logR)
	}
	pgid := cmd.Process.Pid
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	// The guest writes the command's exit code, syncs and powers off. Now and then the UML
	// kernel does not end after that (seen: a lab kernel spinning at 100% CPU for minutes after
	// its test passed); its work is done, so it is killed after powerOffGrace.
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopWatch:
				return
			case <-tick.C:
			}
			if _, err := os.Stat(filepath.Join(runDir, "exit")); err != nil {
				continue
			}
			select {
			case <-stopWatch:
			case <-time.After(powerOffGrace):
				fmt.Fprintf(opts.Stderr, "lab run: the lab kernel did not power off within %v after the command ended: killed\n", powerOffGrace)
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
			}
			return
		}
	}()
	var werr error
	select {
	case werr = <-waited:
	case <-ctx.Done():
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		werr = <-waited
	}
	// Whatever is left of the process group (UML's helpers) goes too.
	kerr := killMatching(killTimeout, func(_ int, s procStat) bool { return s.pgrp == pgid })
	copiesDone := make(chan struct{})
	go func() { copies.Wait(); close(copiesDone) }()
	select {
	case <-copiesDone:
	case <-time.After(5 * time.Second):
	}
	if kerr != nil {
		return ExitInternal, kerr
	}
	if ctx.Err() != nil {
		return ExitInternal, ctx.Err()
	}
	b, err := os.ReadFile(filepath.Join(runDir, "exit"))
	if err == nil {
		if code, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return code, nil
		}
	}
	fmt.Fprintf(opts.Stderr, "lab run: UML ended without the command's exit code (%v); kernel console:\n%s\n", werr, log.String())
	return ExitInternal, errors.New("UML kernel failed")
}

const runDirPrefix = "lvs-lab-run-"

// powerOffGrace is how long the lab kernel may take to power off once the command's exit code
// is written (it takes well under a second).
const powerOffGrace = 20 * time.Second

// writeOwner records this process in runDir, so that a later run can tell the directory is stale
// if we are killed before removing it.
func writeOwner(runDir string) error {
	st, err := readProcStat(os.Getpid())
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(runDir, "owner"), fmt.Appendf(nil, "%d %d\n", os.Getpid(), st.startTime), 0o600)
}

// removeStaleRunDirs removes run directories whose `lab run` is gone (it was SIGKILLed; its UML
// died with it, see Pdeathsig).
func removeStaleRunDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), runDirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner"))
		if err != nil {
			continue // being created, or not ours
		}
		var pid int
		var start uint64
		if _, err := fmt.Sscan(string(b), &pid, &start); err == nil && !alive(pid, start) {
			_ = os.RemoveAll(d)
		}
	}
}

// umlEnv is UML's environment: ours, TMPDIR where its memory file should go (it is unlinked at
// once, so nothing stays), and the ptrace shim.
func umlEnv(memBytes int64, shim string) []string {
	tmp := os.TempDir()
	var st syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &st); err == nil && int64(st.Bavail)*st.Bsize > memBytes+memBytes/4 {
		tmp = "/dev/shm"
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "TMPDIR", "TMP", "TEMP", "LD_PRELOAD":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "TMPDIR="+tmp)
	if shim != "" {
		env = append(env, "LD_PRELOAD="+shim)
	}
	return env
}

// parseMem parses UML's mem= syntax: a number with an optional K, M or G suffix.
func parseMem(s string) (int64, error) {
	mult := int64(1)
	num := strings.TrimRight(s, "kKmMgG")
	switch strings.ToUpper(strings.TrimPrefix(s, num)) {
	case "":
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("bad memory size %q", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad memory size %q", s)
	}
	if n*mult < 256<<20 {
		return 0, fmt.Errorf("memory size %q: at least 256M", s)
	}
	return n * mult, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// sharedTrees are the directories lab hosts must see at their own paths although they may lie
// under a mount that the hosts' root (an overlay of the bare root filesystem) does not show, such
// as a checkout under /tmp: the Go module around dir and the lab binary's directory.
func sharedTrees(dir string) []string {
	var out []string
	for d := filepath.Clean(dir); filepath.IsAbs(d) && d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			out = append(out, d)
			break
		}
	}
	if exe, err := os.Executable(); err == nil {
		out = append(out, filepath.Dir(exe))
	}
	return out
}
