package provider

import "testing"

func TestFieldPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"name":                    "name",
		"addresses[2]":            "addresses[2]",
		"track_scripts[1].weight": "track_scripts[1].weight",
		"ipvs_timeouts.udp":       "ipvs_timeouts.udp",
		"directors[0].host":       "directors[0].host",
	} {
		if got := fieldPath(in).String(); got != want {
			t.Errorf("fieldPath(%q) = %q, want %q", in, got, want)
		}
	}
}
