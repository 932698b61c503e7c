// Package handover forwards, during a planned VRRP handover, the TCP packets of connections the
// previous master still serves back to it, so that a switchover resets no connection.
//
// When a master stops on purpose (priority 0) or gives way to a preempting one, it keeps its
// VIPs for a moment and serves its clients until the new master's gratuitous ARPs move them (see
// agent/vrrp). A connection whose handshake the old master answered just before the move, or
// that was open on it, then sends its next packets to the new master, which has no socket for
// it (nor, in real LVS use, an IPVS connection entry when the sync daemon had not synced it yet)
// and answers with a reset. For a bounded window after a planned takeover the new master
// therefore sends such packets to the old master at layer 2:
//
//   - a tc classifier (eBPF, on the interface's ingress; see Classifier) marks TCP packets to a
//     VIP that are not a SYN and find no socket of this host but a listener;
//   - an IPVS fwmark service takes the marked packets to one destination, the old master's
//     address, by direct routing (the packet keeps the VIP as destination; the old master holds
//     it and its socket or IPVS entry completes the connection). IPVS looks its connection
//     entries up before it schedules, so synced connections still go their own way;
//   - net.ipv4.vs.sloppy_tcp=1, so that IPVS schedules a flow from a packet other than a SYN,
//     and net.ipv4.vs.expire_nodest_conn=1, so that the entries the window made go with its
//     service, are held while a window is open.
//
// nftables would do the marking with a rule (ct state new, SYN clear), but the lab's kernel
// (Debian's user-mode-linux 6.1) has CONFIG_NF_TABLES without CONFIG_NF_TABLES_IPV4/INET, so no
// IPv4 chain can exist there; tc and eBPF it has, as every distribution kernel does.
//
// The previous master, for its part, keeps the VIPs as long as the window lasts, and so must not
// draw clients back to it meanwhile: SilenceARP puts a second tc program on its ingress that
// drops ARP requests for the VIPs (ARPSilencer). (The ARP requests it sends itself name its own
// address, not a VIP: agent/ha sets arp_announce=2 on every interface that carries VIPs.)
//
// Everything a window or a silence installs goes when it ends, when the agent stops, and on the
// next start after a crash (Cleanup). Only IPv4 VIPs are forwarded.
package handover

import (
	"fmt"
	"net/netip"

	"github.com/lvs-provider/terraform-provider-lvs/agent/ipvs"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

const (
	// FilterName names the windows' tc filters (with the window's slot).
	FilterName = "lvs_handover_"
	// filterPrio is the tc priority of slot 0's filter; slot n uses filterPrio+n. ARP
	// silencers use arpFilterPrio+n, past every window's.
	filterPrio    = 0x4c00
	arpFilterPrio = filterPrio + 0x100
	// MarkBase is the firewall mark of the first window; window slot n uses MarkBase|n. Its
	// fwmark services are the IPVS services with a mark in MarkBase's range (markMask).
	// The range is reserved in the API (agentapi.ReservedFWMarkBase), so that no user's
	// virtual server can use one of these marks.
	MarkBase = agentapi.ReservedFWMarkBase // "LV"
	markMask = agentapi.ReservedFWMarkMask
	// maxWindows bounds the windows open at once (one per VRRP instance taking over).
	maxWindows = 255
)

// Sysctls are what IPVS needs while a window is open.
var Sysctls = map[string]string{
	"net.ipv4.vs.sloppy_tcp":         "1",
	"net.ipv4.vs.expire_nodest_conn": "1",
}

// Mark is the firewall mark of window slot n (1..maxWindows).
func Mark(slot int) uint32 { return MarkBase | uint32(slot) }

// IsWindowMark reports whether an IPVS fwmark service belongs to a handover window.
func IsWindowMark(mark uint32) bool {
	return mark&markMask == MarkBase && mark&^markMask != 0
}

// Filter names the tc filter of window slot n.
func Filter(slot int) string { return fmt.Sprintf("%s%d", FilterName, slot) }

// FilterPriority is the tc priority of window slot n's filter.
func FilterPriority(slot int) uint16 { return uint16(filterPrio + slot) }

// arpFilter names the tc filter of ARP silencer slot n; it shares the windows' prefix, so that
// Cleanup removes it too.
func arpFilter(slot int) string { return fmt.Sprintf("%sarp_%d", FilterName, slot) }

// arpFilterPriority is the tc priority of ARP silencer slot n's filter.
func arpFilterPriority(slot int) uint16 { return uint16(arpFilterPrio + slot) }

// Service is the IPVS service of a window: the marked packets go to prev, the previous master,
// by direct routing.
func Service(mark uint32, prev netip.Addr) *ipvs.Service {
	return &ipvs.Service{
		ServiceKey: ipvs.ServiceKey{Family: ipvs.AFInet, FWMark: mark},
		Scheduler:  "rr",
		Dests:      []*ipvs.Dest{{Addr: prev, FwdMethod: ipvs.FwdDroute, Weight: 1}},
	}
}

// forwardable returns the IPv4 addresses of addrs.
func forwardable(addrs []netip.Addr) []netip.Addr {
	var v4 []netip.Addr
	for _, a := range addrs {
		if a = a.Unmap(); a.Is4() {
			v4 = append(v4, a)
		}
	}
	return v4
}
