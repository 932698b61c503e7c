package kaconvert

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMain_(t *testing.T) {
	dir := filepath.Join("testdata", "conditional")
	conf := filepath.Join(dir, "keepalived.conf")
	t.Run("one file for both directors, by config id", func(t *testing.T) {
		var out, errb bytes.Buffer
		if rc := Main([]string{conf + "@lb1", conf + "@lb2"}, &out, &errb); rc != 0 {
			t.Fatalf("exit %d:\n%s", rc, errb.String())
		}
		for _, want := range []string{`priority          = [150, 100]`, `addresses         = ["198.51.100.100/24"]`} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("no %q in\n%s", want, out.String())
			}
		}
		if !strings.Contains(errb.String(), "0 errors, 0 refused by the provider, 0 not mapped, 0 changed, 0 ignored") {
			t.Errorf("report:\n%s", errb.String())
		}
	})
	t.Run("-o writes the HCL to a file", func(t *testing.T) {
		var out, errb bytes.Buffer
		file := filepath.Join(t.TempDir(), "main.tf")
		if rc := Main([]string{"-o", file, conf + "@lb1"}, &out, &errb); rc != 0 {
			t.Fatalf("exit %d:\n%s", rc, errb.String())
		}
		b, err := os.ReadFile(file)
		if err != nil || !bytes.Contains(b, []byte(`resource "lvs_vip" "vi_1"`)) || out.Len() != 0 {
			t.Errorf("file %v:\n%s\nstdout:\n%s", err, b, out.String())
		}
	})
	t.Run("errors in the report: exit 1, HCL still written", func(t *testing.T) {
		var out, errb bytes.Buffer
		m := filepath.Join("testdata", "mismatch")
		if rc := Main([]string{filepath.Join(m, "lb1.conf"), filepath.Join(m, "lb2.conf")}, &out, &errb); rc != 1 {
			t.Errorf("exit %d, want 1", rc)
		}
		if out.Len() == 0 || !strings.Contains(errb.String(), "4 errors") {
			t.Errorf("stdout %d bytes; report:\n%s", out.Len(), errb.String())
		}
	})
	t.Run("usage and unreadable files: exit 2", func(t *testing.T) {
		for _, args := range [][]string{nil, {"a", "b", "c"}, {"-x"}, {filepath.Join(dir, "missing.conf")}} {
			var out, errb bytes.Buffer
			if rc := Main(args, &out, &errb); rc != 2 || out.Len() != 0 {
				t.Errorf("%q: exit %d, want 2; stdout %q", args, rc, out.String())
			}
		}
	})
}
