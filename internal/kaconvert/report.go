package kaconvert

import (
	"fmt"
	"io"
	"sort"

	"github.com/lvs-provider/terraform-provider-lvs/internal/keepalived"
)

// Kind says what happened to a keyword.
type Kind int

// The kinds of report entries, from the gravest.
const (
	// Error: the configurations cannot run as one keepalived pair (a mismatch between the two
	// directors that breaks keepalived itself), or a file could not be read.
	Error Kind = iota
	// Refused: mapped faithfully, but the provider refuses the value: plan or apply fails until
	// it is changed.
	Refused
	// NotMapped: the provider has no equivalent; the keyword is left out of the HCL.
	NotMapped
	// Changed: mapped, but the behaviour differs from keepalived's as the entry says.
	Changed
	// Ignored: no effect on what the provider does (logging, mail, SNMP, ...).
	Ignored
)

var kindNames = [...]string{"error", "refused", "not mapped", "changed", "ignored"}

func (k Kind) String() string { return kindNames[k] }

// Entry is one line of the report.
type Entry struct {
	Pos     keepalived.Pos
	Keyword string // the keyword as written, with its block ("vrrp_instance VI_1: use_vmac")
	Kind    Kind
	Why     string
}

// Report lists every keyword that was not mapped as it is, and why.
type Report struct {
	Entries []Entry
}

func (r *Report) add(pos keepalived.Pos, kw string, k Kind, format string, a ...any) {
	r.Entries = append(r.Entries, Entry{Pos: pos, Keyword: kw, Kind: k, Why: fmt.Sprintf(format, a...)})
}

// Count is the number of entries of kind k.
func (r *Report) Count(k Kind) int {
	n := 0
	for _, e := range r.Entries {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// sort orders the entries by file (in the order the files were given) and line.
func (r *Report) sort(files []string) {
	rank := map[string]int{}
	for i, f := range files {
		if _, ok := rank[f]; !ok {
			rank[f] = i
		}
	}
	sort.SliceStable(r.Entries, func(i, j int) bool {
		a, b := r.Entries[i], r.Entries[j]
		ra, oka := rank[a.Pos.File]
		rb, okb := rank[b.Pos.File]
		if !oka {
			ra = len(files)
		}
		if !okb {
			rb = len(files)
		}
		if ra != rb {
			return ra < rb
		}
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		return a.Pos.Line < b.Pos.Line
	})
	// A file both directors include is read twice: its entries once.
	out := r.Entries[:0]
	seen := map[Entry]bool{}
	for _, e := range r.Entries {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	r.Entries = out
}

// Write prints the report, one entry a line: "FILE:LINE: KIND: KEYWORD: WHY", then a summary.
func (r *Report) Write(w io.Writer) error {
	for _, e := range r.Entries {
		if _, err := fmt.Fprintf(w, "%s: %s: %s: %s\n", e.Pos, e.Kind, e.Keyword, e.Why); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d errors, %d refused by the provider, %d not mapped, %d changed, %d ignored\n",
		r.Count(Error), r.Count(Refused), r.Count(NotMapped), r.Count(Changed), r.Count(Ignored))
	return err
}
