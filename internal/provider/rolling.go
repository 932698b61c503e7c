package provider

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
)

// A rolling upgrade restarts the two directors of a pair one after the other, so that one of
// them always serves the VIPs:
//
//  0. the new binary is uploaded to every director that needs it, restarting nothing, so that
//     the heavy part (transfer, checksum, fsync) is over before anything moves;
//  1. the director that is BACKUP for the pair's VIPs (with split mastership, the one that is
//     MASTER of fewer) is upgraded first: stopped (which hands whatever it holds to its peer:
//     an agent that stops sends priority 0 and keeps serving until the peer has taken over),
//     then started from the new binary;
//  2. the provider waits until it is ready: answering, configured, every VIP BACKUP or MASTER,
//     every health check with a verdict of its own, the connection sync daemons running;
//  3. the other director is upgraded: its agent is stopped, which hands its VIPs over to the
//     upgraded one (the planned switchover), the provider waits until that one is MASTER of
//     every VIP, then starts the new agent and waits for it likewise;
//  4. the provider waits until every VIP has one master, the one priorities and preempt say
//     (a preempting director takes its VIPs back, again by a planned switchover).
//
// Every wait is bounded by the update's context (timeouts.update) and fails naming the director
// and what did not come.

// rollingOps are the director operations a rolling upgrade needs; *remote.Hosts does them for
// real, tests use fakes.
type rollingOps struct {
	check     func(ctx context.Context, host string) (remote.Upgrade, error)
	stage     func(ctx context.Context, host string) error // put the bundled binary in place, restarting nothing
	stop      func(ctx context.Context, host string) error // stop the agent gracefully: a master hands its VIPs over
	upgrade   func(ctx context.Context, host string) error // install the bundled agent, (re)starting it
	configure func(ctx context.Context, i int, host string) error
	status    func(ctx context.Context, host string) (*agentapi.Status, error)
	ipvs      func(ctx context.Context, host string) (*agentapi.IPVSReport, error)
	state     func(ctx context.Context, host string) (*agentapi.State, error)
	// poll is the time between two looks at a director that is being waited for.
	poll time.Duration
	logf func(ctx context.Context, msg string, fields map[string]any)
}

func hostsRollingOps(h *remote.Hosts) rollingOps {
	return rollingOps{
		check:   h.CheckUpgrade,
		stage:   h.Stage,
		stop:    h.Stop,
		upgrade: h.Upgrade,
		status:  func(ctx context.Context, host string) (*agentapi.Status, error) { return h.Agent(host).Status(ctx) },
		ipvs:    func(ctx context.Context, host string) (*agentapi.IPVSReport, error) { return h.Agent(host).IPVS(ctx) },
		state:   func(ctx context.Context, host string) (*agentapi.State, error) { return h.Agent(host).State(ctx) },
		poll:    500 * time.Millisecond, // every look is an SSH session and a status: light on the hosts
		logf:    func(ctx context.Context, msg string, f map[string]any) { tflog.Info(ctx, msg, f) },
	}
}

// directorError is an error on one director, by its index in directors.
type directorError struct {
	i    int
	host string
	err  error
}

func (e *directorError) Error() string { return e.err.Error() }
func (e *directorError) Unwrap() error { return e.err }

// waitError is a wait for a director that ran out of time.
type waitError struct {
	host, what, last string
	waited           time.Duration
}

func (e *waitError) Error() string {
	msg := fmt.Sprintf("waited %s for %s on director %s until the update's timeout (timeouts.update) ran out", e.waited.Round(time.Second), e.what, e.host)
	if e.last != "" {
		msg += "; last seen: " + e.last
	}
	return msg + ". Nothing further was restarted (the director serving the VIPs keeps them); `lvs-agent status` on the director shows what is missing, and apply again resumes the upgrade (or the switch from keepalived)"
}

// rollingDiags turns an error of rollingUpdate into a diagnostic on the director it concerns.
func rollingDiags(err error) diag.Diagnostics { return directorDiagsOf(err, "Rolling Upgrade") }

// directorDiagsOf turns an error of rollingUpdate or switchFromKeepalived (what) into a
// diagnostic on the director it concerns.
func directorDiagsOf(err error, what string) diag.Diagnostics {
	var diags diag.Diagnostics
	var de *directorError
	if !errors.As(err, &de) {
		diags.AddError(what+" Failed", err.Error())
		return diags
	}
	var we *waitError
	summary, detail := what+" Stopped: Director Not Ready", de.err.Error()
	if !errors.As(de.err, &we) {
		summary, detail = remote.Describe(de.host, de.err)
		summary = what + ": " + summary
	}
	diags.AddAttributeError(path.Root("directors").AtListIndex(de.i).AtName("host"), summary, detail)
	return diags
}

