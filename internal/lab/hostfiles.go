package lab

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// The files below are written into each host's disk (the overlay's upper layer) before its first
// boot. They are pure functions of their inputs so that they can be unit-tested.

// sshdConfig is every host's /etc/ssh/sshd_config: key-only logins, root allowed by key (the
// provider's default user), no PAM (nothing in a lab host runs logind or a session manager).
const sshdConfig = `# Written by the LVS lab (internal/lab). Key logins only.
Port 22
ListenAddress 0.0.0.0
ListenAddress ::
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
X11Forwarding no
PrintMotd no
PrintLastLog no
# Tests open many sessions at once.
MaxStartups 100:30:200
MaxSessions 100
PidFile /run/sshd.pid
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
`

// sudoersFile is /etc/sudoers.d/<SudoUser>.
func sudoersFile() string {
	return SudoUser + " ALL=(ALL:ALL) NOPASSWD: ALL\n"
}

// etcHosts maps every lab host's name to its addresses, so that hosts (and sudo, which looks up
// its own hostname) resolve names without DNS.
func etcHosts(spec Spec) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, h := range spec.Hosts {
		fmt.Fprintf(&b, "%s\t%s\n%s\t%s\n", h.IPv4, h.Name, h.IPv6, h.Name)
	}
	return b.String()
}

// knownHostsLine is one line of the lab's known_hosts: the host's name and both addresses.
// Addresses need no brackets because sshd listens on the default port.
func knownHostsLine(h HostSpec, pubKey string) string {
	f := strings.Fields(pubKey) // "ssh-ed25519 AAAA... comment"
	if len(f) < 2 {
		return ""
	}
	return fmt.Sprintf("%s,%s,%s %s %s\n", h.Name, h.IPv4, h.IPv6, f[0], f[1])
}

// accountFiles returns /etc/passwd, /etc/shadow and /etc/group for a host, like those of a fresh
// install: the machine's system accounts (ids below 1000, and nobody/nogroup) from the overlay's
// lower layer, plus SudoUser. The machine's own users stay out of the hosts. Root's password
// field changes from locked ("!...") to "no password" ("*"): sshd without PAM refuses locked
// accounts even for key logins.
func accountFiles(passwd, shadow, group []byte) (p, s, g []byte) {
	keep := map[string]bool{}
	p = filterEntries(passwd, func(f []string) bool {
		ok := len(f) > 3 && systemID(f[2])
		keep[f[0]] = ok
		return ok
	})
	s = filterEntries(unlockRoot(shadow), func(f []string) bool { return keep[f[0]] })
	g = filterEntries(group, func(f []string) bool { return len(f) > 2 && systemID(f[2]) })
	p = append(p, fmt.Sprintf("%s:x:%d:%d:LVS lab admin:/home/%s:/bin/bash\n", SudoUser, SudoUID, SudoUID, SudoUser)...)
	g = append(g, fmt.Sprintf("%s:x:%d:\n", SudoUser, SudoUID)...)
	s = append(s, SudoUser+":*:19000:0:99999:7:::\n"...)
	return p, s, g
}

func systemID(s string) bool {
	id, err := strconv.Atoi(s)
	return err == nil && (id < 1000 || id == 65534)
}

// filterEntries keeps the non-empty lines of a colon-separated file for which keep is true.
func filterEntries(file []byte, keep func(fields []string) bool) []byte {
	var b bytes.Buffer
	for _, l := range strings.Split(string(file), "\n") {
		if f := strings.Split(l, ":"); l != "" && keep(f) {
			b.WriteString(l + "\n")
		}
	}
	return b.Bytes()
}

func unlockRoot(shadow []byte) []byte {
	lines := strings.Split(string(shadow), "\n")
	for i, l := range lines {
		f := strings.Split(l, ":")
		if len(f) > 1 && f[0] == "root" && strings.HasPrefix(f[1], "!") {
			f[1] = "*"
			lines[i] = strings.Join(f, ":")
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

// autostartCommands parses /etc/lvs-lab/autostart: one shell command per line; blank lines and
// lines starting with # are skipped.
func autostartCommands(data []byte) []string {
	var cmds []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		cmds = append(cmds, l)
	}
	return cmds
}
