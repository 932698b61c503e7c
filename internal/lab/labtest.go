package lab

import (
	"context"
	"os"
	"testing"
	"time"
)

// Required skips t unless it runs inside a kernel context made by `lab run` (LVS_LAB=1). With
// LVS_LAB_REQUIRED=1 (set by `make test`) it fails instead, so that lab tests cannot be skipped
// by accident.
func Required(t testing.TB) {
	t.Helper()
	if os.Getenv(EnvLab) == "1" {
		return
	}
	const why = "lab tests must run inside the lab: make test runs them via bin/lab run"
	if os.Getenv(EnvRequired) == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// NewForTest calls Required, brings up a lab of spec and takes it down when t ends. It logs how
// long the kernel context took to boot and the lab to come up.
func NewForTest(t testing.TB, spec Spec) *Lab {
	t.Helper()
	Required(t)
	if s := os.Getenv(EnvBootSecs); s != "" {
		t.Logf("lab: kernel context (%s) ready %ss after lab run started", os.Getenv(EnvMode), s)
	}
	start := time.Now()
	l, err := Up(context.Background(), spec)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Logf("lab: %d hosts up in %s", len(spec.Hosts), time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := l.Down(context.Background()); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return l
}
