package kaconvert

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGuideTable: the guide's mapping table is the converter's own table, so it cannot drift.
func TestGuideTable(t *testing.T) {
	path := filepath.Join("..", "..", "templates", "guides", "from-keepalived.md.tmpl")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- BEGIN MAPPING TABLE", "<!-- END MAPPING TABLE -->"
	s := string(src)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %s ... %s markers", path, begin, end)
	}
	i += strings.Index(s[i:], "\n") + 1
	want := MarkdownTable()
	if s[i:j] == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(s[:i]+want+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the mapping table in %s is not the converter's: run go test ./internal/kaconvert -run TestGuideTable -update, then make generate", path)
}
