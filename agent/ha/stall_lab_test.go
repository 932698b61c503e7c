//go:build linux

package ha_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// TestLabStalledBackup: a backup whose agent the host did not run for longer than
// Master_Down_Interval must not take over from a master that kept advertising meanwhile. Its
// adverts wait in the backup's socket, stamped with their arrival by the kernel: the backup must
// read them before it calls the master silent (RFC 5798 §6.4.2 restarts Master_Down_Timer on
// every advert received). A false takeover moves the clients to the backup by gratuitous ARP,
// and the connections in flight through the master then reach a director that has neither their
// socket nor their IPVS entry: it resets them. (`make demo` showed one such reset among 300
// requests on a loaded machine: the backup's timer fired 142 ms late with the master's last
// three adverts still unread.)
func TestLabStalledBackup(t *testing.T) {
	e := newLabEnv(t)
	e.reset()
	e.putPair(false)
	// 100 ms adverts: Master_Down_Interval 361 ms at priority 100.
	e.putVIP(&agentapi.VIP{VRID: 73, Addresses: []string{vip4}, Priorities: [2]int{200, 100},
		AdvertIntervalCS: 10, Version: 3, Preempt: true})
	e.waitState(d1, 73, "MASTER", settle)
	e.waitState(d2, 73, "BACKUP", settle)
	// The agent's own process (`lvs-agent serve`, under its supervisor), which holds the VRRP
	// sockets.
	pid := strings.TrimSpace(e.exec(d2, "pgrep -f '^"+agentapi.BinaryPath+" serve' | head -n1"))
	if pid == "" {
		t.Fatalf("no agent process on %s:\n%s", d2, e.exec(d2, "ps -eo pid,ppid,args"))
	}
	t.Logf("%s: agent pid %s (%s)", d2, pid, strings.TrimSpace(e.exec(d2, "cat /proc/"+pid+"/cmdline | tr '\\0' ' '")))
	before := e.mustVRRP(d2, 73)
	const stalls = 8
	for i := 0; i < stalls; i++ {
		// 700 ms stopped: about twice Master_Down_Interval, seven of the master's adverts queued.
		e.exec(d2, fmt.Sprintf("kill -STOP %s; sleep 0.7; kill -CONT %s; sleep 0.3", pid, pid))
	}
	after := e.mustVRRP(d2, 73)
	log := e.exec(d2, "grep -h 'vrrp state change' "+agentapi.LogPath+" | grep '\"vrid\":73' | tail -n 20 || true")
	if after.State != "BACKUP" || strings.Contains(log, `"to":"MASTER"`) {
		t.Errorf("%s took over from a master that never stopped advertising, across %d stalls of its agent:\n%s", d2, stalls, log)
	}
	if d1s := e.mustVRRP(d1, 73); d1s.State != "MASTER" {
		t.Errorf("%s: %s", d1, d1s.State)
	}
	t.Logf("%s: adverts in %d before, %d after the stalls", d2, before.AdvertsIn, after.AdvertsIn)
}
