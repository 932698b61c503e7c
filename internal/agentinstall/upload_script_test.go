package agentinstall

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/testreq"
)

// TestUploadFsyncsBeforeRename runs the upload's host script (into a temp dir) under strace: the
// temp file is fsynced before it is renamed over the binary, and the directory after, so that a
// power cut cannot leave an empty agent that the rename made durable first.
func TestUploadFsyncsBeforeRename(t *testing.T) {
	t.Parallel()
	strace, err := exec.LookPath("strace")
	if err != nil {
		testreq.Missing(t, "needs strace (scripts/deps.sh installs it)")
	}
	dir := filepath.Join(t.TempDir(), "sbin")
	dest := filepath.Join(dir, "lvs-agent")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dest, []byte("old agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	payload := []byte("#!/bin/sh\necho new agent\n")
	sum := sha256.Sum256(payload)
	stage := filepath.Join(dir, ".lvs-agent.new")
	script := uploadScript(hex.EncodeToString(sum[:]), "cat > "+stage, uploadSteps{
		stage: stage, discard: "rm -f " + stage, syncStage: "sync " + stage,
		rename: "mv -f " + stage + " " + dest, syncDir: "sync " + dir,
	})
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, "-f", "-y", "-o", trace, "-e", "trace=fsync,fdatasync,syncfs,sync,rename,renameat,renameat2", "sh", "-c", script)
	cmd.Stdin = bytes.NewReader(payload)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("upload script: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(dest); !bytes.Equal(b, payload) {
		t.Fatalf("binary is %q after the upload", b)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	find := func(re *regexp.Regexp) int {
		for i, l := range lines {
			if re.MatchString(l) {
				return i
			}
		}
		return -1
	}
	tmp := regexp.QuoteMeta(stage)
	fsyncTmp := find(regexp.MustCompile(`(fsync|fdatasync)\(\d+<` + tmp + `>\) = 0`))
	rename := find(regexp.MustCompile(`rename(at2?)?\(.*` + tmp + `.*` + regexp.QuoteMeta(dest) + `.*= 0`))
	fsyncDir := find(regexp.MustCompile(`fsync\(\d+<` + regexp.QuoteMeta(dir) + `>\) = 0`))
	switch {
	case rename < 0:
		t.Fatalf("no rename of the temp file over %s in:\n%s", dest, b)
	case fsyncTmp < 0 || fsyncTmp > rename:
		t.Errorf("the temp file is not fsynced before its rename (fsync at line %d, rename at %d):\n%s", fsyncTmp, rename, b)
	case fsyncDir < rename:
		t.Errorf("the directory is not fsynced after the rename (fsync at line %d, rename at %d):\n%s", fsyncDir, rename, b)
	}
}
