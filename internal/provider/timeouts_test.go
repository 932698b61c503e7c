package provider

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// TestBounded: each operation's context ends at its `timeouts` value, or at its default.
func TestBounded(t *testing.T) {
	t.Parallel()
	set := timeouts.Value{Object: types.ObjectValueMust(
		map[string]attr.Type{"create": types.StringType, "read": types.StringType, "update": types.StringType, "delete": types.StringType},
		map[string]attr.Value{"create": types.StringValue("2s"), "read": types.StringNull(), "update": types.StringValue("90s"), "delete": types.StringNull()},
	)}
	for _, tc := range []struct {
		name string
		t    timeouts.Value
		op   opTimeout
		want time.Duration
	}{
		{"create set", set, opCreate, 2 * time.Second},
		{"read default", set, opRead, defaultReadTimeout},
		{"update set", set, opUpdate, 90 * time.Second},
		{"delete default", set, opDelete, defaultDeleteTimeout},
		{"no block", nullTimeouts(), opCreate, defaultCreateTimeout},
	} {
		var diags diag.Diagnostics
		ctx, cancel := bounded(context.Background(), tc.t, tc.op, &diags)
		dl, ok := ctx.Deadline()
		cancel()
		if diags.HasError() || !ok {
			t.Fatalf("%s: deadline %v, %v", tc.name, ok, diags)
		}
		if got := time.Until(dl); got > tc.want || got < tc.want-time.Second {
			t.Errorf("%s: deadline in %v, want %v", tc.name, got, tc.want)
		}
	}
}
