package version

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Semver
	}{
		{"0.1.0", Semver{0, 1, 0, ""}},
		{"v0.1.0", Semver{0, 1, 0, ""}},
		{"0.1.0-dev", Semver{0, 1, 0, "dev"}},
		{"v1.12.3-rc.1+build.7", Semver{1, 12, 3, "rc.1"}},
		{"2.0.10+meta", Semver{2, 0, 10, ""}},
		{" 0.2.0-dev-2 ", Semver{0, 2, 0, "dev-2"}},
	} {
		got, err := Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "dev", "1", "1.2", "1.2.3.4", "1.x.0", "1.2.3-", "v", "-1.2.3", "1.-2.3", "1..3", "1.2.+3", "1.2.3 4", "1234567890.0.0"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, got)
		}
	}
}

func TestCompatible(t *testing.T) {
	for _, tt := range []struct {
		provider, agent string
		ok              bool
		reason          string
	}{
		{"0.1.0-dev", "0.1.0-dev", true, ""},
		{"0.2.0", "0.1.7", true, ""},
		{"v0.2.0", "0.3.0-rc.1", true, ""},
		{"1.4.2", "v1.4.0+x", true, ""},
		{"0.3.0", "0.1.0", false, "minor versions 3 and 1 are more than 1 apart"},
		{"0.1.0", "0.3.0-dev", false, "minor versions 1 and 3"},
		{"1.0.0", "0.9.0", false, "major versions 1 and 0 differ"},
		{"0.1.0", "dev", false, "the agent's version \"dev\""},
		{"main", "0.1.0", false, "the provider's version \"main\""},
		{"0.1.0", "", false, "the agent's version"},
	} {
		err := Compatible(tt.provider, tt.agent)
		if (err == nil) != tt.ok {
			t.Errorf("Compatible(%q, %q) = %v, want ok %v", tt.provider, tt.agent, err, tt.ok)
			continue
		}
		if err == nil {
			continue
		}
		var se *SkewError
		if !errors.As(err, &se) || se.Provider != tt.provider || se.Agent != tt.agent {
			t.Errorf("Compatible(%q, %q) = %#v, want a *SkewError naming both", tt.provider, tt.agent, err)
		}
		if !strings.Contains(err.Error(), tt.reason) || !strings.Contains(err.Error(), tt.provider) {
			t.Errorf("Compatible(%q, %q) = %q, want it to say %q and name both versions", tt.provider, tt.agent, err, tt.reason)
		}
	}
}
