package loglevel

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

func TestApplyFollowsThePair(t *testing.T) {
	var buf bytes.Buffer
	v := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: v}))
	p := &Part{Var: v, Default: slog.LevelInfo, Logger: log}
	apply := func(level string) {
		t.Helper()
		st := &agentapi.State{Pair: &agentapi.Pair{LogLevel: level}}
		if err := p.Apply(context.Background(), st, reconcile.Change); err != nil {
			t.Fatal(err)
		}
	}
	apply("debug")
	if v.Level() != slog.LevelDebug || !log.Enabled(context.Background(), slog.LevelDebug) {
		t.Fatalf("level %v, want DEBUG", v.Level())
	}
	apply("error")
	if v.Level() != slog.LevelError {
		t.Fatalf("level %v, want ERROR", v.Level())
	}
	log.Warn("hidden")
	apply("") // the pair names none: back to the default
	if v.Level() != slog.LevelInfo {
		t.Fatalf("level %v, want the default INFO", v.Level())
	}
	if err := p.Apply(context.Background(), nil, reconcile.Change); err != nil || v.Level() != slog.LevelInfo {
		t.Fatalf("no state: %v, level %v", err, v.Level())
	}
	out := buf.String()
	if strings.Contains(out, "hidden") {
		t.Errorf("a warning was logged at level error:\n%s", out)
	}
	if n := strings.Count(out, "log level changed"); n != 3 {
		t.Errorf("%d change lines, want 3 (to debug, to error, back to info):\n%s", n, out)
	}
}
