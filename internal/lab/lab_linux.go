package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds of the lab's waits. UML on a loaded 2-core machine is slow, hence the generous ones.
const (
	sshReadyTimeout = 90 * time.Second // host init start to sshd banner
	killTimeout     = 15 * time.Second // SIGKILL to the host's processes and veth gone
	cmdTimeout      = 30 * time.Second // one helper command (ip, ssh-keygen)
	diskSize        = "1g"             // tmpfs limit of each host's disk; pages are used on write
)

// hostPATH is the PATH of processes inside hosts.
const hostPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Lab is a running (or partly running) lab. Its methods are safe for concurrent use.
type Lab struct {
	dir   string
	mu    sync.Mutex // guards st and every Host's pid/startTime/reaped
	st    state
	hosts []*Host
}

// Host is one lab host.
type Host struct {
	Name string
	IPv4 string
	IPv6 string
	// InsideIPv4 and InsideIPv6 are the host's addresses on eth1 (Bridge2), "" without one.
	InsideIPv4, InsideIPv6 string

	lab *Lab
	idx int // in lab.st.Hosts
	// reaped is closed when this process started the host's init and has waited for it; nil
	// if another process started it. Guarded by lab.mu.
	reaped chan struct{}
}

// Dir is the lab directory.
func (l *Lab) Dir() string { return l.dir }

// SSHUser is the user the lab key logs in as ("root").
func (l *Lab) SSHUser() string { return l.st.SSHUser }

// SudoUser is the non-root user with passwordless sudo on every host.
func (l *Lab) SudoUser() string { return l.st.SudoUser }

// PrivateKeyPath is the client key (OpenSSH format, no passphrase) accepted by every host.
func (l *Lab) PrivateKeyPath() string { return l.st.PrivateKey }

// KnownHostsPath is a known_hosts file with every host's key by name, IPv4 and IPv6 address.
func (l *Lab) KnownHostsPath() string { return l.st.KnownHosts }

// Hosts lists the hosts in spec order.
func (l *Lab) Hosts() []*Host { return append([]*Host(nil), l.hosts...) }

// Host returns the named host or nil.
func (l *Lab) Host(name string) *Host {
	for _, h := range l.hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Spec is the lab's spec.
func (l *Lab) Spec() Spec {
	var s Spec
	for _, h := range l.hosts {
		s.Hosts = append(s.Hosts, HostSpec{Name: h.Name, IPv4: h.IPv4, IPv6: h.IPv6, InsideIPv4: h.InsideIPv4, InsideIPv6: h.InsideIPv6})
	}
	return s
}

// Up creates the lab described by spec in Dir() and boots every host; it returns when every
// host's sshd answers. It must run in a kernel context (inside `lab run`). If the same lab is
// already up it boots the hosts that are down and returns it. On error nothing is left behind.
func Up(ctx context.Context, spec Spec) (*Lab, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := checkAdminContext(); err != nil {
		return nil, err
	}
	dir := Dir()
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err == nil {
		l, err := Load(dir)
		if err != nil {
			return nil, err
		}
		if !sameSpec(l.Spec(), spec) {
			return nil, fmt.Errorf("another lab is up in %s; run `lab down` first", dir)
		}
		for _, h := range l.hosts {
			if !h.Running() {
				if err := h.Boot(ctx); err != nil {
					return nil, err
				}
			}
		}
		return l, nil
	}
	// Leftovers of a lab whose lab.json is gone (a crashed Up): clear them first.
	if err := Clean(dir); err != nil {
		return nil, err
	}
	l, err := create(ctx, dir, spec)
	if err != nil {
		if l != nil {
			_ = l.Down(context.Background())
		} else {
			_ = Clean(dir)
		}
		return nil, err
	}
	return l, nil
}

func sameSpec(a, b Spec) bool {
	if len(a.Hosts) != len(b.Hosts) {
		return false
	}
	for i := range a.Hosts {
		if a.Hosts[i] != b.Hosts[i] {
			return false
		}
	}
	return true
}

// checkAdminContext fails unless this process is in a network namespace with the lab bridge.
func checkAdminContext() error {
	if os.Geteuid() != 0 {
		return errors.New("the lab needs root")
	}
	if _, err := net.InterfaceByName(Bridge); err != nil {
		return fmt.Errorf("no bridge %s in this network namespace (%v): lab hosts are made inside a kernel context; run the command with `lab run -- CMD`", Bridge, err)
	}
	return nil
}

func create(ctx context.Context, dir string, spec Spec) (*Lab, error) {
	if err := os.MkdirAll(filepath.Join(dir, "hosts"), 0o700); err != nil {
		return nil, err
	}
	key := filepath.Join(dir, "id_ed25519")
	if err := sshKeygen(ctx, key, "lvs-lab"); err != nil {
		return nil, err
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		return nil, err
	}
	l := &Lab{dir: dir, st: state{
		Dir: dir, SSHUser: SSHUser, SudoUser: SudoUser,
		PrivateKey: key, PublicKey: strings.TrimSpace(string(pub)),
		KnownHosts: filepath.Join(dir, "known_hosts"),
	}}
	for i, hs := range spec.Hosts {
		p := pathsFor(dir, hs.Name)
		l.st.Hosts = append(l.st.Hosts, hostState{
			HostSpec: hs, Veth: vethName(hs.Name), Disk: p.disk, Root: p.root, Console: p.console,
		})
		l.hosts = append(l.hosts, &Host{Name: hs.Name, IPv4: hs.IPv4, IPv6: hs.IPv6, InsideIPv4: hs.InsideIPv4, InsideIPv6: hs.InsideIPv6, lab: l, idx: i})
	}
	// Write lab.json early so that Down and Load find a partly made lab.
	if err := l.save(); err != nil {
		return l, err
	}
	var known strings.Builder
	for i, hs := range spec.Hosts {
		hk, err := prepareDisk(ctx, pathsFor(dir, hs.Name), hs, spec, l.st.PublicKey)
		if err != nil {
			return l, fmt.Errorf("host %s: %w", hs.Name, err)
		}
		l.st.Hosts[i].HostKey = hk
		known.WriteString(knownHostsLine(hs, hk))
	}
	if err := os.WriteFile(l.st.KnownHosts, []byte(known.String()), 0o644); err != nil {
		return l, err
	}
	if err := l.save(); err != nil {
		return l, err
	}
	// Boot in parallel: most of a boot is waiting for sshd.
	errs := make([]error, len(l.hosts))
	var wg sync.WaitGroup
	for i, h := range l.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.Boot(ctx)
		}()
	}
	wg.Wait()
	return l, errors.Join(errs...)
}

