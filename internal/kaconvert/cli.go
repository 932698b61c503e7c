package kaconvert

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lvs-provider/terraform-provider-lvs/internal/keepalived"
)

// Command is the name of the provider binary's subcommand.
const Command = "convert-keepalived"

const usage = `usage: terraform-provider-lvs convert-keepalived [-o FILE] DIRECTOR1.conf [DIRECTOR2.conf]

Converts keepalived.conf (with its include files) into HCL for the lvs provider. Give both
directors' files to merge them into one pair with per-director priorities; FILE@ID evaluates
keepalived's conditional lines (@ID ...) as keepalived -i ID would. The HCL goes to standard
output (or FILE); the report of every keyword not mapped as it is goes to standard error.
Exit status: 0 converted, 1 converted but the report has errors (mismatches between the two
directors, syntax errors), 2 nothing converted.
`

// Main runs the subcommand with args (after its name).
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(Command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the HCL to this file instead of standard output")
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		fs.Usage()
		return 2
	}
	var inputs []Input
	for _, a := range fs.Args() {
		path, id := a, ""
		if i := strings.LastIndex(a, "@"); i > 0 {
			if _, err := os.Stat(a); err != nil {
				path, id = a[:i], a[i+1:]
			}
		}
		cfg, err := keepalived.ParseFile(path, keepalived.Options{ConfigID: id})
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", Command, err)
			return 2
		}
		inputs = append(inputs, Input{Config: cfg})
	}
	res, err := Convert(inputs)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", Command, err)
		return 2
	}
	if *out != "" {
		if err := os.WriteFile(*out, res.HCL, 0o644); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", Command, err)
			return 2
		}
	} else if _, err := stdout.Write(res.HCL); err != nil {
		return 2
	}
	_ = res.Report.Write(stderr)
	if res.Report.Count(Error) > 0 {
		return 1
	}
	return 0
}
