package healthcheck

import (
	"fmt"
	"net"
	"strconv"
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
	host, port, _ := net.SplitHostPort(s.addr)
	env := []string{
		"LVS_RS_ADDRESS=" + s.rs.Address,
		"LVS_RS_PORT=" + strconv.Itoa(s.rs.Port),
		"LVS_CHECK_ADDRESS=" + host,
		"LVS_CHECK_PORT=" + port,
		"LVS_VS=" + s.vsKey,
		"LVS_VS_PROTOCOL=" + s.vs.Protocol,
		"LVS_VS_ADDRESS=" + s.vs.Address,
		"LVS_VS_PORT=" + strconv.Itoa(s.vs.Port),
		"LVS_VS_FWMARK=" + strconv.FormatUint(uint64(s.vs.FWMark), 10),
	}
	return &execChecker{command: s.hc.Exec.Command, env: env, dynamic: s.hc.Exec.DynamicWeight}, nil
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