// prepareDisk mounts the host's disk (a tmpfs) and writes its identity into the overlay's upper
// layer: host key, sshd config, accounts, authorized keys, sudoers, hostname. It returns the
// public host key.
func prepareDisk(ctx context.Context, p hostPaths, hs HostSpec, spec Spec, authorizedKey string) (string, error) {
	for _, d := range []string{p.disk, p.root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	if err := syscall.Mount("lvslab-disk-"+hs.Name, p.disk, "tmpfs", syscall.MS_NODEV, "mode=0755,size="+diskSize); err != nil {
		return "", fmt.Errorf("mount disk tmpfs on %s: %w", p.disk, err)
	}
	for _, d := range []string{p.upper, p.work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", err
		}
	}
	u := p.upper
	// The machine's home directories (its root's dotfiles, its users) must not show in the
	// hosts: /root and /home are opaque in the upper layer, so a host starts with empty ones.
	for _, d := range []string{"root", "home"} {
		if err := mkdirLike(u, d, 0o755, 0); err != nil {
			return "", err
		}
		if err := syscall.Setxattr(filepath.Join(u, d), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
			return "", fmt.Errorf("make /%s opaque: %w", d, err)
		}
	}
	for _, d := range []string{"etc/ssh", "etc/sudoers.d", "etc/lvs-lab", "root/.ssh"} {
		if err := mkdirLike(u, d, 0o755, 0); err != nil {
			return "", err
		}
	}
	if err := mkdirLike(u, "home/"+SudoUser+"/.ssh", 0o700, SudoUID); err != nil {
		return "", err
	}
	if err := os.Chmod(filepath.Join(u, "home", SudoUser), 0o755); err != nil {
		return "", err
	}
	if err := os.Chmod(filepath.Join(u, "root/.ssh"), 0o700); err != nil {
		return "", err
	}
	hostKey := filepath.Join(u, "etc/ssh/ssh_host_ed25519_key")
	if err := sshKeygen(ctx, hostKey, "root@"+hs.Name); err != nil {
		return "", err
	}
	hk, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		return "", err
	}
	lower := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join("/etc", name)) }
	passwd, err := lower("passwd")
	if err != nil {
		return "", err
	}
	shadow, err := lower("shadow")
	if err != nil {
		return "", err
	}
	group, err := lower("group")
	if err != nil {
		return "", err
	}
	passwd, shadow, group = accountFiles(passwd, shadow, group)
	ak := []byte(authorizedKey + "\n")
	files := []struct {
		path string
		data []byte
		mode fs.FileMode
		uid  int
	}{
		{"etc/ssh/sshd_config", []byte(sshdConfig), 0o644, 0},
		{"etc/hostname", []byte(hs.Name + "\n"), 0o644, 0},
		{"etc/hosts", []byte(etcHosts(spec)), 0o644, 0},
		{"etc/passwd", passwd, 0o644, 0},
		{"etc/shadow", shadow, 0o640, 0},
		{"etc/group", group, 0o644, 0},
		{"etc/sudoers.d/" + SudoUser, []byte(sudoersFile()), 0o440, 0},
		{"root/.ssh/authorized_keys", ak, 0o600, 0},
		{"home/" + SudoUser + "/.ssh/authorized_keys", ak, 0o600, SudoUID},
	}
	for _, f := range files {
		if err := writeLike(u, f.path, f.data, f.mode, f.uid); err != nil {
			return "", err
		}
	}
	return strings.TrimSpace(string(hk)), nil
}

