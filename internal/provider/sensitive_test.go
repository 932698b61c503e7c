package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
)

// TestCommandsAreSensitive: health-check, track-script and notify commands may carry
// credentials, so plans and logs must not show them.
func TestCommandsAreSensitive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r     resource.Resource
		paths []string
	}{
		{NewVIPResource(), []string{"track_scripts.command", "notify.master", "notify.backup", "notify.fault"}},
		{NewVirtualServerResource(), []string{"health_check.command"}},
		{NewRealServerResource(), []string{"health_check.command", "notify.up", "notify.down"}},
	} {
		var resp resource.SchemaResponse
		tc.r.Schema(context.Background(), resource.SchemaRequest{}, &resp)
		for _, p := range tc.paths {
			a := lookup(resp.Schema.Attributes, strings.Split(p, "."))
			if a == nil {
				t.Errorf("%T: no attribute %s", tc.r, p)
			} else if !a.IsSensitive() {
				t.Errorf("%T: %s is not sensitive", tc.r, p)
			}
		}
	}
}

func lookup(attrs map[string]schema.Attribute, path []string) schema.Attribute {
	a, ok := attrs[path[0]]
	if !ok {
		return nil
	}
	if len(path) == 1 {
		return a
	}
	switch n := a.(type) {
	case schema.SingleNestedAttribute:
		return lookup(n.Attributes, path[1:])
	case schema.ListNestedAttribute:
		return lookup(n.NestedObject.Attributes, path[1:])
	}
	return nil
}
