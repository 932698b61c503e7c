package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lvs-provider/terraform-provider-lvs/internal/lab"
)

const (
	drainVS  = "tcp/198.51.100.100:80"
	drainRS1 = "198.51.100.21:80"
	drainRS2 = "198.51.100.22:80"
)

// warningLine is the framework's log line of the drain's warning (one per real server), with the
// count of connections left.
var warningLine = regexp.MustCompile(`Response contains warning diagnostic:.*diagnostic_summary="Real Server Removed With (\d+) Active Connections"`)

// drainConfig is the cluster of clusterConfig with real1 (when r1Drain is not empty, with that
// drain_timeout) and real2 (when w2 >= 0, at weight w2, with drain_timeout r2Drain if set).
func drainConfig(a *accLab, r1Drain string, w2 int, r2Drain string) string {
	cfg := pairAndVIP(a, "100ms") + webVirtualServer
	if r1Drain != "" {
		cfg += hcl(
			`resource "lvs_real_server" "r1" {`,
			`  virtual_server_id = lvs_virtual_server.web.id`,
			`  address           = "198.51.100.21"`,
			`  port              = 80`,
			`  host              = {}`,
			fmt.Sprintf(`  drain_timeout     = %q`, r1Drain),
			`}`,
		)
	}
	if w2 >= 0 {
		cfg += hcl(
			`resource "lvs_real_server" "r2" {`,
			`  virtual_server_id = lvs_virtual_server.web.id`,
			`  address           = "198.51.100.22"`,
			`  port              = 80`,
			fmt.Sprintf(`  weight            = %d`, w2),
			`  host              = {}`,
			map[bool]string{true: fmt.Sprintf(`  drain_timeout     = %q`, r2Drain), false: ``}[r2Drain != ""],
			`}`,
		)
	}
	return cfg
}

// destOn is what one director's table holds of a destination.
type destOn struct {
	present bool
	weight  int
	active  int
	master  bool // the director is VRRP master of VRID 91
}

