package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// nativeTap is the tap device of the native network namespace; UML's vec0 is its other end.
const nativeTap = "labtap0"

// nativeSide is the machine's half of native mode: a fresh network namespace whose only link
// is a tap device into the UML guest's lab bridge, and a runner listening there.
type nativeSide struct {
	ns  string // network namespace name
	dir string // shared directory
	srv *http.Server

	mu   sync.Mutex // guards cmds
	cmds map[*exec.Cmd]bool
}

// startNative makes the native namespace and starts the runner. The namespace has the tap with
// NativeIPv4/24 and NativeIPv6/64 and no other route, so nothing in it reaches the machine's
// network: only the lab bridge, through UML.
func startNative(ctx context.Context, runDir string) (*nativeSide, error) {
	n := &nativeSide{ns: fmt.Sprintf("lvslab-native-%d", os.Getpid()), dir: filepath.Join(runDir, "native"), cmds: map[*exec.Cmd]bool{}}
	if err := os.Mkdir(n.dir, 0o700); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", n.ns).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %w: %s", n.ns, err, out)
	}
	script := fmt.Sprintf(`link set lo up
tuntap add dev %[1]s mode tap
addr add %[2]s/%[3]d dev %[1]s
addr add %[4]s/%[5]d dev %[1]s nodad
link set %[1]s up
`, nativeTap, NativeIPv4, IPv4Net.Bits(), NativeIPv6, IPv6Net.Bits())
	cmd := exec.CommandContext(ctx, "ip", "-n", n.ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		n.close()
		return nil, fmt.Errorf("set up %s in %s: %w: %s", nativeTap, n.ns, err, out)
	}
	ln, err := listenInNetns(n.ns, net.JoinHostPort(NativeIPv4.String(), strconv.Itoa(nativePort)))
	if err != nil {
		n.close()
		return nil, err
	}
	n.srv = &http.Server{Handler: http.HandlerFunc(n.serveRun), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = n.srv.Serve(ln) }()
	return n, nil
}

// umlArgv wraps UML's command line to start it in the native namespace, where it opens the tap.
func (n *nativeSide) umlArgv(uml string, args []string) (string, []string) {
	return "ip", append([]string{"ip", "netns", "exec", n.ns, uml, "vec0:transport=tap,ifname=" + nativeTap}, args...)
}

// close stops the runner and its commands and deletes the namespace; the tap goes with it.
func (n *nativeSide) close() {
	if n.srv != nil {
		_ = n.srv.Close()
	}
	n.mu.Lock()
	for c := range n.cmds {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	n.mu.Unlock()
	_ = exec.Command("ip", "netns", "delete", n.ns).Run()
}

// serveRun runs one command for the lab, in the native namespace, and answers its result. Only
// the lab bridge reaches the listener, and the address is checked anyway.
func (n *nativeSide) serveRun(w http.ResponseWriter, r *http.Request) {
	reply := func(res nativeResult) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err != nil || !IPv4Net.Contains(ap.Addr()) {
		http.Error(w, "lab bridge only", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/run" {
		http.Error(w, "POST /run only", http.StatusNotFound)
		return
	}
	var req nativeRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || len(req.Argv) == 0 {
		reply(nativeResult{Code: ExitInternal, Error: fmt.Sprintf("bad request (want argv, dir, env): %v", err)})
		return
	}
	var out tailBuffer
	out.max = 4 << 20
	cmd := exec.CommandContext(r.Context(), "ip", append([]string{"netns", "exec", n.ns}, req.Argv...)...)
	cmd.Dir = req.Dir
	cmd.Env = append(os.Environ(), req.Env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	if err := cmd.Start(); err != nil {
		reply(nativeResult{Code: ExitInternal, Error: err.Error()})
		return
	}
	n.mu.Lock()
	n.cmds[cmd] = true
	n.mu.Unlock()
	code, err := exitCode(cmd.Wait())
	took := time.Since(start)
	n.mu.Lock()
	delete(n.cmds, cmd)
	n.mu.Unlock()
	res := nativeResult{Code: code, Output: out.String(), Nanos: took.Nanoseconds()}
	if ps := cmd.ProcessState; ps != nil {
		res.CPUNanos = (ps.UserTime() + ps.SystemTime()).Nanoseconds()
	}
	if err != nil {
		res.Error = err.Error()
	}
	reply(res)
}

// listenInNetns listens on addr inside the named network namespace: a socket stays in the
// namespace it was made in, whatever thread later uses it.
func listenInNetns(ns, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	done := make(chan result, 1)
	go func() {
		// A thread whose namespace could not be restored is never unlocked, so it ends with
		// this goroutine instead of serving others.
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		defer target.Close()
		if err := setns(target, syscall.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("enter %s: %w", ns, err)}
			return
		}
		ln, lerr := net.Listen("tcp", addr)
		if err := setns(orig, syscall.CLONE_NEWNET); err != nil {
			if ln != nil {
				ln.Close()
			}
			done <- result{err: fmt.Errorf("leave %s: %w", ns, err)}
			return
		}
		runtime.UnlockOSThread()
		done <- result{ln, lerr}
	}()
	r := <-done
	if r.err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, ns, r.err)
	}
	return r.ln, nil
}

func setns(f *os.File, nstype int) error {
	return unix.Setns(int(f.Fd()), nstype)
}

// attachNativeLink moves UML's network device (vec0, the tap's other end) into the admin
// namespace and onto the lab bridge: the guest side of native mode.
func attachNativeLink(ctx context.Context) error {
	if _, err := os.Stat("/sys/class/net/vec0"); err != nil {
		return errors.New("native mode: the UML kernel has no vec0 (vector network driver with the tap transport)")
	}
	if out, err := exec.CommandContext(ctx, "ip", "link", "set", "vec0", "netns", AdminNetns).CombinedOutput(); err != nil {
		return fmt.Errorf("move vec0 to %s: %w: %s", AdminNetns, err, out)
	}
	if out, err := exec.CommandContext(ctx, "ip", "-n", AdminNetns, "link", "set", "vec0", "master", Bridge, "up").CombinedOutput(); err != nil {
		return fmt.Errorf("put vec0 on %s: %w: %s", Bridge, err, out)
	}
	return nil
}
