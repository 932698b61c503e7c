package reconcile

import (
	"context"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// The contract between the agent's parts (VRRP, health checks, IPVS, real-server networking)
// and what drives them (the API server). It lives here, below both, so that the parts that
// touch the kernel do not depend on the API.

// Trigger says why an Apply runs.
type Trigger uint8

const (
	// Resync is the start or a periodic resync: a part compares with the host itself and
	// repairs drift.
	Resync Trigger = iota
	// Change is an Apply that follows a committed change. It may plan from what the part last
	// programmed instead of reading the whole host back: the start and every resync still
	// compare with the host and repair drift. At 1,000 real servers, reading the IPVS table back
	// on every commit was most of an agent's CPU during `terraform apply`.
	Change
)

// String names the trigger for logs.
func (t Trigger) String() string {
	if t == Change {
		return "change"
	}
	return "resync"
}

// Reconciler makes the host match a desired state. Apply is called after every stored change, at
// start and periodically, so it must be idempotent and must not disturb what already matches.
// The state is shared with the server and its readers: Apply may keep it but must not change it.
type Reconciler interface {
	Apply(ctx context.Context, st *agentapi.State, why Trigger) error
}

// StatusReporter is implemented by reconcilers that have live state to show (VRRP roles, the
// kernel's IPVS table); the server adds it to every status answer.
type StatusReporter interface {
	Report(st *agentapi.Status)
}

// Stopper is implemented by reconcilers that must act on a graceful stop, such as VRRP sending
// priority 0 so the peer takes over at once. What is programmed in the kernel stays.
type Stopper interface {
	Stop(ctx context.Context) error
}

// Nop applies nothing; the agent then only stores and reports state.
type Nop struct{}

// Apply implements Reconciler.
func (Nop) Apply(context.Context, *agentapi.State, Trigger) error { return nil }
