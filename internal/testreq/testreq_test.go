package testreq

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMissing runs Missing in a child test process under each setting of the variables and
// checks that it skips only when neither is set.
func TestMissing(t *testing.T) {
	if os.Getenv("TESTREQ_CHILD") == "1" {
		Missing(t, "no frobnicator here")
		t.Fatal("Missing returned")
	}
	for _, tc := range []struct {
		env      []string
		wantFail bool
	}{
		{nil, false},
		{[]string{EnvNative + "=1"}, true},
		{[]string{EnvLab + "=1"}, true},
		{[]string{EnvNative + "=0", EnvLab + "="}, false},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissing$", "-test.v")
		cmd.Env = append(envWithout(EnvNative, EnvLab), "TESTREQ_CHILD=1")
		cmd.Env = append(cmd.Env, tc.env...)
		out, err := cmd.CombinedOutput()
		failed := err != nil
		switch {
		case failed != tc.wantFail:
			t.Errorf("env %v: failed=%v, want %v\n%s", tc.env, failed, tc.wantFail, out)
		case tc.wantFail && !strings.Contains(string(out), "=1 but this test cannot run: no frobnicator here"):
			t.Errorf("env %v: the failure does not say why:\n%s", tc.env, out)
		case !tc.wantFail && !strings.Contains(string(out), "--- SKIP: TestMissing"):
			t.Errorf("env %v: not skipped:\n%s", tc.env, out)
		}
	}
}

func envWithout(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		keep := true
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				keep = false
			}
		}
		if keep {
			env = append(env, kv)
		}
	}
	return env
}
