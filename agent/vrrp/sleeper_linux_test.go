//go:build linux

package vrrp

import (
	"testing"
	"time"
)

// The sleeper behind a backup's last stretch to Master_Down_Timer runs on a timerfd, and never
// returns early: returning early would take over before the RFC's interval ran out.
func TestPreciseSleeperNeverEarly(t *testing.T) {
	t.Parallel()
	s := newPreciseSleeper()
	defer s.close()
	if s.f == nil {
		t.Fatal("no timerfd: the sleeper falls back to Go's timers")
	}
	for _, d := range []time.Duration{-time.Millisecond, 0, 100 * time.Microsecond, earlyWake} {
		start := time.Now()
		s.sleep(d)
		if got := time.Since(start); got < d {
			t.Errorf("sleep(%v) returned after %v", d, got)
		}
	}
}
