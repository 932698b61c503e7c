//go:build linux

package ha_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

// TestLabBenchFailover measures, side by side, how long a client is cut off from a VIP when
// the master director dies (host killed) or is stopped on purpose, with lvs-agent and with
// keepalived 2.2.7 under identical settings (VRRPv3, priorities 200/100, preempt, one IPv4
// VIP), at 1 s and 100 ms adverts. It is a benchmark, not a test of bounds: run it with
//
//	LVS_BENCH=1 go test -exec "$PWD/bin/lab run --" -run '^TestLabBenchFailover$' -v -timeout 60m ./agent/ha/
//
// (LVS_BENCH_REPS sets the repetitions, default 5; LVS_BENCH_CASES, a regular expression over
// "EVENT/ADVERTS/IMPL" such as "host killed/100ms", selects cases). Events: the master's host is killed; the
// master is stopped (`lvs-agent stop`, or SIGTERM to keepalived) and then started again, when
// it preempts — the two halves of an upgrade. Method: a client host starts a TCP connection to
// VIP:7 every 5 ms, each with a 300 ms timeout, so that connections stuck on the dead master do
// not hold the probe up. gap = from the kill (or the stop or start command) to the first
// connection answered by the new master; failed = connections that got no answer; outage = from
// the first failed connection's start to the first success started after the last failure.
// The client also captures the adverts on its link: where the kill falls in the advert period
// moves the gap by up to one interval, so the wire columns measure from the old master's last
// advert (or its priority 0) instead — the Master_Down_Interval (or Skew_Time) each
// implementation actually waits, plus its takeover work — which is what compares them. The two
// implementations take turns run by run, so that the drifting load of a shared machine favours
// neither.
func TestLabBenchFailover(t *testing.T) {
	if os.Getenv("LVS_BENCH") != "1" {
		t.Skip("benchmark: set LVS_BENCH=1")
	}
	reps := 5
	if s := os.Getenv("LVS_BENCH_REPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("LVS_BENCH_REPS=%q", s)
		}
		reps = n
	}
	only := regexp.MustCompile(os.Getenv("LVS_BENCH_CASES"))
	e := newLabEnv(t)
	type row struct {
		impl, interval, event string
		gaps, outages         []time.Duration
		failed                []int
		// From the old master's last advert (or its priority 0) on the wire to the new
		// master's first advert, and to the first connection the new master answered.
		silences, answers []time.Duration
		rfc               time.Duration // what the RFC timers alone give for silence
	}
	var rows []*row
	rowFor := func(impl, interval, event string) *row {
		for _, r := range rows {
			if r.impl == impl && r.interval == interval && r.event == event {
				return r
			}
		}
		r := &row{impl: impl, interval: interval, event: event}
		rows = append(rows, r)
		return r
	}
	// from and to are the old and the new master; onWire says whether the old one's last
	// advert marks the event (not when a restarted master preempts a live one).
	record := func(r *row, run int, start int64, res watchResult, from, to string, onWire bool) {
		t.Helper()
		if res.FirstExpect == 0 {
			t.Fatalf("%s %s %s: the new master never answered: %+v", r.impl, r.interval, r.event, res)
		}
		gap := time.Duration(res.FirstExpect - start)
		// Connections that failed before the event are the machine's, not the failover's:
		// the watch runs a while before it (to see adverts), on a shared, loaded machine.
		before := 0
		for _, f := range res.Fails {
			if f < start {
				before++
			}
		}
		if before > 0 && before < len(res.Fails) {
			res.FirstFail = slices.Min(slices.DeleteFunc(slices.Clone(res.Fails), func(f int64) bool { return f < start }))
		}
		res.Failed -= before
		var outage time.Duration
		if res.Failed > 0 && res.Recovered > 0 {
			outage = time.Duration(res.Recovered - res.FirstFail)
		}
		r.gaps, r.outages, r.failed = append(r.gaps, gap), append(r.outages, outage), append(r.failed, res.Failed)
		wire := ""
		if onWire {
			last, first, ok := takeoverOnWire(res.Adverts, e.addr(from), e.addr(to))
			if !ok {
				t.Fatalf("%s %s %s: no takeover from %s to %s seen on the wire: %+v", r.impl, r.interval, r.event, from, to, res.Adverts)
			}
			silence, answered := time.Duration(first-last), time.Duration(res.FirstExpect-last)
			r.silences, r.answers = append(r.silences, silence), append(r.answers, answered)
			wire = fmt.Sprintf(", adverts silent %v, answered %v after the last old advert", silence.Round(100*time.Microsecond),
				answered.Round(100*time.Microsecond))
			for _, a := range res.Adverts {
				if a.Src == "garp "+vip4 && a.At > last {
					wire += fmt.Sprintf(" (first gratuitous ARP after %v)", time.Duration(a.At-last).Round(100*time.Microsecond))
					break
				}
			}
		}
		if res.Failed > 0 && res.Failed <= 20 {
			// When the few failures started, after the event and, on the wire, after the old
			// master's last advert: which step of the handover they belong to.
			var at []string
			last, _, _ := takeoverOnWire(res.Adverts, e.addr(from), e.addr(to))
			if !onWire {
				last = 0
			}
			for _, f := range res.Fails {
				s := fmt.Sprintf("%v", time.Duration(f-start).Round(time.Millisecond))
				if last != 0 {
					s += fmt.Sprintf(" (%v)", time.Duration(f-last).Round(time.Millisecond))
				}
				at = append(at, s)
			}
			wire += "; failed connects started at " + strings.Join(at, ", ")
		}
		if before > 0 {
			wire += fmt.Sprintf("; %d more failed before the event, not counted", before)
		}
		t.Logf("%-10s %-5s %-17s run %d: gap %v, %d failed %v, outage %v%s", r.impl, r.interval, r.event, run,
			gap.Round(time.Millisecond), res.Failed, res.FailKinds, outage.Round(time.Millisecond), wire)
	}
	for _, event := range []string{"host killed", "planned stop"} {
		for _, iv := range []struct {
			name  string
			cs    int
			kaInt string
		}{{"1s", 100, "1"}, {"100ms", 10, "0.1"}} {
			// The implementations take turns, run by run, each going first every other run:
			// the load of a shared machine drifts, and must not favour either.
			for i := range reps {
				impls := []string{"lvs-agent", "keepalived"}
				if i%2 == 1 {
					slices.Reverse(impls)
				}
				for _, impl := range impls {
					if !only.MatchString(event + "/" + iv.name + "/" + impl) {
						continue
					}
					r := rowFor(impl, iv.name, event)
					r.rfc = vrrp.SkewTime(3, 100, time.Duration(iv.cs)*10*time.Millisecond)
					if event == "host killed" {
						r.rfc = vrrp.MasterDownInterval(3, 100, time.Duration(iv.cs)*10*time.Millisecond)
					}
					e.reset()
					if impl == "lvs-agent" {
						e.putPair(false)
						e.putVIP(&agentapi.VIP{VRID: 70, Addresses: []string{vip4}, Priorities: [2]int{200, 100},
							AdvertIntervalCS: iv.cs, Version: 3, Preempt: true})
						e.waitState(d1, 70, "MASTER", looseBound)
						e.waitState(d2, 70, "BACKUP", looseBound)
					} else {
						for j, d := range directors {
							e.startKeepalived(d, kaConf{Version: 3, VRID: 70, Priority: 200 - 100*j, Interval: iv.kaInt, VIPs: []string{vip4}}.String())
						}
						e.waitFor("keepalived master on director1", looseBound, func() bool {
							return slices.Equal(e.holders(vip4), []string{d1}) && strings.Contains(e.keepalivedLog(d2), "Entering BACKUP STATE")
						}, nil)
					}
					e.waitAnswers(vip4, d1, looseBound)
					time.Sleep(time.Second) // steady state
					w := e.startWatch(vip4, d2, 5*time.Millisecond)
					// The client has seen a few of the master's adverts: the wire view has the
					// last one before the event.
					time.Sleep(time.Duration(iv.cs) * 25 * time.Millisecond)
					start := lab.MonotonicNow()
					switch {
					case event == "host killed":
						if err := e.host(d1).Kill(); err != nil {
							t.Fatal(err)
						}
					case impl == "lvs-agent":
						e.exec(d1, agentapi.BinaryPath+" stop")
					default:
						e.stopKeepalived(d1, false)
					}
					record(r, i+1, start, w.result(), d1, d2, true)
					if impl == "lvs-agent" {
						// The new master's own account of where the time went.
						out, _ := e.tryExec(d2, "grep 'takeover timing' "+agentapi.LogPath+" | tail -1")
						t.Logf("director2: %s", strings.TrimSpace(out))
					}
					if event == "planned stop" {
						// The stopped one starts again and preempts: the second half of an
						// upgrade.
						w := e.startWatch(vip4, d1, 5*time.Millisecond)
						start := lab.MonotonicNow()
						if impl == "lvs-agent" {
							e.startServices(d1)
						} else {
							e.startKeepalived(d1, kaConf{Version: 3, VRID: 70, Priority: 200, Interval: iv.kaInt, VIPs: []string{vip4}}.String())
						}
						record(rowFor(impl, iv.name, "restart, preempt"), i+1, start, w.result(), d2, d1, false)
					}
					if impl == "keepalived" {
						e.stopKeepalived(d1, false)
						e.stopKeepalived(d2, false)
					}
					if event == "host killed" {
						ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
						err := e.host(d1).Boot(ctx)
						cancel()
						if err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| event | adverts | impl | gap (median / max) | outage (median / max) | failed connects (median / max) | wire: adverts silent (median / max; RFC) | wire: last advert to answer (median / max) |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		silent, answered := "–", "–"
		if len(r.silences) > 0 {
			silent = fmt.Sprintf("%s; %v", medMaxFine(r.silences), r.rfc.Round(100*time.Microsecond))
			answered = medMaxFine(r.answers)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.event, r.interval, r.impl, medMax(r.gaps), medMax(r.outages),
			medMaxInt(r.failed), silent, answered)
	}
	// One line each: scripts/bench.sh keeps the table rows and the method and target lines.
	fmt.Fprintf(&b, "method: one IPv4 VIP, VRRPv3, priorities 200/100, preempt, %d runs per row, %s kernel context; "+
		"a client host starts a TCP connection to VIP:7 every 5 ms (300 ms timeout each); gap = kill (or stop, or start) "+
		"to the first connection the new master answers; outage = first failed connection to the first success after "+
		"the last failure; failed = connections without an answer (started after the event); \"restart, preempt\" starts the stopped master again "+
		"(the second half of an upgrade); wire columns, free of where the kill falls in the advert period: from the old "+
		"master's last advert (its priority 0 on a stop) as the client receives it to the new master's first advert "+
		"(RFC: Master_Down_Interval, or Skew_Time after priority 0, for priority 100) and to the first answered connection.\n", reps, os.Getenv(lab.EnvMode))
	fmt.Fprintf(&b, "target: failover <= 0.5 s at 100 ms adverts and never slower than keepalived; "+
		"planned switchover <= 50 ms with zero failed requests.\n")
	t.Log("\n" + b.String())
}

// takeoverOnWire finds, in the adverts a client saw, the new master's first advert (non-zero
// priority) and the old master's last advert before it.
func takeoverOnWire(ads []seenAdvert, from, to string) (last, first int64, ok bool) {
	for _, a := range ads {
		if a.Src == to && a.Priority > 0 {
			first = a.At
			break
		}
	}
	for _, a := range ads {
		if a.Src == from && first != 0 && a.At < first {
			last, ok = a.At, true
		}
	}
	return last, first, ok
}

func medMaxFine(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("%v / %v", s[len(s)/2].Round(100*time.Microsecond), s[len(s)-1].Round(100*time.Microsecond))
}

func medMax(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("%v / %v", s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

func medMaxInt(ns []int) string {
	s := slices.Clone(ns)
	slices.Sort(s)
	return fmt.Sprintf("%d / %d", s[len(s)/2], s[len(s)-1])
}
