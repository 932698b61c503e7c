package sshx_test

import (
	"context"
	"errors"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx"
	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx/sshdtest"
)

func TestKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  sshx.Config
		want string
	}{
		{sshx.Config{Host: "198.51.100.11"}, "root@198.51.100.11:22"},
		{sshx.Config{Host: "2001:db8::1", Port: 2222, User: "deploy"}, "deploy@[2001:db8::1]:2222"},
		{sshx.Config{Host: "198.51.100.11", Bastion: &sshx.Config{Host: "gw", User: "jump",
			Bastion: &sshx.Config{Host: "outer"}}}, "root@198.51.100.11:22 via jump@gw:22 via root@outer:22"},
	}
	for _, tt := range tests {
		if got := tt.cfg.Key(); got != tt.want {
			t.Errorf("Key() = %q, want %q", got, tt.want)
		}
	}
}

// dialRun dials cfg, runs a trivial command and closes.
func dialRun(t *testing.T, cfg sshx.Config) error {
	t.Helper()
	c, err := sshx.Dial(context.Background(), cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	out, _, err := c.Run(context.Background(), "echo ok", nil)
	if err != nil {
		t.Fatalf("Run after a successful dial: %v", err)
	}
	if string(out) != "ok\n" {
		t.Fatalf("Run output %q", out)
	}
	return nil
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s := startSSHD(t)
	const passphrase = "correct horse"
	encrypted := sshdtest.MakeKeyPair(sshdtest.Must(ssh.ParseRawPrivateKey([]byte(clientKey().PEM))), passphrase)
	stranger := newEd25519("")
	goodAgent := startAgent(t, clientKey())
	strangerAgent := startAgent(t, stranger)
	emptyAgent := startAgent(t)

	tests := []struct {
		name    string
		edit    func(*sshx.Config)
		methods []string // want an *AuthError with these methods; nil: want success
		errText string   // want a non-auth error containing this
	}{
		{name: "private key", edit: func(c *sshx.Config) {}},
		{name: "encrypted key with passphrase", edit: func(c *sshx.Config) {
			c.PrivateKey, c.PrivateKeyPassphrase = encrypted.PEM, passphrase
		}},
		{name: "encrypted key without passphrase", edit: func(c *sshx.Config) { c.PrivateKey = encrypted.PEM },
			errText: "set private_key_passphrase"},
		{name: "agent", edit: func(c *sshx.Config) { c.PrivateKey, c.UseAgent, c.AgentSocket = "", true, goodAgent }},
		{name: "agent key tried after a refused private key", edit: func(c *sshx.Config) {
			c.PrivateKey, c.UseAgent, c.AgentSocket = stranger.PEM, true, goodAgent
		}},
		{name: "private key tried besides a refused agent key", edit: func(c *sshx.Config) {
			c.UseAgent, c.AgentSocket = true, strangerAgent
		}},
		{name: "refused key", edit: func(c *sshx.Config) { c.PrivateKey = stranger.PEM },
			methods: []string{"publickey"}},
		{name: "refused agent", edit: func(c *sshx.Config) { c.PrivateKey, c.UseAgent, c.AgentSocket = "", true, strangerAgent },
			methods: []string{"agent"}},
		{name: "wrong root password", edit: func(c *sshx.Config) { c.PrivateKey, c.Password = "", "not-the-password" },
			methods: []string{"password"}},
		{name: "everything refused", edit: func(c *sshx.Config) {
			c.PrivateKey, c.UseAgent, c.AgentSocket, c.Password = stranger.PEM, true, strangerAgent, "nope"
		}, methods: []string{"publickey", "agent", "password"}},
		{name: "unknown user", edit: func(c *sshx.Config) { c.User = "lvs-no-such-user" },
			methods: []string{"publickey"}},
		{name: "empty agent", edit: func(c *sshx.Config) { c.PrivateKey, c.UseAgent, c.AgentSocket = "", true, emptyAgent },
			errText: "holds no keys"},
		{name: "agent socket missing", edit: func(c *sshx.Config) {
			c.PrivateKey, c.UseAgent, c.AgentSocket = "", true, filepath.Join(t.TempDir(), "none.sock")
		}, errText: "cannot connect to the SSH agent"},
		{name: "no method", edit: func(c *sshx.Config) { c.PrivateKey = "" }, errText: "no SSH authentication configured"},
		{name: "key is a path", edit: func(c *sshx.Config) { c.PrivateKey = "~/.ssh/id_ed25519" }, errText: "cannot be parsed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := s.Config()
			tt.edit(&cfg)
			err := dialRun(t, cfg)
			var authErr *sshx.AuthError
			switch {
			case tt.errText != "":
				if err == nil || !strings.Contains(err.Error(), tt.errText) || errors.As(err, &authErr) {
					t.Fatalf("err = %v, want a configuration error containing %q", err, tt.errText)
				}
			case tt.methods == nil:
				if err != nil {
					t.Fatal(err)
				}
			default:
				if !errors.As(err, &authErr) {
					t.Fatalf("err = %v (%T), want *AuthError", err, err)
				}
				user := cmpOr(cfg.User, "root")
				if authErr.User != user || !slices.Equal(authErr.Methods, tt.methods) {
					t.Errorf("AuthError user %q methods %q, want %q %q", authErr.User, authErr.Methods, user, tt.methods)
				}
				if !slices.Contains(authErr.Allowed, "publickey") {
					t.Errorf("AuthError.Allowed = %q, want the server's methods", authErr.Allowed)
				}
				msg := err.Error()
				for _, w := range append([]string{`"` + user + `"`, s.Addr, "authorized_keys"}, tt.methods...) {
					if !strings.Contains(msg, w) {
						t.Errorf("message %q lacks %q", msg, w)
					}
				}
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestPasswordAuth(t *testing.T) {
	t.Parallel()
	user := requireTestUser(t)
	s := startSSHD(t)
	cfg := s.Config()
	cfg.User, cfg.PrivateKey, cfg.Password = user, "", testUserPassword

	c, err := sshx.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, _, err := c.Run(context.Background(), "id -un", nil)
	if err != nil || strings.TrimSpace(string(out)) != user || c.User() != user {
		t.Fatalf("id -un = %q, %v; User() = %q; want %q", out, err, c.User(), user)
	}

	cfg.Password = "wrong"
	var authErr *sshx.AuthError
	if err := dialRun(t, cfg); !errors.As(err, &authErr) || !slices.Equal(authErr.Methods, []string{"password"}) {
		t.Fatalf("wrong password: err = %v, want *AuthError for password", err)
	}
}

func TestHostKeyVerification(t *testing.T) {
	t.Parallel()
	s := startSSHD(t)
	dir := t.TempDir()
	file := func(name string, lines ...string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	host := knownhosts.Normalize(s.Addr)
	impostor := newEd25519("")
	unknownFile := file("unknown", "# nothing yet")
	mismatchFile := file("mismatch", knownhosts.Line([]string{host}, impostor.Pub))
	otherPortFile := file("other-port", knownhosts.Line([]string{"[127.0.0.1]:1"}, s.Ed25519.Pub))
	ecdsaFile := file("ecdsa", knownhosts.Line([]string{host}, s.ECDSA.Pub))
	missing := filepath.Join(dir, "missing")

	type want int
	const (
		ok want = iota
		unknown
		mismatch
		configErr
	)
	tests := []struct {
		name string
		edit func(*sshx.Config)
		want want
		// for unknown: the key the server shows (Ed25519 first, as OpenSSH prefers)
		seen keyPair
		file string
	}{
		{name: "known_hosts lists the Ed25519 key", edit: func(c *sshx.Config) {}},
		{name: "known_hosts lists only the ECDSA key", edit: func(c *sshx.Config) { c.KnownHostsFile = ecdsaFile }},
		{name: "unknown host", edit: func(c *sshx.Config) { c.KnownHostsFile = unknownFile },
			want: unknown, seen: s.Ed25519, file: unknownFile},
		{name: "known under another port only", edit: func(c *sshx.Config) { c.KnownHostsFile = otherPortFile },
			want: unknown, seen: s.Ed25519, file: otherPortFile},
		{name: "missing known_hosts file", edit: func(c *sshx.Config) { c.KnownHostsFile = missing },
			want: unknown, seen: s.Ed25519, file: missing},
		{name: "known_hosts mismatch", edit: func(c *sshx.Config) { c.KnownHostsFile = mismatchFile }, want: mismatch},
		{name: "pinned Ed25519", edit: func(c *sshx.Config) { c.HostKey, c.KnownHostsFile = s.Ed25519.Authorized(), missing }},
		{name: "pinned ECDSA", edit: func(c *sshx.Config) { c.HostKey, c.KnownHostsFile = s.ECDSA.Authorized(), missing }},
		{name: "pinned list", edit: func(c *sshx.Config) {
			c.HostKey = impostor.Authorized() + "\n" + s.Ed25519.Authorized() + "\n"
		}},
		{name: "pin overrides a mismatching known_hosts", edit: func(c *sshx.Config) {
			c.HostKey, c.KnownHostsFile = s.Ed25519.Authorized(), mismatchFile
		}},
		{name: "pinned wrong key", edit: func(c *sshx.Config) { c.HostKey = impostor.Authorized() }, want: mismatch},
		{name: "pin is not a key", edit: func(c *sshx.Config) { c.HostKey = "SHA256:abc" }, want: configErr},
		{name: "insecure skip", edit: func(c *sshx.Config) {
			c.InsecureSkipHostKeyVerification, c.KnownHostsFile = true, mismatchFile
		}},
		// A pin always wins: skipping verification must not accept a key the pin rejects.
		{name: "insecure skip with a wrong pin", edit: func(c *sshx.Config) {
			c.InsecureSkipHostKeyVerification, c.HostKey = true, impostor.Authorized()
		}, want: mismatch},
		{name: "insecure skip with the right pin", edit: func(c *sshx.Config) {
			c.InsecureSkipHostKeyVerification, c.HostKey, c.KnownHostsFile = true, s.Ed25519.Authorized(), mismatchFile
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := s.Config()
			tt.edit(&cfg)
			err := dialRun(t, cfg)
			var unknownErr *sshx.UnknownHostKeyError
			var mismatchErr *sshx.HostKeyMismatchError
			switch tt.want {
			case ok:
				if err != nil {
					t.Fatal(err)
				}
			case unknown:
				if !errors.As(err, &unknownErr) {
					t.Fatalf("err = %v (%T), want *UnknownHostKeyError", err, err)
				}
				wantLine := knownhosts.Line([]string{host}, tt.seen.Pub)
				if unknownErr.Fingerprint != ssh.FingerprintSHA256(tt.seen.Pub) || unknownErr.Line != wantLine ||
					unknownErr.KnownHostsFile != tt.file || unknownErr.Host != s.Addr ||
					unknownErr.PublicKey != tt.seen.Authorized() {
					t.Fatalf("got %+v, want fingerprint %s line %q file %s",
						unknownErr, ssh.FingerprintSHA256(tt.seen.Pub), wantLine, tt.file)
				}
				for _, w := range []string{unknownErr.Fingerprint, wantLine, tt.file, "host_key"} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("message lacks %q:\n%v", w, err)
					}
				}
			case mismatch:
				if !errors.As(err, &mismatchErr) {
					t.Fatalf("err = %v (%T), want *HostKeyMismatchError", err, err)
				}
				if !slices.Contains([]string{ssh.FingerprintSHA256(s.Ed25519.Pub), ssh.FingerprintSHA256(s.ECDSA.Pub)}, mismatchErr.Fingerprint) ||
					!slices.Equal(mismatchErr.Want, []string{ssh.FingerprintSHA256(impostor.Pub)}) {
					t.Fatalf("got %+v", mismatchErr)
				}
				for _, w := range []string{"MAN-IN-THE-MIDDLE", s.Addr, mismatchErr.Fingerprint, mismatchErr.Want[0]} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("message lacks %q: %v", w, err)
					}
				}
				if skip := cfg.InsecureSkipHostKeyVerification; mismatchErr.SkipIgnored != skip ||
					strings.Contains(err.Error(), "insecure_skip_host_key_verification is set") != skip {
					t.Errorf("skip set: %v, but SkipIgnored = %v in %v", skip, mismatchErr.SkipIgnored, err)
				}
			case configErr:
				if err == nil || errors.As(err, &mismatchErr) || !strings.Contains(err.Error(), "host_key") {
					t.Fatalf("err = %v, want a host_key configuration error", err)
				}
			}
		})
	}
}

// The line an UnknownHostKeyError proposes is exactly what makes the next dial succeed.
func TestUnknownHostKeyLineWorks(t *testing.T) {
	t.Parallel()
	s := startSSHD(t)
	cfg := s.Config()
	cfg.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts")
	err := dialRun(t, cfg)
	var unknownErr *sshx.UnknownHostKeyError
	if !errors.As(err, &unknownErr) {
		t.Fatalf("err = %v, want *UnknownHostKeyError", err)
	}
	if err := os.WriteFile(unknownErr.KnownHostsFile, []byte(unknownErr.Line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := dialRun(t, cfg); err != nil {
		t.Fatalf("with the proposed line: %v", err)
	}
	cfg.KnownHostsFile = filepath.Join(t.TempDir(), "none")
	cfg.HostKey = unknownErr.PublicKey
	if err := dialRun(t, cfg); err != nil {
		t.Fatalf("with the proposed host_key: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	requireSSHD(t)
	closedPort := freePort(t)

	// A listener that accepts and never speaks: the handshake must time out.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	silentPort := silent.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name string
		port int
		want string
	}{
		{"connection refused", closedPort, "connection refused"},
		{"handshake timeout", silentPort, "did not finish within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := sshx.Config{Host: "127.0.0.1", Port: tt.port, PrivateKey: clientKey().PEM,
				InsecureSkipHostKeyVerification: true, Timeout: 300 * time.Millisecond}
			start := time.Now()
			_, err := sshx.Dial(context.Background(), cfg)
			var unreachable *sshx.UnreachableError
			if !errors.As(err, &unreachable) {
				t.Fatalf("err = %v (%T), want *UnreachableError", err, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			if addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tt.port)); unreachable.Addr != addr ||
				!strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want address %s and %q", err, addr, tt.want)
			}
		})
	}

	t.Run("cancelled context", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		cfg := sshx.Config{Host: "127.0.0.1", Port: silentPort, PrivateKey: clientKey().PEM,
			InsecureSkipHostKeyVerification: true}
		start := time.Now()
		_, err := sshx.Dial(ctx, cfg)
		if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
			t.Fatalf("err = %v after %v, want context.Canceled promptly", err, time.Since(start))
		}
	})
}

