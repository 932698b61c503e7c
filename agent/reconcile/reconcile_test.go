package reconcile_test

import (
	"context"
	"errors"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/agent/guard"
	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

type part struct {
	name  string
	panic bool
	calls int
}

func (p *part) Apply(context.Context, *agentapi.State, reconcile.Trigger) error {
	p.calls++
	if p.panic {
		panic("bug in " + p.name)
	}
	return nil
}

func (p *part) PartName() string { return p.name }

// TestPanicInOnePart: a part that panics fails its Apply alone; the others still apply.
func TestPanicInOnePart(t *testing.T) {
	a, b, c := &part{name: "a"}, &part{name: "b", panic: true}, &part{name: "c"}
	err := reconcile.Multi{a, b, c}.Apply(context.Background(), &agentapi.State{}, reconcile.Resync)
	var pe *guard.PanicError
	if !errors.As(err, &pe) || pe.Part != "b" {
		t.Fatalf("Apply: %v", err)
	}
	if a.calls != 1 || b.calls != 1 || c.calls != 1 {
		t.Errorf("calls a %d b %d c %d", a.calls, b.calls, c.calls)
	}
}
