package lab

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// Markers in os.Args[1] by which a binary that imports this package knows it was started as an
// init: of a lab host (by Boot) or of a UML kernel (by Run). Both run as PID 1 of their PID
// namespace; the check of the PID keeps an ordinary invocation from ever taking these paths.
const (
	reexecHostInit  = "__lvs-lab-host-init"
	reexecGuestInit = "__lvs-lab-guest-init"
)

func init() {
	if len(os.Args) < 2 || os.Getpid() != 1 {
		return
	}
	switch os.Args[1] {
	case reexecHostInit:
		if len(os.Args) != 4 {
			fmt.Fprintln(os.Stderr, "usage: host-init NAME LABDIR")
			os.Exit(2)
		}
		err := hostInit(os.Args[2], os.Args[3])
		fmt.Fprintf(os.Stderr, "lvs-lab host %s: init: %v\n", os.Args[2], err)
		os.Exit(1)
	case reexecGuestInit:
		guestInitMain(os.Args[2:]) // does not return
	}
}

// hostInit turns the new namespaces it runs in into a host: an overlay root over the host's
// disk, its own /proc, /sys, /dev/pts, /run and /tmp. Then it waits for Boot to plug the network,
// starts sshd and the autostart commands, and reaps orphans for as long as the host lives (until
// SIGKILL).
func hostInit(name, labDir string) error {
	p := pathsFor(labDir, name)
	// Signals from inside the host must not end it; only the power cut (SIGKILL) does.
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := syscall.Sethostname([]byte(name)); err != nil {
		return err
	}
	r := p.root
	// lowerdir=/ is the root filesystem only, without the mounts on it, so the machine's /run,
	// /tmp, /proc and the lab directory do not show through.
	opts := fmt.Sprintf("lowerdir=/,upperdir=%s,workdir=%s", p.upper, p.work)
	if err := syscall.Mount("lvslab-"+name, r, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay root (%s): %w", opts, err)
	}
	const nosuid, nodev, noexec = syscall.MS_NOSUID, syscall.MS_NODEV, syscall.MS_NOEXEC
	mounts := []struct {
		src, dst, fstype string
		flags            uintptr
		data             string
	}{
		{"proc", "proc", "proc", nosuid | nodev | noexec, ""},
		{"sysfs", "sys", "sysfs", nosuid | nodev | noexec, ""},
		{"/dev", "dev", "", syscall.MS_BIND, ""}, // not MS_REC: pts and shm are the host's own
		{"devpts", "dev/pts", "devpts", nosuid | noexec, "newinstance,ptmxmode=0666,mode=0620,gid=5"},
		{"dev/pts/ptmx", "dev/ptmx", "", syscall.MS_BIND, ""},
		{"shm", "dev/shm", "tmpfs", nosuid | nodev, "mode=1777"},
		{"run", "run", "tmpfs", nosuid | nodev, "mode=0755"},
		{"tmp", "tmp", "tmpfs", nosuid | nodev, "mode=1777"},
	}
	for _, m := range mounts {
		dst := filepath.Join(r, m.dst)
		src := m.src
		if m.flags&syscall.MS_BIND != 0 && !filepath.IsAbs(src) {
			src = filepath.Join(r, src)
		}
		if m.dst != "dev/ptmx" { // a file
			_ = os.MkdirAll(dst, 0o755)
		}
		if err := syscall.Mount(src, dst, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", src, dst, err)
		}
	}
	// The checkout and the lab binary, read-only at their own paths, also when they lie under a
	// mount (a clone in /tmp) that the overlay's lower layer does not show.
	for _, d := range filepath.SplitList(os.Getenv(EnvShared)) {
		if !filepath.IsAbs(d) {
			continue
		}
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			continue
		}
		dst := filepath.Join(r, d)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("share %s: %w", d, err)
		}
		if err := syscall.Mount(d, dst, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("share %s: %w", d, err)
		}
		if err := syscall.Mount("", dst, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("share %s read-only: %w", d, err)
		}
	}
	// pivot_root rather than chroot: the machine's mounts (other hosts' disks among them) leave
	// this mount namespace entirely. pivot_root(".", ".") stacks the old root under the new one.
	if err := syscall.Chdir(r); err != nil {
		return err
	}
	if err := syscall.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := syscall.Unmount(".", syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := syscall.Chdir("/"); err != nil {
		return err
	}
	if err := waitGo(os.NewFile(3, "go"), 2*time.Minute); err != nil {
		return err
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return err
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	start := func(argv ...string) (int, error) {
		pr, err := os.StartProcess(argv[0], argv, &os.ProcAttr{
			Dir:   "/",
			Env:   HostEnv,
			Files: []*os.File{devnull, os.Stdout, os.Stderr},
			Sys:   &syscall.SysProcAttr{Setsid: true},
		})
		if err != nil {
			return 0, err
		}
		pid := pr.Pid
		_ = pr.Release() // reaped below
		return pid, nil
	}
	sshd, err := start("/usr/sbin/sshd", "-D", "-e")
	if err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	if data, err := os.ReadFile(AutostartPath); err == nil {
		for _, c := range autostartCommands(data) {
			if _, err := start("/bin/sh", "-c", c); err != nil {
				fmt.Fprintf(os.Stderr, "lvs-lab host %s: autostart %q: %v\n", name, c, err)
			}
		}
	}
	fmt.Fprintf(os.Stderr, "lvs-lab host %s: up\n", name)
	// As PID 1 this process inherits every orphan of the host. This loop is the host's life: it
	// ends only with SIGKILL (Kill, Down).
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		switch {
		case err == syscall.ECHILD:
			time.Sleep(time.Second)
		case err == nil && pid == sshd:
			fmt.Fprintf(os.Stderr, "lvs-lab host %s: sshd exited: %v\n", name, ws)
		}
	}
}

// waitGo waits for Boot's go-ahead byte on f (the network is plugged). EOF means Boot gave up.
func waitGo(f *os.File, timeout time.Duration) error {
	defer f.Close()
	done := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := io.ReadFull(f, b)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("no go-ahead from Boot: %w", err)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("no go-ahead from Boot within %s", timeout)
	}
}
