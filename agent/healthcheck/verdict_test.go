package healthcheck

import (
	"strings"
	"testing"
	"time"
)

// TestVerdict feeds attempt outcomes ('+' passed, '-' failed) and checks the verdict after each:
// U/D up or down, then r when a retry is due (the check is not finished), ! when it flipped.
func TestVerdict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		retries, rise, fall int
		startDown           bool
		attempts            string
		want                string
	}{
		{"one fail goes down, one pass comes up", 0, 1, 1, false, "+-+", "U D! U!"},
		{"retries: a check fails after all attempts", 2, 1, 1, false, "---", "Ur Ur D!"},
		{"a passed retry saves the check", 1, 1, 1, false, "-+--", "Ur U Ur D!"},
		{"fall counts consecutive failed checks", 0, 1, 3, false, "--+---", "U U U U U D!"},
		{"rise counts consecutive passed checks", 0, 2, 1, false, "-+-++", "D! D D D U!"},
		{"start_down: the first pass is enough, whatever rise", 0, 3, 1, true, "-+", "D U!"},
		{"start_down with retries", 1, 3, 1, true, "--+", "Dr D U!"},
		{"after start_down, rise applies again", 0, 2, 1, true, "+-++", "U! D! D U!"},
		{"retries and fall together", 1, 1, 2, false, "----", "Ur U Ur D!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := params{retries: tt.retries, rise: tt.rise, fall: tt.fall}
			v := newVerdict(tt.startDown)
			var got []string
			for _, a := range tt.attempts {
				reason := ""
				if a == '-' {
					reason = "tcp: connect 198.51.100.21:80: connection refused"
				}
				done, changed := v.record(reason, p)
				s := "D"
				if v.up {
					s = "U"
				}
				if !done {
					s += "r"
				}
				if changed {
					s += "!"
				}
				got = append(got, s)
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("attempts %s: got %s, want %s", tt.attempts, g, tt.want)
			}
		})
	}
}

func TestVerdictState(t *testing.T) {
	t.Parallel()
	p := params{retries: 0, rise: 2, fall: 3}
	refused := "tcp: connect 198.51.100.21:80: connection refused"
	v := newVerdict(true)
	if s, r := v.state(p); s != StateDown || !strings.Contains(r, "start_down") {
		t.Errorf("new start_down verdict: %s %q", s, r)
	}
	v.record("", p)
	if s, r := v.state(p); s != StateUp || r != "" {
		t.Errorf("after a pass: %s %q", s, r)
	}
	v.record(refused, p)
	if s, r := v.state(p); s != StateUp || r != refused+" (1 of 3 failed checks to go down)" {
		t.Errorf("failing: %s %q", s, r)
	}
	v.record(refused, p)
	v.record(refused, p)
	if s, r := v.state(p); s != StateDown || r != refused {
		t.Errorf("down: %s %q", s, r)
	}
	v.record("", p)
	if s, r := v.state(p); s != StateDown || r != refused+" (1 of 2 passed checks to come up)" {
		t.Errorf("rising: %s %q", s, r)
	}
	// A restarted checker keeps down and its reason, and counts from zero.
	r := v.restarted()
	if r.up || r.succ != 0 || r.reason != refused {
		t.Errorf("restarted: %+v", r)
	}
}

// TestTargetTiming drives one target with a fake clock: retries come retry_delay after a failed
// attempt, the next check an interval after the previous one began, or an interval after it ended if
// it overran (keepalived's delay_loop).
func TestTargetTiming(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	tg := &target{spec: &spec{p: params{interval: time.Second, timeout: 300 * time.Millisecond,
		retryDelay: 200 * time.Millisecond, retries: 1, rise: 1, fall: 1}}, v: newVerdict(false), due: t0}
	steps := []struct {
		end     int    // ms when the attempt ends
		reason  string // "" passed
		wantDue int
		wantUp  bool
	}{
		{10, "refused", 210, true},     // first attempt fails: retry after 200ms
		{220, "refused", 1000, false},  // retry fails: check failed, next an interval after t0
		{1005, "", 2000, true},         // passes
		{2300, "timeout", 2500, true},  // timed out, retry
		{3100, "timeout", 4100, false}, // the check outlasted the interval: next an interval after it ended
		{4110, "", 5100, true},         // a check that began at 4100
		{5200, "", 6100, true},         // on time
	}
	for i, s := range steps {
		tg.begin()
		tg.finish(ms(s.end), s.reason)
		if !tg.due.Equal(ms(s.wantDue)) || tg.v.up != s.wantUp {
			t.Fatalf("step %d: due %v up %v, want due %dms up %v", i, tg.due.Sub(t0), tg.v.up, s.wantDue, s.wantUp)
		}
	}
}

func TestParamsDefaults(t *testing.T) {
	t.Parallel()
	p := paramsOf(&hcZero)
	// Zero retries and retry delay are choices, not gaps: no retry.
	want := params{interval: 5 * time.Second, timeout: 3 * time.Second, retryDelay: 0, retries: 0, rise: 1, fall: 1}
	if p != want {
		t.Errorf("defaults: got %+v, want %+v", p, want)
	}
	// A default timeout never outlives an explicit, shorter interval.
	short := hcZero
	short.IntervalMS = 1000
	if p := paramsOf(&short); p.timeout != time.Second {
		t.Errorf("timeout with a 1s interval: %v", p.timeout)
	}
}
