// Package agentinstall installs, upgrades and removes the bundled lvs-agent on a host over SSH.
//
// Install detects the host's architecture, streams the matching bundled binary into a temp file
// next to its final path, checks its SHA-256 on the host, renames it into place atomically and
// asks it to start (or restart, after an upgrade). A host that already runs the bundled binary is
// left untouched. It works for root and, through `sudo -n`, for other users.
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

// sudo prefixes cmd for non-root users; -n makes a missing NOPASSWD rule an error instead of a
// prompt that would hang the run.
func (h Host) sudo(cmd string) string {
	if h.isRoot() {
		return cmd
	}
	return "sudo -n " + cmd
}

// asRoot is the command that runs the shell script as root: `sh -c` for root, and for other
// users `sudo -n -- sh -c`, the form sshx.Client.Sudo makes, which sshx recognises so that a sudo
// that wants a password fails as sshx.ErrSudoPassword, whose message says how to fix it.
func (h Host) asRoot(script string) string {
	if h.isRoot() {
		return "sh -c " + shellQuote(script)
	}
	return "sudo -n -- sh -c " + shellQuote(script)
}

func (h Host) isRoot() bool { return h.User == "" || h.User == "root" }

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
	cmd := agentapi.BinaryPath + " install"
	if res.Uploaded {
		cmd += " --restart"
	}
	out, _, err := h.Runner.Run(ctx, h.asRoot(cmd), nil)
	if err != nil {
		return res, fmt.Errorf("start lvs-agent on %s: %w", h.Address, err)
	}
	res.Started = strings.HasPrefix(strings.TrimSpace(string(out)), agentapi.InstallStarted)
	return res, nil
}

// upload streams the binary into a temp file beside its final path, gzipped when the bundle and
// the host allow, verifies it on the host and renames it into place, so a broken transfer never
// replaces a working agent.
func upload(ctx context.Context, h Host, a *bundle.Agent, hostGzip bool) error {
	payload, receive := a.Gzip, `gzip -dc > "$t"`
	if payload == nil || !hostGzip {
		raw, err := a.Binary()
		if err != nil {
			return err
		}
		payload, receive = raw, `cat > "$t"`
	}
	script := uploadScript(agentapi.BinaryPath, a.SHA256, receive)
	_, _, err := h.Runner.Run(ctx, h.asRoot(script), bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("upload lvs-agent (linux/%s, %d bytes) to %s:%s: %w", a.Arch, len(payload), h.Address, agentapi.BinaryPath, err)
	}
	return nil
}

// uploadScript is the host side of upload: receive (a command writing stdin's binary to "$t")
// into a temp file beside dest, check its sha256, fsync it, rename it over dest and fsync the
// directory, so that after a power cut dest is the old agent or the whole new one, never an empty
// or partial file that the rename made durable before the data (ext4 and xfs may write the
// rename first). `sync FILE` is coreutils' and busybox's fsync of FILE; an older sync that does
// not take files syncs everything instead.
func uploadScript(dest, sha256, receive string) string {
	dir := path.Dir(dest)
	return fmt.Sprintf(`set -e
umask 022
mkdir -p %[1]s
t=$(mktemp %[1]s/.lvs-agent.XXXXXX)
trap 'rm -f "$t"' EXIT
%[4]s
if ! echo "%[2]s  $t" | sha256sum -c --status; then
  echo "checksum of the uploaded agent does not match: transfer corrupted" >&2
  exit 65
fi
chmod 0755 "$t"
sync "$t" 2>/dev/null || sync
mv -f "$t" %[3]s
trap - EXIT
sync %[1]s 2>/dev/null || sync`, dir, sha256, dest, receive)
}

// ErrNotInstalled is returned by Uninstall when there was no agent to remove.
var ErrNotInstalled = errors.New("lvs-agent is not installed")

// Uninstall asks the agent to remove what it programmed, stops it and deletes its files.
func Uninstall(ctx context.Context, h Host) error {
	script := fmt.Sprintf(`if [ -x %[1]s ]; then exec %[1]s uninstall; else echo not-installed; fi`, agentapi.BinaryPath)
	out, _, err := h.Runner.Run(ctx, h.asRoot(script), nil)
	if err != nil {
		return fmt.Errorf("uninstall lvs-agent on %s: %w", h.Address, err)
	}
	if strings.TrimSpace(string(out)) == "not-installed" {
		return ErrNotInstalled
	}
	return nil
}

// Stop stops the agent's service, leaving its files and what it programmed in place.
func Stop(ctx context.Context, h Host) error {
	_, _, err := h.Runner.Run(ctx, h.asRoot(agentapi.BinaryPath+" stop"), nil)
	if err != nil {
		return fmt.Errorf("stop lvs-agent on %s: %w", h.Address, err)
	}
	return nil
}

// DialCommand is the command whose stdin/stdout carry the agent API.
func DialCommand(h Host) string {
	return h.sudo(agentapi.BinaryPath + " dial-stdio")
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
