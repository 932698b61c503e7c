//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// TestLabDemo runs `make demo`'s script, scripts/demo.sh, as the README's main command runs it:
// the lab comes up, terraform applies examples/lab with the provider in bin/, the client's
// requests are checked (none may fail right after apply, the wrr spread is exact, a stopped
// web server leaves rotation on both directors and comes back), the master director is killed
// and the repaired one takes the VIP back; then destroy and lab down. The script fails on any of
// those checks; this test also holds what it prints.
func TestLabDemo(t *testing.T) {
	lab.Required(t)
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"bin/lab", "bin/terraform-provider-lvs"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Fatalf("%s: %v (make build makes it)", f, err)
		}
	}
	tf := os.Getenv("TF_ACC_TERRAFORM_PATH")
	if tf == "" {
		t.Fatal("TF_ACC_TERRAFORM_PATH is not set: make test sets it to the terraform it installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "scripts/demo.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "TERRAFORM="+tf)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("scripts/demo.sh, %s:\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatalf("scripts/demo.sh: %v", err)
	}
	text := out.String()
	for _, want := range []string{
		"Apply complete! Resources: 5 added, 0 changed, 0 destroyed.",
		`{"real1":100,"real2":200}`, // right after apply: no failure, exact wrr 1:2
		`{"real1":100}`,             // real2 out of rotation
		"plan after apply: no changes",
		"Destroy complete! Resources: 5 destroyed.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo did not print %q", want)
		}
	}
	// The failover figure rests on a probe that kept its schedule, or says it did not.
	if !regexp.MustCompile(`the client sent 800 of 800 requests`).MatchString(text) {
		t.Error("the power-cut probe did not send its 800 requests")
	}
}
