package agentinstall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/bundle"
	"github.com/lvs-provider/terraform-provider-lvs/internal/testreq"
)

// fakeRunner answers commands from a script of answers, in order, and records them.
type fakeRunner struct {
	answers []fakeAnswer
	cmds    []string
	stdins  [][]byte
}

type fakeAnswer struct {
	out string
	err error
}

func (f *fakeRunner) Run(_ context.Context, cmd string, stdin io.Reader) ([]byte, []byte, error) {
	f.cmds = append(f.cmds, cmd)
	var in []byte
	if stdin != nil {
		in, _ = io.ReadAll(stdin)
	}
	f.stdins = append(f.stdins, in)
	if len(f.answers) == 0 {
		return nil, nil, fmt.Errorf("unexpected command %q", cmd)
	}
	a := f.answers[0]
	f.answers = f.answers[1:]
	return []byte(a.out), nil, a.err
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                   `''`,
		"plain":              `'plain'`,
		"it's":               `'it'\''s'`,
		`a "b" $c`:           `'a "b" $c'`,
		"''":                 `''\'''\'''`,
		"line1\nline2; rm x": "'line1\nline2; rm x'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSudoOnlyForNonRoot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ user, want string }{
		{"", "id -u"},
		{"root", "id -u"},
		{"lvsadmin", "sudo -n -- id -u"},
	} {
		h := Host{Address: "198.51.100.11", User: tc.user}
		if got := h.asRoot("id", "-u"); got != tc.want {
			t.Errorf("user %q: sudo = %q, want %q", tc.user, got, tc.want)
		}
		wantDial := strings.TrimSuffix(tc.want, "id -u") + agentapi.BinaryPath + " dial-stdio"
		if got := DialCommand(h); got != wantDial {
			t.Errorf("user %q: DialCommand = %q, want %q", tc.user, got, wantDial)
		}
	}
}

func TestResultChanged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r    Result
		want bool
	}{
		{Result{}, false},
		{Result{Uploaded: true}, true},
		{Result{Started: true}, true},
		{Result{Uploaded: true, Started: true}, true},
	} {
		if got := tc.r.Changed(); got != tc.want {
			t.Errorf("%+v.Changed() = %v, want %v", tc.r, got, tc.want)
		}
	}
}

// TestProbeHost reads the probe's three lines: architecture, installed checksum, gzip.
func TestProbeHost(t *testing.T) {
	t.Parallel()
	sum := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name    string
		out     string
		err     error
		want    Probe
		wantErr string // substring; "" for none
		uname   string // set: the error is an *UnsupportedArchError for this uname
	}{
		{name: "amd64 installed gzip", out: "x86_64\n" + sum + "  " + agentapi.BinaryPath + "\ngzip\n", want: Probe{Arch: "amd64", InstalledHash: sum, Gzip: true}},
		{name: "arm64 none no-gzip", out: "aarch64\nnone\nno-gzip\n", want: Probe{Arch: "arm64"}},
		{name: "arm64 as arm64", out: "arm64\nnone\ngzip\n", want: Probe{Arch: "arm64", Gzip: true}},
		{name: "unsupported arch", out: "mips64\nnone\ngzip\n", uname: "mips64", wantErr: `host 198.51.100.11 runs on "mips64"; lvs-agent is built for x86_64 (amd64) and aarch64 (arm64) only`},
		{name: "32-bit arm", out: "armv7l\nnone\ngzip\n", uname: "armv7l", wantErr: "armv7l"},
		{name: "short answer", out: "x86_64\n", wantErr: `probe 198.51.100.11: unexpected answer "x86_64\n"`},
		{name: "motd noise", out: "Welcome!\nx86_64\nnone\ngzip\n", wantErr: "unexpected answer"},
		{name: "ssh failure", err: errors.New("connection reset"), wantErr: "probe 198.51.100.11: connection reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &fakeRunner{answers: []fakeAnswer{{tc.out, tc.err}}}
			got, err := ProbeHost(context.Background(), Host{Address: "198.51.100.11", User: "lvsadmin", Runner: r})
			if strings.HasPrefix(r.cmds[0], "sudo") {
				t.Errorf("the probe needs no root but runs %q", r.cmds[0])
			}
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Fatalf("ProbeHost = %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			var ua *UnsupportedArchError
			if isUA := errors.As(err, &ua); isUA != (tc.uname != "") || (isUA && (ua.Uname != tc.uname || ua.Host != "198.51.100.11")) {
				t.Fatalf("err = %#v, want an *UnsupportedArchError for %q: %v", err, tc.uname, isUA)
			}
		})
	}
}

