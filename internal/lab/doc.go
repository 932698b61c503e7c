// Package lab builds a lab of real hosts on one machine for tests and the demo.
//
// A lab host is a set of fresh namespaces (network, mount, PID, UTS, IPC) whose root is an
// overlay of the machine's own / (read-only lower) and a per-host tmpfs (the host's "disk"),
// running a real OpenSSH sshd. Every host has a veth on the bridge lab0, which lives in the
// admin network namespace lvslab-admin together with 198.51.100.1/24 and 2001:db8::1/64. The
// bridge has no uplink and hosts have no default route, so lab traffic never leaves the lab.
// A host whose HostSpec has inside addresses also has an eth1 on a second bridge, lab1 (no
// uplink, no admin address), with an address in 198.51.100.192/26 and 2001:db8:1::/64: the
// inside link of a two-armed NAT director and its real servers. Partition unplugs eth0 only.
//
// IPVS needs a kernel with IP_VS. The lab code always runs inside a "kernel context" made by
// `lab run` (see Run): on a machine whose kernel has IP_VS that is the machine itself, elsewhere
// a User-Mode-Linux kernel booted with the machine's / as a read-only hostfs root. Inside a
// kernel context the environment has LVS_LAB=1 and LVS_LAB_DIR; Up, Down and Load work there.
//
// Host life cycle: Kill is a power cut (SIGKILL of the host's PID-namespace init, which takes every
// process of the host with it, and the host's network namespace, so its IPVS table, addresses
// and sysctls go too); the disk survives. Boot starts the host again from the same disk and
// runs the lines of /etc/lvs-lab/autostart, standing in for systemd-enabled services.
//
// Processes that create hosts re-execute their own binary as each host's init; the package's
// init function recognises that invocation (see reexec_linux.go), so any binary that imports
// this package can run a lab.
//
// Inside UML the machine's / is read-only. The command gets tmpfs on /tmp (TMPDIR=/tmp),
// /var/tmp and /run, an overlay on $HOME (reads the machine's caches, writes go to memory), and
// read-write access to its working directory and its own directory (go test -exec puts coverage
// files there); other writes to the machine's files fail. Its stdin is /dev/null.
// Race-instrumented binaries cannot run under UML (ThreadSanitizer needs more address space).
//
// Native mode (`lab run --native`, UML only) is for measuring programs as operators run them:
// terraform on their own machine, not under UML's ptrace, against directors elsewhere. `lab run`
// makes a fresh network namespace on the machine (lvslab-native-PID) holding only a tap device
// with 198.51.100.254/24 and 2001:db8::fe/64 — no other address, no default route — and boots
// UML inside it with the tap as its vector device vec0, which the guest puts on lab0. Inside, the
// command finds a runner at $LVS_LAB_NATIVE (198.51.100.254:7070, reachable only over the lab
// bridge) that runs programs in that namespace (RunNative), and a directory seen at the same path
// on both sides, $LVS_LAB_NATIVE_DIR, for their files. Traffic thus goes between the namespace
// and the lab only; the namespace, the tap and the runner's commands go when the run ends.
//
// Needs (Debian packages; the Makefile installs them): user-mode-linux, kmod (modprobe, also
// used inside UML), iproute2, util-linux (nsenter), openssh-server and openssh-client, sudo (the
// hosts' SudoUser), ipvsadm (tests only), and gcc on CPUs with AMX (see xstate_linux.go).
package lab
