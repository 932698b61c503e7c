package remote

import (
	"slices"
	"testing"
)

// TestIPv4Of: only IPv4 addresses reach the shell of HoldAddresses, without prefix, and nothing
// that is not an address does.
func TestIPv4Of(t *testing.T) {
	got := ipv4Of([]string{"198.51.100.100", "198.51.100.101/24", "2001:db8::100", "$(reboot)", "198.51.100.102 ; x"})
	if want := []string{"198.51.100.100", "198.51.100.101"}; !slices.Equal(got, want) {
		t.Errorf("ipv4Of: %q, want %q", got, want)
	}
}
