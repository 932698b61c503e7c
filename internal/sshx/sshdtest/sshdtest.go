// Package sshdtest runs real OpenSSH servers on 127.0.0.1 for tests, natively: generated keys,
// a private config, a throwaway local user for password and sudo tests. sshx's tests and those
// of the packages that talk SSH through it (agentinstall) share it.
//
// It needs root and /usr/sbin/sshd; without them a test is skipped, or failed where they are
// required (internal/testreq: LVS_NATIVE_REQUIRED=1 in the unit step of `make test`).
package sshdtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx"
	"github.com/lvs-provider/terraform-provider-lvs/internal/testreq"
)

const sshdPath = "/usr/sbin/sshd"

// Require skips the test when it cannot run a real sshd, or fails it where that is required
// (LVS_NATIVE_REQUIRED=1 in the unit step of `make test`, or LVS_LAB_REQUIRED=1).
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		testreq.Missing(t, "needs root to run sshd")
	}
	if _, err := os.Stat(sshdPath); err != nil {
		testreq.Missing(t, sshdPath+" is missing (apt-get install openssh-server)")
	}
}

// KeyPair is a generated key: its signer, public key and private key as PEM.
type KeyPair struct {
	Signer ssh.Signer
	Pub    ssh.PublicKey
	PEM    string
}

// Authorized is the key as an authorized_keys line.
func (k KeyPair) Authorized() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.Pub)))
}

// Must panics on err. Key generation from crypto/rand does not fail in practice; Must keeps the helpers free of t.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func NewEd25519(passphrase string) KeyPair {
	_, priv := must2(ed25519.GenerateKey(rand.Reader))
	return MakeKeyPair(priv, passphrase)
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

func NewECDSA() KeyPair {
	return MakeKeyPair(Must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)), "")
}

func MakeKeyPair(priv any, passphrase string) KeyPair {
	var block *pem.Block
	if passphrase == "" {
		block = Must(ssh.MarshalPrivateKey(priv, ""))
	} else {
		block = Must(ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase)))
	}
	signer := Must(ssh.NewSignerFromKey(priv))
	return KeyPair{Signer: signer, Pub: signer.PublicKey(), PEM: string(pem.EncodeToMemory(block))}
}

// ClientKey is the key every test sshd authorizes for root.
var ClientKey = sync.OnceValue(func() KeyPair { return NewEd25519("") })

// Server is a running sshd.
type Server struct {
	Port       int
	Addr       string      // 127.0.0.1:port
	Ed25519    KeyPair     // host key
	ECDSA      KeyPair     // second host key: x/crypto would prefer it; known_hosts lists Ed25519 only
	KnownHosts string      // a known_hosts file listing the Ed25519 host key
	Cmd        *exec.Cmd   // the listening sshd
	Log        *SyncBuffer // its log (-e)
}

// Start runs sshd on a free loopback port with extra config lines, and stops it at cleanup.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return StartPath(t, "", extra...)
}

// StartPath is Start with binDir first in the sessions' PATH.
//
// Sessions get a private empty HOME: a login shell's rc files (Debian's bash reads ~/.bashrc
// for ssh commands) are the host's business, slow, and leave stale locks behind when the
// test kills the session mid-way.
func StartPath(t testing.TB, binDir string, extra ...string) *Server {
	t.Helper()
	Require(t)
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &Server{Ed25519: NewEd25519(""), ECDSA: NewECDSA()}
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	edPath := write("host_ed25519", s.Ed25519.PEM, 0o600)
	ecPath := write("host_ecdsa", s.ECDSA.PEM, 0o600)
	authPath := write("authorized_keys", ClientKey().Authorized()+"\n", 0o644)
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if binDir != "" {
		path = binDir + ":" + path
	}

	for attempt := 0; ; attempt++ {
		s.Port = FreePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		// extra comes first: sshd keeps the first value of a keyword, so extra may override the
		// defaults below (and must not hold Match blocks).
		cfg := strings.Join(append(append([]string{}, extra...),
			"Port "+strconv.Itoa(s.Port),
			"ListenAddress 127.0.0.1",
			"HostKey "+edPath,
			"HostKey "+ecPath,
			"AuthorizedKeysFile "+authPath,
			"PidFile "+filepath.Join(dir, "sshd.pid"),
			"PermitRootLogin yes",
			"StrictModes no",
			"UsePAM no",
			"PasswordAuthentication yes",
			"KbdInteractiveAuthentication no",
			"LogLevel VERBOSE",
			"SetEnv HOME="+home+" PATH="+path,
		), "\n") + "\n"
		cfgPath := write("sshd_config", cfg, 0o600)
		s.Log = &SyncBuffer{}
		s.Cmd = exec.Command(sshdPath, "-D", "-e", "-f", cfgPath)
		s.Cmd.Stdout, s.Cmd.Stderr = s.Log, s.Log
		if err := s.Cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { s.Cmd.Wait(); close(exited) }()
		if WaitPort(s.Addr, exited) {
			t.Cleanup(func() {
				KillTree(s.Cmd.Process.Pid, syscall.SIGKILL)
				<-exited
				if t.Failed() {
					t.Logf("sshd %s log:\n%s", s.Addr, s.Log.String())
				}
			})
			break
		}
		KillTree(s.Cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if attempt == 4 {
			t.Fatalf("sshd did not start:\n%s", s.Log.String())
		}
	}
	s.KnownHosts = write("known_hosts", knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.Ed25519.Pub)+"\n", 0o600)
	return s
}

