//go:build linux

package ha_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// interopCase is one VRRP flavour both implementations speak.
type interopCase struct {
	name    string
	version int
	cs      int    // advert interval, centiseconds
	kaInt   string // the same for keepalived's advert_int
	pass    string
	unicast bool
	vip     string
}

var interopCases = []interopCase{
	{name: "v3 IPv4 100ms", version: 3, cs: 10, kaInt: "0.1", vip: vip4},
	{name: "v3 IPv6 100ms", version: 3, cs: 10, kaInt: "0.1", vip: vip6},
	{name: "v2 PASS 1s", version: 2, cs: 100, kaInt: "1", pass: "s3cret", vip: vip4},
	{name: "v2 unicast 1s", version: 2, cs: 100, kaInt: "1", unicast: true, vip: vip4},
}

func (c interopCase) agentVIP(prio [2]int) *agentapi.VIP {
	return &agentapi.VIP{VRID: 60, Addresses: []string{c.vip}, Priorities: prio, AdvertIntervalCS: c.cs,
		Version: c.version, AuthPass: c.pass, Preempt: true}
}

func (c interopCase) keepalived(e *labEnv, self string, prio int) string {
	peer := d2
	if self == d2 {
		peer = d1
	}
	conf := kaConf{Version: c.version, VRID: 60, Priority: prio, Interval: c.kaInt, Pass: c.pass, VIPs: []string{c.vip}}
	if c.unicast {
		conf.Unicast = []string{e.addr(peer)}
	}
	return conf.String()
}

// TestLabKeepalivedInterop pairs the agent with Debian's keepalived 2.2.7 on the other
// director, both ways round: each takes over when the other stops or dies, and each gives way
// by priority.
func TestLabKeepalivedInterop(t *testing.T) {
	e := newLabEnv(t)
	for _, c := range interopCases {
		t.Run(c.name+": agent master, keepalived backup", func(t *testing.T) {
			e.t = t
			e.reset()
			e.putPair(c.unicast)
			e.putVIP(c.agentVIP([2]int{200, 100}), d1)
			e.startKeepalived(d2, c.keepalived(e, d2, 100))
			defer e.stopKeepalived(d2, false)
			e.waitState(d1, 60, "MASTER", looseBound)
			e.waitFor("keepalived backup", looseBound, func() bool {
				return strings.Contains(e.keepalivedLog(d2), "Entering BACKUP STATE")
			}, func() string { return e.keepalivedLog(d2) })
			time.Sleep(2 * time.Second) // several intervals: keepalived must stay backup
			if h := e.holders(c.vip); !slices.Equal(h, []string{d1}) {
				t.Fatalf("holders %v; keepalived:\n%s", h, e.keepalivedLog(d2))
			}
			e.waitAnswers(c.vip, d1, looseBound)

			// The agent stops: its priority 0 hands over to keepalived.
			e.exec(d1, agentapi.BinaryPath+" stop")
			e.waitAnswers(c.vip, d2, looseBound)
			if log := e.keepalivedLog(d2); !strings.Contains(log, "received priority 0") {
				t.Errorf("keepalived did not see our priority 0:\n%s", log)
			}
			// The agent returns and preempts: keepalived gives way.
			e.startServices(d1)
			e.waitState(d1, 60, "MASTER", looseBound)
			e.waitFor("keepalived released the VIP", looseBound, func() bool { return !e.holds(d2, c.vip) }, nil)
			e.waitAnswers(c.vip, d1, looseBound)

			// The agent dies (SIGKILL, VIP left behind): keepalived takes over; the restarted
			// agent clears its stale VIP and preempts again.
			e.exec(d1, `sup=$(cat `+agentapi.SupervisorPID+`) && kill -9 $sup $(cat /proc/$sup/task/*/children)`)
			e.waitFor("keepalived master after the agent died", looseBound, func() bool {
				return strings.Count(e.keepalivedLog(d2), "Entering MASTER STATE") >= 2
			}, func() string { return e.keepalivedLog(d2) })
			e.startServices(d1)
			e.waitState(d1, 60, "MASTER", looseBound)
			e.waitFor("one holder", looseBound, func() bool { return slices.Equal(e.holders(c.vip), []string{d1}) }, nil)
			e.waitAnswers(c.vip, d1, looseBound)
			if s := e.mustVRRP(d1, 60); len(s.Dropped) != 0 {
				t.Errorf("the agent dropped keepalived's adverts: %v", s.Dropped)
			}
		})

		t.Run(c.name+": keepalived master, agent backup", func(t *testing.T) {
			e.t = t
			e.reset()
			e.putPair(c.unicast)
			e.putVIP(c.agentVIP([2]int{200, 100}), d2)
			e.startKeepalived(d1, c.keepalived(e, d1, 200))
			defer e.stopKeepalived(d1, false)
			e.waitFor("keepalived master", looseBound, func() bool { return e.holds(d1, c.vip) }, func() string { return e.keepalivedLog(d1) })
			e.waitFor("agent hears keepalived", looseBound, func() bool {
				s, err := e.vrrp(d2, 60)
				return err == nil && s.State == "BACKUP" && strings.Contains(s.Master, "priority 200")
			}, func() string { s, err := e.vrrp(d2, 60); return fmt.Sprintf("%+v %v", s, err) })
			time.Sleep(2 * time.Second)
			if s := e.mustVRRP(d2, 60); s.State != "BACKUP" || len(s.Dropped) != 0 {
				t.Fatalf("agent %+v", s)
			}

			// keepalived stops (SIGTERM: priority 0): the agent takes over at once.
			e.stopKeepalived(d1, false)
			e.waitState(d2, 60, "MASTER", looseBound)
			if s := e.mustVRRP(d2, 60); !strings.Contains(s.Reason, "priority 0") {
				t.Errorf("takeover reason %q", s.Reason)
			}
			e.waitAnswers(c.vip, d2, looseBound)
			// keepalived returns with the higher priority: the agent gives way.
			e.startKeepalived(d1, c.keepalived(e, d1, 200))
			e.waitState(d2, 60, "BACKUP", looseBound)
			e.waitFor("agent released the VIP", looseBound, func() bool { return !e.holds(d2, c.vip) }, nil)
			e.waitAnswers(c.vip, d1, looseBound)

			// keepalived dies (SIGKILL): the agent takes over after Master_Down_Interval.
			e.stopKeepalived(d1, true)
			e.waitFor("agent master after keepalived died", looseBound, func() bool {
				s, err := e.vrrp(d2, 60)
				return err == nil && s.State == "MASTER"
			}, func() string {
				s, err := e.vrrp(d2, 60)
				out, _ := e.tryExec(d1, "ps -ef")
				return fmt.Sprintf("%+v %v\nprocesses on director1:\n%s\nkeepalived:\n%s", s, err, out, e.keepalivedLog(d1))
			})
			if s := e.mustVRRP(d2, 60); !strings.Contains(s.Reason, "silent") {
				t.Errorf("takeover reason %q", s.Reason)
			}
			e.waitFor("agent holds the VIP", looseBound, func() bool { return e.holds(d2, c.vip) }, nil)
		})
	}
}
