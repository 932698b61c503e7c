// Package keepalived reads keepalived.conf the way keepalived does, into a generic tree of
// statements: comments ('#' and '!' outside quotes, anywhere on a line), blocks opened on the
// keyword's line or the next and closed anywhere (keepalived splits lines at every brace),
// quoted strings, include files (globs and brace lists, relative to the including file),
// $NAME=VALUE definitions and @ID conditional lines. It knows no keyword: what a statement
// means is for its reader (internal/kaconvert). It never fails on content: what keepalived
// would complain about is returned as a Problem with its position, and parsing goes on.
package keepalived

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Pos is a position in a configuration file.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Node is one statement: its words (Args[0] is the keyword) and, when it opened one, its block.
type Node struct {
	Pos      Pos
	Args     []string
	Block    []*Node
	HasBlock bool
}

// Keyword is the statement's first word.
func (n *Node) Keyword() string {
	if len(n.Args) == 0 {
		return ""
	}
	return n.Args[0]
}

// Problem is something keepalived itself would warn about or refuse, or, with Note, a choice
// the parser made where keepalived's result depends on its command line (conditional lines) or
// on what it cannot expand (~SEQ, undefined $NAME).
type Problem struct {
	Pos  Pos
	Msg  string
	Note bool
}

// Config is a parsed configuration: the top-level statements of the file and its includes.
type Config struct {
	Nodes    []*Node
	Files    []string // every file read, in order
	Problems []Problem
}

// Reader gives the parser the files an include names. Glob expands one pattern (no braces:
// the parser expands those), ReadFile reads one file.
type Reader interface {
	Glob(pattern string) ([]string, error)
	ReadFile(name string) ([]byte, error)
}

// Options are settings keepalived takes from its command line.
type Options struct {
	// ConfigID is keepalived's -i/--config-id: lines "@ID ..." are kept only when it is ID,
	// lines "@^ID ..." only when it is not. Empty: such lines are kept as keepalived without a
	// config id keeps them ("@^ID" lines only), and each is reported.
	ConfigID string
}

// Limits that keep a hostile or looping configuration from using unbounded time or memory.
const (
	maxIncludeDepth = 16
	maxFiles        = 512
	maxLines        = 1 << 20
	maxDepth        = 64
	maxBraceExpand  = 256
)

// Parse reads src, named name, and the files it includes through r (nil: includes are
// reported, not read).
func Parse(name string, src []byte, r Reader, opt Options) *Config {
	p := &parser{r: r, opt: opt, defs: map[string]string{}, cfg: &Config{}}
	p.file(name, src, 0)
	p.build()
	return p.cfg
}

// line is one brace-free segment of a line, or a lone brace.
type item struct {
	pos   Pos
	words []string
	brace byte // '{' or '}' for a brace, 0 for words
}

type parser struct {
	r     Reader
	opt   Options
	defs  map[string]string
	cfg   *Config
	items []item
	lines int
}

func (p *parser) problem(pos Pos, format string, a ...any) {
	p.cfg.Problems = append(p.cfg.Problems, Problem{Pos: pos, Msg: fmt.Sprintf(format, a...)})
}

func (p *parser) note(pos Pos, format string, a ...any) {
	p.cfg.Problems = append(p.cfg.Problems, Problem{Pos: pos, Msg: fmt.Sprintf(format, a...), Note: true})
}

var includeRE = regexp.MustCompile(`^include([rmwba]?)[ \t]+(.*)$`)

