package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

func garpVIPModel(g *garpModel) vipModel {
	return vipModel{
		VirtualRouterID: types.Int64Value(91), DirectorPairID: types.StringValue("edge@198.51.100.11,198.51.100.12"),
		Addresses: []types.String{types.StringValue("198.51.100.100")}, GARP: g,
	}
}

// TestGARPWire: gratuitous_arp reaches the agent in milliseconds, keepalived's defaults stand
// for the attributes left out, an unset block sends nothing (the agent's defaults), and what the
// agent reports comes back in the user's spelling, so that a plan shows no change.
func TestGARPWire(t *testing.T) {
	t.Parallel()
	v, ae := wireVIP(garpVIPModel(nil))
	if ae != nil || v.GARP != nil {
		t.Fatalf("unset: %+v, %v", v, ae)
	}
	g := &garpModel{Delay: types.StringValue("1500ms"), Repeat: types.Int64Value(3), Refresh: types.StringValue("1s"), RefreshRepeat: types.Int64Value(2)}
	v, ae = wireVIP(garpVIPModel(g))
	if ae != nil || v.GARP == nil || *v.GARP != (agentapi.GARP{DelayMS: 1500, Repeat: 3, RefreshMS: 1000, RefreshRepeat: 2}) {
		t.Fatalf("set: %+v, %v", v.GARP, ae)
	}
	// A configuration being validated has null for what it leaves out.
	v, ae = wireVIP(garpVIPModel(&garpModel{Repeat: types.Int64Value(3)}))
	if ae != nil || *v.GARP != (agentapi.GARP{DelayMS: 5000, Repeat: 3, RefreshMS: 0, RefreshRepeat: 1}) {
		t.Fatalf("partial: %+v, %v", v.GARP, ae)
	}
	for _, c := range []struct {
		g     garpModel
		field string
	}{
		{garpModel{Delay: types.StringValue("soon")}, "gratuitous_arp.delay"},
		{garpModel{Refresh: types.StringValue("-1s")}, "gratuitous_arp.refresh"},
		{garpModel{Refresh: types.StringValue("500ms")}, "gratuitous_arp.refresh"},
		{garpModel{Repeat: types.Int64Value(0)}, "gratuitous_arp.repeat"},
	} {
		if _, ae := wireVIP(garpVIPModel(&c.g)); ae == nil || ae.Field != c.field {
			t.Errorf("%+v: %v, want an error on %s", c.g, ae, c.field)
		}
	}

	// Read back: the user's "1500ms" stays, a host that differs shows as a change.
	m := garpVIPModel(g)
	held := *v
	held.Priorities = [2]int{150, 100}
	held.GARP = &agentapi.GARP{DelayMS: 1500, Repeat: 3, RefreshMS: 1000, RefreshRepeat: 2}
	setVIPModel(&m, &held)
	if *m.GARP != *g {
		t.Errorf("read back %+v, want %+v", *m.GARP, *g)
	}
	held.GARP.RefreshMS = 2000
	setVIPModel(&m, &held)
	if m.GARP.Refresh.ValueString() != "2s" {
		t.Errorf("drift read as %+v", *m.GARP)
	}
	held.GARP = nil
	setVIPModel(&m, &held)
	if m.GARP != nil {
		t.Errorf("a host without the setting read as %+v", *m.GARP)
	}
}
