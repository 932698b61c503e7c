// Package testreq decides what a test does when something it needs from the machine is
// missing: root, ip(8), an sshd, a terraform CLI, the bundled agents. By default it skips, so
// that `go test ./...` works anywhere; in the steps of `make test` it fails, so that a test can
// never pass there by not running.
//
// `make test` (and `make unit`) run the native unit step with LVS_NATIVE_REQUIRED=1: there,
// every prerequisite of a test that is not a lab test (Test(Lab|Acc)*) must be present. The lab
// step runs with LVS_LAB_REQUIRED=1, which requires them too. Lab tests themselves still skip in
// the native step: they need the lab kernel (internal/lab's Required, which only honours
// LVS_LAB_REQUIRED).
package testreq

import (
	"os"
	"testing"
)

const (
	// EnvNative, "1", makes the prerequisites of the native unit tests required.
	EnvNative = "LVS_NATIVE_REQUIRED"
	// EnvLab, "1", makes the lab required (see internal/lab) and these prerequisites with it.
	EnvLab = "LVS_LAB_REQUIRED"
)

// Required reports whether a missing prerequisite must fail the test, and which variable says
// so ("" when none does).
func Required() (bool, string) {
	for _, env := range []string{EnvNative, EnvLab} {
		if os.Getenv(env) == "1" {
			return true, env
		}
	}
	return false, ""
}

// Missing ends t because a prerequisite is missing, why saying which and how to get it: it
// fails the test when Required, and skips it otherwise.
func Missing(t testing.TB, why string) {
	t.Helper()
	if req, env := Required(); req {
		t.Fatalf("%s=1 but this test cannot run: %s", env, why)
	}
	t.Skip(why)
}
