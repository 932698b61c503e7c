package healthcheck

import (
	"fmt"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Health states as the status reports them.
const (
	StateUp        = agentapi.HealthUp
	StateDown      = agentapi.HealthDown
	StateUnchecked = agentapi.HealthUnchecked
)

// params are a check's timing and counts with the defaults applied.
type params struct {
	interval, timeout, retryDelay time.Duration
	retries, rise, fall           int
}

// Defaults for zero values in the wire type (retries and retry delay have none: zero is no
// retry).
const (
	defaultInterval = 5 * time.Second
	defaultTimeout  = 3 * time.Second
	defaultRise     = 1
	defaultFall     = 1
)

// verdict is what the checks decided about one real server. It knows nothing of time or
// sockets: it is fed the outcome of each attempt.
type verdict struct {
	up bool
	// waitFirst: started down (start_down); the first passed check brings it up, whatever rise.
	waitFirst bool
	succ      int // consecutive passed checks
	fail      int // consecutive failed checks
	attempt   int // failed attempts of the check under way
	reason    string
	checks    uint64 // finished checks, for the reason text
}

// newVerdict is the verdict of a real server that was not checked before.
func newVerdict(startDown bool) verdict {
	if startDown {
		return verdict{waitFirst: true, reason: "start_down: waiting for the first passed check"}
	}
	return verdict{up: true}
}

// restarted is the verdict carried over to a restarted checker: up or down stays, the counts
// start again.
func (v verdict) restarted() verdict {
	v.succ, v.fail, v.attempt = 0, 0, 0
	return v
}

// record takes the outcome of one attempt (reason empty = passed). It reports whether the
// check is finished (false: another attempt is due after retry_delay) and whether up/down
// flipped.
func (v *verdict) record(reason string, p params) (done, changed bool) {
	if reason != "" && v.attempt < p.retries {
		v.attempt++
		v.reason = reason
		return false, false
	}
	v.attempt = 0
	v.checks++
	if reason == "" {
		v.succ++
		v.fail = 0
		if !v.up && (v.waitFirst || v.succ >= p.rise) {
			v.up, v.waitFirst, v.reason = true, false, ""
			return true, true
		}
		if v.up {
			v.reason = ""
		}
		return true, false
	}
	v.fail++
	v.succ = 0
	v.reason = reason
	if v.up && v.fail >= p.fall {
		v.up = false
		return true, true
	}
	return true, false
}

// state is the verdict as the status shows it: up or down and why, with any progress towards
// the other state.
func (v *verdict) state(p params) (agentapi.HealthState, string) {
	switch {
	case v.up && v.fail > 0:
		return StateUp, fmt.Sprintf("%s (%d of %d failed checks to go down)", v.reason, v.fail, p.fall)
	case v.up && v.attempt > 0:
		return StateUp, fmt.Sprintf("%s (retrying)", v.reason)
	case v.up:
		return StateUp, ""
	case v.succ > 0:
		return StateDown, fmt.Sprintf("%s (%d of %d passed checks to come up)", v.reason, v.succ, p.rise)
	}
	return StateDown, v.reason
}
