package supervisor_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/agent/supervisor"
)

// TestLogRotatesBySize: the log never grows past its limit; the older lines move to LOG.1, then
// LOG.2, which the next rotation replaces, so the log takes at most three times the limit.
func TestLogRotatesBySize(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "agent.log")
	l, err := supervisor.OpenLog(path, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	line := []byte(strings.Repeat("x", 99) + "\n")
	for i := 0; i < 45; i++ {
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path + supervisor.RotatedSuffix)
	if err != nil {
		t.Fatal(err)
	}
	older, err := os.ReadFile(path + ".2")
	if err != nil {
		t.Fatal(err)
	}
	if len(cur) > 1000 || len(old) != 1000 || len(older) != 1000 || len(cur) != 500 {
		t.Fatalf("log %d bytes, rotated %d and %d bytes; want 500, 1000 and 1000 at a 1000-byte limit", len(cur), len(old), len(older))
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("a fourth file was kept: %v", err)
	}
	if !bytes.Equal(old[:100], line) {
		t.Errorf("rotation split a line: %q", old[:100])
	}
	for _, f := range append([]string{path}, supervisor.RotatedPaths(path)...) {
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
}

// TestLogNarrowsMode: an existing log readable by anyone is made 0600; 0640 is left as is.
func TestLogNarrowsMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for mode, want := range map[os.FileMode]os.FileMode{0o644: 0o600, 0o666: 0o600, 0o640: 0o640, 0o600: 0o600} {
		path := filepath.Join(dir, mode.String())
		if err := os.WriteFile(path, []byte("old\n"), mode); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(path, mode)
		l, err := supervisor.OpenLog(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		if fi, _ := os.Stat(path); fi.Mode().Perm() != want {
			t.Errorf("log of mode %v is now %v, want %v", mode, fi.Mode().Perm(), want)
		}
	}
}
