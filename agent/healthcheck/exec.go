package healthcheck

import (
	"fmt"
	"strings"
)

// maxExecOutput bounds what is kept of a check command's output: its first line goes into the
// reason.
const maxExecOutput = 256

// execChecker runs a command on the director; exit 0 passes (keepalived MISC_CHECK). With
// dynamic (keepalived misc_dynamic), exit 2-255 passes too and sets the weight to status-2.
type execChecker struct {
	command string
	env     []string // the LVS_* variables, added to the agent's environment
	dynamic bool
}

func newExecChecker(s *spec) (*execChecker, error) {
	if s.hc.Exec == nil || strings.TrimSpace(s.hc.Exec.Command) == "" {
		return nil, fmt.Errorf("health_check.command: an exec check needs a command")
	}
	return &execChecker{command: s.hc.Exec.Command, env: rsEnv(s), dynamic: s.hc.Exec.DynamicWeight}, nil
}

// firstLine is the first non-empty line of out, for a reason.
func firstLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}
