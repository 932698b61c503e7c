package provider

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
)

// The live migration from keepalived, one director at a time. A director with
// run_by = "keepalived" has no agent: every resource leaves it alone (remote.Hosts fails its
// agent calls with remote.ErrRunByKeepalived, which runOnHosts skips), and the agent on the other
// director peers with its keepalived by VRRP. Switching it to the agent (switchFromKeepalived)
// moves the VIPs off keepalived before keepalived stops, so that no request meets a director
// without the VIP:
//
//  1. the agent on the other director (the peer) must be ready (see readiness);
//  2. the peer's VIPs get priority 254 and preempt, for the moment: the peer takes every VIP
//     over by preemption, keepalived sees a higher priority and goes BACKUP; the provider waits
//     until the peer is MASTER of every VIP and the keepalived director holds none of them.
//     The peer's agent opens its handover window (agent/handover): for a moment it sends the
//     packets of connections the old master served back to it. keepalived removes the VIPs as
//     it goes BACKUP, which would drop them there; so the provider puts the IPv4 VIPs on that
//     director's loopback first, where they answer no ARP (remote.HoldAddresses) but take those
//     packets to keepalived's IPVS table, and removes them once the window is over;
//  3. keepalived is stopped (and disabled) there, as a BACKUP: nothing moves;
//  4. the agent is installed and gets the peer's whole configuration with the configured
//     priorities (lower than 254, so it stays BACKUP), and the provider waits until it is ready;
//  5. the peer's VIPs get their configured priorities back, and the provider waits until every
//     VIP has the master priorities and preempt say (a planned switchover between two agents).
//
// A failure after step 2 puts the configured priorities back before it returns.

const (
	runByAgent      = "agent"
	runByKeepalived = "keepalived"
	// statusKeepalived is the status of a director run by keepalived, and of a pair's object on it.
	statusKeepalived objectStatus = "keepalived"
	// takeoverPriority is the peer's priority while it takes the VIPs over from keepalived: above
	// any keepalived backup's (at most 254: 255 is the address owner's).
	takeoverPriority = 254
	// handoverHold is how long the keepalived director keeps the VIPs on its loopback after the
	// takeover: the agent's handover window (2.25 s) and a margin.
	handoverHold = 3 * time.Second
)

func (d directorModel) keepalived() bool { return d.RunBy.ValueString() == runByKeepalived }

// noteRunBy tells hosts which directors of m are run by keepalived.
func noteRunBy(hosts *remote.Hosts, m directorPairModel) {
	if hosts != nil {
		eachRunBy(m, hosts.SetRunByKeepalived)
	}
}

// notePlannedRunBy tells hosts which directors of the planned m will be run by keepalived.
func notePlannedRunBy(hosts *remote.Hosts, m directorPairModel) {
	if hosts != nil {
		eachRunBy(m, hosts.PlanRunByKeepalived)
	}
}

// eachRunBy calls note with each director of m whose host is known, and whether keepalived runs it.
func eachRunBy(m directorPairModel, note func(host string, keepalived bool)) {
	for _, d := range m.Directors {
		if !d.Host.IsUnknown() && !d.Host.IsNull() {
			note(d.Host.ValueString(), d.keepalived())
		}
	}
}

// learnRunBy tells hosts, unless the pair already did in this run, which directors a child's
// recorded status says are run by keepalived.
func learnRunBy(hosts *remote.Hosts, pairHosts []string, status types.List) {
	if hosts == nil || status.IsNull() || status.IsUnknown() {
		return
	}
	for i, v := range status.Elements() {
		if s, ok := v.(types.String); ok && i < len(pairHosts) && statusKeepalived.is(s) {
			hosts.LearnRunByKeepalived(pairHosts[i], true)
		}
	}
}

// statusAt is the per-director status of a child object on host: statusOf, or keepalived.
func statusAt(hosts *remote.Hosts, host string, held, down bool) objectStatus {
	if hosts != nil && hosts.RunByKeepalived(host) {
		return statusKeepalived
	}
	return statusOf(held, down)
}

// switchOps are what switchFromKeepalived does besides the rolling upgrade's operations.
type switchOps struct {
	rollingOps
	putVIP         func(ctx context.Context, host string, v *agentapi.VIP) error
	putState       func(ctx context.Context, i int, host string, st *agentapi.State) error
	heldAddresses  func(ctx context.Context, host string, addrs []string) ([]string, error)
	holdAddresses  func(ctx context.Context, host string, addrs []string) error
	release        func(ctx context.Context, host string, addrs []string) error
	stopKeepalived func(ctx context.Context, host string) error
	// hold is how long the keepalived director keeps the VIPs after the takeover (handoverHold).
	hold time.Duration
}

