// Package agentinstall installs, upgrades and removes the bundled lvs-agent on a host over SSH.
//
// Install detects the host's architecture, streams the matching bundled binary into a temp file
// next to its final path, checks its SHA-256 on the host, renames it into place atomically and
// asks it to start (or restart, after an upgrade). A host that already runs the bundled binary is
// left untouched. It works for root and, through `sudo -n`, for other users, who need only the
// rule SudoersRule gives: every command run as root is one of SudoCommands, run as
// `sudo -n -- COMMAND`, never a shell.
package agentinstall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/bundle"
	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx"
)

// Runner runs one shell command on a host. sshx.Client satisfies it.
type Runner interface {
	Run(ctx context.Context, cmd string, stdin io.Reader) (stdout, stderr []byte, err error)
}

// Host is a host reached over SSH as User.
type Host struct {
	Address string
	User    string
	Runner  Runner
}

// stagePath is where an upload lands before its checksum is checked and it is renamed into place.
// It is fixed, not a mktemp name, so that a sudoers rule can name it.
var stagePath = path.Dir(agentapi.BinaryPath) + "/.lvs-agent.new"

// SudoCommands are the only commands a non-root login runs as root, each as
// `sudo -n -- ARGV...`:
//   - the upload: install(1) writes stdin to stagePath; once its checksum was checked (as the
//     login user: the staged file is world-readable) sync(1) makes it durable, mv renames it
//     over the binary, and sync makes the rename durable;
//   - the agent's own install, install --restart, stop, uninstall and dial-stdio.
//
// Nothing else runs as root: the probe and the checksum run as the login user.
//
// install and mv are run by name, found by sudo on its secure_path; SudoersRule names them by
// their paths on Debian and Ubuntu (ruleBins).
func SudoCommands() [][]string {
	return [][]string{
		{"install", "-D", "-m", "0755", "/dev/stdin", stagePath},
		{"sync", stagePath},
		{"mv", "-f", stagePath, agentapi.BinaryPath},
		{"sync", path.Dir(agentapi.BinaryPath)},
		{agentapi.BinaryPath, "install"},
		{agentapi.BinaryPath, "install", "--restart"},
		{agentapi.BinaryPath, "stop"},
		{agentapi.BinaryPath, "uninstall"},
		{agentapi.BinaryPath, "dial-stdio"},
	}
}

// SudoersRule is the sudoers line (for /etc/sudoers.d/lvs, edited with visudo) that lets user
// run exactly SudoCommands without a password, and nothing else. Note that whoever may replace
// the agent, which runs as root, can run anything as root: the rule confines what the provider
// does and makes it auditable, it does not make the login less than root.
func SudoersRule(user string) string {
	cmds := make([]string, 0, len(SudoCommands()))
	for _, argv := range SudoCommands() {
		if p, ok := ruleBins[argv[0]]; ok {
			argv = append([]string{p}, argv[1:]...)
		}
		cmds = append(cmds, strings.Join(argv, " "))
	}
	return user + " ALL=(root) NOPASSWD: " + strings.Join(cmds, ", ")
}

// ruleBins are the paths sudoers must name for the commands SudoCommands runs by name (on a
// system without merged /usr, mv may be /bin/mv: `command -v mv` as root tells).
var ruleBins = map[string]string{"install": "/usr/bin/install", "mv": "/usr/bin/mv", "sync": "/usr/bin/sync"}

// asRoot is argv run as root: unchanged for root, `sudo -n -- argv` for other users (-n makes a
// missing rule an error instead of a prompt that would hang the run). sshx recognises `sudo -n`
// in a command, so that sudo refusing fails as sshx.ErrSudoPassword.
func (h Host) asRoot(argv ...string) string {
	cmd := strings.Join(argv, " ")
	if h.isRoot() {
		return cmd
	}
	return "sudo -n -- " + cmd
}

func (h Host) isRoot() bool { return h.User == "" || h.User == "root" }

// sudoHint adds the sudoers rule to a sudo failure in err, so that its message quotes it.
func (h Host) sudoHint(err error) error {
	var se *sshx.SudoError
	if errors.As(err, &se) && se.Rule == "" {
		se.Rule = SudoersRule(h.User)
	}
	return err
}

