//go:build linux

package rshost_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// The real-server role with the real agent on a lab host, driven through its API over
// `lvs-agent dial-stdio`. End-to-end traffic through a director (DR, tunnel) is proven in
// agent/ipvs's lab test, which uses these bindings on its real servers.

const real, client = "real1", "client"

func TestLabRealServerBindings(t *testing.T) {
	l := lab.NewForTest(t, lab.Spec{Hosts: []lab.HostSpec{
		{Name: real, IPv4: "198.51.100.21", IPv6: "2001:db8::21"},
		{Name: client, IPv4: "198.51.100.31", IPv6: "2001:db8::31"},
	}})
	sh := func(host, script string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := l.Host(host).Exec(ctx, "sh", "-c", script)
		if err != nil {
			t.Fatalf("%s: %s: %v\n%s", host, script, err, out)
		}
		return string(out)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	agent := lab.AgentBinary(t, filepath.Join(wd, "..", ".."))
	sh(real, fmt.Sprintf("install -m 0755 %s %s && %s install", agent, agentapi.BinaryPath, agentapi.BinaryPath))
	call := func(f func(ctx context.Context, c *agentclient.Client) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := agentclient.New(real, func(context.Context) (net.Conn, error) {
			return l.Host(real).DialStdio(agentapi.BinaryPath, "dial-stdio")
		})
		defer c.Close()
		if err := f(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	put := func(id, vip, method string) {
		t.Helper()
		call(func(ctx context.Context, c *agentclient.Client) error {
			_, err := c.PutBinding(ctx, id, &agentapi.RealServerBinding{VIP: vip, ForwardingMethod: method})
			return err
		})
	}
	del := func(id string) {
		t.Helper()
		call(func(ctx context.Context, c *agentclient.Client) error { return c.DeleteBinding(ctx, id) })
	}
	sysctls := "sysctl -n net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce net.ipv4.conf.lo.arp_ignore net.ipv4.conf.lo.arp_announce net.ipv4.conf.all.rp_filter"
	orig := sh(real, sysctls)
	// answersARP reports whether real answers the client's ARP for addr: a TCP connection to
	// its sshd (listening on every address) needs the address resolved first.
	answersARP := func(addr string) bool {
		sh(client, "ip neigh flush dev eth0")
		_, err := l.Host(client).Exec(context.Background(), "timeout", "3", "bash", "-c", "exec 3<>/dev/tcp/"+addr+"/22")
		t.Logf("connect to %s:22 from the client: %v; neighbour: %s", addr, err, strings.TrimSpace(sh(client, "ip neigh show "+addr)))
		return err == nil
	}

	// Control: with the host's defaults, an address on lo is answered for (Linux's weak host
	// model); that is what the binding must prevent.
	sh(real, "ip addr add 198.51.100.99/32 dev lo")
	if !answersARP("198.51.100.99") {
		t.Log(sh(real, "sysctl net.ipv4.conf.all.arp_ignore net.ipv4.conf.eth0.arp_ignore net.ipv4.conf.lo.arp_ignore; ip -o addr"))
		t.Fatal("control: an address on lo is not reachable with default ARP settings")
	}
	sh(real, "ip addr del 198.51.100.99/32 dev lo")

	put("a", "198.51.100.100", "dr")
	put("b", "198.51.100.100", "dr") // a second real server resource with the same VIP
	put("c", "2001:db8::100", "dr")
	put("d", "198.51.100.102", "tunnel")
	lo := sh(real, "ip -o addr show dev lo")
	for _, w := range []string{"198.51.100.100/32", "2001:db8::100/128"} {
		if !strings.Contains(lo, w) {
			t.Errorf("lo lacks %s:\n%s", w, lo)
		}
	}
	if strings.Count(lo, "198.51.100.100/32") != 1 {
		t.Errorf("lo:\n%s", lo)
	}
	if tun := sh(real, "ip -o addr show dev tunl0; ip -o link show dev tunl0"); !strings.Contains(tun, "198.51.100.102/32") || !strings.Contains(tun, ",UP") {
		t.Errorf("tunl0:\n%s", tun)
	}
	if got := strings.Fields(sh(real, sysctls+" net.ipv4.conf.tunl0.rp_filter")); strings.Join(got, " ") != "1 2 1 2 0 0" {
		t.Errorf("arp_ignore, arp_announce (all, lo), rp_filter (all, tunl0) = %v", got)
	}
	if answersARP("198.51.100.100") {
		t.Error("the real server answers ARP for the DR VIP")
	}
	if out := sh(real, agentapi.BinaryPath+" status"); !strings.Contains(out, "VIP 198.51.100.100 (dr, on lo") || !strings.Contains(out, "VIP 198.51.100.102 (tunnel") {
		t.Errorf("lvs-agent status:\n%s", out)
	}

	// Reference counted: the VIP stays while binding b needs it.
	del("a")
	if lo := sh(real, "ip -o addr show dev lo"); !strings.Contains(lo, "198.51.100.100/32") {
		t.Errorf("VIP gone with one of two bindings:\n%s", lo)
	}
	// Removed by hand: back within a resync or two, and logged.
	sh(real, "ip addr del 198.51.100.100/32 dev lo && sysctl -qw net.ipv4.conf.all.arp_ignore=0")
	start := time.Now()
	for !strings.Contains(sh(real, "ip -o addr show dev lo; sysctl -n net.ipv4.conf.all.arp_ignore"), "198.51.100.100/32") ||
		strings.TrimSpace(sh(real, "sysctl -n net.ipv4.conf.all.arp_ignore")) != "1" {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("lo VIP or arp_ignore not repaired in 20s:\n%s", sh(real, "ip -o addr show dev lo; tail -5 "+agentapi.LogPath))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("lo VIP and arp_ignore repaired after %v", time.Since(start).Round(100*time.Millisecond))
	if log := sh(real, "cat "+agentapi.LogPath); !strings.Contains(log, "real-server drift repaired: VIP was missing") {
		t.Errorf("repair not logged:\n%s", log)
	}

	// The last binding gone: everything the role did is undone.
	for _, id := range []string{"b", "c", "d"} {
		del(id)
	}
	if lo := sh(real, "ip -o addr show dev lo"); strings.Contains(lo, "198.51.100.100") || strings.Contains(lo, "2001:db8::100") {
		t.Errorf("lo after the last binding:\n%s", lo)
	}
	if tun := sh(real, "ip -o addr show dev tunl0; ip -o link show dev tunl0"); strings.Contains(tun, "198.51.100.102") || strings.Contains(tun, ",UP") {
		t.Errorf("tunl0 after the last binding:\n%s", tun)
	}
	if got := sh(real, sysctls); got != orig {
		t.Errorf("sysctls after the last binding %q, want the originals %q", got, orig)
	}
	var gone bool
	call(func(ctx context.Context, c *agentclient.Client) error {
		_, err := c.GetBinding(ctx, "b")
		gone = errors.Is(err, agentapi.ErrNotFound)
		return nil
	})
	if !gone {
		t.Error("binding b still stored")
	}
}
