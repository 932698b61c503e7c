package provider

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
)

// Validation of a resource's configuration at `terraform validate` time. Every check reads the
// attributes it needs from the raw configuration and runs when they are known: an unknown value
// (a reference to another resource, a variable) skips only the checks that need it, so that a
// configuration whose IDs are all references is still checked everywhere else. Every error is
// collected, so one run reports all of them. Messages quote the value as the user wrote it, and
// say "the default" when a default the user did not write is involved.

// cfgVal is one attribute of the configuration: known, null (unset, or its parent is) or unknown
// (its value, or its parent's, is known only at apply).
type cfgVal struct {
	v       attr.Value // nil unless known
	unknown bool
	p       path.Path
}

// configRoot is the resource's whole configuration as an object.
func configRoot(ctx context.Context, config tfsdk.Config, diags *diag.Diagnostics) (cfgVal, bool) {
	v, err := config.Schema.Type().ValueFromTerraform(ctx, config.Raw)
	if err != nil {
		diags.AddError("Reading The Configuration", err.Error())
		return cfgVal{}, false
	}
	return wrapVal(v, path.Empty()), true
}

func wrapVal(v attr.Value, p path.Path) cfgVal {
	switch {
	case v == nil || v.IsNull():
		return cfgVal{p: p}
	case v.IsUnknown():
		return cfgVal{unknown: true, p: p}
	}
	return cfgVal{v: v, p: p}
}

func (x cfgVal) known() bool { return x.v != nil }
func (x cfgVal) null() bool  { return x.v == nil && !x.unknown }

// at is attribute name of an object value.
func (x cfgVal) at(name string) cfgVal {
	p := x.p.AtName(name)
	if x.p.Equal(path.Empty()) {
		p = path.Root(name)
	}
	if x.unknown {
		return cfgVal{unknown: true, p: p}
	}
	o, ok := x.v.(basetypes.ObjectValuable)
	if !ok {
		return cfgVal{p: p}
	}
	ov, _ := o.ToObjectValue(context.Background())
	return wrapVal(ov.Attributes()[name], p)
}

// elems are the elements of a known list (none when it is null or unknown).
func (x cfgVal) elems() []cfgVal {
	l, ok := x.v.(basetypes.ListValuable)
	if !ok {
		return nil
	}
	lv, _ := l.ToListValue(context.Background())
	out := make([]cfgVal, 0, len(lv.Elements()))
	for i, e := range lv.Elements() {
		out = append(out, wrapVal(e, x.p.AtListIndex(i)))
	}
	return out
}

func (x cfgVal) str() string {
	if s, ok := x.v.(basetypes.StringValuable); ok {
		sv, _ := s.ToStringValue(context.Background())
		return sv.ValueString()
	}
	return ""
}

func (x cfgVal) int() int64 {
	if n, ok := x.v.(basetypes.Int64Valuable); ok {
		nv, _ := n.ToInt64Value(context.Background())
		return nv.ValueInt64()
	}
	return 0
}

func (x cfgVal) boolean() bool {
	if b, ok := x.v.(basetypes.BoolValuable); ok {
		bv, _ := b.ToBoolValue(context.Background())
		return bv.ValueBool()
	}
	return false
}

// strOr is the known string value, def when unset; ok is false when unknown.
func (x cfgVal) strOr(def string) (string, bool) {
	switch {
	case x.unknown:
		return "", false
	case x.null():
		return def, true
	}
	return x.str(), true
}

// intOr is the known integer value, def when unset; ok is false when unknown.
func (x cfgVal) intOr(def int64) (int64, bool) {
	switch {
	case x.unknown:
		return 0, false
	case x.null():
		return def, true
	}
	return x.int(), true
}

// checks collects the errors of one configuration.
type checks struct {
	diags   *diag.Diagnostics
	summary string
}

// fail reports an error on the attribute at p, naming it in the detail too: the CLI shows the
// line, but not always which element of a list is at fault.
func (c checks) fail(p path.Path, format string, args ...any) {
	c.failAs(p, c.summary, format, args...)
}

func (c checks) failAs(p path.Path, summary, format string, args ...any) {
	c.diags.AddAttributeError(p, summary, "Attribute "+p.String()+": "+fmt.Sprintf(format, args...))
}

// duration parses a known duration attribute; false (with an error) when it is not one, and
// when it is unset or unknown (without).
func (c checks) duration(x cfgVal) (time.Duration, bool) {
	if !x.known() {
		return 0, false
	}
	d, err := time.ParseDuration(x.str())
	if _, nerr := strconv.ParseFloat(x.str(), 64); err != nil && nerr == nil && x.str() != "0" {
		// A bare number, as ipvs_timeouts were before they were durations.
		c.failAs(x.p, summaryInvalidDuration, "%q has no unit: write %q for seconds (or another unit: ms, s, m, h)", x.str(), x.str()+"s")
		return 0, false
	}
	if err != nil {
		c.failAs(x.p, summaryInvalidDuration, "%q is not a duration: write a number with a unit, such as \"300ms\", \"5s\", \"2m\" or \"1h30m\"", x.str())
		return 0, false
	}
	return d, true
}

// durationOr is the attribute's duration, or def (a duration string) when it is unset; isDef
// tells which, so that a message can say "the default".
func (c checks) durationOr(x cfgVal, def string) (d time.Duration, spelled string, isDef, ok bool) {
	if x.null() {
		d, _ := time.ParseDuration(def)
		return d, def, true, true
	}
	d, ok = c.duration(x)
	return d, x.str(), false, ok
}

// knownStrings are the known elements of a list of strings.
func knownStrings(x cfgVal) []cfgVal {
	var out []cfgVal
	for _, e := range x.elems() {
		if e.known() {
			out = append(out, e)
		}
	}
	return out
}

// fullyKnown reports whether the whole configuration is known, so that the checks made with the
// agent's own rules (the last word, at apply) can run at validate time too.
func fullyKnown(config tfsdk.Config) bool { return config.Raw.IsFullyKnown() }