func (p *parser) file(name string, src []byte, depth int) {
	if len(p.cfg.Files) >= maxFiles {
		p.problem(Pos{name, 0}, "more than %d files included: %s not read", maxFiles, name)
		return
	}
	p.cfg.Files = append(p.cfg.Files, name)
	for i, raw := range strings.Split(string(src), "\n") {
		p.lines++
		if p.lines > maxLines {
			p.problem(Pos{name, i + 1}, "more than %d lines: the rest is not read", maxLines)
			return
		}
		pos := Pos{name, i + 1}
		line := decomment(strings.TrimRight(raw, "\r"))
		if line == "" {
			continue
		}
		if strings.ContainsRune(line, 0) {
			p.problem(pos, "line holds a NUL byte: ignored, as keepalived does")
			continue
		}
		// include is recognised before conditionals and definitions, as keepalived does.
		if m := includeRE.FindStringSubmatch(line); m != nil {
			p.include(pos, strings.TrimSpace(m[2]), name, depth)
			continue
		}
		if line[0] == '@' {
			var ok bool
			if line, ok = p.conditional(pos, line); !ok {
				continue
			}
		}
		if line[0] == '$' && p.define(line) {
			continue
		}
		if strings.HasPrefix(line, "~SEQ") || strings.HasPrefix(line, "~LST") {
			p.note(pos, "%s blocks are not expanded: the lines they would generate are missing", line[:4])
			continue
		}
		if strings.Contains(line, "$") && len(p.defs) > 0 {
			line = p.substitute(pos, line)
		}
		p.split(pos, line)
	}
}

// decomment removes a comment ('#' or '!' outside double quotes, anywhere on the line), the
// backslash of an escaped '#' or '!', and surrounding blanks.
func decomment(s string) string {
	var b strings.Builder
	quote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quote = !quote
		case c == '\\' && i+1 < len(s) && !quote && (s[i+1] == '#' || s[i+1] == '!'):
			i++
			c = s[i]
		case c == '\\' && i+1 < len(s):
			b.WriteByte(c)
			i++
			c = s[i]
		case !quote && (c == '#' || c == '!'):
			return strings.TrimSpace(b.String())
		}
		b.WriteByte(c)
	}
	return strings.Trim(b.String(), " \t")
}

func (p *parser) conditional(pos Pos, line string) (string, bool) {
	rev := strings.HasPrefix(line, "@^")
	rest := strings.TrimPrefix(strings.TrimPrefix(line, "@^"), "@")
	i := strings.IndexAny(rest, " \t")
	if i < 0 {
		return "", false
	}
	id, body := rest[:i], strings.TrimLeft(rest[i:], " \t")
	if p.opt.ConfigID == "" {
		what := map[bool]string{true: "kept", false: "dropped"}[rev]
		p.note(pos, "conditional line @%s%s: %s, as if keepalived's config id (-i, by default the host name) were not %s; name the file FILE@ID to choose it",
			map[bool]string{true: "^", false: ""}[rev], id, what, id)
	}
	keep := (p.opt.ConfigID == id) != rev
	if body == "" {
		return "", false
	}
	return body, keep
}