func TestBastion(t *testing.T) {
	t.Parallel()
	target := startSSHD(t)
	other := startSSHD(t)
	// The bastion may only forward to the target: reaching other through it must fail.
	bastion := startSSHD(t, "PermitOpen "+target.Addr)

	viaBastion := func(s *sshd) sshx.Config {
		cfg := s.Config()
		b := bastion.Config()
		cfg.Bastion = &b
		return cfg
	}

	t.Run("reaches the target", func(t *testing.T) {
		c, err := sshx.Dial(context.Background(), viaBastion(target))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, _, err := c.Run(context.Background(), "true", nil); err != nil {
			t.Fatal(err)
		}
		// The connection runs inside the bastion's: killing the bastion side ends it.
		bastion.KillConnections(t)
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("target connection survived the bastion connection")
		}
	})

	t.Run("bastion refuses to forward", func(t *testing.T) {
		_, err := sshx.Dial(context.Background(), viaBastion(other))
		var unreachable *sshx.UnreachableError
		if !errors.As(err, &unreachable) || unreachable.Via != bastion.Config().Key() ||
			!strings.Contains(err.Error(), "through bastion") {
			t.Fatalf("err = %v, want *UnreachableError via the bastion", err)
		}
	})

	t.Run("target host key is checked with the target's settings", func(t *testing.T) {
		cfg := viaBastion(target)
		cfg.HostKey = newEd25519("").Authorized()
		var mismatch *sshx.HostKeyMismatchError
		if err := dialRun(t, cfg); !errors.As(err, &mismatch) || mismatch.Host != target.Addr {
			t.Fatalf("err = %v, want *HostKeyMismatchError for the target", err)
		}
	})

	t.Run("bastion host key is checked with the bastion's settings", func(t *testing.T) {
		cfg := viaBastion(target)
		cfg.Bastion.KnownHostsFile = target.KnownHosts // lists another host
		var unknown *sshx.UnknownHostKeyError
		if err := dialRun(t, cfg); !errors.As(err, &unknown) || unknown.Host != bastion.Addr {
			t.Fatalf("err = %v, want *UnknownHostKeyError for the bastion", err)
		}
	})

	t.Run("insecure skip of the target does not reach the bastion", func(t *testing.T) {
		cfg := viaBastion(target)
		cfg.InsecureSkipHostKeyVerification = true
		cfg.Bastion.KnownHostsFile = target.KnownHosts // lists another host
		var unknown *sshx.UnknownHostKeyError
		if err := dialRun(t, cfg); !errors.As(err, &unknown) || unknown.Host != bastion.Addr {
			t.Fatalf("err = %v, want *UnknownHostKeyError for the bastion", err)
		}
		cfg.Bastion.InsecureSkipHostKeyVerification = true // the bastion's own setting
		if err := dialRun(t, cfg); err != nil {
			t.Fatalf("with skip set for the bastion itself: %v", err)
		}
	})

	t.Run("pool shares the bastion", func(t *testing.T) {
		p := sshx.NewPool()
		defer p.Close()
		for range 3 {
			c, err := p.Get(context.Background(), viaBastion(target))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Run(context.Background(), "true", nil); err != nil {
				t.Fatal(err)
			}
		}
		b := bastion.Config()
		want := map[string]int{b.Key(): 1, viaBastion(target).Key(): 1}
		if got := p.DialsByKey(); !maps.Equal(got, want) {
			t.Fatalf("DialsByKey = %v, want %v", got, want)
		}
	})
}

func TestKeepAliveDetectsSilentServer(t *testing.T) {
	t.Parallel()
	s := startSSHD(t)
	cfg := s.Config()
	cfg.KeepAlive = 100 * time.Millisecond
	c, err := sshx.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Freeze the server side: TCP stays up, nothing answers.
	signalChildren(t, s.Cmd.Process.Pid, syscall.SIGSTOP)
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client still alive 5s after the server stopped answering")
	}
	_, _, err = c.Run(context.Background(), "true", nil)
	if err == nil || !strings.Contains(err.Error(), "keepalive") {
		t.Fatalf("Run on the dead client: %v, want an error naming the keepalives", err)
	}
}