// Config returns a Config that reaches s as root with the client key, verified by KnownHosts.
func (s *Server) Config() sshx.Config {
	return sshx.Config{
		Host:           "127.0.0.1",
		Port:           s.Port,
		PrivateKey:     ClientKey().PEM,
		KnownHostsFile: s.KnownHosts,
		Timeout:        10 * time.Second,
	}
}

// KillConnections kills the server side of every connection s serves (its child processes).
func (s *Server) KillConnections(t testing.TB) {
	t.Helper()
	SignalChildren(t, s.Cmd.Process.Pid, syscall.SIGKILL)
}

// SignalChildren signals the Descendants of pid, not pid itself.
func SignalChildren(t testing.TB, pid int, sig syscall.Signal) {
	t.Helper()
	kids := Descendants(pid)
	if len(kids) == 0 {
		t.Fatalf("sshd %d has no connection processes", pid)
	}
	for _, k := range kids {
		syscall.Kill(k, sig)
	}
}

// KillTree kills pid and its Descendants: per-connection sshd processes outlive the listener.
func KillTree(pid int, sig syscall.Signal) {
	kids := Descendants(pid)
	syscall.Kill(pid, sig)
	for _, k := range kids {
		syscall.Kill(k, sig)
	}
}

// Descendants lists the processes below pid, from /proc.
func Descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name is in parentheses and may contain spaces: parse after the last ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitPort reports whether addr accepts connections before the process exits or 10s pass.
func WaitPort(addr string, exited <-chan struct{}) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// StartAgent serves an in-process SSH agent holding keys on a unix socket.
func StartAgent(t testing.TB, keys ...KeyPair) string {
	t.Helper()
	ring := agent.NewKeyring()
	for _, k := range keys {
		priv, err := ssh.ParseRawPrivateKey([]byte(k.PEM))
		if err != nil {
			t.Fatal(err)
		}
		if err := ring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); agent.ServeAgent(ring, c) }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return sock
}

// testUser is a throwaway local user for password and sudo tests, created on first use and
// removed by the package's TestMain (RemoveTestUser). The name carries the pid so that concurrent test processes do not clash.
var (
	testUserOnce sync.Once
	testUserName = fmt.Sprintf("%s%d", testUserPrefix, os.Getpid())
	testUserErr  error
	testUserMade bool
)

const testUserPrefix = "lvssshxtest"

// removeStaleTestUsers deletes the users (and sudoers rules) left by test processes that died
// before TestMain could clean up.
func removeStaleTestUsers() {
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(passwd), "\n") {
		name, _, _ := strings.Cut(line, ":")
		pid, err := strconv.Atoi(strings.TrimPrefix(name, testUserPrefix))
		if !strings.HasPrefix(name, testUserPrefix) || err != nil || pid == os.Getpid() {
			continue
		}
		// A concurrent test process still uses it. Its comm is no guide: the kernel cuts it to 15
		// bytes ("agentinstall.te"), which once made sshx's tests delete agentinstall's user and
		// sudoers rule mid-test. A live pid is enough; a reused one only delays the clean-up.
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue
		}
		exec.Command("userdel", name).Run()
		os.Remove("/etc/sudoers.d/" + name)
	}
}

const TestUserPassword = "Lvs-sshx-test-pw-1"

func RequireTestUser(t testing.TB) string {
	t.Helper()
	Require(t)
	testUserOnce.Do(func() {
		if _, err := exec.LookPath("useradd"); err != nil {
			testUserErr = err
			return
		}
		removeStaleTestUsers()
		out, err := exec.Command("useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", testUserName).CombinedOutput()
		if err != nil {
			testUserErr = fmt.Errorf("useradd: %v: %s", err, out)
			return
		}
		testUserMade = true
		cmd := exec.Command("chpasswd")
		cmd.Stdin = strings.NewReader(testUserName + ":" + TestUserPassword + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			testUserErr = fmt.Errorf("chpasswd: %v: %s", err, out)
		}
	})
	if testUserErr != nil {
		testreq.Missing(t, fmt.Sprintf("cannot create test user: %v", testUserErr))
	}
	return testUserName
}

func RemoveTestUser() {
	if testUserMade {
		exec.Command("userdel", testUserName).Run()
	}
}
