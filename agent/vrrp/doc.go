// Package vrrp is the agent's VRRP implementation: VRRPv3 (RFC 5798 / RFC 9568, IPv4 and
// IPv6) and VRRPv2 (RFC 3768, IPv4).
//
// It has a socket-free core and the engine that runs it on the wire:
//
//   - the advertisement codec (Advert, Parse, Marshal), checksummed exactly as
//     keepalived 2.2.7 does so that both implementations interoperate;
//   - encoders for the gratuitous ARP and unsolicited neighbour advertisement
//     sent when a router becomes master (GratuitousARP, UnsolicitedNA);
//   - the protocol state machine (Machine), driven by explicit events that each
//     carry the current time and answering with the Actions the engine must
//     carry out, so that every RFC rule is testable without sockets or sleeps;
//   - the Engine (engine.go), one virtual router: it feeds the Machine with packets, timers
//     and tracking with the real clock and carries out its Actions on a Transport and the
//     interface's addresses; which adverts count is trust.go's, and the policy of a planned
//     handover (keeping the addresses while a successor takes over, forwarding the previous
//     master's connections) is handover.go's;
//   - sync groups (syncgroup.go): engines of one director that fail over together, their
//     Machines gated so that the group decides when they take over;
//   - the Linux Transport (Conn, engine_linux.go): a raw protocol 112 socket per interface
//     and family shared by the virtual routers on it, and a packet socket for announcements.
//
// The Engine's loop looks like:
//
//	acts := m.Start(now)
//	for {
//		exec(acts)
//		deadline, ok := m.NextDeadline()
//		select {
//		case pkt := <-rx: // the peer's, TTL checked, Parse'd
//			acts, err = m.HandleAdvert(now, pkt.Advert, pkt.From)
//		case <-timer(deadline, ok):
//			acts = m.Tick(now)
//		case tr := <-tracking:
//			acts = m.UpdateTracking(now, tr.Weight, tr.Fault)
//		case <-stop:
//			exec(m.Shutdown(now))
//			return
//		}
//	}
//
// The engine (Engine) hands the Machine only the adverts of the peer director when it knows
// one, in every mode, pinning an IPv6 peer's link-local address by its link-layer address;
// see trust.go for what that protects against and what it cannot.
//
// The behaviour follows keepalived where the RFCs leave room (preempt_delay,
// the immediate advert a master sends on hearing a lower priority,
// garp_master_repeat/garp_master_delay, tracking weights), because the other
// side of a VRRP pair in the field is usually keepalived.
package vrrp
