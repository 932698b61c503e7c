package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// guestInitMain is PID 1 of the UML kernel started by runUML. It prepares a usable system on the
// read-only hostfs root, runs the command in the admin namespace, writes its exit code into the
// run directory and powers off. Its own messages go to the kernel console (the run's log).
func guestInitMain(args []string) {
	// No exit file tells the outer run that the guest failed: it then shows the console log.
	// UML appends "console=tty0" to the kernel command line, after our "--", so it comes as an
	// extra argument here.
	code := ExitInternal
	if len(args) < 1 {
		fmt.Fprintf(os.Stderr, "lab guest init: want the run directory, got %q\n", args)
	} else if c, err := guestInit(args[0]); err != nil {
		fmt.Fprintf(os.Stderr, "lab guest init: %v\n", err)
	} else {
		code = c
		_ = os.WriteFile(filepath.Join(args[0], "exit"), []byte(strconv.Itoa(code)+"\n"), 0o644)
	}
	syscall.Sync() // hostfs writes (exit code, files under the shared directories) reach the host
	_ = syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	os.Exit(code)
}

func guestInit(runDir string) (int, error) {
	_ = os.Setenv("PATH", hostPATH)
	const nosuid, nodev, noexec = syscall.MS_NOSUID, syscall.MS_NODEV, syscall.MS_NOEXEC
	type mnt struct {
		src, dst, fstype string
		flags            uintptr
		data             string
	}
	mountAll := func(ms []mnt) error {
		for _, m := range ms {
			if err := os.MkdirAll(m.dst, 0o755); err != nil {
				return err
			}
			if err := syscall.Mount(m.src, m.dst, m.fstype, m.flags, m.data); err != nil && err != syscall.EBUSY {
				return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dst, err)
			}
		}
		return nil
	}
	// /dev is the kernel's devtmpfs (CONFIG_DEVTMPFS_MOUNT); /dev/pts and /dev/shm exist on it.
	if err := mountAll([]mnt{
		{"proc", "/proc", "proc", nosuid | nodev | noexec, ""},
		{"sysfs", "/sys", "sysfs", nosuid | nodev | noexec, ""},
		{"devpts", "/dev/pts", "devpts", nosuid | noexec, "ptmxmode=0666,mode=0620,gid=5"},
		{"shm", "/dev/shm", "tmpfs", nosuid | nodev, "mode=1777"},
		{"run", "/run", "tmpfs", nosuid | nodev, "mode=0755"},
	}); err != nil {
		return 0, err
	}
	// The links every real machine has in /dev (systemd makes them; devtmpfs does not): commands
	// the provider runs on hosts read /dev/stdin.
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, "/dev/"+name); err != nil && !os.IsExist(err) {
			return 0, fmt.Errorf("link /dev/%s: %w", name, err)
		}
	}
	// The run spec lives under the host's /tmp, which the tmpfs below hides: read it first.
	var spec runSpec
	b, err := os.ReadFile(filepath.Join(runDir, "run.json"))
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return 0, err
	}
	if err := mountAll([]mnt{
		{"tmp", "/tmp", "tmpfs", nosuid | nodev, "mode=1777"},
		{"vartmp", "/var/tmp", "tmpfs", nosuid | nodev, "mode=1777"},
	}); err != nil {
		return 0, err
	}
	release, err := unameRelease()
	if err != nil {
		return 0, err
	}
	modRoot := "/run/lvs-lab-kmod"
	if err := os.MkdirAll(modRoot+"/lib/modules", 0o755); err != nil {
		return 0, err
	}
	if err := os.Symlink("/usr/lib/uml/modules/"+release, modRoot+"/lib/modules/"+release); err != nil {
		return 0, err
	}
	ctx := context.Background()
	loadModules(ctx, modRoot, os.Stderr)
	if !haveIPVS() {
		return 0, fmt.Errorf("no IP_VS after loading modules from /usr/lib/uml/modules/%s", release)
	}
	env := cmdEnv(spec.Env, "uml", time.Unix(0, spec.Started))
	env, err = writableHome(env)
	if err != nil {
		return 0, err
	}
	// Make the places the command writes to writable, at their host paths, through rw hostfs
	// mounts: the run directory (exit code), the working directory, the command's own directory
	// (go test -exec puts coverage files next to the test binary, under /tmp).
	shares := []string{runDir, spec.Dir}
	if filepath.IsAbs(spec.Argv[0]) {
		shares = append(shares, filepath.Dir(spec.Argv[0]))
	}
	// The module the command belongs to (go test runs in a package directory, builds from the
	// module root) and the lab binary, wherever the checkout is, /tmp included.
	shares = append(shares, spec.Shares...)
	for _, d := range shareList(shares) {
		if err := os.MkdirAll(d, 0o755); err != nil { // on /tmp's tmpfs when under /tmp
			return 0, err
		}
		if err := syscall.Mount("none", d, "hostfs", 0, d); err != nil {
			return 0, fmt.Errorf("mount hostfs %s rw: %w", d, err)
		}
	}
	if err := exposeFile(spec.Argv[0]); err != nil {
		return 0, err
	}
	stdout, err := rawTTY("/dev/tty1")
	if err != nil {
		return 0, err
	}
	stderr, err := rawTTY("/dev/tty2")
	if err != nil {
		return 0, err
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	if err := ipBatch(ctx, 0, "link set lo up\n"); err != nil {
		return 0, err
	}
	if err := setupAdmin(ctx); err != nil {
		return 0, err
	}
	if spec.Native {
		if err := attachNativeLink(ctx); err != nil {
			return 0, err
		}
		env = append(env, EnvNative+"="+nativeURL(), EnvNativeDir+"="+filepath.Join(runDir, "native"))
	}
	full := adminArgv(spec.Argv)
	ipPath, err := exec.LookPath(full[0])
	if err != nil {
		return 0, err
	}
	p, err := os.StartProcess(ipPath, full, &os.ProcAttr{
		Dir:   spec.Dir,
		Env:   env,
		Files: []*os.File{devnull, stdout, stderr},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return 0, fmt.Errorf("start %q: %w", spec.Argv, err)
	}
	cmdPID := p.Pid
	_ = p.Release()
	// PID 1 inherits every orphan (host inits among them): reap all until the command exits.
	// Bounded by the outer run's timeout, which kills the whole UML.
	code := ExitInternal
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("wait for the command: %w", err)
		}
		if pid == cmdPID {
			code = waitCode(ws)
			break
		}
	}
	// Let the consoles flush what the command wrote before the power goes.
	tcdrain(stdout)
	tcdrain(stderr)
	return code, nil
}

