package sshx

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Defaults applied to zero fields of a [Config].
const (
	DefaultPort           = 22
	DefaultUser           = "root"
	DefaultKnownHostsFile = "~/.ssh/known_hosts"
	DefaultTimeout        = 30 * time.Second
	DefaultKeepAlive      = 15 * time.Second
	DefaultMaxSessions    = 10 // OpenSSH's MaxSessions default
)

// keepAliveCountMax is how many keepalive intervals an answer may be outstanding before the
// connection is declared dead (OpenSSH's ServerAliveCountMax default).
const keepAliveCountMax = 3

// Config says how to reach one host. The zero value of each field means its default.
type Config struct {
	Host string
	Port int    // default 22
	User string // default "root"; other users run commands through sudo -n (see Client.Sudo)

	PrivateKey           string // PEM text (OpenSSH, PKCS#1/#8, ...)
	PrivateKeyPassphrase string
	Password             string // also answers a keyboard-interactive password prompt, and no other prompt
	UseAgent             bool   // use the keys of the SSH agent
	AgentSocket          string // agent socket; default $SSH_AUTH_SOCK

	// KnownHostsFile is checked for the host key; default ~/.ssh/known_hosts.
	KnownHostsFile string
	// HostKey pins the host key(s), in authorized_keys format ("ssh-ed25519 AAAA..."), one per
	// line. When set it is checked instead of KnownHostsFile, and always: a pin wins over
	// InsecureSkipHostKeyVerification.
	HostKey string
	// InsecureSkipHostKeyVerification accepts any host key when no HostKey is pinned. Anyone on
	// the path can then impersonate the host; it exists for throwaway labs only. It applies to
	// this hop only: a Bastion has its own.
	InsecureSkipHostKeyVerification bool

	// Bastion, when set, is the jump host: the connection to Host is tunnelled through the
	// bastion's SSH connection, and each hop uses its own auth and host-key settings (nothing of
	// this Config, its password included, is offered to the bastion).
	Bastion *Config

	Timeout   time.Duration // TCP connect + SSH handshake deadline; default 30s
	KeepAlive time.Duration // keepalive@openssh.com interval; default 15s; negative disables
	// MaxSessions bounds the sessions open at once on the connection (sshd refuses more than
	// its MaxSessions, default 10); extra Run/Stream calls wait. Default 10.
	MaxSessions int
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.User == "" {
		c.User = DefaultUser
	}
	if c.KnownHostsFile == "" {
		c.KnownHostsFile = DefaultKnownHostsFile
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	return c
}

func (c Config) addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// Key identifies the connection c describes: user@host:port, followed by " via " and the
// bastion's Key when there is one. A [Pool] keeps one connection per Key.
func (c Config) Key() string {
	c = c.withDefaults()
	k := c.User + "@" + c.addr()
	if c.Bastion != nil {
		k += " via " + c.Bastion.Key()
	}
	return k
}

func (c Config) validate() error {
	if c.Host == "" {
		return errors.New("ssh host is empty")
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("ssh port %d of %s is out of range 1-65535", c.Port, c.Host)
	}
	return nil
}

// authMethods builds the client auth methods from c and returns the names tried, for messages.
// The returned closer releases the agent connection; call it once the handshake is over.
func (c Config) authMethods() (methods []ssh.AuthMethod, names []string, closer func(), err error) {
	closer = func() {}
	// x/crypto tries each method name once, so the private key and the agent's keys must share
	// one "publickey" method or the second source would never be offered.
	var signers []ssh.Signer
	if c.PrivateKey != "" {
		var s ssh.Signer
		if c.PrivateKeyPassphrase != "" {
			s, err = ssh.ParsePrivateKeyWithPassphrase([]byte(c.PrivateKey), []byte(c.PrivateKeyPassphrase))
		} else {
			s, err = ssh.ParsePrivateKey([]byte(c.PrivateKey))
		}
		var missing *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &missing):
			return nil, nil, closer, fmt.Errorf("private_key for %s is encrypted: set private_key_passphrase", c.Key())
		case err != nil:
			return nil, nil, closer, fmt.Errorf("private_key for %s cannot be parsed (want PEM text, not a path): %w", c.Key(), err)
		}
		signers = append(signers, s)
		names = append(names, "publickey")
	}
	if c.UseAgent {
		agentSigners, close, err := agentSigners(c.AgentSocket)
		if err != nil {
			return nil, nil, closer, fmt.Errorf("use_agent for %s: %w", c.Key(), err)
		}
		closer = close
		signers = append(signers, agentSigners...)
		names = append(names, "agent")
		if len(agentSigners) == 0 && c.PrivateKey == "" && c.Password == "" {
			closer()
			return nil, nil, func() {}, fmt.Errorf("use_agent for %s: the SSH agent holds no keys; add one with ssh-add or configure private_key", c.Key())
		}
	}
	if len(signers) > 0 {
		methods = append(methods, ssh.PublicKeys(signers...))
	}
	if c.Password != "" {
		pw := c.Password
		// Servers with PasswordAuthentication off often still ask for the password through
		// keyboard-interactive; only that prompt is answered (see passwordChallenge).
		methods = append(methods, ssh.Password(pw), ssh.KeyboardInteractive(passwordChallenge(pw)))
		names = append(names, "password")
	}
	if len(methods) == 0 {
		closer()
		return nil, nil, func() {}, fmt.Errorf("no SSH authentication configured for %s: set private_key, password or use the SSH agent", c.Key())
	}
	return methods, names, closer, nil
}

