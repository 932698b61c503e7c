package lab

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// EnvAgentBin names a prebuilt lvs-agent binary (`make build` writes bin/lvs-agent) for lab
// tests that install the agent on hosts themselves. `make test` sets it so that no test builds
// the agent inside the lab kernel, where a cold build takes minutes.
const EnvAgentBin = "LVS_AGENT_BIN"

// TestBinDir makes a directory for binaries that lab hosts run, under the working directory
// (the package's: the hosts' roots are overlays of the machine's /, while /tmp is private to
// each), removed when t ends.
func TestBinDir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(wd, ".lab-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// AgentBinary returns the path of an lvs-agent binary the lab hosts can run: $LVS_AGENT_BIN
// when set (it must exist), else one built now from the module at moduleRoot into a TestBinDir
// (CGO_ENABLED=0, as shipped).
func AgentBinary(t testing.TB, moduleRoot string) string {
	t.Helper()
	if p := os.Getenv(EnvAgentBin); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(abs); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			t.Fatalf("%s=%s is not an executable file (run `make build`): %v", EnvAgentBin, p, err)
		}
		return abs
	}
	out := filepath.Join(TestBinDir(t), "lvs-agent")
	start := time.Now()
	build := exec.Command("go", "build", "-o", out, "./agent/cmd/lvs-agent")
	build.Dir = moduleRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build lvs-agent: %v\n%s", err, b)
	}
	t.Logf("lvs-agent built in %s (set %s to a prebuilt one to skip this)", time.Since(start).Round(time.Millisecond), EnvAgentBin)
	return out
}

// CopyTestBinary copies the running test binary into dir (a TestBinDir), for tests that run
// themselves on lab hosts as helper programs, and returns the copy's path.
func CopyTestBinary(t testing.TB, dir string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "helper")
	if b, err := exec.Command("cp", self, out).CombinedOutput(); err != nil {
		t.Fatalf("copy the test binary: %v: %s", err, b)
	}
	return out
}