// mkdirLike creates upper/rel and missing parents. Each new directory copies the mode and owner
// of the same path in the lower layer (the machine's /) where it exists, so the overlay does not
// change them; otherwise it gets mode and uid as owner.
func mkdirLike(upper, rel string, mode fs.FileMode, uid int) error {
	parts := strings.Split(rel, "/")
	for i := range parts {
		sub := filepath.Join(parts[:i+1]...)
		dst := filepath.Join(upper, sub)
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		m, o, g := mode, uid, uid
		if fi, err := os.Stat("/" + sub); err == nil && fi.IsDir() {
			st := fi.Sys().(*syscall.Stat_t)
			m, o, g = fi.Mode().Perm(), int(st.Uid), int(st.Gid)
		}
		if err := os.Mkdir(dst, m); err != nil {
			return err
		}
		if err := os.Chmod(dst, m); err != nil { // umask
			return err
		}
		if err := os.Chown(dst, o, g); err != nil {
			return err
		}
	}
	return nil
}

// writeLike writes upper/rel. Files that exist in the lower layer keep its owner and group (e.g.
// /etc/shadow's group shadow).
func writeLike(upper, rel string, data []byte, mode fs.FileMode, uid int) error {
	dst := filepath.Join(upper, rel)
	o, g := uid, uid
	if fi, err := os.Stat("/" + rel); err == nil {
		st := fi.Sys().(*syscall.Stat_t)
		o, g = int(st.Uid), int(st.Gid)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(dst, mode); err != nil {
		return err
	}
	return os.Chown(dst, o, g)
}

func sshKeygen(ctx context.Context, path, comment string) error {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ssh-keygen %s: %w: %s", path, err, out)
	}
	return nil
}

// Load reads the lab in dir (its lab.json).
func Load(dir string) (*Lab, error) {
	st, err := readState(dir)
	if err != nil {
		return nil, err
	}
	l := &Lab{dir: dir, st: st}
	for i, hs := range st.Hosts {
		l.hosts = append(l.hosts, &Host{Name: hs.Name, IPv4: hs.IPv4, IPv6: hs.IPv6, InsideIPv4: hs.InsideIPv4, InsideIPv6: hs.InsideIPv6, lab: l, idx: i})
	}
	return l, nil
}

func (l *Lab) save() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return writeState(l.dir, l.st)
}

// Down kills every host, unmounts their disks and removes the lab directory. It is idempotent
// and also clears what a crashed Up left.
func (l *Lab) Down(ctx context.Context) error {
	var errs []error
	for _, h := range l.hosts {
		if err := h.Kill(); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, Clean(l.dir))
	return errors.Join(errs...)
}

