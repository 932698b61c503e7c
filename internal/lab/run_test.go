//go:build linux

package lab_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// TestRunExitCodeAndOutput runs a command through Run: separate stdout and stderr, its exit
// code, the caller's working directory and environment. Outside a kernel context this boots one
// (UML here); inside, Run just runs the command.
func TestRunExitCodeAndOutput(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("Run needs root")
	}
	_, ipvsErr := os.Stat("/proc/net/ip_vs")
	if os.Getenv(lab.EnvLab) != "1" && ipvsErr != nil { // Run will boot UML with this binary as init
		if _, err := os.Stat("/usr/bin/linux.uml"); err != nil {
			t.Skip("neither User-Mode-Linux nor IP_VS here")
		}
		if raceEnabled {
			t.Skip("a -race binary cannot be the UML init: ThreadSanitizer needs more address space than UML gives")
		}
	}
	t.Setenv("LVS_LAB_TEST_MARK", "passed-through")
	var out, errb bytes.Buffer
	start := time.Now()
	code, err := lab.Run(context.Background(), []string{"sh", "-c",
		`echo "out $LVS_LAB $LVS_LAB_TEST_MARK"; pwd; echo err >&2; exit 7`},
		lab.RunOptions{Mem: "512M", Timeout: 2 * time.Minute, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatalf("Run: %v (stderr %q)", err, errb.String())
	}
	t.Logf("run took %s", time.Since(start).Round(time.Millisecond))
	wd, _ := os.Getwd()
	if code != 7 {
		t.Errorf("exit code = %d, want 7", code)
	}
	if want := "out 1 passed-through\n" + wd + "\n"; out.String() != want {
		t.Errorf("stdout = %q, want %q", out.String(), want)
	}
	if errb.String() != "err\n" {
		t.Errorf("stderr = %q, want %q", errb.String(), "err\n")
	}
}