// passwordChallenge answers keyboard-interactive rounds that ask for the password and nothing
// else: one hidden prompt that asks for a password (isPasswordPrompt). Any other prompt (a
// one-time code, "Verification code", a new password, several prompts at once) fails the
// authentication with a *PromptError: the password is never given to a prompt that did not ask
// for it. Rounds without prompts (instructions only) are answered with nothing, as OpenSSH does.
func passwordChallenge(pw string) ssh.KeyboardInteractiveChallenge {
	return func(_, instruction string, questions []string, echos []bool) ([]string, error) {
		if len(questions) == 0 {
			return nil, nil
		}
		if len(questions) == 1 && !echos[0] && isPasswordPrompt(questions[0]) {
			return []string{pw}, nil
		}
		return nil, &PromptError{Prompts: questions, Instruction: instruction}
	}
}

var (
	passwordWord = regexp.MustCompile(`(?i)password`)
	// Prompts that mention a password but do not ask for the login password.
	notTheLoginPassword = regexp.MustCompile(`(?i)one[- ]?time|\botp\b|token|verification|code|\bnew\b|retype|again|confirm`)
)

// isPasswordPrompt reports whether a keyboard-interactive prompt asks for the login password
// ("Password: ", "user@host's password: ").
func isPasswordPrompt(prompt string) bool {
	return passwordWord.MatchString(prompt) && !notTheLoginPassword.MatchString(prompt)
}

