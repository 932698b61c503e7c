// Package ipvs keeps the kernel's IPVS table as a director's desired state asks: the virtual
// servers and real servers of agentapi.State, the connection-sync daemons and timeouts of the
// pair, and the sysctls the forwarding methods need.
//
// The Reconciler compares the kernel's table with the desired one on every Apply (the API server
// calls it after each change and every few seconds) and changes only what differs, in place:
// a new weight or scheduler is an edit of the existing destination or service, never a delete
// and re-add, and the table is never flushed, so no established connection is dropped by an
// update or by an agent restart. A difference that the agent did not cause (someone ran
// ipvsadm) is repaired, logged and counted as drift.
//
// The agent owns the services of its configuration, and only those: services someone else
// made are left alone but reported (IPVSService.Managed false). Inside an owned service every
// destination is the agent's, so a destination added by hand is drift and goes. What the agent
// owns is also recorded on disk (see Config.StateDir) so that a service removed from the
// configuration while the agent was down is still removed.
//
// The kernel is reached through Kernel; on Linux that is generic netlink spoken directly
// (kernel_linux.go), which covers what github.com/moby/ipvs lacks (sync daemons, tunnel types,
// 64-bit counters) without its modprobe shell-out and logrus dependency. Tests use a fake.
//
// Health checks are not run here. A HealthView lets them override the configured weights
// (quiesce to 0, remove, or a dynamic weight) without the reconciler taking the change for
// drift; the sorry server and quorum follow from the weights it reports.
package ipvs
