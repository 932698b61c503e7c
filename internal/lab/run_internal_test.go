//go:build linux

package lab

import (
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	// A command name with spaces and parentheses, as a process may choose.
	line := "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 18446744073709551615\n"
	s, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if s.state != 'S' || s.ppid != 1 || s.pgrp != 1234 || s.startTime != 987654 {
		t.Errorf("parseProcStat = %+v", s)
	}
	if _, err := parseProcStat([]byte("1234 (x) S 1")); err == nil {
		t.Error("short stat parsed without error")
	}
}

func TestShareList(t *testing.T) {
	t.Parallel()
	got := shareList([]string{"/work/main/internal/lab", "/tmp/lvs-lab-run-1", "/", "/root", "/tmp",
		"/work/main", "/tmp/go-build1/b001", "/tmp/lvs-lab-run-1/", "relative/dir"})
	want := []string{"/tmp/go-build1/b001", "/tmp/lvs-lab-run-1", "/work/main"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("shareList = %q, want %q", got, want)
	}
}

func TestParseMem(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"2G": 2 << 30, "512M": 512 << 20, "300m": 300 << 20, "1048576K": 1 << 30} {
		if got, err := parseMem(in); err != nil || got != want {
			t.Errorf("parseMem(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "2T", "-1G", "100M", "abc"} {
		if _, err := parseMem(in); err == nil {
			t.Errorf("parseMem(%q) accepted", in)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	t.Parallel()
	if got := unescapeMount(`/run/a\040b\011c`); got != "/run/a b\tc" {
		t.Errorf("unescapeMount = %q", got)
	}
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	b := &tailBuffer{max: 5}
	b.Write([]byte("abc"))
	b.Write([]byte("defg"))
	if got := b.String(); got != "cdefg" {
		t.Errorf("tailBuffer = %q, want cdefg", got)
	}
}

func TestCmdEnv(t *testing.T) {
	t.Parallel()
	env := cmdEnv([]string{"PATH=/bin", "LVS_LAB=0", "TMPDIR=/var/x", "TF_ACC=1"}, "uml", time.Now())
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := m[k]; dup {
			t.Errorf("duplicate %s", k)
		}
		m[k] = v
	}
	if m["LVS_LAB"] != "1" || m["LVS_LAB_DIR"] != DefaultDir || m["TMPDIR"] != "/tmp" || m["TF_ACC"] != "1" || m["PATH"] != "/bin" || m["LVS_LAB_MODE"] != "uml" {
		t.Errorf("cmdEnv = %v", env)
	}
}
