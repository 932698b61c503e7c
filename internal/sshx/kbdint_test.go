package sshx_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx"
)

// TestKeyboardInteractivePassword: a real sshd with password authentication off and
// keyboard-interactive through PAM (which asks "Password: ") accepts the configured password.
func TestKeyboardInteractivePassword(t *testing.T) {
	t.Parallel()
	user := requireTestUser(t)
	s := startSSHD(t, "UsePAM yes", "KbdInteractiveAuthentication yes", "PasswordAuthentication no")
	cfg := s.Config()
	cfg.User, cfg.PrivateKey, cfg.Password = user, "", testUserPassword
	c := dial(t, cfg)
	out, _, err := c.Run(context.Background(), "id -un", nil)
	if err != nil || strings.TrimSpace(string(out)) != user {
		t.Fatalf("id -un = %q, %v", out, err)
	}
	if log := s.Log.String(); !strings.Contains(log, "Accepted keyboard-interactive/pam for "+user) {
		t.Fatalf("sshd did not accept keyboard-interactive:\n%s", log)
	}
}

type round struct {
	questions []string
	echos     []bool
}

// kbdServer is an SSH server whose only authentication is keyboard-interactive with the given
// rounds, accepting whatever was answered once every round was answered. It records every
// answer it receives. OpenSSH can ask for other things than the password only through PAM
// modules the test machine does not have (and its PAM configuration is shared), so the prompts
// a second factor sends come from this server.
type kbdServer struct {
	addr    string
	hostKey keyPair

	mu      sync.Mutex
	answers []string
}

func startKbdServer(t *testing.T, rounds []round) *kbdServer {
	t.Helper()
	ks := &kbdServer{hostKey: newEd25519("")}
	conf := &ssh.ServerConfig{
		KeyboardInteractiveCallback: func(_ ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			for _, r := range rounds {
				a, err := client("", "", r.questions, r.echos)
				ks.mu.Lock()
				ks.answers = append(ks.answers, a...)
				ks.mu.Unlock()
				if err != nil {
					return nil, err
				}
			}
			return &ssh.Permissions{}, nil
		},
	}
	conf.AddHostKey(ks.hostKey.Signer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ks.addr = l.Addr().String()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				sc, chans, reqs, err := ssh.NewServerConn(c, conf)
				if err != nil {
					return
				}
				go ssh.DiscardRequests(reqs)
				for ch := range chans {
					ch.Reject(ssh.Prohibited, "no sessions here")
				}
				sc.Close()
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return ks
}

func (ks *kbdServer) received() []string {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return append([]string(nil), ks.answers...)
}

// TestKeyboardInteractiveOtherPrompts: keyboard-interactive answers the password prompt only;
// a one-time code or any other prompt fails with an error that says such prompts are not
// supported, and the password is never given to them.
func TestKeyboardInteractiveOtherPrompts(t *testing.T) {
	t.Parallel()
	const pw = "kbd-secret-never-for-otp"
	hidden := []bool{false}
	tests := []struct {
		name   string
		rounds []round
		ok     bool
		want   []string // answers the server may see
	}{
		{name: "password prompt", rounds: []round{{[]string{"Password: "}, hidden}}, ok: true, want: []string{pw}},
		{name: "sshd's password prompt", rounds: []round{{[]string{"deploy@h's password: "}, hidden}}, ok: true, want: []string{pw}},
		{name: "instructions only, then the password", rounds: []round{{nil, nil}, {[]string{"Password:"}, hidden}}, ok: true, want: []string{pw}},
		{name: "verification code", rounds: []round{{[]string{"Verification code: "}, hidden}}},
		{name: "one-time password", rounds: []round{{[]string{"One-time password (OATH) for `deploy': "}, hidden}}},
		{name: "OTP", rounds: []round{{[]string{"OTP: "}, hidden}}},
		{name: "password and code at once", rounds: []round{{[]string{"Password: ", "Verification code: "}, []bool{false, false}}}},
		{name: "code after the password", rounds: []round{{[]string{"Password: "}, hidden}, {[]string{"Verification code: "}, hidden}},
			want: []string{pw}},
		{name: "new password", rounds: []round{{[]string{"New password: "}, hidden}}},
		{name: "echoed prompt", rounds: []round{{[]string{"Password: "}, []bool{true}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ks := startKbdServer(t, tt.rounds)
			host, port, err := net.SplitHostPort(ks.addr)
			if err != nil {
				t.Fatal(err)
			}
			cfg := sshx.Config{Host: host, User: "deploy", Password: pw, HostKey: ks.hostKey.Authorized(), Timeout: 10 * time.Second}
			if cfg.Port, err = strconv.Atoi(port); err != nil {
				t.Fatal(err)
			}
			c, err := sshx.Dial(context.Background(), cfg)
			if c != nil {
				c.Close()
			}
			if got := ks.received(); strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") {
				t.Errorf("server received answers %q, want %q", got, tt.want)
			}
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var authErr *sshx.AuthError
			var promptErr *sshx.PromptError
			if !errors.As(err, &authErr) || !errors.As(err, &promptErr) {
				t.Fatalf("err = %v (%T), want *AuthError wrapping *PromptError", err, err)
			}
			last := tt.rounds[len(tt.rounds)-1].questions
			for _, w := range []string{"keyboard-interactive prompts other than the password are not supported", strings.TrimSpace(last[len(last)-1]), `"deploy"`, ks.addr} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("message shows the password: %v", err)
			}
		})
	}
}
