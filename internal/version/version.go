// Package version holds the build's version string, shared by the provider and the agent, and
// the compatibility window between them.
//
// The window: a provider and an agent work together when their versions have the same major
// and minors at most one apart (0.4.x with 0.3.x, 0.4.x and 0.5.x); patch levels and pre-release
// suffixes (0.4.0-dev, 0.4.0-rc.1) do not matter. So a provider one minor newer manages the
// agents an older provider installed, the agent accepts requests from it, and an upgrade can
// restart the two directors one after the other while one still runs the old agent.
package version

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is set at build time with -ldflags "-X github.com/lvs-provider/terraform-provider-lvs/internal/version.Version=...".
var Version = "0.1.0-dev"

// Semver is a parsed MAJOR.MINOR.PATCH[-PRE][+BUILD] version.
type Semver struct {
	Major, Minor, Patch int
	Pre                 string // pre-release suffix without the '-', e.g. "dev"
}

func (s Semver) String() string {
	v := fmt.Sprintf("%d.%d.%d", s.Major, s.Minor, s.Patch)
	if s.Pre != "" {
		v += "-" + s.Pre
	}
	return v
}

// Parse reads "MAJOR.MINOR.PATCH", optionally with a leading "v", a "-PRE" pre-release suffix
// and a "+BUILD" suffix (ignored). Each number is decimal without a sign.
func Parse(s string) (Semver, error) {
	v := strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i]
	}
	var out Semver
	if i := strings.IndexByte(v, '-'); i >= 0 {
		out.Pre = v[i+1:]
		v = v[:i]
		if out.Pre == "" {
			return Semver{}, fmt.Errorf("version %q: empty pre-release suffix after '-'", s)
		}
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return Semver{}, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH", s)
	}
	nums := [3]*int{&out.Major, &out.Minor, &out.Patch}
	for i, p := range parts {
		if p == "" || strings.TrimLeft(p, "0123456789") != "" || len(p) > 9 {
			return Semver{}, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH: %q is not a number", s, p)
		}
		n, _ := strconv.Atoi(p)
		*nums[i] = n
	}
	return out, nil
}

// MaxMinorSkew is how many minor versions a provider and an agent may be apart.
const MaxMinorSkew = 1

// SkewError says that a provider and an agent are outside the compatibility window.
type SkewError struct {
	Provider, Agent string
	Reason          string
}

func (e *SkewError) Error() string {
	return fmt.Sprintf("provider %s and lvs-agent %s are not compatible: %s", e.Provider, e.Agent, e.Reason)
}

// Compatible reports whether a provider of version provider may manage an agent of version
// agent: same major, minors at most MaxMinorSkew apart. A version that does not parse is not
// compatible with anything: a build must be stamped MAJOR.MINOR.PATCH[-PRE].
func Compatible(provider, agent string) error {
	p, err := Parse(provider)
	if err != nil {
		return &SkewError{Provider: provider, Agent: agent, Reason: "the provider's " + err.Error()}
	}
	a, err := Parse(agent)
	if err != nil {
		return &SkewError{Provider: provider, Agent: agent, Reason: "the agent's " + err.Error()}
	}
	if p.Major != a.Major {
		return &SkewError{Provider: provider, Agent: agent, Reason: fmt.Sprintf("major versions %d and %d differ", p.Major, a.Major)}
	}
	if d := p.Minor - a.Minor; d > MaxMinorSkew || d < -MaxMinorSkew {
		return &SkewError{Provider: provider, Agent: agent, Reason: fmt.Sprintf("minor versions %d and %d are more than %d apart", p.Minor, a.Minor, MaxMinorSkew)}
	}
	return nil
}