// TestInstallSteps drives Install through a scripted host: which commands run, as which user,
// and what the result says, for each state a host can be in.
func TestInstallSteps(t *testing.T) {
	t.Parallel()
	a, err := bundle.For("amd64")
	if err != nil {
		testreq.Missing(t, fmt.Sprintf("needs the bundled amd64 agent (make build): %v", err))
	}
	probe := func(hash, gz string) fakeAnswer {
		if hash == "" {
			hash = "none"
		}
		return fakeAnswer{out: "x86_64\n" + hash + "\n" + gz + "\n"}
	}
	started := fakeAnswer{out: agentapi.InstallStarted + " 0.1.0 supervisor\n"}
	running := fakeAnswer{out: agentapi.InstallUnchanged + " 0.1.0 systemd\n"}
	for _, tc := range []struct {
		name     string
		user     string
		answers  []fakeAnswer
		want     Result
		wantCmds []string // prefixes of the commands, in order
		wantErr  string
		gzipped  bool // the upload's stdin is the gzipped binary (else the raw one)
	}{
		{name: "fresh host", answers: []fakeAnswer{probe("", "gzip"), {}, started},
			want: Result{Arch: "amd64", Uploaded: true, Started: true}, gzipped: a.Gzip != nil,
			wantCmds: []string{"sh -c ", "sh -c ", agentapi.BinaryPath + " install --restart"}},
		{name: "fresh host without gzip", answers: []fakeAnswer{probe("", "no-gzip"), {}, started},
			want:     Result{Arch: "amd64", Uploaded: true, Started: true},
			wantCmds: []string{"sh -c ", "sh -c ", agentapi.BinaryPath + " install --restart"}},
		{name: "up to date and running", answers: []fakeAnswer{probe(a.SHA256, "gzip"), running},
			want:     Result{Arch: "amd64"},
			wantCmds: []string{"sh -c ", agentapi.BinaryPath + " install"}},
		{name: "up to date, stopped", answers: []fakeAnswer{probe(a.SHA256, "gzip"), started},
			want:     Result{Arch: "amd64", Started: true},
			wantCmds: []string{"sh -c ", agentapi.BinaryPath + " install"}},
		{name: "non-root user through sudo", user: "lvsadmin", answers: []fakeAnswer{probe(strings.Repeat("0", 64), "gzip"), {}, started},
			want: Result{Arch: "amd64", Uploaded: true, Started: true}, gzipped: a.Gzip != nil,
			wantCmds: []string{"sh -c ", "sh -c ", "sudo -n -- " + agentapi.BinaryPath + " install --restart"}},
		{name: "upload fails", answers: []fakeAnswer{probe("", "gzip"), {err: errors.New("exit status 65")}},
			want: Result{Arch: "amd64"}, gzipped: a.Gzip != nil, wantErr: "upload lvs-agent (linux/amd64, ",
			wantCmds: []string{"sh -c ", "sh -c "}},
		{name: "start fails", answers: []fakeAnswer{probe(a.SHA256, "gzip"), {err: errors.New("agent did not open its socket")}},
			want: Result{Arch: "amd64"}, wantErr: "start lvs-agent on 198.51.100.11: agent did not open its socket",
			wantCmds: []string{"sh -c ", agentapi.BinaryPath + " install"}},
		{name: "unsupported arch uploads nothing", answers: []fakeAnswer{{out: "riscv64\nnone\ngzip\n"}},
			wantErr: `runs on "riscv64"`, wantCmds: []string{"sh -c "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &fakeRunner{answers: tc.answers}
			got, err := Install(context.Background(), Host{Address: "198.51.100.11", User: tc.user, Runner: r})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("result %+v, want %+v", got, tc.want)
			}
			if len(r.cmds) != len(tc.wantCmds) {
				t.Fatalf("ran %d commands, want %d: %q", len(r.cmds), len(tc.wantCmds), r.cmds)
			}
			for i, want := range tc.wantCmds {
				if !strings.HasPrefix(r.cmds[i], want) || (!strings.HasSuffix(want, " ") && r.cmds[i] != want) {
					t.Errorf("command %d = %.80q, want %q", i, r.cmds[i], want)
				}
			}
			if len(r.cmds) < 2 || !strings.Contains(r.cmds[1], "sha256sum -c") {
				return
			}
			// The upload: the checksum checked on the host is the binary's, and the payload is
			// what the script decodes.
			if !strings.Contains(r.cmds[1], a.SHA256+"  "+stagePath) {
				t.Errorf("upload script does not check %s:\n%s", a.SHA256, r.cmds[1])
			}
			raw, err := a.Binary()
			if err != nil {
				t.Fatal(err)
			}
			// Root writes and renames directly; other users through sudo, with exactly the
			// commands of the sudoers rule.
			write, rename := "install -D -m 0755 /dev/stdin "+stagePath, "mv -f "+stagePath+" "+agentapi.BinaryPath
			if tc.user != "" {
				write, rename = "sudo -n -- "+write, "sudo -n -- "+rename
			}
			if !strings.Contains(r.cmds[1], "\n"+rename) {
				t.Errorf("upload script does not end with %q:\n%s", rename, r.cmds[1])
			}
			if tc.gzipped {
				if !strings.Contains(r.cmds[1], "\ngzip -dc | "+write+"\n") || string(r.stdins[1]) != string(a.Gzip) {
					t.Errorf("want the gzipped binary (%d bytes) decoded by gzip -dc, sent %d bytes:\n%s", len(a.Gzip), len(r.stdins[1]), r.cmds[1])
				}
			} else if !strings.Contains(r.cmds[1], "\n"+write+"\n") || strings.Contains(r.cmds[1], "gzip") || string(r.stdins[1]) != string(raw) {
				t.Errorf("want the raw binary (%d bytes) written by install, sent %d bytes:\n%s", len(raw), len(r.stdins[1]), r.cmds[1])
			}
		})
	}
}

