package sshx

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// UnreachableError means no SSH server could be reached at Addr: the TCP connection was refused
// or timed out, the bastion could not open a channel to it, or the SSH handshake never finished.
type UnreachableError struct {
	Addr string // host:port that was dialled
	Via  string // Key of the bastion the connection went through, if any
	Err  error
}

func (e *UnreachableError) Error() string {
	via := ""
	if e.Via != "" {
		via = " through bastion " + e.Via
	}
	return fmt.Sprintf("cannot reach SSH server at %s%s: %v; check the host address and port, "+
		"that sshd is running there and that no firewall blocks the port", e.Addr, via, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// AuthError means the server refused every authentication method that was offered.
type AuthError struct {
	User    string
	Addr    string
	Methods []string // methods offered by the client: "publickey" (private_key), "agent", "password"
	Allowed []string // methods the server said it accepts, when known
	Err     error
}

func (e *AuthError) Error() string {
	var prompt *PromptError
	if errors.As(e.Err, &prompt) {
		return fmt.Sprintf("SSH authentication as %q on %s failed: %v", e.User, e.Addr, prompt)
	}
	tried := "none (configure private_key, password or the SSH agent)"
	if len(e.Methods) > 0 {
		tried = strings.Join(e.Methods, ", ")
	}
	allowed := ""
	if len(e.Allowed) > 0 {
		allowed = "; the server accepts " + strings.Join(e.Allowed, ", ")
	}
	return fmt.Sprintf("SSH authentication as %q on %s failed (tried %s%s): check the user name, "+
		"that the public key is in that user's ~/.ssh/authorized_keys on the host (or loaded in the "+
		"SSH agent) and the password; underlying error: %v", e.User, e.Addr, tried, allowed, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// PromptError means the server asked, through keyboard-interactive authentication, for something
// other than the password: a one-time code, a verification code, several answers at once. The
// provider answers only the password prompt; the password was not sent to these prompts. An
// [AuthError] wraps it.
type PromptError struct {
	Prompts     []string // what the server asked
	Instruction string   // the instruction text it sent with them, if any
}

func (e *PromptError) Error() string {
	q := make([]string, len(e.Prompts))
	for i, p := range e.Prompts {
		q[i] = strconv.Quote(strings.TrimSpace(p))
	}
	return fmt.Sprintf("the server asked %s through keyboard-interactive authentication; keyboard-interactive "+
		"prompts other than the password are not supported (one-time codes and other second factors "+
		"included), and the password is given to no other prompt: use private_key or the SSH agent, or "+
		"a login that asks for the password only", strings.Join(q, ", "))
}

// UnknownHostKeyError means the host is not in the known_hosts file. No connection was made.
type UnknownHostKeyError struct {
	Host           string // host:port as dialled
	Fingerprint    string // SHA256 fingerprint of the key the server presented
	KeyType        string // e.g. "ssh-ed25519"
	PublicKey      string // the presented key in authorized_keys format, for host_key pinning
	KnownHostsFile string
	Line           string // the known_hosts line (knownhosts.Line format) that would trust this key
}

func (e *UnknownHostKeyError) Error() string {
	return fmt.Sprintf("host key of %s is unknown: it is not in %s. The server presented %s key %s. "+
		"Verify that fingerprint out of band (on the host: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), "+
		"then append this line to %s (create the file if needed):\n%s\n"+
		"or pin the key with host_key = %q in the provider's ssh settings",
		e.Host, e.KnownHostsFile, e.KeyType, e.Fingerprint, e.KnownHostsFile, e.Line, e.PublicKey)
}

// HostKeyMismatchError means the host presented a key other than the expected one(s): either the
// host was reinstalled or someone is intercepting the connection. No connection was made.
type HostKeyMismatchError struct {
	Host        string   // host:port as dialled
	Fingerprint string   // SHA256 fingerprint of the key the server presented
	Want        []string // SHA256 fingerprints that were expected
	Source      string   // where the expected keys come from: a known_hosts path or "host_key"
	// SkipIgnored: insecure_skip_host_key_verification was set too, and the pin won over it.
	SkipIgnored bool
}

func (e *HostKeyMismatchError) Error() string {
	fix := fmt.Sprintf("remove the old entry (ssh-keygen -R '%s' -f %s) and add the new key", e.Host, e.Source)
	if e.Source == "host_key" {
		fix = "update host_key in the provider's ssh settings"
	}
	note := ""
	if e.SkipIgnored {
		note = " (insecure_skip_host_key_verification is set, but a pinned host_key is always checked)"
	}
	return fmt.Sprintf("WARNING: HOST KEY MISMATCH for %s — POSSIBLE MAN-IN-THE-MIDDLE ATTACK. "+
		"The server presented %s but %s expects %s%s. Refusing to connect. If the host was "+
		"legitimately reinstalled, verify the new fingerprint out of band, then %s",
		e.Host, e.Fingerprint, e.Source, strings.Join(e.Want, " or "), note, fix)
}

// CommandError means a remote command ran but did not succeed.
type CommandError struct {
	Host       string // Key of the connection
	Cmd        string
	ExitStatus int    // -1 when the server sent none
	Signal     string // set when the command was killed by a signal, e.g. "KILL"
	Stderr     string
}

func (e *CommandError) Error() string {
	how := fmt.Sprintf("exited with status %d", e.ExitStatus)
	switch {
	case e.Signal != "":
		how = "was killed by signal " + e.Signal
	case e.ExitStatus < 0:
		how = "ended without an exit status"
	}
	msg := fmt.Sprintf("command %q on %s %s", e.Cmd, e.Host, how)
	if s := tail(strings.TrimSpace(e.Stderr), 2048); s != "" {
		msg += ": " + s
	}
	return msg
}

// ErrSudoPassword matches (errors.Is) a [SudoError] caused by sudo asking for a password.
var ErrSudoPassword = errors.New("sudo requires a password")

// ErrSudoMissing matches (errors.Is) a [SudoError] caused by sudo not being installed.
var ErrSudoMissing = errors.New("sudo is not installed")

// SudoError means a command that runs `sudo -n` (as [Client.Sudo] makes it, or anywhere in a
// command line) could not gain root: sudo wants a password, which with -n is also how it refuses
// a command no rule allows, or is not installed.
type SudoError struct {
	User   string
	Host   string
	Reason error // ErrSudoPassword or ErrSudoMissing
	// Rule is the sudoers rule the caller needs, quoted in the message; set by the caller that
	// knows its commands (agentinstall.SudoersRule). Empty: the message asks for NOPASSWD for
	// the command.
	Rule string
	Err  *CommandError
}

func (e *SudoError) Error() string {
	rule := fmt.Sprintf("a NOPASSWD sudo rule for %s that allows the command", e.User)
	if e.Rule != "" {
		rule = fmt.Sprintf("this sudoers rule (visudo -f /etc/sudoers.d/lvs): %s", e.Rule)
	}
	if errors.Is(e.Reason, ErrSudoMissing) {
		return fmt.Sprintf("user %q on %s is not root and sudo is not installed there; install sudo "+
			"and add %s, or log in as root: %v", e.User, e.Host, rule, e.Err)
	}
	return fmt.Sprintf("user %q cannot run the command through sudo without a password on %s "+
		"(sudo -n refused it: no NOPASSWD rule allows it); add %s, or log in as root: %v",
		e.User, e.Host, rule, e.Err)
}

func (e *SudoError) Is(target error) bool { return target == e.Reason }
func (e *SudoError) Unwrap() error        { return e.Err }

// sudoFailure recognises sudo's own failure messages. sudo reports these only as text on stderr
// (exit status 1, like any failing command), so matching its words is the only way to tell them
// apart; keep every such match here.
func sudoFailure(exitStatus int, stderr string) error {
	switch {
	case strings.Contains(stderr, "sudo: a password is required"),
		strings.Contains(stderr, "sudo: a terminal is required"),
		strings.Contains(stderr, "sudo: no tty present"):
		return ErrSudoPassword
	case exitStatus == 127 && (strings.Contains(stderr, "sudo: not found") ||
		strings.Contains(stderr, "sudo: command not found")):
		return ErrSudoMissing
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