// rollingUpdate applies an update of the pair that restarts at least one agent, one director at
// a time (see above). It returns false, doing nothing, when no agent would restart: the caller
// then updates both directors at once. hosts are the planned directors; configure stores the
// pair (and, on a new director, the carried state) on director i.
func rollingUpdate(ctx context.Context, ops rollingOps, hosts []string, syncConnections bool) (bool, error) {
	restart := make([]bool, len(hosts))
	restarts := false
	for i, h := range hosts {
		u, err := ops.check(ctx, h)
		if err != nil {
			return true, &directorError{i, h, err}
		}
		restart[i] = u.Restarts()
		restarts = restarts || restart[i]
	}
	if !restarts {
		return false, nil
	}
	statuses := make([]*agentapi.Status, len(hosts))
	for i, h := range hosts {
		// A director that does not answer holds no VIP: it goes first, and if it cannot be
		// upgraded the apply stops before the director serving the VIPs is touched.
		statuses[i], _ = ops.status(ctx, h)
	}
	order := upgradeOrder(statuses)
	ops.logf(ctx, "rolling upgrade of the director pair", map[string]any{"order": orderHosts(order, hosts), "restart": restart})
	// The uploads (transfer, checksum, fsync: the heavy part) come first, while nothing moves;
	// a restart afterwards is a quick process start.
	for _, i := range order {
		if restart[i] {
			if err := ops.stage(ctx, hosts[i]); err != nil {
				return true, &directorError{i, hosts[i], err}
			}
		}
	}
	for n, i := range order {
		h := hosts[i]
		if !restart[i] {
			if err := ops.upgrade(ctx, h); err != nil {
				return true, &directorError{i, h, err}
			}
			if err := ops.configure(ctx, i, h); err != nil {
				return true, &directorError{i, h, err}
			}
			continue
		}
		// Its VIPs go to the peer as it stops: the peer must be ready for them.
		for j, peer := range hosts {
			if j == i {
				continue
			}
			if err := waitReady(ctx, ops, peer, syncConnections); err != nil {
				return true, &directorError{j, peer, fmt.Errorf("before restarting the agent on %s, which hands its VIPs to this director as it stops: %w", h, err)}
			}
		}
		ops.logf(ctx, "rolling upgrade: restarting the agent", map[string]any{"host": h, "step": n + 1, "masters": masters(statuses[i])})
		start := time.Now()
		// The planned switchover: the stopping agent sends priority 0 for the VIPs it is
		// MASTER of and serves them until its peer has taken over; then the peer must be
		// MASTER of every VIP before anything else happens on this director.
		if err := ops.stop(ctx, h); err != nil {
			return true, &directorError{i, h, err}
		}
		for j, peer := range hosts {
			if j == i {
				continue
			}
			if err := waitMaster(ctx, ops, peer); err != nil {
				return true, &directorError{j, peer, fmt.Errorf("after the agent on %s stopped to hand its VIPs over (it is stopped now; apply again starts it): %w", h, err)}
			}
		}
		if err := ops.upgrade(ctx, h); err != nil {
			return true, &directorError{i, h, err}
		}
		if err := ops.configure(ctx, i, h); err != nil {
			return true, &directorError{i, h, err}
		}
		if err := waitReady(ctx, ops, h, syncConnections); err != nil {
			return true, &directorError{i, h, err}
		}
		ops.logf(ctx, "rolling upgrade: director ready", map[string]any{"host": h, "took_ms": time.Since(start).Milliseconds()})
	}
	if err := waitSettled(ctx, ops, hosts); err != nil {
		return true, err
	}
	return true, nil
}

func orderHosts(order []int, hosts []string) []string {
	out := make([]string, len(order))
	for n, i := range order {
		out[n] = hosts[i]
	}
	return out
}

// masters counts the VIPs a director is MASTER of.
func masters(st *agentapi.Status) int {
	if st == nil {
		return 0
	}
	n := 0
	for _, v := range st.VIPs {
		if v.State == "MASTER" {
			n++
		}
	}
	return n
}

// upgradeOrder is the order in which to restart the directors: the one that is MASTER of fewer
// VIPs first (the backup; a director that did not answer holds none), ties in list order.
func upgradeOrder(statuses []*agentapi.Status) []int {
	order := make([]int, len(statuses))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return masters(statuses[order[a]]) < masters(statuses[order[b]]) })
	return order
}

// waitFor polls cond until it reports nothing missing, or ctx ends; missing is what it still
// waits for (what) and the detail of the last look.
func waitFor(ctx context.Context, ops rollingOps, host string, cond func() (what, last string)) error {
	start := time.Now()
	for {
		what, last := cond()
		if what == "" {
			return nil
		}
		t := time.NewTimer(ops.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return &waitError{host: host, what: what, last: last, waited: time.Since(start)}
		case <-t.C:
		}
	}
}

