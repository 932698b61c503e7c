package ha_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// garpBurst is a run of gratuitous ARPs sent back to back: At from the first of all (the
// takeover), N frames.
type garpBurst struct {
	At time.Duration
	N  int
}

func (b garpBurst) String() string { return fmt.Sprintf("%d@%v", b.N, b.At.Round(time.Millisecond)) }

// burstGap separates two bursts: the frames of one go out back to back (microseconds apart),
// and the policy's bursts are 500 ms apart or more in the lab test unless they are late.
const burstGap = 300 * time.Millisecond

// garpTimeline checks what one new master sent for one address — the receive times ats (ns,
// ascending), the first being the takeover — against g over the window from the first frame:
// a takeover burst of Repeat; one more of Repeat DelayMS later (none when 0); bursts of
// RefreshRepeat every RefreshMS (none when 0). Frame counts are exact. Times may be late by
// slack, never early; two bursts due close together that a stalled machine sent late at once
// count as both, the frames of a burst being the sum of theirs (g's two counts must tell them
// apart: one of each at most, or any number of refreshes).
func garpTimeline(ats []int64, g agentapi.GARP, window, slack time.Duration) ([]garpBurst, []string) {
	var bursts []garpBurst
	for i, at := range ats {
		d := time.Duration(at - ats[0])
		if d > window {
			break
		}
		if i == 0 || d-time.Duration(ats[i-1]-ats[0]) > burstGap {
			bursts = append(bursts, garpBurst{At: d})
		}
		bursts[len(bursts)-1].N++
	}
	if len(bursts) == 0 {
		return nil, []string{"no gratuitous ARP"}
	}
	var problems []string
	fail := func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	early := 50 * time.Millisecond // frames are stamped on receipt, timers armed before sending
	if bursts[0].N != g.Repeat {
		fail("the takeover burst has %d frames, want repeat = %d", bursts[0].N, g.Repeat)
	}
	every := ms(g.RefreshMS)
	var delayed []garpBurst
	refreshes, prev := 0, time.Duration(0)
	for _, b := range bursts[1:] {
		// b.N = a×Repeat + r×RefreshRepeat, a being 0 or 1: exactly one way.
		var ways [][2]int
		for a := range 2 {
			if rest := b.N - a*g.Repeat; rest >= 0 && rest%g.RefreshRepeat == 0 {
				ways = append(ways, [2]int{a, rest / g.RefreshRepeat})
			}
		}
		if len(ways) != 1 {
			fail("a burst of %d frames at %v: not repeat (%d) and refresh_repeat (%d) frames in one way", b.N, b.At, g.Repeat, g.RefreshRepeat)
			continue
		}
		if ways[0][0] == 1 {
			delayed = append(delayed, b)
		}
		if r := ways[0][1]; r > 0 {
			if g.RefreshMS == 0 {
				fail("a refresh burst at %v with refresh off", b.At)
			} else if b.At-prev < every-early {
				fail("a refresh burst at %v, %v after the previous one: want every %v", b.At, b.At-prev, every)
			}
			refreshes, prev = refreshes+r, b.At
		}
	}
	switch wantDelayed := g.DelayMS > 0 && ms(g.DelayMS) <= window; {
	case !wantDelayed && len(delayed) > 0:
		fail("bursts of repeat after the takeover's: %v, want none", delayed)
	case wantDelayed && len(delayed) != 1:
		fail("%d bursts of repeat after the takeover's (%v), want one at delay = %v", len(delayed), delayed, ms(g.DelayMS))
	case wantDelayed && (delayed[0].At < ms(g.DelayMS)-early || delayed[0].At > ms(g.DelayMS)+slack):
		fail("the second burst came at %v, want delay = %v (late by at most %v)", delayed[0].At, ms(g.DelayMS), slack)
	}
	if g.RefreshMS > 0 {
		// Each refresh is armed when the previous one went out: lateness adds up, to slack.
		most, least := int(window/every), int(max(window-slack, 0)/every)
		if refreshes < least || refreshes > most {
			fail("%d refresh bursts in %v (%v), want %d to %d at refresh = %v", refreshes, window, bursts, least, most, every)
		}
	}
	return bursts, problems
}

func TestGARPTimeline(t *testing.T) {
	t.Parallel()
	g := agentapi.GARP{Repeat: 3, DelayMS: 2500, RefreshMS: 1000, RefreshRepeat: 2}
	at := func(spec ...any) []int64 { // duration, frames, duration, frames...
		var out []int64
		for i := 0; i < len(spec); i += 2 {
			for k := range spec[i+1].(int) {
				d, _ := spec[i].(time.Duration) // an untyped 0 is an int
				out = append(out, int64(d)+int64(k)*20_000)
			}
		}
		return out
	}
	s := time.Second
	for _, c := range []struct {
		name string
		ats  []int64
		bad  bool
	}{
		{"on time", at(0, 3, 1*s, 2, 2*s, 2, 2500*time.Millisecond, 3, 3*s, 2, 4*s, 2), false},
		{"late under load", at(0, 3, 1100*time.Millisecond, 2, 2200*time.Millisecond, 2, 2800*time.Millisecond, 3, 3300*time.Millisecond, 2), false},
		{"too few refreshes", at(0, 3, 1100*time.Millisecond, 2, 2500*time.Millisecond, 3, 3300*time.Millisecond, 2), true},
		{"one frame short", at(0, 3, 1*s, 2, 2*s, 1, 2500*time.Millisecond, 3, 3*s, 2, 4*s, 2), true},
		{"defaults instead", at(0, 5, 4*s, 5), true},
		{"no second burst", at(0, 3, 1*s, 2, 2*s, 2, 3*s, 2, 4*s, 2), true},
		{"refresh too often", at(0, 3, 500*time.Millisecond, 2, 1*s, 2, 1500*time.Millisecond, 2, 2*s, 2, 2500*time.Millisecond, 3, 3*s, 2, 4*s, 2), true},
		{"no refresh", at(0, 3, 2500*time.Millisecond, 3), true},
		{"a second takeover burst", at(0, 3, 1*s, 2, 2*s, 2, 2500*time.Millisecond, 3, 3*s, 2, 3500*time.Millisecond, 3, 4*s, 2), true},
		{"stalled: the second burst and a refresh at once", at(0, 3, 1*s, 2, 2600*time.Millisecond, 5, 3600*time.Millisecond, 2), false},
		{"stalled: two refreshes at once", at(0, 3, 2100*time.Millisecond, 4, 2500*time.Millisecond, 3, 3100*time.Millisecond, 2), false},
		{"a burst of 1", at(0, 3, 1*s, 2, 2*s, 2, 2500*time.Millisecond, 3, 3*s, 1, 4*s, 2), true},
		{"second burst too late", at(0, 3, 1*s, 2, 2*s, 2, 3*s, 2, 4100*time.Millisecond, 3), true},
	} {
		bursts, problems := garpTimeline(c.ats, g, 4500*time.Millisecond, 1500*time.Millisecond)
		if (len(problems) > 0) != c.bad {
			t.Errorf("%s: bursts %v, problems %q", c.name, bursts, problems)
		}
	}
	// Off: no second burst, no refresh.
	off := agentapi.GARP{Repeat: 1, RefreshRepeat: 1}
	if _, p := garpTimeline(at(0, 1), off, 4*s, 0); len(p) > 0 {
		t.Error(p)
	}
	if _, p := garpTimeline(at(0, 1, 2*s, 1), off, 4*s, 0); len(p) == 0 {
		t.Error("an extra burst with everything off passed")
	}
}
