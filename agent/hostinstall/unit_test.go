package hostinstall

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// parseUnit reads a systemd unit into section -> key -> values (a key may repeat).
func parseUnit(t *testing.T, text string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	var section string
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("unit line %d: %q", n, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

// TestUnitRestartPolicyAndHardening: the unit restarts the agent forever with a growing delay,
// releases a dead agent's VIPs, and its hardening leaves what the agent needs.
func TestUnitRestartPolicyAndHardening(t *testing.T) {
	t.Parallel()
	u := parseUnit(t, systemdUnit)
	want := map[string]map[string]string{
		"Unit": {"StartLimitIntervalSec": "0"},
		"Service": {
			"ExecStart":          agentapi.BinaryPath + " serve",
			"ExecStopPost":       "-" + agentapi.BinaryPath + " release",
			"Restart":            "always",
			"RestartSec":         "1",
			"RestartSteps":       "5",
			"RestartMaxDelaySec": "30",
			"KillMode":           "mixed",
		},
	}
	for sec, keys := range want {
		for k, v := range keys {
			if got := u[sec][k]; len(got) != 1 || got[0] != v {
				t.Errorf("[%s] %s = %q, want %q", sec, k, got, v)
			}
		}
	}
	svc := u["Service"]
	// What would break the agent: no sysctl writes (ProtectKernelTunables), no modprobe of
	// ip_vs (ProtectKernelModules), dropped capabilities, no raw or netlink sockets, no
	// health-check processes (a private /usr/local/sbin or tmp is fine, but not these).
	for _, k := range []string{"ProtectKernelTunables", "ProtectKernelModules", "CapabilityBoundingSet", "AmbientCapabilities",
		"User", "DynamicUser", "SystemCallFilter", "NoNewPrivileges", "PrivateNetwork", "PrivateDevices", "ProtectProc", "MemoryDenyWriteExecute"} {
		if v, ok := svc[k]; ok {
			t.Errorf("[Service] %s = %q would take from the agent what it needs", k, v)
		}
	}
	if v := svc["ProtectSystem"]; len(v) != 1 || v[0] == "strict" {
		t.Errorf("ProtectSystem = %q: strict makes /var/lib/lvs-agent read-only", v)
	}
	for _, fam := range []string{"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"} {
		if v := svc["RestrictAddressFamilies"]; len(v) != 1 || !strings.Contains(" "+v[0]+" ", " "+fam+" ") {
			t.Errorf("RestrictAddressFamilies = %q lacks %s", v, fam)
		}
	}
}

// TestUnitVerifies runs systemd-analyze verify on the unit where it is installed; unknown keys
// of an older systemd (RestartSteps before 254) are warnings, not errors.
func TestUnitVerifies(t *testing.T) {
	t.Parallel()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze")
	}
	dir := t.TempDir()
	// The binary must exist for verify; /bin/true stands for it.
	unit := filepath.Join(dir, agentapi.SystemdUnit)
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(systemdUnit, agentapi.BinaryPath, "/bin/true")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.Contains(l, "Unknown key 'RestartSteps'") && !strings.Contains(l, "Unknown key 'RestartMaxDelaySec'") {
			t.Errorf("systemd-analyze verify: %s", l)
		}
	}
}