// Clean removes whatever a lab left in dir, with or without its lab.json: host inits started
// for dir (found by their command line), mounts under dir, and dir itself.
func Clean(dir string) error {
	dir = filepath.Clean(dir)
	var errs []error
	if err := killMatching(killTimeout, func(pid int, _ procStat) bool {
		a := procArgs(pid)
		return len(a) >= 4 && a[1] == reexecHostInit && a[3] == dir
	}); err != nil {
		errs = append(errs, err)
	}
	// Disks: deepest mount first.
	mounts := mountsUnder(dir)
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// mountsUnder lists the mount points in this mount namespace at or below dir.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 5 {
			continue
		}
		mp := unescapeMount(fl[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// unescapeMount decodes the octal escapes (\040 for space) of /proc/self/mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// HostKey is the host's public SSH key ("ssh-ed25519 AAAA... root@NAME"), e.g. for pinning.
func (h *Host) HostKey() string {
	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	return h.lab.st.Hosts[h.idx].HostKey
}

// ConsoleLog is the path of the host's console: what its init and sshd (`sshd -D -e`: every
// connection it accepts, "Accepted publickey for USER from ADDR ...") wrote, over all its boots.
func (h *Host) ConsoleLog() string { return pathsFor(h.lab.dir, h.Name).console }

// Running reports whether the host's init is alive.
func (h *Host) Running() bool {
	pid, start := h.pidStart()
	return alive(pid, start)
}

// PID is the host's init as seen from the admin context, 0 when the host is down.
func (h *Host) PID() int {
	pid, start := h.pidStart()
	if !alive(pid, start) {
		return 0
	}
	return pid
}

func (h *Host) pidStart() (int, uint64) {
	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	hs := h.lab.st.Hosts[h.idx]
	return hs.PID, hs.StartTime
}

func (h *Host) setPID(pid int, start uint64, reaped chan struct{}) error {
	h.lab.mu.Lock()
	h.lab.st.Hosts[h.idx].PID = pid
	h.lab.st.Hosts[h.idx].StartTime = start
	h.reaped = reaped
	h.lab.mu.Unlock()
	return h.lab.save()
}

// HostEnv is the environment of commands run in a host by Command and Exec.
var HostEnv = []string{"PATH=" + hostPATH, "HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/sh", "LANG=C"}

// Command returns a command that runs argv inside the host: in its network, mount, UTS, IPC and
// PID namespaces, with its root and working directory "/", as root, with HostEnv. The caller
// sets its I/O and runs it. If the host is down, Start fails.
func (h *Host) Command(ctx context.Context, argv ...string) *exec.Cmd {
	pid := h.PID()
	args := append([]string{"--target", strconv.Itoa(pid), "--net", "--mount", "--uts", "--ipc", "--pid", "--root", "--wd", "--"}, argv...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Env = HostEnv
	if pid == 0 {
		cmd.Err = fmt.Errorf("host %s is down", h.Name)
	} else if len(argv) == 0 {
		cmd.Err = errors.New("no command")
	}
	return cmd
}

// Exec runs argv inside the host (see Command) and returns its combined output.
func (h *Host) Exec(ctx context.Context, argv ...string) ([]byte, error) {
	out, err := h.Command(ctx, argv...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %q: %w", h.Name, argv, err)
	}
	return out, nil
}

// Kill cuts the host's power: SIGKILL to its init kills every process of the host at once
// (the kernel empties a PID namespace whose init dies), and its network namespace goes with
// them. It returns when the host's veth is gone, i.e. the host is off the network (see
// unplug). Its disk survives. Killing a host that is down does nothing.
func (h *Host) Kill() error {
	pid, start := h.pidStart()
	h.lab.mu.Lock()
	reaped := h.reaped
	h.lab.mu.Unlock()
	if alive(pid, start) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill host %s: %w", h.Name, err)
		}
	}
	gone := waitFor(context.Background(), killTimeout, 5*time.Millisecond, func() bool {
		if reaped != nil {
			select {
			case <-reaped:
				return true
			default:
				return false
			}
		}
		return !alive(pid, start)
	})
	if !gone {
		return fmt.Errorf("host %s: init %d still alive %s after SIGKILL", h.Name, pid, killTimeout)
	}
	if err := h.unplug(context.Background()); err != nil {
		return err
	}
	if pid == 0 {
		return nil
	}
	return h.setPID(0, 0, nil)
}

// unplug takes a dead host's cable out: it deletes the bridge end of its veth pair, and the
// kernel deletes the host's end with it.
//
// Waiting for the host's network namespace to free the pair is not enough: the kernel frees a
// namespace only when nothing references it any more, and every socket a killed process left
// open does. A TCP connection whose process died is closed by the kernel, not dropped: it sends
// its FIN and lingers orphaned in FIN_WAIT1, CLOSING or LAST_ACK, retransmitting to a peer that
// may be dead too (another killed host, a health checker's director) for up to
// tcp_orphan_retries' backoff, minutes. Such a namespace, and its veth on the bridge, outlived
// `lab down` by more than 15 s. A real power cut takes the NIC off the wire at once; so does this.
// The namespace itself goes whenever its last socket does; nothing can reach or reuse it.
func (h *Host) unplug(ctx context.Context) error {
	if err := unplugVeth(ctx, h.Name, veth2Name(h.Name)); err != nil {
		return err
	}
	return unplugVeth(ctx, h.Name, vethName(h.Name))
}

// unplugVeth deletes the admin end of one of a host's veth pairs, if it is there.
func unplugVeth(ctx context.Context, host, veth string) error {
	if _, err := net.InterfaceByName(veth); err != nil {
		return nil
	}
	if err := ipBatch(ctx, 0, "link del "+veth+"\n"); err != nil {
		if _, gone := net.InterfaceByName(veth); gone != nil {
			return nil // freed with its namespace meanwhile
		}
		return fmt.Errorf("host %s: unplug: %w", host, err)
	}
	if _, err := net.InterfaceByName(veth); err == nil {
		return fmt.Errorf("host %s: %s still present after it was deleted", host, veth)
	}
	return nil
}

// Boot starts a host that is down: a fresh set of namespaces, the overlay root over the same
// disk, the network, sshd, then the commands of /etc/lvs-lab/autostart. It returns when sshd
// answers on the host's IPv4 address.
func (h *Host) Boot(ctx context.Context) (err error) {
	if h.Running() {
		return fmt.Errorf("host %s is already running", h.Name)
	}
	if err := checkAdminContext(); err != nil {
		return err
	}
	if err := h.unplug(ctx); err != nil { // left by a host that died without Kill
		return err
	}
	p := pathsFor(h.lab.dir, h.Name)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	console, err := os.OpenFile(p.console, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer console.Close()
	fmt.Fprintf(console, "--- boot %s at %s\n", h.Name, time.Now().Format(time.RFC3339Nano))
	goR, goW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer goW.Close()
	// The host init is this binary again (see reexec_linux.go), started as PID 1 of new
	// namespaces. It has its own session so that signals to our process group miss it.
	cmd := exec.Command(self, reexecHostInit, h.Name, filepath.Clean(h.lab.dir))
	cmd.Env = []string{"PATH=" + hostPATH, EnvShared + "=" + strings.Join(hostShares(), ":")}
	cmd.Stdout, cmd.Stderr = console, console
	cmd.ExtraFiles = []*os.File{goR}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET,
		Setsid:     true,
	}
	err = cmd.Start()
	goR.Close()
	if err != nil {
		return fmt.Errorf("start host %s: %w", h.Name, err)
	}
	pid := cmd.Process.Pid
	reaped := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(reaped)
	}()
	st, err := readProcStat(pid)
	if err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	if err := h.setPID(pid, st.startTime, reaped); err != nil {
		_ = h.Kill()
		return err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("boot %s: %w (console: %s)", h.Name, err, p.console)
			_ = h.Kill()
		}
	}()
	if err := h.plugNetwork(ctx, pid); err != nil {
		return err
	}
	if _, err := goW.Write([]byte{1}); err != nil {
		return fmt.Errorf("host init died early: %w", err)
	}
	return waitSSH(ctx, h.IPv4, reaped)
}

