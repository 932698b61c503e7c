package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Every operation of a resource is bounded, so that a host or agent that stops answering fails
// the apply instead of hanging it; the `timeouts` block sets the bounds per resource. The agent
// client bounds each request besides (see agentclient).
const (
	defaultCreateTimeout = 10 * time.Minute // a pair's create installs the agent on both hosts
	defaultReadTimeout   = 5 * time.Minute
	defaultUpdateTimeout = 10 * time.Minute
	defaultDeleteTimeout = 10 * time.Minute
)

// timeoutsBlock is the standard `timeouts` block (create, read, update, delete).
func timeoutsBlock(ctx context.Context) schema.Block {
	return timeouts.Block(ctx, timeouts.Opts{
		Create: true, Read: true, Update: true, Delete: true,
		CreateDescription: "Bound of the create, e.g. \"30m\". Default 10m.",
		ReadDescription:   "Bound of a refresh. Default 5m.",
		UpdateDescription: "Bound of an update. Default 10m.",
		DeleteDescription: "Bound of the delete. Default 10m.",
	})
}

// nullTimeouts is the value of a `timeouts` block that is not set, for models built from
// scratch (import).
func nullTimeouts() timeouts.Value {
	return timeouts.Value{Object: types.ObjectNull(map[string]attr.Type{
		"create": types.StringType, "read": types.StringType, "update": types.StringType, "delete": types.StringType,
	})}
}

// opTimeout names an operation bounded by a `timeouts` block.
type opTimeout int

const (
	opCreate opTimeout = iota
	opRead
	opUpdate
	opDelete
)

// bounded returns ctx bounded by the operation's timeout from t (its default when not set).
func bounded(ctx context.Context, t timeouts.Value, op opTimeout, diags *diag.Diagnostics) (context.Context, context.CancelFunc) {
	var d time.Duration
	var ds diag.Diagnostics
	switch op {
	case opCreate:
		d, ds = t.Create(ctx, defaultCreateTimeout)
	case opRead:
		d, ds = t.Read(ctx, defaultReadTimeout)
	case opUpdate:
		d, ds = t.Update(ctx, defaultUpdateTimeout)
	default:
		d, ds = t.Delete(ctx, defaultDeleteTimeout)
	}
	diags.Append(ds...)
	return context.WithTimeout(ctx, d)
}
