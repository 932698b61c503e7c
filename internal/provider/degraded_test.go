package provider

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
	"github.com/lvs-provider/terraform-provider-lvs/internal/sshx"
)

var errDown = &agentclient.TransportError{Host: "198.51.100.11", Err: &remote.DownError{Addr: "198.51.100.11", At: time.Now(),
	Err: &sshx.UnreachableError{Addr: "198.51.100.11:22", Err: errors.New("connect: no route to host")}}}

// TestOnDirectorsDegrades: an unreachable director is a warning naming it and what was not done
// there; an authentication failure stays an error; both directors unreachable is an error.
func TestOnDirectorsDegrades(t *testing.T) {
	t.Parallel()
	hosts := []string{"198.51.100.11", "198.51.100.12"}
	run := func(errs ...error) (diag.Diagnostics, []bool) {
		return onDirectors(hosts, path.Root("vip_id"), "It was done on the other one.", func(i int, _ string) error { return errs[i] })
	}
	d, down := run(errDown, nil)
	if d.HasError() || len(d) != 1 || !down[0] || down[1] {
		t.Fatalf("one down: %v %v", d, down)
	}
	if s := d[0].Summary(); !strings.Contains(s, "198.51.100.11") {
		t.Errorf("warning %q does not name the host", s)
	}
	if det := d[0].Detail(); !strings.Contains(det, "no route to host") || !strings.Contains(det, "It was done on the other one.") || !strings.Contains(det, "unreachable") {
		t.Errorf("warning detail: %s", det)
	}
	auth := &agentclient.TransportError{Host: "198.51.100.11", Err: &sshx.AuthError{User: "root", Addr: "198.51.100.11:22", Err: errors.New("denied")}}
	if d, down := run(auth, nil); !d.HasError() || down[0] {
		t.Errorf("auth failure: %v %v; want an error", d, down)
	}
	if d, _ := run(errDown, errDown); !d.HasError() {
		t.Errorf("both down: %v; want an error", d)
	}
}

// TestPlannedStatus: a child plans ready on both directors unless one was unreachable, in the
// state or earlier in this run; then the apply tells, and the plan leaves it unknown.
func TestPlannedStatus(t *testing.T) {
	t.Parallel()
	hosts := []string{"198.51.100.11", "198.51.100.12"}
	ready := stringList([]string{string(statusReady), string(statusReady)})
	if got := plannedStatus(nil, types.ListNull(types.StringType), hosts); !got.Equal(ready) {
		t.Errorf("create: %v", got)
	}
	if got := plannedStatus(nil, stringList([]string{string(statusMissing), string(statusReady)}), hosts); !got.Equal(ready) {
		t.Errorf("missing: %v", got)
	}
	if got := plannedStatus(nil, stringList([]string{string(statusUnreachable), string(statusReady)}), hosts); !got.IsUnknown() {
		t.Errorf("unreachable in state: %v", got)
	}
	var diags diag.Diagnostics
	becameUnreachable(ready, stringList([]string{string(statusUnreachable), string(statusReady)}), hosts, path.Root("vip_id"), &diags)
	if !diags.HasError() || !strings.Contains(diags[0].Detail(), "198.51.100.11") {
		t.Errorf("planned ready, found unreachable: %v", diags)
	}
	diags = nil
	becameUnreachable(types.ListUnknown(types.StringType), stringList([]string{string(statusUnreachable), string(statusReady)}), hosts, path.Root("vip_id"), &diags)
	if diags.HasError() {
		t.Errorf("planned unknown: %v", diags)
	}
}