// shareList cleans, dedups and orders dirs parents first, dropping those under another and those
// too close to / to expose read-write ("/", "/usr", ...).
func shareList(dirs []string) []string {
	var c []string
	for _, d := range dirs {
		d = filepath.Clean(d)
		if !filepath.IsAbs(d) || strings.Count(d, "/") < 2 && !strings.HasPrefix(d, "/tmp/") {
			continue
		}
		c = append(c, d)
	}
	sort.Strings(c)
	var out []string
	for _, d := range c {
		if len(out) > 0 && (d == out[len(out)-1] || strings.HasPrefix(d, out[len(out)-1]+"/")) {
			continue
		}
		out = append(out, d)
	}
	return out
}

// exposeFile makes a command that sits in a directory not shared above (e.g. /tmp/x.test) visible
// at its path, by binding the file from a read-only hostfs view of its directory.
func exposeFile(path string) error {
	if !filepath.IsAbs(path) {
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	view := "/run/lvs-lab-argv0"
	if err := os.MkdirAll(view, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount("none", view, "hostfs", syscall.MS_RDONLY, filepath.Dir(path)); err != nil {
		return fmt.Errorf("mount hostfs %s: %w", filepath.Dir(path), err)
	}
	src := filepath.Join(view, filepath.Base(path))
	if _, err := os.Stat(src); err != nil {
		return nil // not a host file after all; the command's start reports it
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, nil, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(src, path, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", path, err)
	}
	return nil
}

// writableHome makes $HOME writable: an overlay of the host's home (read-only hostfs) and a tmpfs,
// so that caches in it (Go's build and module caches, terraform's plugins) are read where they
// exist and written in memory. Without a usable home, HOME moves to a tmpfs directory.
func writableHome(env []string) ([]string, error) {
	home := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "HOME="); ok {
			home = filepath.Clean(v)
		}
	}
	base := "/run/lvs-lab-home"
	for _, d := range []string{base + "/upper", base + "/work", base + "/home"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if fi, err := os.Stat(home); err == nil && fi.IsDir() && home != "/" && home != "." {
		opts := fmt.Sprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work", home, base, base)
		if err := syscall.Mount("home", home, "overlay", 0, opts); err == nil {
			return env, nil
		}
	}
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "HOME=") {
			out = append(out, kv)
		}
	}
	return append(out, "HOME="+base+"/home"), nil
}

func unameRelease() (string, error) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "", err
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b), nil
}

// rawTTY opens a UML console line with output post-processing off, so that "\n" reaches the host
// as "\n" rather than "\r\n".
func rawTTY(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	var t syscall.Termios
	if err := ioctl(f, syscall.TCGETS, unsafe.Pointer(&t)); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: TCGETS: %w", path, err)
	}
	t.Oflag &^= syscall.OPOST
	t.Lflag &^= syscall.ECHO | syscall.ICANON | syscall.ISIG
	if err := ioctl(f, syscall.TCSETS, unsafe.Pointer(&t)); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: TCSETS: %w", path, err)
	}
	return f, nil
}

// tcdrain waits until the console has written out its buffer.
func tcdrain(f *os.File) {
	const tcsbrk = 0x5409
	_, _, _ = syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), tcsbrk, 1)
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}
