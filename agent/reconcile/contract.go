package reconcile

import (
	"context"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// The contract between the agent's parts (VRRP, health checks, IPVS, real-server networking)
// and what drives them (the API server). It lives here, below both, so that the parts that
// touch the kernel do not depend on the API.

// changeKey marks the context of an Apply that follows a committed change.
type changeKey struct{}

// ForChange returns ctx marked as the Apply of a change just committed, as opposed to the start
// or a resync.
func ForChange(ctx context.Context) context.Context { return context.WithValue(ctx, changeKey{}, true) }

// IsChange reports whether an Apply follows a committed change. Such an Apply may plan from what
// the reconciler last programmed instead of reading the whole host back: the start and every
// resync still compare with the host itself and repair drift. At 1,000 real servers, reading
// the IPVS table back on every commit was most of an agent's CPU during `terraform apply`.
func IsChange(ctx context.Context) bool { v, _ := ctx.Value(changeKey{}).(bool); return v }

// Reconciler makes the host match a desired state. Apply is called after every stored change, at
// start and periodically, so it must be idempotent and must not disturb what already matches.
// The state is shared with the server and its readers: Apply may keep it but must not change it.
type Reconciler interface {
	Apply(ctx context.Context, st *agentapi.State) error
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
func (Nop) Apply(context.Context, *agentapi.State) error { return nil }
