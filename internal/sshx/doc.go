// Package sshx is the provider's SSH transport: it dials hosts (directly or through a bastion),
// verifies their host keys, runs commands, streams a session as a net.Conn and uploads files.
//
// One provider run reaches each host through one SSH connection: a [Pool] keyed by
// [Config.Key] dials a host once, shares the connection between all resources (sessions are
// multiplexed) and re-dials transparently when the connection died.
//
// Host keys are always verified, against a known_hosts file or a pinned key, unless the
// loudly named [Config.InsecureSkipHostKeyVerification] is set. Failures come back as typed
// errors ([UnreachableError], [AuthError], [UnknownHostKeyError], [HostKeyMismatchError],
// [CommandError], [SudoError]) whose messages say what to do.
//
// Non-root users work through non-interactive sudo: [Client.Sudo] wraps a command in
// `sudo -n`, and a sudo that wants a password becomes an error matching [ErrSudoPassword].
//
// The package imports no Terraform code so that it can be tested against a real sshd alone.
package sshx
