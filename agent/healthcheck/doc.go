// Package healthcheck decides, on a director, whether each real server is up, with keepalived's
// semantics: a check is 1+retries attempts retry_delay apart, and fails only when all of them
// fail; fall failed checks in a row take a real server down, rise passed checks in a row bring it
// back; start_down (keepalived alpha) keeps a new real server down until its first passed check.
//
// The Manager is a reconcile.Reconciler that keeps one checker per checked real server and an
// ipvs.HealthView that turns verdicts into weights (down: 0 with on_failure quiesce, out of the
// table with remove; a real server's own on_failure overrides its virtual server's). Checks
// of every kind (tcp, http, https, exec, dns, udp, smtp) share one
// scheduler: a heap of due times dispatches attempts to short-lived goroutines, at most
// MaxInFlight of which hold a socket or process at once, so ten thousand checks cost a few
// goroutines and file descriptors at any instant, and a hanging check holds only its own slot
// until its timeout.
//
// Exec checks run `/bin/sh -c COMMAND` in their own process group with these variables, so that
// one script can serve many real servers:
//
//	LVS_RS_ADDRESS, LVS_RS_PORT        the real server
//	LVS_CHECK_ADDRESS, LVS_CHECK_PORT  where to check it (connect_address/connect_port applied)
//	LVS_VS                             the virtual server's key, e.g. tcp/198.51.100.100:80
//	LVS_VS_PROTOCOL, LVS_VS_ADDRESS, LVS_VS_PORT, LVS_VS_FWMARK
//
// An exec check with dynamic_weight (keepalived misc_dynamic) passes on exit 0 and 2-255 too,
// and its exit status sets the weight of an up server: 0 the configured weight, 2-255 status-2.
// That weight lives only here, in the Manager's answer to Weight: the configured weight stays
// in the state, so the provider sees no drift, and the status shows both.
//
// A real server's notify_up and notify_down commands (notify.go) run the same way when its
// verdict flips, with these and LVS_RS_STATE (up, down) and LVS_RS_REASON.
package healthcheck