func TestUninstallAndStopSteps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := func(r Runner) Host { return Host{Address: "198.51.100.11", User: "lvsadmin", Runner: r} }
	r := &fakeRunner{answers: []fakeAnswer{{out: "lvs-agent uninstalled\n"}}}
	if err := Uninstall(ctx, h(r)); err != nil || !strings.HasPrefix(r.cmds[0], "sh -c ") || !strings.Contains(r.cmds[0], "exec sudo -n -- "+agentapi.BinaryPath+" uninstall;") {
		t.Errorf("Uninstall: %v, ran %q", err, r.cmds)
	}
	r = &fakeRunner{answers: []fakeAnswer{{out: "not-installed\n"}}}
	if err := Uninstall(ctx, h(r)); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Uninstall on a host without the agent: %v, want ErrNotInstalled", err)
	}
	r = &fakeRunner{answers: []fakeAnswer{{err: errors.New("sudo: a password is required")}}}
	if err := Uninstall(ctx, h(r)); err == nil || !strings.Contains(err.Error(), "uninstall lvs-agent on 198.51.100.11: sudo: a password is required") {
		t.Errorf("Uninstall failing: %v", err)
	}
	r = &fakeRunner{answers: []fakeAnswer{{}}}
	if err := Stop(ctx, h(r)); err != nil || r.cmds[0] != "sudo -n -- "+agentapi.BinaryPath+" stop" {
		t.Errorf("Stop: %v, ran %q", err, r.cmds)
	}
	r = &fakeRunner{answers: []fakeAnswer{{err: errors.New("boom")}}}
	if err := Stop(ctx, h(r)); err == nil || !strings.Contains(err.Error(), "stop lvs-agent on 198.51.100.11: boom") {
		t.Errorf("Stop failing: %v", err)
	}
}

// TestSudoersRuleDocumented: the provider documentation gives exactly the rule the code needs.
func TestSudoersRuleDocumented(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"../../templates/index.md.tmpl", "../../docs/index.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "\n"+SudoersRule("lvsadmin")+"\n") {
			t.Errorf("%s does not give the sudoers rule:\n%s", f, SudoersRule("lvsadmin"))
		}
		if strings.Contains(string(b), "NOPASSWD: ALL") {
			t.Errorf("%s still asks for NOPASSWD: ALL", f)
		}
	}
}
