package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// TestReadStateFromPeer: the peer's exported state becomes this director's with --from-peer.
func TestReadStateFromPeer(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "peer.json")
	if err := os.WriteFile(path, []byte(`{"serial": 7, "pair": {"name": "edge", "self": 0, "directors": [{"host": "198.51.100.11", "interface": "eth0"}, {"host": "198.51.100.12", "interface": "eth0"}]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := readState(path, true)
	if err != nil || st.Pair.Self != 1 {
		t.Fatalf("--from-peer: %+v, %v", st, err)
	}
	if st, err = readState(path, false); err != nil || st.Pair.Self != 0 {
		t.Fatalf("as is: %+v, %v", st, err)
	}
	if err := os.WriteFile(path, []byte(`{"serial": 7}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readState(path, true); err == nil || !strings.Contains(err.Error(), "director pair") {
		t.Fatalf("--from-peer without a pair: %v", err)
	}
}

// TestStatusShowsStateErrorAndPanics: the text status leads with an unreadable state and lists
// recovered panics.
func TestStatusShowsStateErrorAndPanics(t *testing.T) {
	t.Parallel()
	out := formatStatus(&agentapi.Status{StateError: "state file corrupt; lvs-agent state import",
		Panics: []agentapi.PartPanics{{Part: "healthcheck", Count: 2, Last: "boom", LastAt: "2026-01-01T00:00:00Z"}}})
	for _, want := range []string{"STATE UNREADABLE: state file corrupt", "part healthcheck: 2 panics recovered, last at 2026-01-01T00:00:00Z: boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// TestStatusShowsGARP: the text status says each VIP's announcement policy in keepalived's terms.
func TestStatusShowsGARP(t *testing.T) {
	t.Parallel()
	pair := &agentapi.Pair{Name: "edge", Directors: []agentapi.Director{{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"}}}
	g := agentapi.DefaultGARP
	out := formatStatus(&agentapi.Status{Pair: pair, VIPs: []agentapi.VIPStatus{
		{VRID: 91, State: "MASTER", GARP: &g},
		{VRID: 92, State: "BACKUP", GARP: &agentapi.GARP{Repeat: 3, RefreshMS: 1500, RefreshRepeat: 2}},
	}})
	for _, want := range []string{
		"gratuitous ARP/NA on takeover: 5 per address, 5 more after 5s; no refresh while master",
		"gratuitous ARP/NA on takeover: 3 per address, no second burst; then 2 every 1.5s while master",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}
