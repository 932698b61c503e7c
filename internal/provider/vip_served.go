package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// VRRP elects a master some time after a VIP is stored: a new VIP waits Master_Down_Interval
// (3 × advert_interval + skew) on both directors before one takes the addresses. Create and
// Update wait for that, so that when `terraform apply` returns the VIP answers.

// vipServeBound is how long Create and Update wait for a VIP to be served: two
// Master_Down_Intervals at the longest skew (one for the election, one for a preemption that
// may follow it) plus five seconds for slow hosts.
func vipServeBound(advertCS int) time.Duration {
	advert := time.Duration(advertCS) * 10 * time.Millisecond
	return 2*(3*advert+advert) + 5*time.Second
}

// vipServed tells whether the VRRP states of one VIP on the directors (nil: director not
// reachable) amount to a served VIP: exactly one director MASTER holding every address, every
// other one BACKUP knowing a master, FAULT, or unreachable. It says why not otherwise.
func vipServed(hosts []string, addresses []string, states []*agentapi.VIPStatus) (bool, string) {
	masters := 0
	var why []string
	for i, st := range states {
		switch {
		case st == nil: // unreachable: the pair resource reports it; the other one serves
		case st.State == "MASTER":
			masters++
			// HeldAddresses lists the configured addresses on the interface, in the agent's
			// spelling: all of them are there when there are as many.
			if len(st.HeldAddresses) < len(addresses) {
				why = append(why, fmt.Sprintf("%s: MASTER holding %d of %d addresses", hosts[i], len(st.HeldAddresses), len(addresses)))
			}
		case st.State == "BACKUP" && st.Master == "":
			why = append(why, hosts[i]+": BACKUP, no master heard yet")
		case st.State == "BACKUP", st.State == "FAULT":
		default:
			why = append(why, fmt.Sprintf("%s: %s", hosts[i], st.State))
		}
	}
	if masters != 1 {
		why = append(why, fmt.Sprintf("%d directors MASTER", masters))
	}
	return len(why) == 0, strings.Join(why, "; ")
}

// waitVIPServed polls the directors until the VIP is served (see vipServed) or the bound
// passes; then it adds a warning that names each director's state: the VIP is stored and
// VRRP goes on electing, but clients may not reach it yet.
func (r *vipResource) waitVIPServed(ctx context.Context, hosts []string, v *agentapi.VIP, diags *diag.Diagnostics) {
	bound := vipServeBound(v.AdvertIntervalCS)
	deadline := time.Now().Add(bound)
	poll := min(max(time.Duration(v.AdvertIntervalCS)*10*time.Millisecond/2, 50*time.Millisecond), 500*time.Millisecond)
	states := make([]*agentapi.VIPStatus, len(hosts))
	var why string
	for {
		for i, h := range hosts {
			states[i] = nil
			st, err := r.hosts.Agent(h).Status(ctx)
			if err != nil {
				continue
			}
			for j := range st.VIPs {
				if st.VIPs[j].VRID == v.VRID {
					states[i] = &st.VIPs[j]
				}
			}
		}
		var ok bool
		if ok, why = vipServed(hosts, v.Addresses, states); ok || r.servedByKeepalived(hosts, states) {
			return
		}
		if time.Now().Add(poll).After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(poll)
	}
	diags.AddWarning("VIP Not Served Yet",
		fmt.Sprintf("VRID %d is stored on the directors, but %s after it was applied VRRP had not settled on one master holding %s: %s. "+
			"The agents go on with the election; `lvs-agent status` on each director shows why (a tracked interface or script down, "+
			"adverts not reaching the peer: check IP protocol 112 between the directors).",
			v.VRID, bound, strings.Join(v.Addresses, ", "), why))
}

// servedByKeepalived tells whether a director run by keepalived serves the VIP: every agent
// BACKUP with a master heard (the agents do not hear each other: there is one other director).
func (r *vipResource) servedByKeepalived(hosts []string, states []*agentapi.VIPStatus) bool {
	ka := false
	for i, h := range hosts {
		switch {
		case r.hosts.RunByKeepalived(h):
			ka = true
		case states[i] == nil || states[i].State != "BACKUP" || states[i].Master == "":
			return false
		}
	}
	return ka
}
