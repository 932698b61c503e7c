package ha

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// outcome is what tracking makes of one VIP: the sum of the weights that apply, whether it
// must be in FAULT, and why, for the status. keepalived's rules: a tracked object with weight 0
// that is down means FAULT; a negative weight applies while the object is down, a positive
// one while it is up. The pair interface itself is tracked with weight 0: no VRRP without it.
func outcome(pairIf string, ifaces []agentapi.TrackInterface, scripts []agentapi.TrackScript,
	linkUp func(string) bool, scriptOK func(string) bool) (weight int, fault bool, reason string) {
	var why []string
	if !linkUp(pairIf) {
		fault = true
		why = append(why, fmt.Sprintf("interface %s down", pairIf))
	}
	apply := func(kind, name string, w int, up bool) {
		switch {
		case w == 0 && !up:
			fault = true
			why = append(why, fmt.Sprintf("%s %s down", kind, name))
		case w < 0 && !up:
			weight += w
			why = append(why, fmt.Sprintf("%s %s down (%+d)", kind, name, w))
		case w > 0 && up:
			weight += w
			why = append(why, fmt.Sprintf("%s %s up (%+d)", kind, name, w))
		}
	}
	for _, t := range ifaces {
		apply("interface", t.Name, t.Weight, linkUp(t.Name))
	}
	for _, s := range scripts {
		apply("script", s.Name, s.Weight, scriptOK(s.Name))
	}
	if len(why) == 0 {
		return weight, fault, "all tracked objects up"
	}
	return weight, fault, strings.Join(why, ", ")
}

// script runs one track script periodically and applies rise/fall to its results.
type script struct {
	spec     agentapi.TrackScript
	sem      chan struct{} // shared: bounds how many scripts run at once
	onChange func()
	log      *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}

	mu          sync.Mutex // guards the following fields
	ok          bool
	succ, fails int    // consecutive results
	last        string // last result, for logs
}

func newScript(spec agentapi.TrackScript, sem chan struct{}, onChange func(), log *slog.Logger) *script {
	return &script{spec: spec, sem: sem, onChange: onChange, log: log.With("script", spec.Name), done: make(chan struct{})}
}

// first runs the script once and takes its result as the initial state, so that an instance
// starts with a known state instead of flapping while rise/fall accumulate.
func (s *script) first(ctx context.Context) {
	ok, out := s.runOnce(ctx)
	s.mu.Lock()
	s.ok, s.last = ok, out
	if ok {
		s.succ = 1
	} else {
		s.fails = 1
	}
	s.mu.Unlock()
	s.log.Info("track script initial result", "ok", ok, "output", out)
}

// start runs the script every interval until stop.
func (s *script) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		interval := time.Duration(s.spec.IntervalMS) * time.Millisecond
		t := time.NewTimer(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			ok, out := s.runOnce(ctx)
			if ctx.Err() != nil {
				return
			}
			if s.record(ok, out) {
				s.onChange()
			}
			t.Reset(interval)
		}
	}()
}

func (s *script) stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
}

// record applies one result; it reports whether the state changed.
func (s *script) record(ok bool, out string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = out
	if ok {
		s.fails = 0
		s.succ++
		if !s.ok && s.succ >= s.spec.Rise {
			s.ok = true
			s.log.Info("track script succeeded", "rise", s.spec.Rise)
			return true
		}
		return false
	}
	s.succ = 0
	s.fails++
	if s.ok && s.fails >= s.spec.Fall {
		s.ok = false
		s.log.Warn("track script failed", "fall", s.spec.Fall, "output", out)
		return true
	}
	return false
}

func (s *script) healthy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ok
}

func (s *script) runOnce(ctx context.Context) (bool, string) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return false, "stopped"
	}
	defer func() { <-s.sem }()
	timeout := time.Duration(s.spec.TimeoutMS) * time.Millisecond
	out, err := runCommand(ctx, timeout, s.spec.Command, nil, nil)
	if err != nil {
		return false, strings.TrimSpace(out + " " + err.Error())
	}
	return true, strings.TrimSpace(out)
}