// Probe is what a host has before install.
type Probe struct {
	Arch          string // Go architecture name
	InstalledHash string // SHA-256 of the installed binary, "" when none
	Gzip          bool   // the host can decompress gzip, so the agent travels compressed
}

// Result says what Install did.
type Result struct {
	Arch     string
	Uploaded bool // a new binary was put in place
	Started  bool // the agent was started or restarted
}

// Changed reports whether Install changed anything on the host.
func (r Result) Changed() bool { return r.Uploaded || r.Started }

// UnsupportedArchError is a host architecture the provider has no agent build for at all.
type UnsupportedArchError struct {
	Host  string
	Uname string
}

func (e *UnsupportedArchError) Error() string {
	return fmt.Sprintf("host %s runs on %q; lvs-agent is built for x86_64 (amd64) and aarch64 (arm64) only", e.Host, e.Uname)
}

// ProbeHost reads the host's architecture and the installed agent's checksum in one command.
func ProbeHost(ctx context.Context, h Host) (Probe, error) {
	script := fmt.Sprintf(`uname -m; if [ -f %[1]s ]; then sha256sum %[1]s; else echo none; fi; command -v gzip >/dev/null 2>&1 && echo gzip || echo no-gzip`, agentapi.BinaryPath)
	out, _, err := h.Runner.Run(ctx, "sh -c "+shellQuote(script), nil)
	if err != nil {
		return Probe{}, fmt.Errorf("probe %s: %w", h.Address, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 {
		return Probe{}, fmt.Errorf("probe %s: unexpected answer %q", h.Address, out)
	}
	arch, ok := bundle.GoArch(lines[0])
	if !ok {
		return Probe{}, &UnsupportedArchError{Host: h.Address, Uname: strings.TrimSpace(lines[0])}
	}
	p := Probe{Arch: arch}
	if f := strings.Fields(lines[1]); len(f) > 0 && f[0] != "none" {
		p.InstalledHash = f[0]
	}
	p.Gzip = strings.TrimSpace(lines[2]) == "gzip"
	return p, nil
}

// Install makes the host run the bundled agent. Running it again on an up-to-date host changes
// nothing.
func Install(ctx context.Context, h Host) (Result, error) {
	p, err := ProbeHost(ctx, h)
	if err != nil {
		return Result{}, err
	}
	a, err := bundle.For(p.Arch)
	if err != nil {
		return Result{}, fmt.Errorf("host %s: %w", h.Address, err)
	}
	res := Result{Arch: p.Arch}
	if p.InstalledHash != a.SHA256 {
		if err := upload(ctx, h, a, p.Gzip); err != nil {
			return res, err
		}
		res.Uploaded = true
	}
	args := []string{agentapi.BinaryPath, "install"}
	if res.Uploaded {
		args = append(args, "--restart")
	}
	out, _, err := h.Runner.Run(ctx, h.asRoot(args...), nil)
	if err != nil {
		return res, fmt.Errorf("start lvs-agent on %s: %w", h.Address, h.sudoHint(err))
	}
	res.Started = strings.HasPrefix(strings.TrimSpace(string(out)), agentapi.InstallStarted)
	return res, nil
}

// upload streams the binary into stagePath beside its final path, gzipped when the bundle and
// the host allow, verifies it on the host and renames it into place, so a broken transfer never
// replaces a working agent. The script runs as the login user; only the two commands of
// SudoCommands that write go through sudo. A staged file that failed its checksum is removed
// for root; for other users it stays (removing it would take one more sudo rule), is never
// run, and the next upload replaces it.
func upload(ctx context.Context, h Host, a *bundle.Agent, hostGzip bool) error {
	cmds := SudoCommands()
	write, syncStage, rename, syncDir := h.asRoot(cmds[0]...), h.asRoot(cmds[1]...), h.asRoot(cmds[2]...), h.asRoot(cmds[3]...)
	payload, receive := a.Gzip, "gzip -dc | "+write
	if payload == nil || !hostGzip {
		raw, err := a.Binary()
		if err != nil {
			return err
		}
		payload, receive = raw, write
	}
	discard := ":"
	if h.isRoot() {
		discard = "rm -f " + stagePath
	}
	script := uploadScript(a.SHA256, receive, uploadSteps{stage: stagePath, discard: discard, syncStage: syncStage, rename: rename, syncDir: syncDir})
	_, _, err := h.Runner.Run(ctx, "sh -c "+shellQuote(script), bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("upload lvs-agent (linux/%s, %d bytes) to %s:%s: %w", a.Arch, len(payload), h.Address, agentapi.BinaryPath, h.sudoHint(err))
	}
	return nil
}

// uploadSteps are the commands of an upload's host side, each a shell command line (through
// sudo for a non-root login).
type uploadSteps struct {
	stage     string // the staged file receive wrote
	discard   string // removes a staged file that failed its checksum (":" when it cannot)
	syncStage string // fsyncs the staged file
	rename    string // renames it over the binary
	syncDir   string // fsyncs the binary's directory
}

// uploadScript is the host side of upload: receive (a command writing stdin's binary to the
// staged file), check its sha256, fsync it, rename it over the binary and fsync the directory,
// so that after a power cut the binary is the old agent or the whole new one, never an empty
// or partial file that the rename made durable before the data (ext4 and xfs may write the
// rename first). `sync FILE` is coreutils' (8.24 and later) and busybox's fsync of FILE.
func uploadScript(sha256, receive string, st uploadSteps) string {
	return fmt.Sprintf(`set -e
%[1]s
if ! echo "%[2]s  %[3]s" | sha256sum -c --status; then
  %[4]s
  echo "checksum of the uploaded agent does not match: transfer corrupted" >&2
  exit 65
fi
%[5]s
%[6]s
%[7]s`, receive, sha256, st.stage, st.discard, st.syncStage, st.rename, st.syncDir)
}

// ErrNotInstalled is returned by Uninstall when there was no agent to remove.
var ErrNotInstalled = errors.New("lvs-agent is not installed")

// Uninstall asks the agent to remove what it programmed, stops it and deletes its files.
func Uninstall(ctx context.Context, h Host) error {
	script := fmt.Sprintf(`if [ -x %[1]s ]; then exec %[2]s; else echo not-installed; fi`,
		agentapi.BinaryPath, h.asRoot(agentapi.BinaryPath, "uninstall"))
	out, _, err := h.Runner.Run(ctx, "sh -c "+shellQuote(script), nil)
	if err != nil {
		return fmt.Errorf("uninstall lvs-agent on %s: %w", h.Address, h.sudoHint(err))
	}
	if strings.TrimSpace(string(out)) == "not-installed" {
		return ErrNotInstalled
	}
	return nil
}

// Stop stops the agent's service, leaving its files and what it programmed in place.
func Stop(ctx context.Context, h Host) error {
	_, _, err := h.Runner.Run(ctx, h.asRoot(agentapi.BinaryPath, "stop"), nil)
	if err != nil {
		return fmt.Errorf("stop lvs-agent on %s: %w", h.Address, h.sudoHint(err))
	}
	return nil
}

// DialCommand is the command whose stdin/stdout carry the agent API.
func DialCommand(h Host) string {
	return h.asRoot(agentapi.BinaryPath, "dial-stdio")
}

// SudoHint adds the sudoers rule for h's user to a sudo failure in err (from running
// DialCommand, say), so that its message quotes the rule. Other errors are returned as they are.
func SudoHint(h Host, err error) error { return h.sudoHint(err) }

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Stage puts the bundled agent in place on the host without starting or restarting it (the
// running agent goes on from the binary it started from), so that a later restart is quick and
// does no I/O. It reports whether it uploaded anything.
func Stage(ctx context.Context, h Host) (bool, error) {
	p, err := ProbeHost(ctx, h)
	if err != nil {
		return false, err
	}
	a, err := bundle.For(p.Arch)
	if err != nil {
		return false, fmt.Errorf("host %s: %w", h.Address, err)
	}
	if p.InstalledHash == a.SHA256 {
		return false, nil
	}
	return true, upload(ctx, h, a, p.Gzip)
}

// Restart restarts the agent from the binary in place (`lvs-agent install --restart`), for an
// agent that runs another binary than the one installed (an upgrade interrupted between the
// rename and the restart).
func Restart(ctx context.Context, h Host) error {
	if _, _, err := h.Runner.Run(ctx, h.asRoot(agentapi.BinaryPath, "install", "--restart"), nil); err != nil {
		return fmt.Errorf("restart lvs-agent on %s: %w", h.Address, h.sudoHint(err))
	}
	return nil
}
