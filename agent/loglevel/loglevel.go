// Package loglevel applies the director pair's log_level to the running agent: the agent's
// logger reads its level from a slog.LevelVar that this part sets on every apply, so a change
// takes effect at once, without a restart.
package loglevel

import (
	"context"
	"log/slog"

	"github.com/lvs-provider/terraform-provider-lvs/agent/reconcile"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Part sets Var from the pair's log level, or back to Default when the pair names none.
type Part struct {
	Var     *slog.LevelVar
	Default slog.Level
	Logger  *slog.Logger // told of each change; nil = none
}

// Apply implements the agent's Reconciler.
func (p *Part) Apply(_ context.Context, st *agentapi.State, _ reconcile.Trigger) error {
	want := p.Default
	if st != nil && st.Pair != nil && st.Pair.LogLevel != "" {
		if err := want.UnmarshalText([]byte(st.Pair.LogLevel)); err != nil {
			return err // the API validated it: cannot happen
		}
	}
	if was := p.Var.Level(); was != want {
		p.Var.Set(want)
		if p.Logger != nil {
			// At the higher of the two levels, so that the line shows whichever way it went.
			p.Logger.Log(context.Background(), max(was, want), "log level changed", "from", was.String(), "to", want.String())
		}
	}
	return nil
}

// PartName names the part for logs and the status.
func (p *Part) PartName() string { return "loglevel" }
