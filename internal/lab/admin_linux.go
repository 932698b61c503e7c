package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// modules are what the lab and the provider's tests need from the kernel (ip6_tunnel: IPv6
// tunnel forwarding on real servers; inside UML the kernel cannot load a module by itself).
// Missing ones are tolerated (the Debian UML kernel has no ip_vs_twos; a stock kernel has some
// built in); the tests that use one check that it works where the kernel has it, and that the
// agent's error says so where it does not (agent/ipvs TestLabIPVS).
var modules = []string{
	"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_lblc", "ip_vs_lblcr",
	"ip_vs_dh", "ip_vs_sh", "ip_vs_sed", "ip_vs_nq", "ip_vs_mh", "ip_vs_fo", "ip_vs_ovf", "ip_vs_twos",
	"nf_conntrack", "sch_ingress", "cls_bpf", "veth", "bridge", "overlay", "ipv6", "ipip", "ip_tunnel", "tunnel4", "ip6_tunnel", "tun",
}

// loadModules loads modules with modprobe, from the module tree under root (modprobe -d) if
// root is not empty. Its output (e.g. "ip_vs_twos not found") goes to log.
func loadModules(ctx context.Context, root string, log io.Writer) {
	args := []string{"-a"}
	if root != "" {
		args = append(args, "-d", root)
	}
	cmd := exec.CommandContext(ctx, "modprobe", append(args, modules...)...)
	cmd.Stdout, cmd.Stderr = log, log
	_ = cmd.Run() // exit status 1 when any module is missing; see above
}

// haveIPVS reports whether the kernel of the current network namespace has IPVS loaded.
func haveIPVS() bool {
	_, err := os.Stat("/proc/net/ip_vs")
	return err == nil
}

// setupAdmin makes the admin network namespace with the lab bridge and the admin's addresses.
// Multicast snooping is off so that VRRP adverts reach every port; STP is off so that ports
// forward at once. A fixed MAC keeps the bridge from taking a port's as hosts come and go.
func setupAdmin(ctx context.Context) error {
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", AdminNetns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %w: %s", AdminNetns, err, out)
	}
	script := fmt.Sprintf(`link set lo up
link add %[1]s address %[6]s type bridge stp_state 0 forward_delay 0 mcast_snooping 0
addr add %[2]s/%[3]d dev %[1]s
addr add %[4]s/%[5]d dev %[1]s nodad
link set %[1]s up
`, Bridge, AdminIPv4, IPv4Net.Bits(), AdminIPv6, IPv6Net.Bits(), macFor(AdminIPv4.String(), 2))
	cmd := exec.CommandContext(ctx, "ip", "-n", AdminNetns, "-batch", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = deleteAdmin(context.Background())
		return fmt.Errorf("set up bridge %s in %s: %w: %s", Bridge, AdminNetns, err, out)
	}
	return nil
}

// deleteAdmin removes the admin namespace; the bridge and the bridge ends of veths go with it.
func deleteAdmin(ctx context.Context) error {
	if _, err := os.Stat("/run/netns/" + AdminNetns); err != nil {
		return nil
	}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "delete", AdminNetns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns delete %s: %w: %s", AdminNetns, err, out)
	}
	return nil
}

// adminArgv wraps argv to run in the admin namespace. `ip netns exec` also gives it a mount
// namespace whose /sys shows the admin namespace's interfaces.
func adminArgv(argv []string) []string {
	return append([]string{"ip", "netns", "exec", AdminNetns}, argv...)
}
