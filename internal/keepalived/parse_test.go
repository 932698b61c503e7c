package keepalived

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"testing"
	"testing/fstest"
)

// mapReader serves includes from memory.
type mapReader fstest.MapFS

func (m mapReader) Glob(p string) ([]string, error) {
	names, err := fs.Glob(fstest.MapFS(m), strings.TrimPrefix(p, "/"))
	if strings.HasPrefix(p, "/") {
		for i := range names {
			names[i] = "/" + names[i]
		}
	}
	return names, err
}

func (m mapReader) ReadFile(name string) ([]byte, error) {
	f, ok := m[strings.TrimPrefix(name, "/")]
	if !ok {
		return nil, errors.New("no such file")
	}
	return f.Data, nil
}

// dump writes the tree as "kw arg... { ... }" with positions, for comparisons.
func dump(ns []*Node) string {
	var b strings.Builder
	var walk func([]*Node)
	walk = func(ns []*Node) {
		for _, n := range ns {
			b.WriteString(n.Pos.String() + " " + strings.Join(n.Args, "|"))
			if n.HasBlock {
				b.WriteString(" {\n")
				walk(n.Block)
				b.WriteString("}")
			}
			b.WriteString("\n")
		}
	}
	walk(ns)
	return b.String()
}

func TestLexing(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"comments anywhere", "a 1 # x\n! all\nb 2 ! y\n", "k:1 a|1\nk:3 b|2\n"},
		{"escaped comment characters", `a x\#y \!z` + "\n", "k:1 a|x#y|!z\n"},
		{"quoted strings keep blanks and comment characters", `script "/bin/x -a # b" tail` + "\n", "k:1 script|/bin/x -a # b|tail\n"},
		{"one-line block", "v { a 1 }\n", "k:1 v {\nk:1 a|1\n}\n"},
		{"brace on the next line", "v\n{\n a 1\n}\n", "k:1 v {\nk:3 a|1\n}\n"},
		{"nested one-line blocks", "rs 1 { weight 2\nTCP_CHECK { connect_timeout 3 } }\n", "k:1 rs|1 {\nk:1 weight|2\nk:2 TCP_CHECK {\nk:2 connect_timeout|3\n}\n}\n"},
		{"braces in quotes are words", `s "a{b}" ` + "\n", "k:1 s|a{b}\n"},
		{"CRLF", "a 1\r\nb 2\r\n", "k:1 a|1\nk:2 b|2\n"},
		{"definitions", "$IF=eth1\ninterface $IF\nx ${IF}.2\n", "k:2 interface|eth1\nk:3 x|eth1.2\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Parse("k", []byte(c.src), nil, Options{})
			if got := dump(cfg.Nodes); got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
			if len(cfg.Problems) > 0 {
				t.Errorf("problems: %v", cfg.Problems)
			}
		})
	}
}

func TestProblems(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"a {\n b 1\n", "the block of a is never closed"},
		{"a 1\n}\n", "extra '}'"},
		{"a { }\n{ b }\n", "unexpected '{'"},
		{"~SEQ(i,1,3) x $i\n", "~SEQ blocks are not expanded"},
		{"include other.conf\n", "not read (no file system)"},
		{"@lb1 priority 150\n", "conditional line @lb1: dropped"},
		{"x $NOPE\n$A=1\ny $NOPE\n", "$NOPE is not defined"},
	} {
		cfg := Parse("k", []byte(c.src), nil, Options{})
		found := false
		for _, p := range cfg.Problems {
			found = found || strings.Contains(p.Msg, c.want)
		}
		if !found {
			t.Errorf("%q: no problem %q in %v", c.src, c.want, cfg.Problems)
		}
	}
}

func TestConditional(t *testing.T) {
	src := "@lb1 priority 150\n@lb2 priority 100\n@^lb1 state BACKUP\n"
	cfg := Parse("k", []byte(src), nil, Options{ConfigID: "lb2"})
	if got, want := dump(cfg.Nodes), "k:2 priority|100\nk:3 state|BACKUP\n"; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestIncludes(t *testing.T) {
	r := mapReader{
		"etc/ka/conf.d/a.conf":   {Data: []byte("a 1\ninclude ../more/*.conf\n")},
		"etc/ka/conf.d/b.conf":   {Data: []byte("v {\n b 2\n")},
		"etc/ka/more/m.conf":     {Data: []byte("m 3\n")},
		"etc/ka/x.conf":          {Data: []byte("x 4\n")},
		"etc/ka/y.conf":          {Data: []byte("y 5\n")},
		"etc/ka/loop/self.conf":  {Data: []byte("include self.conf\n")},
		"etc/ka/conf.d/c.txt":    {Data: []byte("not included\n")},
		"etc/ka/conf.d/sub/.ign": {Data: []byte("")},
	}
	// An include inside a block continues the block, as keepalived reads includes as text.
	src := "include conf.d/*.conf\n c 6\n}\ninclude {x,y}.conf\ninclude loop/self.conf\n"
	cfg := Parse("/etc/ka/keepalived.conf", []byte(src), r, Options{})
	want := "/etc/ka/conf.d/a.conf:1 a|1\n/etc/ka/more/m.conf:1 m|3\n/etc/ka/conf.d/b.conf:1 v {\n/etc/ka/conf.d/b.conf:2 b|2\n/etc/ka/keepalived.conf:2 c|6\n}\n" +
		"/etc/ka/x.conf:1 x|4\n/etc/ka/y.conf:1 y|5\n"
	if got := dump(cfg.Nodes); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if len(cfg.Problems) != 1 || !strings.Contains(cfg.Problems[0].Msg, "nested more than 16 deep") {
		t.Errorf("problems: %v", cfg.Problems)
	}
	if path.Base(cfg.Files[len(cfg.Files)-1]) != "self.conf" {
		t.Errorf("files: %v", cfg.Files)
	}
}

func TestExpandBraces(t *testing.T) {
	got := strings.Join(expandBraces("{foo/{,cat,dog},bar}", 0), " ")
	if want := "foo/ foo/cat foo/dog bar"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// FuzzParse: any input parses without panicking, in bounded time, and every node has a
// position in a file that was read.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"vrrp_instance VI_1 {\n interface eth0\n virtual_ipaddress { 198.51.100.1/24 dev eth0 }\n}\n",
		"virtual_server 198.51.100.1 80 { real_server 198.51.100.2 80 { HTTP_GET { url { path / } } } }",
		"a \"b # c\" \\# d ! e\n}{}{\n@x y\n@^x z\n$A=1\n$A\n~SEQ(i,1,2)\ninclude x\n",
		"{{{{", "}}}}", "\"", "$", "@", "@^ a",
	} {
		f.Add(s)
	}
	r := mapReader{"x": {Data: []byte("include x\nv { a }\n")}}
	f.Fuzz(func(t *testing.T, src string) {
		cfg := Parse("k", []byte(src), r, Options{ConfigID: "x"})
		files := map[string]bool{}
		for _, n := range cfg.Files {
			files[n] = true
		}
		var walk func([]*Node, int)
		walk = func(ns []*Node, depth int) {
			if depth > maxDepth+1 {
				t.Fatalf("tree deeper than %d", maxDepth)
			}
			for _, n := range ns {
				if !files[n.Pos.File] || n.Pos.Line < 1 || len(n.Args) == 0 {
					t.Fatalf("node %+v: bad position or no words", n)
				}
				walk(n.Block, depth+1)
			}
		}
		walk(cfg.Nodes, 0)
	})
}
