package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/testreq"
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

// TestBundledAgentsVerify: every bundled agent, gzipped (as `make build` bundles them) or raw,
// decompresses to the binary whose checksum hosts are compared with.
func TestBundledAgentsVerify(t *testing.T) {
	t.Parallel()
	if len(Arches()) == 0 {
		testreq.Missing(t, "no agents bundled: run `make build` (or `make agents`) first")
	}
	for _, arch := range Arches() {
		a, err := For(arch)
		if err != nil {
			t.Fatal(err)
		}
		b, err := a.Binary()
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != a.SHA256 || len(b) < 1<<20 || !bytes.HasPrefix(b, []byte("\x7fELF")) {
			t.Errorf("linux/%s: %d bytes, checksum %s, want an ELF binary with checksum %s", arch, len(b), hex.EncodeToString(sum[:]), a.SHA256)
		}
		if a.Gzip != nil && len(a.Gzip) >= len(b) {
			t.Errorf("linux/%s: gzipped %d bytes, not smaller than %d", arch, len(a.Gzip), len(b))
		}
	}
}