// plugNetwork makes the host's veth pair: eth0 inside with the host's addresses, the other end
// on the bridge. IPv6 is off on the bridge port so that it sends nothing of its own.
func (h *Host) plugNetwork(ctx context.Context, pid int) error {
	veth := vethName(h.Name)
	add := fmt.Sprintf("link add %s address %s type veth peer name %s address %s netns %d\n",
		veth, macFor(h.IPv4, 1), HostIface, macFor(h.IPv4, 0), pid)
	if err := ipBatch(ctx, 0, add); err != nil {
		return err
	}
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+veth+"/disable_ipv6", []byte("1"), 0o644) // no ipv6 module: nothing to disable
	if err := ipBatch(ctx, 0, fmt.Sprintf("link set %s master %s\nlink set %s up\n", veth, Bridge, veth)); err != nil {
		return err
	}
	if err := ipBatch(ctx, pid, fmt.Sprintf("link set lo up\nlink set %[1]s up\naddr add %[2]s/%[3]d dev %[1]s\naddr add %[4]s/%[5]d dev %[1]s nodad\n",
		HostIface, h.IPv4, IPv4Net.Bits(), h.IPv6, IPv6Net.Bits())); err != nil {
		return err
	}
	return h.plugInside(ctx, pid)
}

// plugInside gives a host with inside addresses its eth1 on Bridge2, making the bridge (as
// lab0: no STP, no multicast snooping) if this is the first such host.
func (h *Host) plugInside(ctx context.Context, pid int) error {
	if h.InsideIPv4 == "" {
		return nil
	}
	if _, err := net.InterfaceByName(Bridge2); err != nil {
		if err := ipBatch(ctx, 0, fmt.Sprintf("link add %s type bridge stp_state 0 forward_delay 0 mcast_snooping 0\nlink set %[1]s up\n", Bridge2)); err != nil {
			if _, again := net.InterfaceByName(Bridge2); again != nil { // not made by a host booting alongside
				return err
			}
		}
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+Bridge2+"/disable_ipv6", []byte("1"), 0o644)
	}
	veth := veth2Name(h.Name)
	add := fmt.Sprintf("link add %s address %s type veth peer name %s address %s netns %d\n",
		veth, macFor(h.InsideIPv4, 1), HostIface2, macFor(h.InsideIPv4, 0), pid)
	if err := ipBatch(ctx, 0, add); err != nil {
		return err
	}
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+veth+"/disable_ipv6", []byte("1"), 0o644)
	if err := ipBatch(ctx, 0, fmt.Sprintf("link set %s master %s\nlink set %s up\n", veth, Bridge2, veth)); err != nil {
		return err
	}
	return ipBatch(ctx, pid, fmt.Sprintf("link set %[1]s up\naddr add %[2]s/%[3]d dev %[1]s\naddr add %[4]s/%[5]d dev %[1]s nodad\n",
		HostIface2, h.InsideIPv4, InsideIPv4Net.Bits(), h.InsideIPv6, InsideIPv6Net.Bits()))
}

