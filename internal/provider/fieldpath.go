package provider

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
)

// addFieldError reports a validation error on its attribute, naming it in the text too: the CLI
// shows the configuration line, but not always which element of a list is at fault.
func addFieldError(diags *diag.Diagnostics, summary string, e *agentapi.Error) {
	diags.AddAttributeError(fieldPath(e.Field), summary, "Attribute "+e.Field+": "+e.Message)
}

// fieldPath turns an agent validation field ("track_scripts[1].weight") into an attribute path
// under root, so agent-side and plan-time validation report the same attribute.
func fieldPath(field string) path.Path {
	var p path.Path
	first := true
	for _, part := range strings.Split(field, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if first {
			p = path.Root(name)
			first = false
		} else {
			p = p.AtName(name)
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			if n, err := strconv.Atoi(idx); err == nil {
				p = p.AtListIndex(n)
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return p
}

// stringList builds a known list of strings.
func stringList(vals []string) types.List {
	elems := make([]attr.Value, len(vals))
	for i, v := range vals {
		elems[i] = types.StringValue(v)
	}
	return types.ListValueMust(types.StringType, elems)
}

// hostsFrom is the Configure of every resource and data source: the provider hands them its
// hosts; nil until the provider is configured.
func hostsFrom(data any, diags *diag.Diagnostics) *remote.Hosts {
	if data == nil {
		return nil
	}
	hosts, ok := data.(*remote.Hosts)
	if !ok {
		diags.AddError("Unexpected Provider Data", fmt.Sprintf("want *remote.Hosts, got %T; this is a bug in the provider", data))
	}
	return hosts
}
