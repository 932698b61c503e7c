//go:build linux

package ha_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// forgeFor is how long the third host forges adverts, and forgeEvery how often (the finding's
// attacker: every 15 ms).
const (
	forgeFor   = 10 * time.Second
	forgeEvery = 15 * time.Millisecond
)

// TestLabForgedAdverts: a third host on the link (the client) forges adverts for the pair's
// VRID — priority 0 (the master stops: take over, and forward its connections to it) and 254
// (a better master: give way) — VRRPv2 and v3, IPv4 and IPv6, to the group and to each
// director, from its own addresses and from ones nobody has, for 10 s while it connects to the
// VIP every 20 ms (helperForge). Only the peer director's adverts count (agent/vrrp/trust.go):
// no connection fails, no director changes state or opens a handover window, and both count
// the forged adverts as not_peer in `lvs-agent status`. In multicast, then in unicast (the pair
// then names its directors by host name, which the lab's /etc/hosts resolves to both
// families: unicast needs the peer's address of each), with an IPv4 and IPv6 VIP.
//
// The VIP sends adverts every second, not mixedVIP's 100 ms: a forged advert that counted
// would still show within Skew_Time (priority 0: the backup takes over) or at once (254: the
// master gives way), but the 361 ms Master_Down_Interval of 100 ms adverts is within what a
// loaded machine delays the lab's one CPU by, and a takeover for that reason would be no
// finding of this test.
func TestLabForgedAdverts(t *testing.T) {
	e := newLabEnv(t) // fresh: agents running, nothing configured
	v := mixedVIP()
	v.AdvertIntervalCS = 100
	interval := time.Second
	skew := vrrp.SkewTime(3, uint8(v.Priorities[1]), interval)
	for _, unicast := range []bool{false, true} {
		mode := "multicast"
		if unicast {
			mode = "unicast"
		}
		t.Run(mode, func(t *testing.T) {
			e.t = t
			vips := []string{vip4, vip6}
			v.Addresses = vips
			if !unicast {
				e.putPair(false)
				e.putVIP(v)
			} else {
				// The running pair is reconfigured: a master stays master.
				for i, d := range directors {
					p := &agentapi.Pair{Name: "edge", Self: i, VRRPUnicast: true, Directors: []agentapi.Director{
						{Host: d1, Interface: lab.HostIface}, {Host: d2, Interface: lab.HostIface},
					}}
					e.call(d, func(ctx context.Context, c *agentclient.Client) error { _, err := c.PutPair(ctx, p); return err })
				}
			}
			e.waitState(d1, 91, "MASTER", electionOf(v))
			e.waitState(d2, 91, "BACKUP", electionOf(v))
			for _, a := range vips {
				e.waitAnswers(a, d1, settle)
			}
			e.waitFor("director1 alone holds "+vip4, released, func() bool { return slices.Equal(e.holders(vip4), []string{d1}) },
				func() string { return fmt.Sprintf("holders %v", e.holders(vip4)) })

			// A director's VRRP status and `lvs-agent status` as it prints it, and how many lines
			// of its agent's log tell of a state change, a takeover or a handover window (the
			// forwarder logs each window it closes; the engine each takeover), in one command.
			type snapshot struct {
				st          agentapi.VIPStatus
				text, lines string
			}
			script := agentapi.BinaryPath + " status --json && echo '%%' && " + agentapi.BinaryPath + " status && echo '%%' && " +
				"{ grep -cE 'vrrp state change|handover window|takeover timing' " + agentapi.LogPath + " || true; }"
			snap := func() map[string]snapshot {
				m := map[string]snapshot{}
				for _, d := range directors {
					parts := strings.Split(e.exec(d, script), "%%\n")
					var st agentapi.Status
					if len(parts) != 3 || json.Unmarshal([]byte(parts[0]), &st) != nil {
						t.Fatalf("%s: %q", d, parts)
					}
					i := slices.IndexFunc(st.VIPs, func(v agentapi.VIPStatus) bool { return v.VRID == 91 })
					if i < 0 {
						t.Fatalf("%s: no VIP 91 in %+v", d, st.VIPs)
					}
					m[d] = snapshot{st.VIPs[i], parts[1], strings.TrimSpace(parts[2])}
				}
				return m
			}
			before := snap()

			probes := map[string]chan steadyResult{}
			for _, a := range vips {
				probes[a] = e.startSteady(a, 20*time.Millisecond, forgeFor)
			}
			start := time.Now()
			out := e.exec(client, fmt.Sprintf("env %s=1 %s forge 91 %s %s %s %s %s %s %s %s", helperEnv, e.helper, forgeFor, forgeEvery, vip4, vip6,
				e.addr(d1), e.addr(d2), e.host(d1).IPv6, e.host(d2).IPv6))
			var fr forgeResult
			if err := json.Unmarshal([]byte(lastLine(out)), &fr); err != nil {
				t.Fatalf("forge: %v\n%s", err, out)
			}
			t.Logf("forged for %v: %d rounds, %d adverts sent (%d failed %s): %v", time.Since(start).Round(time.Millisecond), fr.Rounds, fr.Sent, fr.Failed, fr.Err, fr.Kinds)
			if fr.Sent == 0 || fr.Failed > 0 || len(fr.Kinds) != 12 {
				t.Errorf("the forger did not send every kind: %+v", fr)
			}
			for _, a := range vips {
				r := <-probes[a]
				t.Logf("client connecting to %s meanwhile: %d attempts, %d failed, answered by %v %v", a, r.Attempts, r.Failed, r.Answers, r.Errors)
				if r.Failed != 0 || r.Attempts == 0 || r.Answers[d1] != r.Attempts {
					t.Errorf("%s: %+v", a, r)
				}
			}
			// A forged priority 0 that counted would make director2 take over after Skew_Time;
			// the last ones sent are given that long.
			time.Sleep(skew + labMargin)
			after := snap()
			for _, d := range directors {
				b, a := before[d], after[d]
				t.Logf("%s: %s, master %s; dropped %v (before: %v); log lines of state changes, takeovers and windows: %s -> %s",
					d, a.st.State, a.st.Master, a.st.Dropped, b.st.Dropped, b.lines, a.lines)
				if a.st.State != b.st.State || a.st.LastTransition != b.st.LastTransition {
					t.Errorf("%s changed state: %+v -> %+v", d, b.st, a.st)
				}
				if a.lines != b.lines {
					t.Errorf("%s logged a state change, takeover or handover window:\n%s", d,
						e.exec(d, "grep -E 'vrrp state change|handover window|takeover timing' "+agentapi.LogPath+" | tail -n 5"))
				}
				if a.st.Dropped["not_peer"] <= b.st.Dropped["not_peer"] {
					t.Errorf("%s counted no forged advert as not_peer: %v", d, a.st.Dropped)
				}
				for k, n := range a.st.Dropped {
					if k != "not_peer" && n != b.st.Dropped[k] {
						t.Errorf("%s dropped adverts as %s, not as not_peer: %v", d, k, a.st.Dropped)
					}
				}
				if !strings.Contains(a.text, fmt.Sprintf("not_peer %d", a.st.Dropped["not_peer"])) {
					t.Errorf("%s: lvs-agent status does not show the not_peer drops:\n%s", d, a.text)
				}
				if strings.Contains(a.st.Master, e.addr(client)) || strings.Contains(a.st.Master, ".66") || strings.Contains(a.st.Master, "::66") {
					t.Errorf("%s took the forger for the master: %q", d, a.st.Master)
				}
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// startSteady starts connecting to addr from the client every `every` for d; the channel gives
// the result when it ends.
func (e *labEnv) startSteady(addr string, every, d time.Duration) chan steadyResult {
	e.t.Helper()
	t := e.t
	cmd := e.host(client).Command(t.Context(), "env", helperEnv+"=1", e.helper, "steady", net.JoinHostPort(addr, servePort), every.String(), d.String())
	res := make(chan steadyResult, 1)
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		var r steadyResult
		if err := cmd.Wait(); err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("steady: %v: %s", err, out.String()))
			r.Failed = -1
		} else if err := json.Unmarshal([]byte(lastLine(out.String())), &r); err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("steady: %v: %s", err, out.String()))
			r.Failed = -1
		}
		res <- r
	}()
	return res
}