// drainView reads both directors' tables for the destination rs of drainVS.
func (a *accLab) drainView(rs string) ([2]destOn, error) {
	var out [2]destOn
	var errs [2]error
	var wg sync.WaitGroup
	for i, h := range []string{"director1", "director2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := a.agentStatus(h)
			if err != nil {
				errs[i] = err
				return
			}
			for _, v := range st.VIPs {
				out[i].master = out[i].master || (v.VRID == 91 && v.State == "MASTER")
			}
			for _, s := range st.IPVS {
				if s.Key != drainVS {
					continue
				}
				for _, d := range s.Destinations {
					if d.Key == rs {
						out[i] = destOn{present: true, weight: d.Weight, active: d.ActiveConns, master: out[i].master}
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// master returns the master's view, and whether exactly one director is master.
func master(v [2]destOn) (destOn, bool) {
	if v[0].master == v[1].master {
		return destOn{}, false
	}
	if v[0].master {
		return v[0], true
	}
	return v[1], true
}

// holder is a `lab hold-many` run on the client: n long-lived connections through the VIP.
type holder struct {
	stop string
	done chan struct{}
	res  lab.HoldManyResult
	err  error
}

func (a *accLab) startHolder(ctx context.Context, n int, stop string) *holder {
	h := &holder{stop: stop, done: make(chan struct{})}
	cmd := a.lab.Host("client").Command(ctx, os.Getenv(lab.EnvBin), "hold-many", "198.51.100.100:80", fmt.Sprint(n), "5m", "--interval", "1s", "--stop", stop)
	go func() {
		defer close(h.done)
		out, err := cmd.Output()
		if err != nil {
			h.err = fmt.Errorf("hold-many: %v: %s", err, out)
			return
		}
		h.err = json.Unmarshal(out, &h.res)
	}()
	return h
}

// wait stops the holder (its stop file) and returns what it saw.
func (h *holder) wait(a *accLab) (lab.HoldManyResult, error) {
	a.exec("client", "touch "+h.stop)
	select {
	case <-h.done:
	case <-time.After(time.Minute):
		return h.res, fmt.Errorf("hold-many did not end within a minute of its stop file")
	}
	return h.res, h.err
}

// waitStableMaster waits (up to 60 s) until one director has been VRRP master of the VIP for
// 3 s running: connections opened while the pair settles (a preemption right after the create)
// would be reset by the move, which is not what this test is about.
func (a *accLab) waitStableMaster() error {
	since, who := time.Time{}, -1
	for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		v, err := a.drainView(drainRS1)
		if err != nil {
			return err
		}
		m := -1
		if v[0].master != v[1].master {
			m = map[bool]int{true: 0, false: 1}[v[0].master]
		}
		if m != who || m < 0 {
			since, who = time.Now(), m
			continue
		}
		if time.Since(since) >= 3*time.Second {
			a.t.Logf("director%d is the stable master", who+1)
			return nil
		}
	}
	return fmt.Errorf("no director stayed VRRP master of VRID 91 for 3 s within a minute")
}

// waitActive waits (up to 30 s) until the master shows at least n active connections to the
// real servers rss together.
func (a *accLab) waitActive(n int, rss ...string) error {
	var last []destOn
	for i := 0; i < 60; i++ {
		sum, counts := 0, []int{}
		last = nil
		for _, rs := range rss {
			v, err := a.drainView(rs)
			if err != nil {
				return err
			}
			m, _ := master(v)
			last = append(last, v[0], v[1])
			sum += m.active
			counts = append(counts, m.active)
		}
		if sum >= n {
			a.t.Logf("%v: %v active connections on the master", rss, counts)
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("%v never had %d active connections on the master: %+v", rss, n, last)
}

// drainWatch follows a destination through a destroy's drain, from both directors' tables.
type drainWatch struct {
	done       chan struct{}
	quiescedAt time.Time // first seen at weight 0 on the master
	goneAt     time.Time // first seen absent from the master's table, after quiescedAt
	// When the poll before the one that saw each began: the moment itself lies between that
	// and quiescedAt (goneAt). A poll is two status commands, over a second on a loaded lab.
	quiescedAfter, goneAfter time.Time
	problems                 []string // a weight other than 0, or a table without it, while it drains; a master change
	master                   int      // index of the master director last seen, -1 before
	err                      error
}

// watchDrain polls both directors (every 100 ms, at most 3 min) until rs leaves the master's
// table; onQuiesced runs once it is seen at weight 0. While it is there after the quiesce, both
// directors must hold it at weight 0, until removalMayBegin says the removal may have begun.
func (a *accLab) watchDrain(rs string, onQuiesced func(quiescedAt time.Time), removalMayBegin func() bool) *drainWatch {
	w := &drainWatch{done: make(chan struct{}), master: -1}
	go func() {
		defer close(w.done)
		end := time.Now().Add(3 * time.Minute)
		prev := time.Now() // when the previous poll began
		for time.Now().Before(end) {
			began := time.Now()
			v, err := a.drainView(rs)
			at := time.Now()
			if err != nil {
				w.err = err
				return
			}
			m, ok := master(v)
			if idx := map[bool]int{true: 0, false: 1}[v[0].master]; ok && w.master >= 0 && idx != w.master {
				w.problems = append(w.problems, fmt.Sprintf("%s the VRRP master moved to director%d", at.Format("15:04:05.000"), idx+1))
			}
			if ok {
				w.master = map[bool]int{true: 0, false: 1}[v[0].master]
			}
			switch {
			case !ok:
			case w.quiescedAt.IsZero() && m.present && m.weight == 0:
				w.quiescedAt, w.quiescedAfter = at, prev
				if onQuiesced != nil {
					go onQuiesced(at)
				}
			case !w.quiescedAt.IsZero() && !m.present:
				w.goneAt, w.goneAfter = at, prev
				return
			case !w.quiescedAt.IsZero() && !removalMayBegin():
				for i, d := range v {
					if !d.present || d.weight != 0 {
						w.problems = append(w.problems, fmt.Sprintf("%s director%d: %+v", at.Format("15:04:05.000"), i+1, d))
					}
				}
			}
			prev = began
			time.Sleep(100 * time.Millisecond)
		}
		w.err = fmt.Errorf("%s did not leave the master's table within 3 minutes (quiesced at %v)", rs, w.quiescedAt)
	}()
	return w
}

func (w *drainWatch) wait() error {
	<-w.done
	if w.err != nil {
		return w.err
	}
	if len(w.problems) > 0 {
		return fmt.Errorf("while draining: %s", strings.Join(w.problems, "; "))
	}
	return nil
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// TestAccDrain destroys a real server that holds 20 long-lived connections through the VIP.
//
// First with drain_timeout = "2m": the destroy sets its weight to 0 on both directors, where it
// stays meanwhile while new connections go to the other real server; the 20 connections go on
// exchanging requests, are then closed by the client, each cleanly (its FIN, the server's FIN,
// no reset), and the real server leaves the tables within a few seconds of that.
//
// Then with drain_timeout = "5s" and the connections left open: it leaves the tables when the
// 5 s are up, the destroy warns with the count, and each connection is reset at its next
// request (net.ipv4.vs.expire_nodest_conn=1), as the documentation says.
func TestAccDrain(t *testing.T) {
	a := newAccLab(t, director(1), director(2), labHost("real1", "198.51.100.21"), labHost("real2", "198.51.100.22"), labHost("client", "198.51.100.31"))
	a.serveWeb("real1")
	a.serveWeb("real2")
	// The provider's warnings, from the framework's log of each response's diagnostics.
	logPath := filepath.Join(t.TempDir(), "provider.log")
	t.Setenv("TF_LOG", "WARN")
	t.Setenv("TF_LOG_PATH", logPath)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var (
		hold1, hold2           *holder
		watch1, watch2, watch3 *drainWatch
		planWalk               map[string]int
		logins                 = &sshLogins{a: a, hosts: []string{"director1", "director2", "real1", "real2"}}
		stopMu                 sync.Mutex
		stoppedAt              time.Time // when the test stopped the first holder
		newConns               map[string]int
		newConnsErr            error
	)
	stopped := func() bool {
		stopMu.Lock()
		defer stopMu.Unlock()
		return !stoppedAt.IsZero()
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		CheckDestroy: func(*terraform.State) error {
			for _, h := range []string{"director1", "director2", "real1", "real2"} {
				if err := a.hostClean(h); err != nil {
					return err
				}
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				// real1 alone: the 20 connections all go to it.
				Config: drainConfig(a, "2m", -1, ""),
				Check: func(*terraform.State) error {
					if err := a.waitStableMaster(); err != nil {
						return err
					}
					hold1 = a.startHolder(ctx, 20, "/tmp/drain-stop-1")
					return a.waitActive(20, drainRS1)
				},
			},
			{
				Config: drainConfig(a, "2m", 1, ""),
			},
			{
				// Destroy real1, draining: new connections go to real2 meanwhile; the test
				// closes the 20 connections 4 s after the quiesce.
				PreConfig: func() {
					watch1 = a.watchDrain(drainRS1, func(q time.Time) {
						time.Sleep(time.Second)
						got, err := a.fetch("http://198.51.100.100/", 20)
						time.Sleep(time.Until(q.Add(4 * time.Second)))
						stopMu.Lock()
						newConns, newConnsErr, stoppedAt = got, err, time.Now()
						stopMu.Unlock()
						a.exec("client", "touch /tmp/drain-stop-1")
					}, stopped)
				},
				Config: drainConfig(a, "", 1, ""),
				Check: func(*terraform.State) error {
					if err := watch1.wait(); err != nil {
						return err
					}
					res, err := hold1.wait(a)
					if err != nil {
						return err
					}
					stopMu.Lock()
					defer stopMu.Unlock()
					closedAt := parseTime(res.ClosedAt)
					t.Logf("drain of real1 with 20 connections: quiesced %s, client closed them %s after (stop %s, all closed %s), out of the table %s after the last close; new connections meanwhile: %v",
						watch1.quiescedAt.Format("15:04:05.000"), closedAt.Sub(watch1.quiescedAt).Round(time.Millisecond), res.StopAt, res.ClosedAt,
						watch1.goneAt.Sub(closedAt).Round(time.Millisecond), newConns)
					if newConnsErr != nil {
						return newConnsErr
					}
					if newConns["real2"] != 20 {
						return fmt.Errorf("20 new connections during the drain were answered %v, want all by real2", newConns)
					}
					if res.Failed != 0 || res.Resets != 0 || res.Clean != 20 || len(res.Conns) != 20 {
						return fmt.Errorf("the 20 held connections: %d failed, %d reset, %d closed cleanly, want 0, 0, 20: %+v", res.Failed, res.Resets, res.Clean, res)
					}
					for _, c := range res.Conns {
						// At least the requests of the 4 s between the quiesce and the stop.
						if c.Server != "real1" || c.OK < 4 {
							return fmt.Errorf("held connection %+v: want answers by real1 throughout the drain", c)
						}
					}
					if stoppedAt.IsZero() || !watch1.goneAt.After(closedAt) {
						return fmt.Errorf("real1 left the table at %v, before its connections closed at %v", watch1.goneAt, closedAt)
					}
					// A poll (1 s) after the last close, the read's age (0.5 s), the removal, and
					// the watch's own poll: 5 s is a bound a loaded machine keeps and a drain that
					// waits for the inactive (closing) entries, or for the timeout, breaks.
					if d := watch1.goneAt.Sub(closedAt); d > 5*time.Second {
						return fmt.Errorf("real1 left the table %v after its last connection closed, want within 5s", d)
					}
					return nil
				},
			},
			{
				// real1 again and real2, both with a short drain: the 20 connections split
				// between them.
				Config: drainConfig(a, "5s", 1, "5s"),
				Check: func(*terraform.State) error {
					if err := a.waitStableMaster(); err != nil {
						return err
					}
					hold2 = a.startHolder(ctx, 20, "/tmp/drain-stop-2")
					return a.waitActive(20, drainRS1, drainRS2)
				},
			},
			{
				// Destroy both with the connections left open, in one apply: they drain in
				// parallel, each leaves at its 5 s with a warning, over one SSH connection
				// per host.
				PreConfig: func() {
					if _, err := logins.since(); err != nil {
						t.Fatal(err)
					}
					watch2 = a.watchDrain(drainRS1, nil, func() bool { return true })
					watch3 = a.watchDrain(drainRS2, nil, func() bool { return true })
				},
				Config: drainConfig(a, "", -1, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{planCheck(func() (err error) {
						planWalk, err = logins.since()
						return err
					})},
				},
				Check: func(*terraform.State) error {
					applyWalk, err := logins.since()
					if err != nil {
						return err
					}
					for _, w := range []*drainWatch{watch2, watch3} {
						if err := w.wait(); err != nil {
							return err
						}
					}
					res, err := hold2.wait(a)
					if err != nil {
						return err
					}
					var firstReset, lastReset time.Time
					for _, c := range res.Conns {
						at := parseTime(strings.Fields(c.Error + " x")[0])
						if c.Reset && (firstReset.IsZero() || at.Before(firstReset)) {
							firstReset = at
						}
						if c.Reset && at.After(lastReset) {
							lastReset = at
						}
					}
					took1, took2 := watch2.goneAt.Sub(watch2.quiescedAt), watch3.goneAt.Sub(watch3.quiescedAt)
					apart := watch2.goneAt.Sub(watch3.goneAt).Abs()
					firstGone := watch2.goneAt
					if watch3.goneAt.Before(firstGone) {
						firstGone = watch3.goneAt
					}
					t.Logf("destroy of real1 and real2 with 20 connections and drain_timeout 5s: out of the tables %v and %v after their quiesces, %v apart; held connections then: %d reset at their next request (%s to %s after the first removal seen), %d failed, %d closed cleanly; SSH connections accepted per host: plan walk %v, apply walk %v",
						took1.Round(time.Millisecond), took2.Round(time.Millisecond), apart.Round(time.Millisecond), res.Resets,
						firstReset.Sub(firstGone).Round(time.Millisecond), lastReset.Sub(firstGone).Round(time.Millisecond), res.Failed, res.Clean, planWalk, applyWalk)
					// 5 s from the quiesce, plus the removal. The watch knows each of the two
					// moments to within a poll (two status commands, over a second on a loaded
					// lab), so the drain lasted between the shortest and the longest the polls
					// allow: a drain that ended before 4 s or took longer than 8 s breaks it
					// however late the polls were.
					for i, w := range []*drainWatch{watch2, watch3} {
						shortest, longest := w.goneAfter.Sub(w.quiescedAt), w.goneAt.Sub(w.quiescedAfter)
						t.Logf("drain of %s: between %v and %v, as the polls tell", []string{drainRS1, drainRS2}[i], shortest.Round(time.Millisecond), longest.Round(time.Millisecond))
						if longest < 4*time.Second || shortest > 8*time.Second {
							return fmt.Errorf("a real server left the table %v-%v after its quiesce (as the polls tell), want at drain_timeout (5s, within 8s)",
								shortest.Round(time.Millisecond), longest.Round(time.Millisecond))
						}
					}
					// In parallel: one after the other would be 5 s apart.
					if apart > 2500*time.Millisecond {
						return fmt.Errorf("real1 and real2 left the tables %v apart: the drains did not run in parallel", apart)
					}
					// Each walk (the plan's refresh, then the apply, each with its own provider
					// instance) opens one connection per host, drains and all.
					for _, h := range logins.hosts {
						if planWalk[h] != 1 || applyWalk[h] != 1 {
							return fmt.Errorf("SSH connections accepted during the destroy: plan walk %v, apply walk %v; want exactly 1 per host in each", planWalk, applyWalk)
						}
					}
					b, err := os.ReadFile(logPath)
					if err != nil {
						return err
					}
					left := 0
					for _, m := range warningLine.FindAllStringSubmatch(string(b), -1) {
						n, _ := strconv.Atoi(m[1])
						left += n
						t.Logf("warning: %.300s", m[0])
					}
					if left != 20 {
						return fmt.Errorf("the warnings \"Real Server Removed With N Active Connections\" in the provider's log %s count %d connections, want 20", logPath, left)
					}
					if res.Resets != 20 || res.Failed != 20 {
						return fmt.Errorf("held connections after the timeout: %d reset, %d failed, want each of the 20 reset at its next request: %+v", res.Resets, res.Failed, res)
					}
					return nil
				},
			},
		},
	})
}
