package main

import (
	"fmt"
	"strings"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// formatIPVS prints the kernel's IPVS table as `ipvsadm -Ln --stats` does, with each real
// server's weight as "kernel/configured" and its health.
func formatIPVS(svcs []agentapi.IPVSService) string {
	if len(svcs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("IPVS table (weight = in the kernel / configured)\n")
	fmt.Fprintf(&b, "%-4s %-32s %-10s %8s %10s %10s %12s %12s\n", "Prot", "LocalAddress:Port", "Scheduler", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	fmt.Fprintf(&b, "  -> %-31s %-8s %-13s %6s %6s %8s  %s\n", "RemoteAddress:Port", "Forward", "Weight", "Active", "InAct", "Conns", "Health")
	for _, s := range svcs {
		proto, addr, _ := strings.Cut(s.Key, "/")
		sched := s.Scheduler
		if len(s.Flags) > 0 {
			sched += " (" + strings.Join(s.Flags, ",") + ")"
		}
		if p := s.Persistence; p != nil {
			sched += fmt.Sprintf(" persistent %d", p.TimeoutS)
			if p.Netmask != "" {
				sched += " mask " + p.Netmask
			}
		}
		fmt.Fprintf(&b, "%-4s %-32s %-10s %8d %10d %10d %12d %12d", strings.ToUpper(proto), addr, sched,
			s.Stats.Connections, s.Stats.PacketsIn, s.Stats.PacketsOut, s.Stats.BytesIn, s.Stats.BytesOut)
		switch {
		case !s.Managed:
			b.WriteString("  (not managed by the agent)")
		case s.Missing:
			b.WriteString("  MISSING: " + s.Error)
		case s.Error != "":
			b.WriteString("  error: " + s.Error)
		}
		if q := s.Quorum; q != nil && !q.Up {
			fmt.Fprintf(&b, "  QUORUM DOWN (live weight %d < %d)", q.WeightSum, q.Min)
		}
		b.WriteString("\n")
		for _, d := range s.Destinations {
			health := d.Health
			if d.HealthReason != "" {
				health += " (" + d.HealthReason + ")"
			}
			fmt.Fprintf(&b, "  -> %-31s %-8s %-13s %6d %6d %8d  %s\n", d.Key, forwardName(d.ForwardingMethod),
				fmt.Sprintf("%d/%d", d.Weight, d.ConfiguredWeight), d.ActiveConns, d.InactiveConns, d.Stats.Connections, health)
		}
	}
	return b.String()
}

// forwardName is ipvsadm's name of a forwarding method.
func forwardName(m string) string {
	switch agentapi.Forwarding(m) {
	case agentapi.ForwardDR:
		return "Route"
	case agentapi.ForwardNAT:
		return "Masq"
	case agentapi.ForwardTunnel:
		return "Tunnel"
	}
	return m
}

// formatBindings prints the real-server role's VIPs.
func formatBindings(bs []agentapi.RealServerBinding) string {
	if len(bs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("real-server bindings:\n")
	for _, x := range bs {
		where := "lo, ARP suppressed"
		if agentapi.Forwarding(x.ForwardingMethod) == agentapi.ForwardTunnel {
			where = "tunnel device"
		}
		fmt.Fprintf(&b, "  VIP %s (%s, on %s)\n", x.VIP, x.ForwardingMethod, where)
	}
	return b.String()
}
