package kaconvert

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/lvs-provider/terraform-provider-lvs/internal/keepalived"
)

// FuzzConvert: any keepalived.conf, one or two of them, converts without panicking into HCL
// that parses. Seeded with the golden cases.
func FuzzConvert(f *testing.F) {
	for _, c := range cases {
		a, err := os.ReadFile(filepath.Join("testdata", c.name, c.files[0]))
		if err != nil {
			f.Fatal(err)
		}
		b := a
		if len(c.files) > 1 {
			if b, err = os.ReadFile(filepath.Join("testdata", c.name, c.files[1])); err != nil {
				f.Fatal(err)
			}
		}
		f.Add(string(a), string(b), len(c.files) > 1)
	}
	f.Fuzz(func(t *testing.T, a, b string, two bool) {
		inputs := []Input{{Config: keepalived.Parse("a.conf", []byte(a), nil, keepalived.Options{})}}
		if two {
			inputs = append(inputs, Input{Config: keepalived.Parse("b.conf", []byte(b), nil, keepalived.Options{})})
		}
		res, err := Convert(inputs)
		if err != nil {
			t.Fatal(err)
		}
		if _, diags := hclsyntax.ParseConfig(res.HCL, "out.tf", hcl.InitialPos); diags.HasErrors() {
			t.Fatalf("the HCL does not parse: %v\n%s", diags, res.HCL)
		}
	})
}
