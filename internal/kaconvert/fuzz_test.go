package kaconvert

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/lvs-provider/terraform-provider-lvs/internal/keepalived"
)

// TestMutations converts damaged copies of the golden inputs (a few bytes replaced at random,
// a fixed seed): no panic, and the HCL always parses. The parser itself is fuzzed
// (internal/keepalived FuzzParse); a native fuzz target over the converter makes almost no
// progress (the engine stalls on the instrumented hcl and textseg packages), hence this.
func TestMutations(t *testing.T) {
	rnd := rand.New(rand.NewSource(14))
	for _, c := range cases {
		var srcs [][]byte
		for _, f := range c.files {
			b, err := os.ReadFile(filepath.Join("testdata", c.name, f))
			if err != nil {
				t.Fatal(err)
			}
			srcs = append(srcs, b)
		}
		for i := 0; i < 12; i++ {
			var inputs []Input
			for j, src := range srcs {
				b := append([]byte(nil), src...)
				for k := 0; k < 1+rnd.Intn(4); k++ {
					const alphabet = "{}\"#!$@ \n\t0123456789abc.:/-\xff"
					b[rnd.Intn(len(b))] = alphabet[rnd.Intn(len(alphabet))]
				}
				inputs = append(inputs, Input{Config: keepalived.Parse(c.files[j], b, nil, keepalived.Options{})})
			}
			res, err := Convert(inputs)
			if err != nil {
				t.Fatal(err)
			}
			if _, diags := hclsyntax.ParseConfig(res.HCL, "out.tf", hcl.InitialPos); diags.HasErrors() {
				t.Fatalf("%s, mutation %d: the HCL does not parse: %v\n%s", c.name, i, diags, res.HCL)
			}
		}
	}
}
