package guard

import (
	"errors"
	"strings"
	"testing"
)

func TestCallRecoversAndCounts(t *testing.T) {
	err := Call(nil, "test-part", func() error { panic("boom") })
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Part != "test-part" || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Call: %v", err)
	}
	if err := Call(nil, "test-part", func() error { return errors.New("plain") }); err == nil || err.Error() != "plain" {
		t.Fatalf("a plain error: %v", err)
	}
	var got *uint64
	for _, p := range Report() {
		if p.Part == "test-part" {
			got = &p.Count
			if p.Last != "boom" || p.LastAt == "" {
				t.Errorf("report %+v", p)
			}
		}
	}
	if got == nil || *got != 1 {
		t.Fatalf("report %+v", Report())
	}
}

func TestInjectOnce(t *testing.T) {
	t.Setenv(InjectEnv, "a, b")
	panics := func(part string) (p bool) {
		defer func() { p = recover() != nil }()
		Inject(part)
		return false
	}
	if !panics("a") || panics("a") || panics("c") || !panics("b") || panics("b") {
		t.Fatal("Inject does not panic exactly once per named part")
	}
}
