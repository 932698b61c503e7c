package remote

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentinstall"
)

// A director of a pair may be run by keepalived while its peer runs the agent: the live
// migration from keepalived, one director at a time. Such a director has no agent: every agent
// client of it fails with ErrRunByKeepalived at once, without dialling, and callers skip it.
// The pair resource says which hosts are run by keepalived now (SetRunByKeepalived) and once
// its plan is applied (PlanRunByKeepalived); children
// that run in a process where the pair did not, learn it from their own recorded status
// (LearnRunByKeepalived), which never overrides the pair's word.

// ErrRunByKeepalived is the error of an agent call to a director run by keepalived.
var ErrRunByKeepalived = errors.New("director run by keepalived (run_by = \"keepalived\"): no agent there")

// SetRunByKeepalived records whether addr is run by keepalived, as the pair configures it.
func (h *Hosts) SetRunByKeepalived(addr string, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.runBy[addr] = on
}

// LearnRunByKeepalived records that addr is run by keepalived (on) or not, unless the pair
// already said.
func (h *Hosts) LearnRunByKeepalived(addr string, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.runBy[addr]; !ok {
		h.runBy[addr] = on
	}
}

// PlanRunByKeepalived records whether addr will be run by keepalived once the plan is
// applied, as the pair's plan says.
func (h *Hosts) PlanRunByKeepalived(addr string, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.planRunBy[addr] = on
}

// PlannedRunByKeepalived reports whether addr will be run by keepalived once the plan is
// applied: as the pair's plan says, else as it is now.
func (h *Hosts) PlannedRunByKeepalived(addr string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if on, ok := h.planRunBy[addr]; ok {
		return on
	}
	return h.runBy[addr]
}

// RunByKeepalived reports whether addr is a director run by keepalived.
func (h *Hosts) RunByKeepalived(addr string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.runBy[addr]
}

// DefaultKeepalivedStop stops keepalived the way its packages run it: the systemd unit when
// systemd runs the host and there is one (stopped and disabled, so that a reboot does not start it next to the agent),
// else the process whose PID keepalived writes to /run/keepalived.pid (SIGTERM).
const DefaultKeepalivedStop = `if [ -d /run/systemd/system ] && systemctl cat keepalived.service >/dev/null 2>&1; then
  systemctl disable --now keepalived.service
elif [ -s /run/keepalived.pid ]; then
  kill -TERM "$(cat /run/keepalived.pid)"
fi`

// StopKeepalived runs stop (DefaultKeepalivedStop when empty) as root on addr, then waits up to
// 30 s until no keepalived process is left; a systemd unit still enabled fails it.
func (h *Hosts) StopKeepalived(ctx context.Context, addr, stop string) error {
	c, err := h.SSH(ctx, addr)
	if err != nil {
		return err
	}
	if stop == "" {
		stop = DefaultKeepalivedStop
	}
	script := stop + `
rc=$?; [ $rc -eq 0 ] || { echo "the stop command exited $rc" >&2; exit 1; }
i=0; while pgrep -x keepalived >/dev/null; do
  i=$((i+1)); [ $i -le 300 ] || { echo "keepalived still runs 30 s after the stop command: $(pgrep -x keepalived | tr '\n' ' ')" >&2; exit 1; }
  sleep 0.1
done
if [ -d /run/systemd/system ] && systemctl is-enabled keepalived.service >/dev/null 2>&1; then
  echo "keepalived.service is still enabled: a reboot would start it next to the agent" >&2; exit 1
fi`
	ih := agentinstall.Host{Address: addr, User: c.User(), Runner: c}
	if _, stderr, err := c.Run(ctx, c.Sudo(script), nil); err != nil {
		return fmt.Errorf("stop keepalived on %s: %w: %s", addr, agentinstall.SudoHint(ih, err), strings.TrimSpace(string(stderr)))
	}
	return nil
}

// HeldAddresses reports which of addrs are on one of addr's interfaces other than the loopback:
// a VIP that keepalived there still holds.
func (h *Hosts) HeldAddresses(ctx context.Context, addr string, addrs []string) ([]string, error) {
	c, err := h.SSH(ctx, addr)
	if err != nil {
		return nil, err
	}
	out, _, err := c.Run(ctx, "ip -o addr show", nil)
	if err != nil {
		return nil, fmt.Errorf("list the addresses of %s: %w", addr, err)
	}
	have := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[1] == "lo" {
			continue // HoldAddresses's, not keepalived's
		}
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" || f[i] == "inet6" {
				a, _, _ := strings.Cut(f[i+1], "/")
				have[a] = true
			}
		}
	}
	var held []string
	for _, a := range addrs {
		if p, _, _ := strings.Cut(a, "/"); have[p] {
			held = append(held, a)
		}
	}
	return held, nil
}

// arpIgnoreSave is where HoldAddresses keeps the host's net.ipv4.conf.all.arp_ignore for
// ReleaseAddresses.
const arpIgnoreSave = "/run/lvs-provider-arp_ignore"

// HoldAddresses puts the IPv4 addresses of addrs on addr's loopback, with
// net.ipv4.conf.all.arp_ignore=1 so that the host answers no ARP request for them: packets sent
// to them at layer 2 (the agent's handover window on the other director forwards a previous
// master's connections so) are still delivered there, to keepalived's IPVS table, after
// keepalived has removed them from its interface. ReleaseAddresses undoes it.
func (h *Hosts) HoldAddresses(ctx context.Context, addr string, addrs []string) error {
	v4 := ipv4Of(addrs)
	if len(v4) == 0 {
		return nil
	}
	script := `set -e
[ -e ` + arpIgnoreSave + ` ] || cat /proc/sys/net/ipv4/conf/all/arp_ignore > ` + arpIgnoreSave + `
echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore
for a in ` + strings.Join(v4, " ") + `; do ip addr replace "$a/32" dev lo; done`
	return h.runRoot(ctx, addr, "hold the VIPs on the loopback", script)
}

// ReleaseAddresses removes what HoldAddresses added and restores arp_ignore.
func (h *Hosts) ReleaseAddresses(ctx context.Context, addr string, addrs []string) error {
	script := `for a in ` + strings.Join(ipv4Of(addrs), " ") + `; do ip addr del "$a/32" dev lo 2>/dev/null || true; done
if [ -e ` + arpIgnoreSave + ` ]; then cat ` + arpIgnoreSave + ` > /proc/sys/net/ipv4/conf/all/arp_ignore && rm -f ` + arpIgnoreSave + `; fi`
	return h.runRoot(ctx, addr, "release the VIPs held on the loopback", script)
}

func (h *Hosts) runRoot(ctx context.Context, addr, what, script string) error {
	c, err := h.SSH(ctx, addr)
	if err != nil {
		return err
	}
	if _, stderr, err := c.Run(ctx, c.Sudo(script), nil); err != nil {
		ih := agentinstall.Host{Address: addr, User: c.User(), Runner: c}
		return fmt.Errorf("%s on %s: %w: %s", what, addr, agentinstall.SudoHint(ih, err), strings.TrimSpace(string(stderr)))
	}
	return nil
}

// ipv4Of is the IPv4 addresses among addrs (prefix lengths dropped), in a form safe in a shell
// word.
func ipv4Of(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		s, _, _ := strings.Cut(a, "/")
		if ip, err := netip.ParseAddr(s); err == nil && ip.Is4() {
			out = append(out, ip.String())
		}
	}
	return out
}