// ipBatch runs `ip -batch -` with script, in the network namespace of pid, or here if pid is 0.
func ipBatch(ctx context.Context, pid int, script string) error {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	argv := []string{"ip", "-batch", "-"}
	if pid != 0 {
		argv = append([]string{"nsenter", "--target", strconv.Itoa(pid), "--net", "--"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s <<%q: %w: %s", strings.Join(argv, " "), script, err, out)
	}
	return nil
}

// waitSSH waits until an SSH server greets on addr:22, or the host init dies.
func waitSSH(ctx context.Context, addr string, died <-chan struct{}) error {
	target := net.JoinHostPort(addr, "22")
	var last error
	ok := waitFor(ctx, sshReadyTimeout, 50*time.Millisecond, func() bool {
		select {
		case <-died:
			last = errors.New("host init exited")
			return true
		default:
		}
		c, err := net.DialTimeout("tcp", target, 2*time.Second)
		if err != nil {
			last = err
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4)
		if _, err := c.Read(buf); err != nil || string(buf) != "SSH-" {
			last = fmt.Errorf("no SSH banner: %v", err)
			return false
		}
		last = nil
		return true
	})
	if !ok && last == nil {
		last = ctx.Err()
	}
	if last != nil {
		return fmt.Errorf("sshd on %s not ready after %s: %w", target, sshReadyTimeout, last)
	}
	return nil
}

// Partition disconnects the host from the bridge (on) or reconnects it (off). The host's link
// stays up, as when a switch port stops forwarding.
func (h *Host) Partition(on bool) error {
	cmd := fmt.Sprintf("link set %s master %s\n", vethName(h.Name), Bridge)
	if on {
		cmd = fmt.Sprintf("link set %s nomaster\n", vethName(h.Name))
	}
	return ipBatch(context.Background(), 0, cmd)
}

// hostShares are the directories every host sees read-only at their own paths: the checkout
// this process runs from and the lab binary's directory (see sharedTrees).
func hostShares() []string {
	var out []string
	if wd, err := os.Getwd(); err == nil {
		out = append(out, sharedTrees(wd)...)
	}
	if bin := os.Getenv(EnvBin); bin != "" {
		out = append(out, filepath.Dir(bin))
	}
	return out
}
