package provider

import "github.com/hashicorp/terraform-plugin-framework/types"

// objectStatus is what the provider found of a pair's director, or of a VIP, virtual server or
// real server on one director (their computed `status` attributes). Anything but statusReady
// is a change that apply repairs.
type objectStatus string

const (
	statusReady objectStatus = "ready"
	// statusMissing: the director answers but does not hold the object.
	statusMissing objectStatus = "missing"
	// statusUnreachable: the director could not be reached (see degraded.go).
	statusUnreachable objectStatus = "unreachable"
	// statusUnconfigured: the director's agent lost (or never had) this pair.
	statusUnconfigured objectStatus = "unconfigured"
	// statusStale: answering again after being recorded unreachable; see the pair's readInto.
	statusStale objectStatus = "stale"
)

func (s objectStatus) value() types.String { return types.StringValue(string(s)) }

// is reports whether v holds status s.
func (s objectStatus) is(v types.String) bool { return v.ValueString() == string(s) }