// hostKeyCheck returns the callback that verifies the server key of c, and the host-key
// algorithms to ask for. Restricting the algorithms to the types we know for the host matters:
// a server with several host keys would otherwise present a type that known_hosts or the pin
// does not hold (x/crypto prefers ECDSA, for one) and fail as a mismatch.
func (c Config) hostKeyCheck() (ssh.HostKeyCallback, []string, error) {
	addr := c.addr()
	// A pin is checked first and always: skipping verification never overrides it.
	if strings.TrimSpace(c.HostKey) != "" {
		pins, err := parsePins(c.HostKey)
		if err != nil {
			return nil, nil, fmt.Errorf("host_key for %s: %w", c.Key(), err)
		}
		cb := func(_ string, _ net.Addr, key ssh.PublicKey) error {
			for _, p := range pins {
				if bytes.Equal(p.Marshal(), key.Marshal()) {
					return nil
				}
			}
			return &HostKeyMismatchError{Host: addr, Fingerprint: ssh.FingerprintSHA256(key),
				Want: fingerprints(pins), Source: "host_key", SkipIgnored: c.InsecureSkipHostKeyVerification}
		}
		return cb, algorithmsFor(pins), nil
	}
	if c.InsecureSkipHostKeyVerification {
		return ssh.InsecureIgnoreHostKey(), nil, nil
	}

	file, err := expandHome(c.KnownHostsFile)
	if err != nil {
		return nil, nil, err
	}
	kh, err := knownhosts.New(file)
	if errors.Is(err, fs.ErrNotExist) {
		kh, err = knownhosts.New() // a missing file knows no host: report the host as unknown
	}
	if err != nil {
		return nil, nil, fmt.Errorf("known_hosts_file for %s: %w", c.Key(), err)
	}
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := kh(hostname, remote, key)
		var keyErr *knownhosts.KeyError
		if !errors.As(err, &keyErr) {
			if err != nil {
				return fmt.Errorf("host key of %s rejected by %s: %w", addr, file, err)
			}
			return nil
		}
		if len(keyErr.Want) == 0 {
			return &UnknownHostKeyError{
				Host:           addr,
				Fingerprint:    ssh.FingerprintSHA256(key),
				KeyType:        key.Type(),
				PublicKey:      strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))),
				KnownHostsFile: file,
				Line:           knownhosts.Line([]string{knownhosts.Normalize(addr)}, key),
			}
		}
		want := make([]ssh.PublicKey, len(keyErr.Want))
		for i, k := range keyErr.Want {
			want[i] = k.Key
		}
		return &HostKeyMismatchError{Host: addr, Fingerprint: ssh.FingerprintSHA256(key),
			Want: fingerprints(want), Source: file}
	}
	algos := algorithmsFor(knownKeys(kh, addr))
	if len(algos) == 0 {
		algos = defaultHostKeyAlgos
	}
	return cb, algos, nil
}

// defaultHostKeyAlgos is OpenSSH's preference (Ed25519 first, no SHA-1 RSA), used when nothing
// is known about a host, so that an unknown host shows the key `ssh` would show.
var defaultHostKeyAlgos = []string{
	ssh.CertAlgoED25519v01, ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01, ssh.CertAlgoECDSA521v01,
	ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01,
	ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// knownKeys lists the keys known_hosts holds for addr. knownhosts has no lookup function, so
// ask it to check a key it cannot know: the KeyError it returns lists the keys it wanted.
func knownKeys(kh ssh.HostKeyCallback, addr string) []ssh.PublicKey {
	err := kh(addr, &net.TCPAddr{IP: net.IPv4zero}, probeKey())
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) {
		return nil
	}
	keys := make([]ssh.PublicKey, len(keyErr.Want))
	for i, k := range keyErr.Want {
		keys[i] = k.Key
	}
	return keys
}

var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return k
})

func parsePins(text string) ([]ssh.PublicKey, error) {
	var keys []ssh.PublicKey
	rest := []byte(text)
	for len(bytes.TrimSpace(rest)) > 0 {
		k, _, _, r, err := ssh.ParseAuthorizedKey(rest)
		if err != nil {
			return nil, fmt.Errorf("want one public key per line in authorized_keys format (\"ssh-ed25519 AAAA...\"): %w", err)
		}
		keys = append(keys, k)
		rest = r
	}
	return keys, nil
}

// algorithmsFor maps key types to the host-key signature algorithms that produce them.
func algorithmsFor(keys []ssh.PublicKey) []string {
	var algos []string
	add := func(a ...string) {
		for _, s := range a {
			if !slices.Contains(algos, s) {
				algos = append(algos, s)
			}
		}
	}
	for _, k := range keys {
		switch t := k.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

func fingerprints(keys []ssh.PublicKey) []string {
	fps := make([]string, len(keys))
	for i, k := range keys {
		fps[i] = ssh.FingerprintSHA256(k)
	}
	return fps
}

func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expanding %s: %w", p, err)
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}