// waitReady waits until the agent on host is ready to take the VIPs over (see readiness).
func waitReady(ctx context.Context, ops rollingOps, host string, syncConnections bool) error {
	return waitFor(ctx, ops, host, func() (string, string) {
		st, err := ops.status(ctx, host)
		if err != nil {
			return "the agent to answer", err.Error()
		}
		rep, err := ops.ipvs(ctx, host)
		if err != nil {
			return "the agent's IPVS report", err.Error()
		}
		return readiness(st, rep, syncConnections)
	})
}

// waitMaster waits until the agent on host is MASTER of every VIP: its peer has handed them over.
func waitMaster(ctx context.Context, ops rollingOps, host string) error {
	return waitFor(ctx, ops, host, func() (string, string) {
		st, err := ops.status(ctx, host)
		if err != nil {
			return "the agent to answer", err.Error()
		}
		for _, v := range st.VIPs {
			if v.State != "MASTER" {
				return "the VIPs to be handed over", fmt.Sprintf("VRID %d is %s (%s)", v.VRID, v.State, v.Reason)
			}
		}
		return "", ""
	})
}

// readiness says what a restarted agent still lacks before it may take the VIPs over, "" when
// nothing: the pair (configured), every VIP in BACKUP or MASTER (VRRP joined), no service
// missing from the kernel, a verdict of its own from every health check, and the connection
// sync daemons when the pair syncs connections.
func readiness(st *agentapi.Status, rep *agentapi.IPVSReport, syncConnections bool) (what, last string) {
	if st.Pair == nil {
		return "the agent to load its configuration", "no pair"
	}
	for _, v := range st.VIPs {
		if v.State != "BACKUP" && v.State != "MASTER" {
			return "VRRP to join", fmt.Sprintf("VRID %d is %s (%s)", v.VRID, v.State, v.Reason)
		}
	}
	var pending []string
	for _, s := range rep.Services {
		if !s.Managed {
			continue
		}
		if s.Missing {
			return "IPVS to be programmed", fmt.Sprintf("service %s missing: %s", s.Key, s.Error)
		}
		for _, d := range s.Destinations {
			if d.Managed && d.HealthPending {
				pending = append(pending, s.Key+" -> "+d.Key)
			}
		}
	}
	if len(pending) > 0 {
		return "the first health-check verdicts", fmt.Sprintf("%d real server(s) not checked yet: %s", len(pending), strings.Join(pending[:min(len(pending), 5)], ", "))
	}
	if syncConnections {
		have := map[string]bool{}
		for _, d := range rep.SyncDaemons {
			have[d.State] = true
		}
		if !have["master"] || !have["backup"] {
			return "the connection sync daemons", fmt.Sprintf("running: %v", rep.SyncDaemons)
		}
	}
	return "", ""
}

// waitSettled waits until every VIP has exactly one master, and, where the VIP preempts, the
// director of the higher priority: mastership as configured.
func waitSettled(ctx context.Context, ops rollingOps, hosts []string) error {
	var vips map[int]*agentapi.VIP
	for _, h := range hosts {
		if st, err := ops.state(ctx, h); err == nil {
			vips = st.VIPs
			break
		}
	}
	all := strings.Join(hosts, " and ")
	err := waitFor(ctx, ops, all, func() (string, string) {
		byVRID := map[int][]agentapi.VIPStatus{}
		for _, h := range hosts {
			st, err := ops.status(ctx, h)
			if err != nil {
				return "both agents to answer", h + ": " + err.Error()
			}
			for _, v := range st.VIPs {
				byVRID[v.VRID] = append(byVRID[v.VRID], v)
			}
		}
		return settled(byVRID, vips, len(hosts))
	})
	if err != nil {
		return fmt.Errorf("after the upgrade of both directors: %w", err)
	}
	return nil
}

// settled says which VIP has not settled yet; byVRID holds each director's status of a VIP, in
// director order.
func settled(byVRID map[int][]agentapi.VIPStatus, vips map[int]*agentapi.VIP, n int) (what, last string) {
	vrids := make([]int, 0, len(byVRID))
	for id := range byVRID {
		vrids = append(vrids, id)
	}
	sort.Ints(vrids)
	for _, id := range vrids {
		sts := byVRID[id]
		if len(sts) != n {
			return "every VIP on both directors", fmt.Sprintf("VRID %d is on %d of %d directors", id, len(sts), n)
		}
		master, best := -1, 0
		for i, s := range sts {
			if s.State == "MASTER" {
				if master >= 0 {
					return "one master per VIP", fmt.Sprintf("VRID %d has two masters", id)
				}
				master = i
			}
			if s.Priority > sts[best].Priority {
				best = i
			}
		}
		if master < 0 {
			return "one master per VIP", fmt.Sprintf("VRID %d has no master", id)
		}
		if v := vips[id]; v != nil && v.Preempt && master != best {
			return "the preempting director to take its VIPs back", fmt.Sprintf("VRID %d: master has priority %d, the other %d", id, sts[master].Priority, sts[best].Priority)
		}
	}
	return "", ""
}
