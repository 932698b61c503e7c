package sshx

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSudoWrap(t *testing.T) {
	t.Parallel()
	// A stand-in sudo that checks it is called non-interactively and runs the rest.
	bin := t.TempDir()
	fake := "#!/bin/sh\n[ \"$1\" = -n ] && [ \"$2\" = -- ] || { echo \"bad sudo args: $*\" >&2; exit 99; }\nshift 2\nexec \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))

	tests := []string{
		"id -u",
		"echo 'single quotes' \"double\" $((1+2)) | tr a-z A-Z",
		"umask 077 && { printf '%s\\n' \"it's\" > /dev/null && echo ok; } || exit 3",
		`echo \'backslash\' "$HOME" > /dev/null; echo done`,
	}
	for _, cmd := range tests {
		if got := sudoWrap("root", cmd); got != cmd {
			t.Errorf("sudoWrap(root, %q) = %q, want it unchanged", cmd, got)
		}
		wrapped := sudoWrap("deploy", cmd)
		if !strings.HasPrefix(wrapped, "sudo -n -- sh -c ") {
			t.Errorf("sudoWrap(deploy, %q) = %q", cmd, wrapped)
		}
		run := func(script string) string {
			c := exec.Command("/bin/sh", "-c", script)
			c.Env = env
			out, err := c.CombinedOutput()
			if err != nil {
				t.Errorf("%q: %v: %s", script, err, out)
			}
			return string(out)
		}
		if direct, viaSudo := run(cmd), run(wrapped); direct != viaSudo {
			t.Errorf("%q: output %q through sudo, %q directly", cmd, viaSudo, direct)
		}
	}
}

func TestSudoFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		stderr string
		want   error
	}{
		{1, "sudo: a password is required\n", ErrSudoPassword},
		{1, "sudo: a terminal is required to read the password; either use the -S option ...\n", ErrSudoPassword},
		{127, "bash: line 1: sudo: command not found\n", ErrSudoMissing},
		{127, "sh: 1: sudo: not found\n", ErrSudoMissing},
		{1, "cat: /x: Permission denied\n", nil},
		{127, "sh: 1: lvs-agent: not found\n", nil},
	}
	for _, tt := range tests {
		if got := sudoFailure(tt.status, tt.stderr); !errors.Is(got, tt.want) || (tt.want == nil) != (got == nil) {
			t.Errorf("sudoFailure(%d, %q) = %v, want %v", tt.status, tt.stderr, got, tt.want)
		}
	}
}

// TestInvokesSudo: every form in which the provider runs sudo is recognised, so that its failures
// become SudoErrors; commands that only mention sudo are not.
func TestInvokesSudo(t *testing.T) {
	t.Parallel()
	for cmd, want := range map[string]bool{
		"sudo -n -- sh -c 'id -u'":                                  true, // Client.Sudo
		"sudo -n -- /usr/local/sbin/lvs-agent dial-stdio":           true, // agentinstall.DialCommand
		"sudo -n /usr/local/sbin/lvs-agent dial-stdio":              true, // the form it had before
		"sh -c 'set -e\ngzip -dc | sudo -n -- install -D x y'":      true, // the upload
		"sh -c 'set -e\nsudo -n -- mv -f a b'":                      true,
		"sh -c 'if [ -x b ]; then exec sudo -n -- b uninstall; fi'": true,
		"id -u; sudo -n true":                                       true,
		"(sudo -n true)":                                            true,
		"/usr/local/sbin/lvs-agent install":                         false,
		"echo nosudo -n":                                            false,
		"grep sudo /etc/group":                                      false,
		"sh -c 'uname -m; command -v gzip'":                         false,
	} {
		if got := invokesSudo(cmd); got != want {
			t.Errorf("invokesSudo(%q) = %v, want %v", cmd, got, want)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	t.Parallel()
	cause := errors.New("dial tcp 198.51.100.11:22: connect: connection refused")
	tests := []struct {
		err  error
		want []string
	}{
		{&UnreachableError{Addr: "198.51.100.11:22", Err: cause}, []string{"198.51.100.11:22", "connection refused", "firewall"}},
		{&UnreachableError{Addr: "10.0.0.5:22", Via: "root@gw:22", Err: cause}, []string{"through bastion root@gw:22"}},
		{&AuthError{User: "deploy", Addr: "h:22", Methods: []string{"publickey", "agent"}, Allowed: []string{"publickey"}, Err: cause},
			[]string{`"deploy"`, "publickey, agent", "server accepts publickey", "authorized_keys"}},
		{&AuthError{User: "root", Addr: "h:22"}, []string{"tried none"}},
		{&HostKeyMismatchError{Host: "h:22", Fingerprint: "SHA256:new", Want: []string{"SHA256:old"}, Source: "/k"},
			[]string{"MAN-IN-THE-MIDDLE", "SHA256:new", "SHA256:old", "ssh-keygen -R 'h:22' -f /k"}},
		{&HostKeyMismatchError{Host: "h:22", Fingerprint: "SHA256:new", Want: []string{"SHA256:old"}, Source: "host_key"},
			[]string{"update host_key"}},
		{&CommandError{Host: "root@h:22", Cmd: "false", ExitStatus: 1}, []string{`"false"`, "root@h:22", "status 1"}},
		{&CommandError{Host: "root@h:22", Cmd: "sleep 9", ExitStatus: 143, Signal: "TERM"}, []string{"signal TERM"}},
		{&SudoError{User: "deploy", Host: "deploy@h:22", Reason: ErrSudoPassword, Err: &CommandError{}},
			[]string{`"deploy"`, "NOPASSWD", "log in as root"}},
		{&SudoError{User: "deploy", Host: "deploy@h:22", Reason: ErrSudoPassword, Rule: "deploy ALL=(root) NOPASSWD: /x y", Err: &CommandError{}},
			[]string{`"deploy"`, "visudo -f /etc/sudoers.d/lvs): deploy ALL=(root) NOPASSWD: /x y", "log in as root"}},
		{&SudoError{User: "deploy", Host: "deploy@h:22", Reason: ErrSudoMissing, Rule: "deploy ALL=(root) NOPASSWD: /x y", Err: &CommandError{}},
			[]string{"sudo is not installed", "deploy ALL=(root) NOPASSWD: /x y"}},
	}
	for _, tt := range tests {
		msg := tt.err.Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%T message %q lacks %q", tt.err, msg, w)
			}
		}
	}
}

func TestStderrTail(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 5000) + "the end"
	msg := (&CommandError{Cmd: "c", Stderr: long}).Error()
	if !strings.HasSuffix(msg, "the end") || len(msg) > 2200 {
		t.Errorf("long stderr not trimmed to its tail: %d bytes", len(msg))
	}
}