var defRE = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)$`)

func (p *parser) define(line string) bool {
	m := defRE.FindStringSubmatch(line)
	if m == nil {
		return false
	}
	p.defs[m[1]] = m[2]
	return true
}

var refRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

func (p *parser) substitute(pos Pos, line string) string {
	return refRE.ReplaceAllStringFunc(line, func(ref string) string {
		name := strings.Trim(ref, "${}")
		if v, ok := p.defs[name]; ok {
			return v
		}
		p.note(pos, "$%s is not defined: kept as written", name)
		return ref
	})
}

func (p *parser) include(pos Pos, pattern, from string, depth int) {
	if depth+1 > maxIncludeDepth {
		p.problem(pos, "include %s: includes nested more than %d deep (a loop?): not read", pattern, maxIncludeDepth)
		return
	}
	if p.r == nil {
		p.problem(pos, "include %s: not read (no file system)", pattern)
		return
	}
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(from), pattern)
	}
	var names []string
	for _, pat := range expandBraces(pattern, 0) {
		m, err := p.r.Glob(pat)
		if err != nil {
			p.problem(pos, "include %s: %v", pat, err)
			continue
		}
		sort.Strings(m)
		names = append(names, m...)
	}
	if len(names) == 0 {
		p.problem(pos, "include %s: no file matches", pattern)
		return
	}
	for _, n := range names {
		src, err := p.r.ReadFile(n)
		if err != nil {
			p.problem(pos, "include %s: %v", n, err)
			continue
		}
		p.file(n, src, depth+1)
	}
}

// expandBraces expands csh-style brace lists, "{a,b}c" to "ac", "bc", as glob(3) with
// GLOB_BRACE does.
func expandBraces(s string, n int) []string {
	open := -1
	level := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			if level == 0 {
				open = i
			}
			level++
		case '}':
			if level == 0 {
				continue
			}
			level--
			if level != 0 {
				continue
			}
			var alts []string
			start, l := open+1, 0
			for j := open + 1; j < i; j++ {
				switch s[j] {
				case '{':
					l++
				case '}':
					l--
				case ',':
					if l == 0 {
						alts = append(alts, s[start:j])
						start = j + 1
					}
				}
			}
			alts = append(alts, s[start:i])
			var out []string
			for _, a := range alts {
				for _, e := range expandBraces(s[:open]+a+s[i+1:], n+len(out)) {
					if n+len(out) >= maxBraceExpand {
						return out
					}
					out = append(out, e)
				}
			}
			return out
		}
	}
	return []string{s}
}

// split cuts a line at every brace outside double quotes, as keepalived does, and splits each
// piece into words.
func (p *parser) split(pos Pos, line string) {
	quote := false
	start := 0
	flush := func(end int) {
		if w := words(line[start:end]); len(w) > 0 {
			p.items = append(p.items, item{pos: pos, words: w})
		}
	}
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '"':
			quote = !quote
		case !quote && (c == '{' || c == '}'):
			flush(i)
			p.items = append(p.items, item{pos: pos, brace: c})
			start = i + 1
		}
	}
	flush(len(line))
}

// words splits s at blanks; a word starting with a double quote runs to the next one, and the
// quotes are not part of it (keepalived's alloc_strvec).
func words(s string) []string {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t\v\f\r")
		if s == "" {
			return out
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return append(out, s[1:])
			}
			out = append(out, s[1:1+end])
			s = s[2+end:]
			continue
		}
		end := strings.IndexAny(s, " \t\v\f\r\"")
		if end < 0 {
			return append(out, s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
}

// build turns the items into the statement tree.
func (p *parser) build() {
	type level struct {
		nodes *[]*Node
		owner *Node // nil for the top level and for a stray block
		pos   Pos
	}
	top := &p.cfg.Nodes
	stack := []level{{nodes: top}}
	var last *Node // the statement just before, if the previous item was a statement
	for _, it := range p.items {
		cur := &stack[len(stack)-1]
		switch it.brace {
		case 0:
			n := &Node{Pos: it.pos, Args: it.words}
			*cur.nodes = append(*cur.nodes, n)
			last = n
			continue
		case '{':
			if len(stack) >= maxDepth {
				p.problem(it.pos, "blocks nested more than %d deep: the rest is flattened", maxDepth)
				last = nil
				continue
			}
			if last != nil && !last.HasBlock {
				last.HasBlock = true
				stack = append(stack, level{nodes: &last.Block, owner: last, pos: it.pos})
			} else {
				p.problem(it.pos, "unexpected '{': its contents are read as part of the enclosing block")
				stack = append(stack, level{nodes: cur.nodes, pos: it.pos})
			}
		case '}':
			if len(stack) == 1 {
				p.problem(it.pos, "extra '}' found: ignored")
			} else {
				stack = stack[:len(stack)-1]
			}
		}
		last = nil
	}
	for i := len(stack) - 1; i > 0; i-- {
		what := "a block"
		if o := stack[i].owner; o != nil {
			what = "the block of " + o.Keyword()
		}
		p.problem(stack[i].pos, "%s is never closed: missing '}'", what)
	}
}

// OS reads includes from the file system.
type OS struct{}

// Glob is filepath.Glob.
func (OS) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }

// ReadFile is os.ReadFile.
func (OS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// ParseFile reads the file at path and its includes from the file system.
func ParseFile(path string, opt Options) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src, OS{}, opt), nil
}
