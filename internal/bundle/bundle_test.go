package bundle

import (
	"errors"
	"strings"
	"testing"
)

func TestGoArch(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"x86_64\n": "amd64", "aarch64": "arm64", "arm64": "arm64"} {
		if got, ok := GoArch(in); !ok || got != want {
			t.Errorf("GoArch(%q) = %q %v", in, got, ok)
		}
	}
	if _, ok := GoArch("riscv64"); ok {
		t.Error("riscv64 is not a supported host")
	}
}

func TestMissingArchIsClear(t *testing.T) {
	t.Parallel()
	_, err := For("mips")
	if !errors.Is(err, ErrNotBundled) || !strings.Contains(err.Error(), "linux/mips") || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("unclear error: %v", err)
	}
}
