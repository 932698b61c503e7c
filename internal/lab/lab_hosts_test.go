//go:build linux

package lab_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// ssh runs command on addr as user with the system OpenSSH client, verifying the host key
// against the lab's known_hosts.
func ssh(l *lab.Lab, knownHosts, user, addr, command string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ssh", "-F", "/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts,
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=3",
		"-i", l.PrivateKeyPath(), user+"@"+addr, command).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func mustSSH(t *testing.T, l *lab.Lab, user, addr, command string) string {
	t.Helper()
	out, err := ssh(l, l.KnownHostsPath(), user, addr, command)
	if err != nil {
		t.Fatalf("ssh %s@%s %q: %v: %s", user, addr, command, err, out)
	}
	return out
}

// TestLabHostsRealHosts proves what the provider's tests rely on: hosts reached over SSH with
// verified host keys, private files and IPVS tables, a sudo user, and power cuts and reboots.
func TestLabHostsRealHosts(t *testing.T) {
	l := lab.NewForTest(t, lab.DefaultSpec())
	d1, r1 := l.Host("director1"), l.Host("real1")
	if d1 == nil || r1 == nil {
		t.Fatal("default spec lacks director1 or real1")
	}
	ctx := context.Background()

	t.Run("ssh with verified host keys by IPv4 and IPv6", func(t *testing.T) {
		for _, h := range []*lab.Host{d1, r1} {
			for _, addr := range []string{h.IPv4, h.IPv6} {
				if got := mustSSH(t, l, "root", addr, "hostname"); got != h.Name {
					t.Errorf("hostname via %s = %q, want %q", addr, got, h.Name)
				}
			}
		}
		// The same login without the lab's known_hosts must be refused: keys are really checked.
		empty := t.TempDir() + "/known_hosts"
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := ssh(l, empty, "root", d1.IPv4, "true"); err == nil || !strings.Contains(out, "Host key verification failed") {
			t.Errorf("ssh with an empty known_hosts: err=%v out=%q, want host key verification failure", err, out)
		}
	})

	t.Run("root filesystems are private", func(t *testing.T) {
		mustSSH(t, l, "root", d1.IPv4, "echo d1 > /root/private && echo d1 > /etc/lab-private")
		for _, f := range []string{"/root/private", "/etc/lab-private"} {
			if out, err := ssh(l, l.KnownHostsPath(), "root", r1.IPv4, "cat "+f); err == nil {
				t.Errorf("%s written on director1 is visible on real1: %q", f, out)
			}
			if _, err := os.Stat(f); err == nil {
				t.Errorf("%s written on director1 is visible in the admin context", f)
			}
		}
	})

	t.Run("IPVS tables are per host", func(t *testing.T) {
		mustSSH(t, l, "root", d1.IPv4, "ipvsadm -A -t 198.51.100.100:80 -s rr")
		if out := mustSSH(t, l, "root", d1.IPv4, "ipvsadm -Ln"); !strings.Contains(out, "198.51.100.100:80") {
			t.Errorf("director1 table lacks its virtual server:\n%s", out)
		}
		if out := mustSSH(t, l, "root", r1.IPv4, "ipvsadm -Ln"); strings.Contains(out, "198.51.100.100") {
			t.Errorf("real1 sees director1's virtual server:\n%s", out)
		}
		if b, err := os.ReadFile("/proc/net/ip_vs"); err != nil || strings.Contains(string(b), "C6336464") { // 198.51.100.100
			t.Errorf("admin context IPVS table: err=%v\n%s", err, b)
		}
	})

	t.Run("non-root user with passwordless sudo", func(t *testing.T) {
		if got := mustSSH(t, l, lab.SudoUser, r1.IPv6, "id -u; sudo -n id -u"); got != "1001\n0" {
			t.Errorf("id -u; sudo -n id -u = %q, want 1001 then 0", got)
		}
	})

	t.Run("Exec runs inside the host", func(t *testing.T) {
		out, err := r1.Exec(ctx, "sh", "-c", "hostname; ip -o -4 addr show dev eth0")
		if err != nil || !strings.HasPrefix(string(out), "real1\n") || !strings.Contains(string(out), r1.IPv4+"/24") {
			t.Errorf("Exec: err=%v out=%q", err, out)
		}
		// /dev as on a real machine: the provider's upload reads /dev/stdin.
		if out, err := r1.Exec(ctx, "sh", "-c", "echo x | cat /dev/stdin; test -e /dev/fd/1"); err != nil || string(out) != "x\n" {
			t.Errorf("/dev/stdin, /dev/fd: err=%v out=%q", err, out)
		}
	})

	t.Run("Kill cuts the power and Boot brings the host back", func(t *testing.T) {
		mustSSH(t, l, "root", d1.IPv4, "mkdir -p /etc/lvs-lab && echo 'touch /run/autostarted' > "+lab.AutostartPath)
		start := time.Now()
		if err := d1.Kill(); err != nil {
			t.Fatal(err)
		}
		t.Logf("kill: %s", time.Since(start).Round(time.Millisecond))
		if d1.Running() {
			t.Error("director1 still running after Kill")
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(d1.IPv4, "22"), time.Second); err == nil {
			c.Close()
			t.Error("director1:22 still reachable after Kill")
		}
		if _, err := d1.Exec(ctx, "true"); err == nil {
			t.Error("Exec works on a killed host")
		}
		start = time.Now()
		if err := d1.Boot(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("boot: %s", time.Since(start).Round(time.Millisecond))
		// Same host key (StrictHostKeyChecking passes), same disk, fresh kernel state and /run.
		if got := mustSSH(t, l, "root", d1.IPv4, "cat /root/private"); got != "d1" {
			t.Errorf("file on the disk after reboot = %q, want d1", got)
		}
		if out := mustSSH(t, l, "root", d1.IPv4, "ipvsadm -Ln"); strings.Contains(out, "198.51.100.100") {
			t.Errorf("IPVS table survived the power cut:\n%s", out)
		}
		ok := false
		for i := 0; i < 50 && !ok; i++ { // autostart commands run in the background
			_, err := ssh(l, l.KnownHostsPath(), "root", d1.IPv4, "test -e /run/autostarted")
			ok = err == nil
			if !ok {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if !ok {
			t.Error("autostart command did not run after boot")
		}
	})

	// A killed host's TCP connections outlive its processes (orphaned in FIN_WAIT1 while the
	// peer does not answer) and keep its network namespace alive; Kill must still take it off
	// the bridge at once, and Boot must bring it back.
	t.Run("Kill unplugs a host whose connections outlive it", func(t *testing.T) {
		bin := os.Getenv(lab.EnvBin)
		if bin == "" {
			t.Fatalf("%s is not set: lab run sets it", lab.EnvBin)
		}
		r2 := l.Host("real2")
		mustSSH(t, l, "root", r2.IPv4, "setsid "+bin+" serve :8080 real2 </dev/null >/dev/null 2>&1 &")
		mustSSH(t, l, "root", r1.IPv4, "setsid "+bin+" hold http://"+r2.IPv4+":8080/keep 60s </dev/null >/dev/null 2>&1 &")
		waitFor := func(what string, ok func() bool) {
			t.Helper()
			for end := time.Now().Add(10 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(end) {
					t.Fatalf("no %s after 10s", what)
				}
			}
		}
		established := func() bool {
			out, _ := r1.Exec(ctx, "ss", "-Htn", "state", "established", "dst", r2.IPv4)
			return strings.Contains(string(out), r2.IPv4+":8080")
		}
		waitFor("connection from real1 to real2", established)
		if err := r2.Partition(true); err != nil { // real1's FIN will get no answer
			t.Fatal(err)
		}
		defer func() {
			if err := r2.Partition(false); err != nil {
				t.Error(err)
			}
		}()
		start := time.Now()
		if err := r1.Kill(); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		t.Logf("kill with an orphaned connection: %s", took.Round(time.Millisecond))
		if took > 2*time.Second {
			t.Errorf("Kill took %s with a connection left behind, want under 2s", took)
		}
		if _, err := net.InterfaceByName("vh-real1"); err == nil {
			t.Error("real1's veth is still on the bridge after Kill")
		}
		if err := r1.Boot(ctx); err != nil {
			t.Fatal(err)
		}
		mustSSH(t, l, "root", r1.IPv4, "true")
	})

	t.Run("Partition takes the host off the bridge", func(t *testing.T) {
		if err := r1.Partition(true); err != nil {
			t.Fatal(err)
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(r1.IPv4, "22"), time.Second); err == nil {
			c.Close()
			t.Error("real1 reachable while partitioned")
		}
		if err := r1.Partition(false); err != nil {
			t.Fatal(err)
		}
		mustSSH(t, l, "root", r1.IPv4, "true")
	})
}
