package provider

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

func TestNewPairUUID(t *testing.T) {
	v4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		u := newPairUUID()
		if !v4.MatchString(u) {
			t.Fatalf("%q is not a version 4 UUID", u)
		}
		if seen[u] {
			t.Fatalf("%q made twice", u)
		}
		seen[u] = true
		p := agentapi.Pair{Name: "edge", UUID: u, Directors: []agentapi.Director{{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"}}}
		if err := p.Validate(); err != nil {
			t.Fatalf("the agent would refuse %q: %v", u, err)
		}
	}
}

func TestOwnsPair(t *testing.T) {
	for _, c := range []struct {
		held       agentapi.Pair
		name, uuid string
		want       bool
	}{
		{agentapi.Pair{Name: "edge", UUID: "a"}, "edge", "a", true},
		{agentapi.Pair{Name: "edge", UUID: "b"}, "edge", "a", false}, // same name, another workspace
		{agentapi.Pair{Name: "edge", UUID: "b"}, "edge", "", false},  // a state without uuid never deletes an owned pair
		{agentapi.Pair{Name: "edge"}, "edge", "a", true},             // legacy pair of our name
		{agentapi.Pair{Name: "edge"}, "edge", "", true},              // legacy state and pair
		{agentapi.Pair{Name: "other"}, "edge", "a", false},           // legacy pair of another name
		{agentapi.Pair{Name: "other", UUID: "a"}, "edge", "a", true}, // renamed in place: the uuid decides
	} {
		if got := ownsPair(&c.held, c.name, c.uuid); got != c.want {
			t.Errorf("ownsPair(%+v, %q, %q) = %v, want %v", c.held, c.name, c.uuid, got, c.want)
		}
	}
}

func TestHeldErrorNamesOwnerAndImport(t *testing.T) {
	held := &agentapi.Pair{Name: "edge", UUID: "0b8f3c1e-7a53-4b0e-9a8e-3c1f5e7d9a01", CreatedBy: "alice@ws1", CreatedAt: "2026-12-07T12:00:00Z",
		Directors: []agentapi.Director{{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth0"}}}
	summary, detail := describe("198.51.100.12", &heldError{host: "198.51.100.12", held: held})
	if summary != "Director Held By Another Pair" {
		t.Errorf("summary %q", summary)
	}
	for _, want := range []string{`director pair "edge"`, held.UUID, "198.51.100.11", "alice@ws1", "nothing was changed",
		"terraform import lvs_director_pair.<resource name> edge@198.51.100.11,198.51.100.12"} {
		if !strings.Contains(detail, want) {
			t.Errorf("detail does not name %q:\n%s", want, detail)
		}
	}
}

func TestHoldsNothing(t *testing.T) {
	if !holdsNothing(&agentapi.State{Serial: 9}) {
		t.Error("an empty state holds something")
	}
	if holdsNothing(&agentapi.State{RealServerBindings: map[string]*agentapi.RealServerBinding{"x": {}}}) {
		t.Error("a binding of another resource would be uninstalled with the agent")
	}
}

func TestCreatorNamesWorkspace(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if v, ok := m[p]; ok {
				return []byte(v), nil
			}
			return nil, os.ErrNotExist
		}
	}
	for _, tc := range []struct {
		name  string
		env   map[string]string
		files map[string]string
		want  string
	}{
		{"none", nil, nil, "default"},
		{"selected", nil, map[string]string{".terraform/environment": "prod\n"}, "prod"},
		{"data dir", map[string]string{"TF_DATA_DIR": "/d"}, map[string]string{"/d/environment": "staging"}, "staging"},
		{"env wins", map[string]string{"TF_WORKSPACE": "blue"}, map[string]string{".terraform/environment": "prod"}, "blue"},
	} {
		if got := workspace(env(tc.env), files(tc.files)); got != tc.want {
			t.Errorf("%s: workspace = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got, want := creatorText("ops", "deploy1", "/srv/tf/edge", "prod"), "ops@deploy1:/srv/tf/edge (workspace prod)"; got != want {
		t.Errorf("creatorText = %q, want %q", got, want)
	}
	long := creatorText("ops", "deploy1", "/"+strings.Repeat("d", 400), "prod")
	if len(long) > 256 || !strings.HasSuffix(long, "dd (workspace prod)") || !strings.Contains(long, ":...") {
		t.Errorf("long directory: %q (%d bytes)", long, len(long))
	}
}
