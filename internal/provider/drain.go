package provider

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
	"github.com/lvs-provider/terraform-provider-lvs/internal/resourceid"
)

// Draining a real server before it leaves the directors' tables: the agent holds
// net.ipv4.vs.expire_nodest_conn=1 (so that a server taken out by its health check does not
// leave its clients hanging), so removing a destination resets every connection it still has at
// the clients' next packet. Delete therefore first sets the weight to 0 on both directors
// (quiesce: IPVS schedules no new connection there, established ones keep their entries and go
// on), waits until the destination has no active connection or drain_timeout passes, and only
// then removes it.

const (
	// defaultDrainTimeout is drain_timeout when it is not set: the deregistration delay of most
	// cloud load balancers.
	defaultDrainTimeout = 5 * time.Minute
	// maxDrainTimeout bounds drain_timeout; timeouts.delete must be larger still.
	maxDrainTimeout = 24 * time.Hour
	// drainRemovalMargin is the part of timeouts.delete kept for the removal after a drain.
	drainRemovalMargin = time.Minute
	// drainPoll is the time between two reads of the connection counts. A destination leaves
	// the table at most about this long after its last active connection closed.
	drainPoll = time.Second
)

// parseDrainTimeout reads a drain_timeout value ("30s", "5m", "0"); empty is the default.
func parseDrainTimeout(s string) (time.Duration, *agentapi.Error) {
	if s == "" {
		return defaultDrainTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > maxDrainTimeout {
		return 0, agentapi.Invalid("drain_timeout", fmt.Sprintf("%q is not a duration from 0 to %s, such as \"30s\" or \"5m\" (\"0\" removes at once, without draining)", s, "24h"))
	}
	return d, nil
}

// checkDrainFits reports a drain_timeout that leaves less than drainRemovalMargin of the delete
// timeout for the removal itself.
func checkDrainFits(drain, deleteTimeout time.Duration) *agentapi.Error {
	if drain > 0 && drain+drainRemovalMargin > deleteTimeout {
		return agentapi.Invalid("drain_timeout", fmt.Sprintf("%s does not fit in timeouts.delete (%s) with %s left for the removal: set timeouts.delete to at least %s, or lower drain_timeout",
			drain, deleteTimeout, drainRemovalMargin, drain+drainRemovalMargin))
	}
	return nil
}

// drainTarget names one destination: a real server of a virtual server on a VIP.
type drainTarget struct {
	VRID  int
	VSKey string // canonical virtual server key
	RSKey string // canonical real server key
}

// activeConns is the number of active (established) connections of t as the directors see
// them; statuses[i] is director i's status, nil when it could not be read (countActive usually
// needs only the master's). The count is the
// VRRP master's for the VIP: the master schedules and forwards every packet of the VIP, so its
// table holds the real connections with their live TCP state. The backup's entries are copies
// the sync daemon sends: they lag (sent every few dozen packets and on state changes) and an
// entry that ends without a state change the master saw (a client that vanished) stays there
// until its own timeout, so counting them would wait for connections that no longer exist. When
// no director says it is master (a failover under way, a status that could not be read), the
// larger count is used, so nothing is cut early. Inactive entries (FIN_WAIT, TIME_WAIT,
// CLOSE_WAIT: the connection is closing) are not waited for. found is false when no director
// has the destination in its table.
func activeConns(statuses []*agentapi.Status, t drainTarget) (n int, found bool) {
	masterN, masters, maxN := 0, 0, 0
	for _, st := range statuses {
		if st == nil {
			continue
		}
		c, ok := destActive(st, t)
		found = found || ok
		maxN = max(maxN, c)
		for _, v := range st.VIPs {
			if v.VRID == t.VRID && v.State == "MASTER" {
				masters++
				masterN = max(masterN, c)
			}
		}
	}
	if masters == 1 {
		return masterN, found
	}
	return maxN, found
}

// destActive is the active connection count of t in one director's table.
func destActive(st *agentapi.Status, t drainTarget) (int, bool) {
	for _, s := range st.IPVS {
		if k, err := agentapi.CanonicalVirtualServerKey(s.Key); err != nil || k != t.VSKey {
			continue
		}
		for _, d := range s.Destinations {
			if k, err := agentapi.CanonicalRealServerKey(d.Key); err == nil && k == t.RSKey {
				return d.ActiveConns, true
			}
		}
	}
	return 0, false
}

// drainResult is how a wait for a drain ended.
type drainResult struct {
	Left    int           // active connections at the end (0: drained)
	Waited  time.Duration // from the start of the wait
	Expired bool          // the wait ended at its timeout (or ctx's end) with connections left or unknown
	Err     error         // the first failed read since the last successful one
}

// waitDrained polls count every poll until it reports no active connection or timeout passes
// (or ctx ends). A failed read is retried at the next poll: a director that does not answer
// for a moment does not cut the drain short, and one that stays away bounds it at timeout.
func waitDrained(ctx context.Context, timeout, poll time.Duration, count func(context.Context) (int, error)) drainResult {
	start := time.Now()
	deadline := start.Add(timeout)
	var res drainResult
	for {
		n, err := count(ctx)
		if err == nil {
			res.Left, res.Err = n, nil
			if n == 0 {
				res.Waited = time.Since(start)
				return res
			}
		} else if res.Err == nil {
			res.Err = err
		}
		wait := min(poll, time.Until(deadline))
		if wait <= 0 || ctx.Err() != nil {
			res.Waited, res.Expired = time.Since(start), true
			return res
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// statusFeeds shares the directors' status reads among the drains of one provider run: the
// real servers of a destroy drain in parallel (up to terraform's -parallelism), and each poll
// of each of them needs a status at most one poll old, so one read per host and poll interval
// serves them all, over the host's one pooled SSH connection. A read asks only for the
// destinations being drained (agentclient.StatusFor): the whole IPVS table, a thousand
// destinations in a large destroy, made most of a drain's cost.
var statusFeeds sync.Map // *remote.Hosts → *feedSet

type feedSet struct {
	mu    sync.Mutex
	feeds map[string]*statusFeed
}

func feedFor(hosts *remote.Hosts, host string) *statusFeed {
	v, _ := statusFeeds.LoadOrStore(hosts, &feedSet{feeds: map[string]*statusFeed{}})
	fs := v.(*feedSet)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.feeds[host]
	if f == nil {
		f = &statusFeed{fetch: func(ctx context.Context, ts []drainTarget) (*agentapi.Status, error) {
			dests := make([]agentclient.Dest, len(ts))
			for i, t := range ts {
				dests[i] = agentclient.Dest{VirtualServer: t.VSKey, RealServer: t.RSKey}
			}
			return hosts.Agent(host).StatusFor(ctx, dests)
		}}
		fs.feeds[host] = f
	}
	return f
}

// statusFeed hands out one host's status, reading it at most once for any number of concurrent
// callers that accept the same age. Each read asks for the destinations of the drains under way
// (watch), so one answer serves them all.
type statusFeed struct {
	fetch func(context.Context, []drainTarget) (*agentapi.Status, error)

	mu      sync.Mutex          // guards the following fields
	watched map[drainTarget]int // the drains under way, counted
	last    *feedRead           // the last successful read
	cur     *feedRead           // the read under way, if any
}

// feedRead is one read of a status.
type feedRead struct {
	start  time.Time
	covers map[drainTarget]bool // the destinations it asked for
	done   chan struct{}        // closed when st and err are set
	st     *agentapi.Status
	err    error
}

// watch adds t to the destinations the reads ask for, until release is called.
func (f *statusFeed) watch(t drainTarget) (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watched == nil {
		f.watched = map[drainTarget]int{}
	}
	f.watched[t]++
	return sync.OnceFunc(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.watched[t]--; f.watched[t] <= 0 {
			delete(f.watched, t)
		}
	})
}

// serves reports whether r answers for t no earlier than notBefore.
func (r *feedRead) serves(t drainTarget, notBefore time.Time) bool {
	return !r.start.Before(notBefore) && r.covers[t]
}

// get returns a status holding t's destination (if the director has it) whose read began at or
// after notBefore.
func (f *statusFeed) get(ctx context.Context, notBefore time.Time, t drainTarget) (*agentapi.Status, error) {
	for {
		f.mu.Lock()
		if f.last != nil && f.last.serves(t, notBefore) {
			st := f.last.st
			f.mu.Unlock()
			return st, nil
		}
		if r := f.cur; r != nil {
			f.mu.Unlock()
			select {
			case <-r.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if r.serves(t, notBefore) {
				return r.st, r.err
			}
			continue // it began too early, or without t: read again
		}
		r := &feedRead{start: time.Now(), covers: map[drainTarget]bool{t: true}, done: make(chan struct{})}
		ts := []drainTarget{t}
		for w := range f.watched {
			if !r.covers[w] {
				r.covers[w] = true
				ts = append(ts, w)
			}
		}
		f.cur = r
		f.mu.Unlock()
		r.st, r.err = f.fetch(ctx, ts)
		f.mu.Lock()
		if r.err == nil {
			f.last = r
		}
		f.cur = nil
		close(r.done)
		f.mu.Unlock()
		return r.st, r.err
	}
}

// quiesce sets the real server's weight to 0 on every director that holds it, keeping the rest
// of its configuration: IPVS schedules no new connection to it, the established ones go on, and
// it stays in both directors' tables, so connection sync and a failover keep working meanwhile.
// A real server whose weight is already 0 (drained by configuration) is left as it is.
func (r *realServerResource) quiesce(ctx context.Context, hosts []string, vsKey, rsKey string) diag.Diagnostics {
	// A director that cannot be reached is skipped with a warning: it serves nothing now, and
	// the drain goes on with the one that answers.
	d, _ := onDirectors(hosts, path.Root("drain_timeout"), fmt.Sprintf("Real server %s of %s was not set to weight 0 there before its removal.", rsKey, vsKey), func(_ int, h string) error {
		a := r.hosts.Agent(h)
		rs, err := a.GetRealServer(ctx, vsKey, rsKey)
		switch {
		case errors.Is(err, agentapi.ErrNotFound):
			return nil
		case err != nil:
			return err
		case rs.Weight == 0:
			return nil
		}
		q := *rs
		q.Weight = 0
		if _, err := a.PutRealServer(ctx, vsKey, &q); err != nil && !errors.Is(err, agentapi.ErrNotFound) {
			return err
		}
		return nil
	})
	return d
}

// masterHints remembers, per director pair ("host1,host2"), which director last said it is the
// VIP's master, so that the drains of one destroy ask it first.
var masterHints sync.Map // string → *atomic.Int32

// countActive reads the directors' statuses (read(i) is director i's) for t's count, asking the
// VRRP master alone when it can: the director that was master last time (*guess) first; when it
// still says MASTER, its count is the answer and the other director is not asked (a status
// carries the whole IPVS table, which at a thousand destinations is most of a drain's cost).
// Otherwise both are read, and activeConns decides. (Two masters at once, a split brain, is seen
// only when the one asked first is not master.)
func countActive(ctx context.Context, t drainTarget, guess *atomic.Int32, read func(ctx context.Context, i int) (*agentapi.Status, error)) (int, error) {
	first := int(guess.Load()) & 1
	st, err := read(ctx, first)
	if err == nil && isMaster(st, t.VRID) {
		n, _ := destActive(st, t)
		return n, nil
	}
	statuses := make([]*agentapi.Status, 2)
	errs := make([]error, 2)
	statuses[first], errs[first] = st, err
	other := 1 - first
	statuses[other], errs[other] = read(ctx, other)
	if errs[other] != nil {
		statuses[other] = nil
	} else if isMaster(statuses[other], t.VRID) {
		guess.Store(int32(other))
	}
	if errs[first] != nil {
		statuses[first] = nil
	}
	if statuses[0] == nil && statuses[1] == nil {
		return 0, errors.Join(errs...)
	}
	n, _ := activeConns(statuses, t)
	return n, nil
}

func isMaster(st *agentapi.Status, vrid int) bool {
	for _, v := range st.VIPs {
		if v.VRID == vrid && v.State == "MASTER" {
			return true
		}
	}
	return false
}

// drainCounter returns the count function of waitDrained for t: countActive over the
// directors' statuses, read through the shared feeds, the first time from reads that began
// after quiescedAt (a connection made just before the quiesce must be seen), then at most half a
// poll old. release ends t's part in the feeds' reads.
func (r *realServerResource) drainCounter(hosts []string, t drainTarget, quiescedAt time.Time) (count func(context.Context) (int, error), release func()) {
	first := true
	hint, _ := masterHints.LoadOrStore(hosts[0]+","+hosts[1], new(atomic.Int32))
	releases := make([]func(), len(hosts))
	for i, h := range hosts {
		releases[i] = feedFor(r.hosts, h).watch(t)
	}
	release = func() {
		for _, rel := range releases {
			rel()
		}
	}
	return func(ctx context.Context) (int, error) {
		notBefore := time.Now().Add(-drainPoll / 2)
		if first {
			notBefore, first = quiescedAt, false
		}
		return countActive(ctx, t, hint.(*atomic.Int32), func(ctx context.Context, i int) (*agentapi.Status, error) {
			return feedFor(r.hosts, hosts[i]).get(ctx, notBefore, t)
		})
	}, release
}

// drain quiesces the real server id and waits until its connections end or timeout passes. It
// returns false when the quiesce failed (an error is in diags): then nothing was removed.
func (r *realServerResource) drain(ctx context.Context, id resourceid.RealServer, timeout time.Duration, diags *diag.Diagnostics) bool {
	hosts := id.VirtualServer.VIP.Pair.Hosts[:]
	d := r.quiesce(ctx, hosts, id.VirtualServer.Key, id.Key)
	diags.Append(d...)
	if d.HasError() {
		diags.AddAttributeError(path.Root("drain_timeout"), "Real Server Not Drained",
			fmt.Sprintf("Setting the weight of %s to 0 before its removal failed (see the other errors), so nothing was removed; run the destroy again once both directors answer, or set drain_timeout = \"0\" to remove it without draining.", id))
		return false
	}
	quiescedAt := time.Now()
	// The removal needs some of the delete timeout too.
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl)-drainRemovalMargin/2)
	}
	t := drainTarget{VRID: id.VirtualServer.VIP.VRID, VSKey: id.VirtualServer.Key, RSKey: id.Key}
	tflog.Info(ctx, "lvs: draining real server", map[string]any{"real_server": id.String(), "drain_timeout": timeout.String()})
	count, release := r.drainCounter(hosts, t, quiescedAt)
	res := waitDrained(ctx, timeout, drainPoll, count)
	release()
	tflog.Info(ctx, "lvs: drain ended", map[string]any{"real_server": id.String(), "waited": res.Waited.String(), "active_connections_left": res.Left, "expired": res.Expired})
	switch {
	case !res.Expired:
	case res.Left > 0:
		tflog.Warn(ctx, "lvs: real server removed with active connections", map[string]any{"real_server": id.String(), "active_connections_left": res.Left})
		diags.AddAttributeWarning(path.Root("drain_timeout"), fmt.Sprintf("Real Server Removed With %d Active Connections", res.Left),
			fmt.Sprintf("Real server %s of %s still had %d active connection(s) when drain_timeout (%s) passed; it was removed anyway. "+
				"The directors drop their connection entries (net.ipv4.vs.expire_nodest_conn=1), so each of these clients gets a reset at its next packet. "+
				"Raise drain_timeout (and timeouts.delete) to wait longer, or set weight = 0 with an apply some time before the destroy.",
				id.Key, id.VirtualServer.Key, res.Left, res.Waited.Round(time.Second)))
	case res.Err != nil:
		diags.AddAttributeWarning(path.Root("drain_timeout"), "Real Server Removed Without Knowing Its Connections",
			fmt.Sprintf("Neither director's connection counts of %s could be read during the drain (%v); it was removed when the drain's time (%s) was up.", id.Key, res.Err, res.Waited.Round(time.Second)))
	}
	return true
}

// validateDrainTimeout checks drain_timeout and that it fits in timeouts.delete, at plan time.
func validateDrainTimeout(ctx context.Context, v types.String, t timeouts.Value, diags *diag.Diagnostics) {
	if v.IsUnknown() {
		return
	}
	d, ae := parseDrainTimeout(v.ValueString())
	if ae != nil {
		addFieldError(diags, summaryInvalidDrainTimeout, ae)
		return
	}
	if t.IsUnknown() {
		return
	}
	if !t.IsNull() {
		if obj, ok := t.Attributes()["delete"]; ok && obj.IsUnknown() {
			return
		}
	}
	del, ds := t.Delete(ctx, defaultDeleteTimeout)
	if ds.HasError() {
		return // the timeouts block reports its own errors
	}
	if ae := checkDrainFits(d, del); ae != nil {
		addFieldError(diags, "Drain Timeout Longer Than The Delete Timeout", ae)
	}
}