// switchFromKeepalived switches director ka of hosts from keepalived to the agent (see above);
// every other director already runs a configured agent.
func switchFromKeepalived(ctx context.Context, ops switchOps, hosts []string, ka int, syncConnections bool) (err error) {
	kaHost := hosts[ka]
	for j, peer := range hosts {
		if j == ka {
			continue
		}
		if err := waitReady(ctx, ops.rollingOps, peer, syncConnections); err != nil {
			return &directorError{j, peer, fmt.Errorf("before switching %s from keepalived to the agent, this director's agent must be ready to take its VIPs over; nothing was changed: %w", kaHost, err)}
		}
	}
	peer := 1 - ka
	peerHost := hosts[peer]
	st, err := ops.state(ctx, peerHost)
	if err != nil {
		return &directorError{peer, peerHost, fmt.Errorf("read the configuration to copy to %s: %w", kaHost, err)}
	}
	ops.logf(ctx, "switching a director from keepalived to the agent", map[string]any{"host": kaHost, "peer": peerHost, "vips": len(st.VIPs)})
	start := time.Now()
	// 2. The peer takes every VIP over.
	var raised []*agentapi.VIP
	var addrs []string
	held := false
	defer func() {
		if err == nil {
			return
		}
		if held {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if rerr := ops.release(rctx, kaHost, addrs); rerr != nil {
				err = fmt.Errorf("%w; removing the VIPs held on the loopback of %s failed too: %v", err, kaHost, rerr)
			}
			cancel()
		}
		// Put the configured priorities back: the peer serves the VIPs either way.
		for _, v := range raised {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if rerr := ops.putVIP(rctx, peerHost, v); rerr != nil {
				err = fmt.Errorf("%w; putting back the configured priority of VRID %d on %s failed too: %v (apply again restores it)", err, v.VRID, peerHost, rerr)
			}
			cancel()
		}
	}()
	for _, id := range sortedVRIDs(st.VIPs) {
		v := st.VIPs[id]
		addrs = append(addrs, v.Addresses...)
		if v.Priorities[ka] >= takeoverPriority {
			return &directorError{peer, peerHost, fmt.Errorf("VRID %d has priority %d on %s, which no other director can exceed: give it a lower priority in the lvs_vip (and in keepalived.conf) before switching", id, v.Priorities[ka], kaHost)}
		}
	}
	held = true
	if err := ops.holdAddresses(ctx, kaHost, addrs); err != nil {
		return &directorError{ka, kaHost, err}
	}
	for _, id := range sortedVRIDs(st.VIPs) {
		v := st.VIPs[id]
		up := *v
		up.Priorities[peer] = takeoverPriority
		up.Preempt = true
		if err := ops.putVIP(ctx, peerHost, &up); err != nil {
			return &directorError{peer, peerHost, fmt.Errorf("raise the priority of VRID %d to take it over from keepalived on %s: %w", id, kaHost, err)}
		}
		raised = append(raised, v)
	}
	if err := waitMaster(ctx, ops.rollingOps, peerHost); err != nil {
		return &directorError{peer, peerHost, fmt.Errorf("taking the VIPs over from keepalived on %s (nothing was stopped): %w", kaHost, err)}
	}
	if err := waitFor(ctx, ops.rollingOps, kaHost, func() (string, string) {
		held, err := ops.heldAddresses(ctx, kaHost, addrs)
		if err != nil {
			return "keepalived to release the VIPs", err.Error()
		}
		if len(held) > 0 {
			return "keepalived to release the VIPs", fmt.Sprintf("it still holds %v", held)
		}
		return "", ""
	}); err != nil {
		return &directorError{ka, kaHost, fmt.Errorf("keepalived did not go BACKUP when the agent on %s took the VIPs over (nothing was stopped): %w", peerHost, err)}
	}
	t := time.NewTimer(ops.hold)
	select {
	case <-ctx.Done():
		t.Stop()
		return &directorError{ka, kaHost, fmt.Errorf("the update's timeout (timeouts.update) ran out during the handover from keepalived (nothing was stopped): %w", ctx.Err())}
	case <-t.C:
	}
	if err := ops.release(ctx, kaHost, addrs); err != nil {
		return &directorError{ka, kaHost, err}
	}
	held = false
	// 3-4. keepalived goes, the agent comes with the whole configuration.
	if err := ops.stopKeepalived(ctx, kaHost); err != nil {
		return &directorError{ka, kaHost, err}
	}
	if err := ops.upgrade(ctx, kaHost); err != nil {
		return &directorError{ka, kaHost, err}
	}
	if err := ops.putState(ctx, ka, kaHost, st); err != nil {
		return &directorError{ka, kaHost, err}
	}
	if err := waitReady(ctx, ops.rollingOps, kaHost, syncConnections); err != nil {
		return &directorError{ka, kaHost, err}
	}
	// 5. The configured priorities.
	for len(raised) > 0 {
		if err := ops.putVIP(ctx, peerHost, raised[0]); err != nil {
			return &directorError{peer, peerHost, fmt.Errorf("restore the configured priority of VRID %d: %w", raised[0].VRID, err)}
		}
		raised = raised[1:]
	}
	if err := waitSettled(ctx, ops.rollingOps, hosts); err != nil {
		return err
	}
	ops.logf(ctx, "director switched from keepalived to the agent", map[string]any{"host": kaHost, "took_ms": time.Since(start).Milliseconds()})
	return nil
}

func sortedVRIDs(m map[int]*agentapi.VIP) []int { return slices.Sorted(maps.Keys(m)) }
