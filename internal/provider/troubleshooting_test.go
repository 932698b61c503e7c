package provider

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTroubleshootingGuideListsEverySummary: every diagnostic summary the provider and the remote
// layer can emit, as a constant or a literal, is in the Troubleshooting guide, so the guide
// cannot fall behind the code.
func TestTroubleshootingGuideListsEverySummary(t *testing.T) {
	t.Parallel()
	guide, err := os.ReadFile(filepath.Join("..", "..", "templates", "guides", "troubleshooting.md.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	summaryArg := map[string]int{ // call → index of its summary argument
		"AddError": 0, "AddWarning": 0, "NewErrorDiagnostic": 0, "NewWarningDiagnostic": 0,
		"AddAttributeError": 1, "AddAttributeWarning": 1, "NewAttributeErrorDiagnostic": 1, "NewAttributeWarningDiagnostic": 1,
	}
	consts := map[string]string{}
	var found []string
	fset := token.NewFileSet()
	for _, dir := range []string{".", filepath.Join("..", "remote")} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.ValueSpec:
					for i, name := range n.Names {
						if strings.HasPrefix(name.Name, "summary") && i < len(n.Values) {
							if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								consts[name.Name], _ = strconv.Unquote(lit.Value)
							}
						}
					}
				case *ast.CallExpr:
					sel, ok := n.Fun.(*ast.SelectorExpr)
					if !ok {
						return true
					}
					i, ok := summaryArg[sel.Sel.Name]
					if !ok || i >= len(n.Args) {
						return true
					}
					if lit, ok := n.Args[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						found = append(found, s)
					}
				}
				return true
			})
		}
	}
	for _, s := range consts {
		found = append(found, s)
	}
	if len(found) < 20 {
		t.Fatalf("found only %d summaries: the test no longer sees the calls", len(found))
	}
	for _, s := range found {
		s = strings.TrimSuffix(strings.TrimSpace(s), ":")
		if !strings.Contains(string(guide), s) {
			t.Errorf("the Troubleshooting guide (templates/guides/troubleshooting.md.tmpl) does not list %q", s)
		}
	}
}
