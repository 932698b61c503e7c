package provider

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/bundle"
	"github.com/lvs-provider/terraform-provider-lvs/internal/version"
)

// TestPlannedAgentVersion: without a running agent's checksum (no hosts here), an agent of the
// bundled version is left alone, one of another version within the window is reinstalled, one
// outside it is an error naming both versions; a new or not-ready director gets the bundle.
func TestPlannedAgentVersion(t *testing.T) {
	own, err := version.Parse(version.Version)
	if err != nil {
		t.Fatal(err)
	}
	bundled := bundle.Version()
	near := fmt.Sprintf("%d.%d.3", own.Major, own.Minor+1)
	far := fmt.Sprintf("%d.%d.0", own.Major, own.Minor+2)
	dir := func(host, ver string, status objectStatus) directorModel {
		return directorModel{Host: types.StringValue(host), Interface: types.StringValue("eth0"), AgentVersion: types.StringValue(ver), Status: status.value()}
	}
	plan := directorPairModel{Directors: []directorModel{dir("198.51.100.11", "", ""), dir("198.51.100.12", "", "")}}
	r := &directorPairResource{}
	for _, tt := range []struct {
		name  string
		state *directorPairModel
		want  string
		err   string
	}{
		{"create", nil, bundled, ""},
		{"same version", &directorPairModel{Directors: []directorModel{dir("198.51.100.11", bundled, statusReady)}}, bundled, ""},
		{"within the window", &directorPairModel{Directors: []directorModel{dir("198.51.100.11", near, statusReady)}}, bundled, ""},
		{"agent stopped", &directorPairModel{Directors: []directorModel{dir("198.51.100.11", "", "agent_stopped")}}, bundled, ""},
		{"replaced director", &directorPairModel{Directors: []directorModel{dir("198.51.100.13", near, statusReady)}}, bundled, ""},
		{"outside the window", &directorPairModel{Directors: []directorModel{dir("198.51.100.11", far, statusReady)}}, bundled, "is " + far + " and this provider is " + version.Version},
	} {
		var d diag.Diagnostics
		got := r.plannedAgentVersion(context.Background(), tt.state, plan, 0, &d)
		if got.ValueString() != tt.want {
			t.Errorf("%s: planned %s, want %s", tt.name, got, tt.want)
		}
		if tt.err == "" && d.HasError() {
			t.Errorf("%s: %v", tt.name, d)
		}
		if tt.err != "" && (!d.HasError() || !strings.Contains(d[0].Detail(), tt.err) || !strings.Contains(d[0].Detail(), "lvs-agent stop")) {
			t.Errorf("%s: diagnostics %v, want an error saying %q and what to do", tt.name, d, tt.err)
		}
	}
}
