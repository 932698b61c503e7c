package provider

import (
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
)

// A director that cannot be reached (remote.Unreachable: down, or cut off) does not block
// Terraform: reads and writes go on with the director that answers and warn about the other,
// which shows as `unreachable` in the resources' status, so the plan keeps showing its repair
// until it answers again or is replaced. Every other failure stays an error.

// onDirectors runs fn on every director at once, like forEachHost, except that a director that
// cannot be reached is marked in down and gets a warning saying what was not done there
// (skipped, e.g. "the real server 198.51.100.21:80 was not created there") instead of an
// error. When every director is unreachable that is an error: nothing was done anywhere.
func onDirectors(hosts []string, at path.Path, skipped string, fn func(i int, host string) error) (diags diag.Diagnostics, down []bool) {
	down = make([]bool, len(hosts))
	errs := runOnHosts(hosts, fn)
	alive := 0
	for i, err := range errs {
		if err != nil && remote.Unreachable(err) != nil {
			down[i] = true
			continue
		}
		alive++
	}
	return directorDiags(hosts, at, skipped, errs, down, alive), down
}

// directorDiags turns the directors' errors into diagnostics: a warning for an unreachable one
// while another answered, the error's own diagnostic for a *diagError, an error otherwise.
func directorDiags(hosts []string, at path.Path, skipped string, errs []error, down []bool, alive int) (diags diag.Diagnostics) {
	for i, err := range errs {
		var de *diagError
		switch {
		case err == nil:
		case down[i] && alive > 0:
			diags.AddAttributeWarning(at, "Director Unreachable: "+hosts[i], unreachableDetail(hosts[i], err, skipped))
		case errors.As(err, &de):
			diags.AddAttributeError(de.at, de.summary, de.detail)
		default:
			summary, detail := remote.Describe(hosts[i], err)
			diags.AddAttributeError(at, summary, detail)
		}
	}
	return diags
}

// diagError is an error that already says, as a diagnostic, what the operator does about it.
type diagError struct {
	at              path.Path
	summary, detail string
}

func (e *diagError) Error() string { return e.summary + ": " + e.detail }

// onDirectorsInOrder is onDirectors one director after the other, in the pair's order, for
// create-only writes: of two creates of one object, the one that takes the first director takes
// both, and the loser changes nothing. It stops at the first error other than an unreachable
// director.
func onDirectorsInOrder(hosts []string, at path.Path, skipped string, fn func(i int, host string) error) (diag.Diagnostics, []bool) {
	down := make([]bool, len(hosts))
	errs := make([]error, len(hosts))
	alive := 0
	for i, h := range hosts {
		errs[i] = skipKeepalived(fn(i, h))
		if errs[i] != nil && remote.Unreachable(errs[i]) != nil {
			down[i] = true
			continue
		}
		alive++
		if errs[i] != nil {
			break
		}
	}
	return directorDiags(hosts, at, skipped, errs, down, alive), down
}

// unreachableDetail explains a director that could not be reached and what the operator does.
func unreachableDetail(host string, err error, skipped string) string {
	return fmt.Sprintf("%v\n\n%s %s is marked `%s`, and the plan shows its repair until it answers again "+
		"(an apply then brings it up to date) or is replaced: put the new host in its place in the lvs_director_pair's `directors` and apply, "+
		"which copies the whole configuration from the other director.", err, skipped, host, statusUnreachable)
}

// statusOf is the per-director status of a child object: ready when the director holds it,
// missing when it does not, unreachable when it could not be asked.
func statusOf(held, down bool) objectStatus {
	switch {
	case down:
		return statusUnreachable
	case held:
		return statusReady
	}
	return statusMissing
}

// plannedStatus is the per-director status a child plans: ready on every director, or unknown
// when one of them was unreachable (in the refreshed state, or found so earlier in this run),
// since only the apply tells whether it answers again. A known value that the apply could not
// deliver would be an inconsistent result.
func plannedStatus(hosts *remote.Hosts, prior types.List, pairHosts []string) types.List {
	var unknown bool
	if !prior.IsNull() && !prior.IsUnknown() {
		for _, v := range prior.Elements() {
			if s, ok := v.(types.String); ok && statusUnreachable.is(s) {
				unknown = true
			}
		}
	}
	if hosts != nil {
		down := hosts.Down()
		for _, h := range pairHosts {
			if down[h] != nil {
				unknown = true
			}
		}
	}
	if unknown {
		return types.ListUnknown(types.StringType)
	}
	ready := make([]string, max(len(pairHosts), 2))
	for i := range ready {
		ready[i] = string(statusReady)
		if hosts != nil && i < len(pairHosts) && hosts.PlannedRunByKeepalived(pairHosts[i]) {
			ready[i] = string(statusKeepalived)
		}
	}
	return stringList(ready)
}

// becameUnreachable adds an error for each director that the plan expected to reach (planned
// known) but that the apply found unreachable; the caller still records the state as it is.
func becameUnreachable(planned types.List, status types.List, hosts []string, at path.Path, diags *diag.Diagnostics) {
	if planned.IsUnknown() || status.IsNull() || status.IsUnknown() {
		return
	}
	for i, v := range status.Elements() {
		if s, ok := v.(types.String); ok && statusUnreachable.is(s) && i < len(hosts) {
			diags.AddAttributeError(at, "Director Became Unreachable During Apply",
				fmt.Sprintf("%s answered when the plan was made but not during this apply, so the change was made on the other director only. "+
					"Run terraform apply again: the plan then shows %s as unreachable and goes on with the other director.", hosts[i], hosts[i]))
		}
	}
}

// staleOnReturn is what a delete that missed a director leaves there.
const staleOnReturn = "The unreachable director still holds it: if it comes back as it was rather than being replaced, run " +
	"`lvs-agent uninstall` on it before it rejoins, then terraform apply, which sets it up again from this configuration."
