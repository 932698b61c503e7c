// Package netnstest builds small test LANs of network namespaces on the running kernel, for
// tests of the agent's netlink and raw-socket code that do not need the lab's IP_VS kernel.
//
// Each host is a named network namespace with an interface eth0 plugged into a bridge in a
// namespace of its own; the bridge has no uplink and the addresses come from 198.51.100.0/24
// and 2001:db8::/64, so nothing reaches the machine's real network. Tests that use it need
// root and ip(8); they are skipped otherwise, except where these are required (see Require).
package netnstest

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/netconf"
	"github.com/lvs-provider/terraform-provider-lvs/internal/testreq"
)

// Host is one namespace of a LAN.
type Host struct {
	Name  string // netns name, for `ip netns exec`
	IPv4  netip.Addr
	IPv6  netip.Addr
	Iface string // always eth0
	Net   *netconf.Handle
}

var seq atomic.Int32

// Require skips the test unless it can create network namespaces; where they are required
// (LVS_NATIVE_REQUIRED=1 in the unit step of `make test`, or LVS_LAB_REQUIRED=1), it fails it
// instead, so that these tests cannot pass there by not running.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		testreq.Missing(t, "needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		testreq.Missing(t, "needs ip(8) (apt-get install iproute2)")
	}
}

// NewLAN creates n hosts 198.51.100.11+i / 2001:db8::11+i on one bridge and removes them
// when the test ends.
func NewLAN(t testing.TB, n int) []*Host {
	t.Helper()
	Require(t)
	id := fmt.Sprintf("lvst%d-%d", os.Getpid()%100000, seq.Add(1))
	br := id + "-br"
	run(t, "ip", "netns", "add", br)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", br).Run() })
	batch(t, br, "link add lan0 type bridge mcast_snooping 0 stp_state 0\nlink set lan0 up\n")
	var hosts []*Host
	for i := range n {
		h := &Host{
			Name:  fmt.Sprintf("%s-h%d", id, i),
			IPv4:  netip.AddrFrom4([4]byte{198, 51, 100, byte(11 + i)}),
			IPv6:  netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", 0x11+i)),
			Iface: "eth0",
		}
		run(t, "ip", "netns", "add", h.Name)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", h.Name).Run() })
		port := fmt.Sprintf("p%d", i)
		// Both ends are created in the bridge's namespace, then eth0 moves into the host.
		batch(t, br, fmt.Sprintf("link add %s type veth peer name eth0 netns %s\nlink set %s master lan0\nlink set %s up\n", port, h.Name, port, port))
		// No DAD: the link-local address must be usable at once.
		h.Exec(t, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
		batch(t, h.Name, fmt.Sprintf("link set lo up\nlink set eth0 up\naddr add %s/24 dev eth0\naddr add %s/64 dev eth0 nodad\n", h.IPv4, h.IPv6))
		nh, err := netconf.OpenNetns("/run/netns/" + h.Name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nh.Close() })
		h.Net = nh
		hosts = append(hosts, h)
	}
	// Wait for the link-local addresses (the kernel adds them when the link comes up).
	for _, h := range hosts {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := h.Net.LinkLocal("eth0"); err == nil {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("%s: %v", h.Name, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return hosts
}

// AddLink gives every host of a LAN a second interface eth1 on a second bridge lan1 (no uplink
// either), with the addresses 198.51.100.201+i/26 and 2001:db8:1::11+i/64: the inside link of a
// two-armed director.
func AddLink(t testing.TB, hosts []*Host) {
	t.Helper()
	if len(hosts) == 0 {
		return
	}
	br := hosts[0].Name[:strings.LastIndex(hosts[0].Name, "-h")] + "-br"
	batch(t, br, "link add lan1 type bridge mcast_snooping 0 stp_state 0\nlink set lan1 up\n")
	for i, h := range hosts {
		port := fmt.Sprintf("q%d", i)
		batch(t, br, fmt.Sprintf("link add %s type veth peer name eth1 netns %s\nlink set %s master lan1\nlink set %s up\n", port, h.Name, port, port))
		h.Exec(t, "sysctl", "-qw", "net.ipv6.conf.eth1.accept_dad=0")
		batch(t, h.Name, fmt.Sprintf("link set eth1 up\naddr add 198.51.100.%d/26 dev eth1\naddr add 2001:db8:1::%x/64 dev eth1 nodad\n", 201+i, 0x11+i))
	}
}

// Exec runs argv in the host's namespace and returns its output; failure fails the test.
func (h *Host) Exec(t testing.TB, argv ...string) string {
	t.Helper()
	return run(t, append([]string{"ip", "netns", "exec", h.Name}, argv...)...)
}

// Partition unplugs (on) or replugs the host's port from the bridge; its link stays up.
func Partition(t testing.TB, hosts []*Host, i int, on bool) {
	t.Helper()
	br := hosts[i].Name[:strings.LastIndex(hosts[i].Name, "-h")] + "-br"
	cmd := fmt.Sprintf("link set p%d master lan0\n", i)
	if on {
		cmd = fmt.Sprintf("link set p%d nomaster\n", i)
	}
	batch(t, br, cmd)
}

func batch(t testing.TB, ns, script string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s -batch: %v\n%s\n%s", ns, err, script, out)
	}
}

func run(t testing.TB, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%q: %v\n%s", argv, err, out)
	}
	return string(out)
}
