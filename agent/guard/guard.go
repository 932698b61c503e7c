// Package guard keeps one part of the agent (a health checker, the IPVS reconciler, a VRRP
// engine) from taking the whole agent down: a panic in it is recovered, logged with its stack
// and counted for the status, and the part carries on or is restarted by its owner, while every
// other part keeps running. A crash-looping agent on both directors would stop VRRP and the
// resync of IPVS on both at once; a part that restarts alone does not.
package guard

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Parts, as the status names them.
const (
	PartHealthcheck = "healthcheck"
	PartIPVS        = "ipvs"
	PartVRRP        = "vrrp"
)

var (
	mu     sync.Mutex
	counts = map[string]*agentapi.PartPanics{}
)

// PanicError is the error a recovered panic becomes.
type PanicError struct {
	Part  string
	Value any
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("%s panicked (recovered; it restarts, its stack is in the log): %v", e.Part, e.Value)
}

// Recovered records a panic value of part (from recover(), non-nil) with the stack of the
// goroutine that panicked, and returns it as an error. Call it from the deferred function that
// recovered.
func Recovered(log *slog.Logger, part string, v any) error {
	now := time.Now().UTC()
	mu.Lock()
	c := counts[part]
	if c == nil {
		c = &agentapi.PartPanics{Part: part}
		counts[part] = c
	}
	c.Count++
	c.Last = fmt.Sprint(v)
	c.LastAt = now.Format(time.RFC3339Nano)
	mu.Unlock()
	if log != nil {
		log.Error("panic recovered; the part restarts", "part", part, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	}
	return &PanicError{Part: part, Value: v}
}

// Call runs f and turns a panic in it into an error (see Recovered).
func Call(log *slog.Logger, part string, f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = Recovered(log, part, v)
		}
	}()
	return f()
}

// Report returns the panics recovered so far, by part; nil when there were none.
func Report() []agentapi.PartPanics {
	mu.Lock()
	defer mu.Unlock()
	var out []agentapi.PartPanics
	for _, c := range counts {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b agentapi.PartPanics) int { return strings.Compare(a.Part, b.Part) })
	return out
}

// InjectEnv names the places whose first run panics on purpose, comma-separated: healthcheck
// (a checker's attempt), vrrp (an engine's event loop), apply:NAME (a part's Apply, e.g.
// apply:ipvs): the lab's way to prove the recovery on a real agent. Production never sets it;
// reading it costs one lookup at start.
const InjectEnv = "LVS_AGENT_TEST_PANIC"

var (
	injectOnce sync.Once
	injectMu   sync.Mutex
	inject     map[string]bool
	armed      atomic.Bool // some part is still to panic
)

// Inject panics once per part named in InjectEnv, the first time it is called for that part.
func Inject(part string) {
	injectOnce.Do(func() {
		inject = map[string]bool{}
		for _, p := range strings.Split(os.Getenv(InjectEnv), ",") {
			if p = strings.TrimSpace(p); p != "" {
				inject[p] = true
			}
		}
		armed.Store(len(inject) > 0)
	})
	if !armed.Load() {
		return
	}
	injectMu.Lock()
	hit := inject[part]
	delete(inject, part)
	injectMu.Unlock()
	if hit {
		panic(fmt.Sprintf("injected by %s for a test", InjectEnv))
	}
}
