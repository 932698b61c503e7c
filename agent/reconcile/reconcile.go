// Package reconcile combines the agent's subsystems (VRRP, IPVS, real-server networking) into the
// one Reconciler the API server drives, and holds the contract between the parts and the server
// (Reconciler, StatusReporter, Stopper).
//
// Each part sees the whole desired state and takes what concerns it; a failing part does not stop
// the others, so a broken health check cannot keep a VIP from failing over.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/lvs-provider/terraform-provider-lvs/agent/guard"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Multi applies every part in order and joins their errors. A panic in a part's Apply is
// recovered (guard) and becomes that part's error: the others still apply, and the next resync
// runs the part again.
type Multi []Reconciler

// Named is a part that names itself for logs and the status (guard's parts); others are named
// by their type.
type Named interface{ PartName() string }

func partName(r Reconciler) string {
	if n, ok := r.(Named); ok {
		return n.PartName()
	}
	return fmt.Sprintf("%T", r)
}

// Logger, if set, takes the stacks of recovered panics.
var Logger *slog.Logger

var (
	_ Reconciler     = Multi(nil)
	_ StatusReporter = Multi(nil)
	_ Stopper        = Multi(nil)
)

// Apply implements Reconciler.
func (m Multi) Apply(ctx context.Context, st *agentapi.State, why Trigger) error {
	var errs []error
	for _, r := range m {
		name := partName(r)
		err := guard.Call(Logger, name, func() error {
			guard.Inject("apply:" + name)
			return r.Apply(ctx, st, why)
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Report implements StatusReporter.
func (m Multi) Report(st *agentapi.Status) {
	for _, r := range m {
		if sr, ok := r.(StatusReporter); ok {
			sr.Report(st)
		}
	}
}

// Stop implements Stopper, stopping parts in reverse order.
func (m Multi) Stop(ctx context.Context) error {
	var errs []error
	for i := len(m) - 1; i >= 0; i-- {
		if s, ok := m[i].(Stopper); ok {
			if err := s.Stop(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
