// Package shellcmd runs the operator's shell commands on a host — VRRP track scripts and notify
// hooks, exec health checks — the one way they must all run: `/bin/sh -c` in a process group of
// their own, killed as a whole when the caller's context ends and again after the command exits,
// so that a hung script or a child it left in the background never outlives its run; output
// kept up to a bound.
package shellcmd
