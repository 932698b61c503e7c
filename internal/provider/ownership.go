package provider

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/remote"
)

// Ownership: a director holds one pair, identified by the pair_uuid made at create and kept in
// Terraform state. Creates are create-only at the agent, so a second configuration (another
// workspace, a wrong address) fails instead of taking over a host; deletes remove only the
// pair whose UUID the state holds. Terraform does not tell providers the workspace, so the
// host records who ran the create (user@machine), not the workspace.

// newPairUUID returns a random (version 4) UUID.
func newPairUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+: it panics instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// creator is what a pair records as its creator: the user and machine running terraform, the
// directory it runs in and its workspace, e.g. "ops@deploy1:/srv/tf/edge (workspace prod)".
// Terraform tells providers neither, but a provider runs in terraform's working directory with
// its environment, where terraform itself finds the workspace.
var creator = sync.OnceValue(func() string {
	name := "unknown-user"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	dir, _ := os.Getwd()
	return creatorText(name, host, dir, workspace(os.Getenv, os.ReadFile))
})

// creatorText fits the creator in agentapi's 256 bytes, shortening the directory from the left.
func creatorText(user, host, dir, ws string) string {
	tail := " (workspace " + ws + ")"
	head := user + "@" + host
	if dir != "" {
		room := 256 - len(head) - len(tail) - 1
		if room < 8 {
			dir = ""
		} else if len(dir) > room {
			dir = "..." + dir[len(dir)-room+3:]
		}
	}
	s := head
	if dir != "" {
		s += ":" + dir
	}
	s += tail
	if len(s) > 256 {
		s = s[:256]
	}
	return s
}

// workspace is the Terraform workspace of the working directory, found as terraform finds it:
// TF_WORKSPACE, else the environment file of the data directory (TF_DATA_DIR, default
// .terraform), else "default".
func workspace(getenv func(string) string, readFile func(string) ([]byte, error)) string {
	if ws := strings.TrimSpace(getenv("TF_WORKSPACE")); ws != "" {
		return ws
	}
	dataDir := getenv("TF_DATA_DIR")
	if dataDir == "" {
		dataDir = ".terraform"
	}
	if b, err := readFile(filepath.Join(dataDir, "environment")); err == nil {
		if ws := strings.TrimSpace(string(b)); ws != "" && len(ws) <= 90 {
			return ws
		}
	}
	return "default"
}

// heldError is a director held by another pair.
type heldError struct {
	host string
	held *agentapi.Pair
}

func (e *heldError) Error() string { return fmt.Sprintf("%s is held by %s", e.host, e.held.Describe()) }

func (e *heldError) detail() string {
	return fmt.Sprintf("%s is held by %s. A director holds one pair; nothing was changed on it.\n\n"+
		"If this configuration should manage that pair, import it (the pair keeps its pair_uuid):\n\n"+
		"  terraform import lvs_director_pair.<resource name> %s\n\n"+
		"To put a new pair on the host instead, destroy the pair there first from the configuration that manages it "+
		"(or import it here and destroy it), then apply again. If the address is wrong, correct it.",
		e.host, e.held.Describe(), e.held.ImportID())
}

// describe is remote.Describe, plus the provider's own errors.
func describe(host string, err error) (summary, detail string) {
	var he *heldError
	if errors.As(err, &he) {
		return "Director Held By Another Pair", he.detail()
	}
	return remote.Describe(host, err)
}

// ownsPair reports whether held is the pair with uuid (and name, for a pair stored before pairs
// had UUIDs).
func ownsPair(held *agentapi.Pair, name, uuid string) bool {
	if held.UUID != "" {
		return held.UUID == uuid
	}
	return held.Name == name
}

// holdsNothing reports whether an agent's state is empty: its agent may go.
func holdsNothing(st *agentapi.State) bool {
	return st.Pair == nil && len(st.VIPs) == 0 && len(st.VirtualServers) == 0 && len(st.RealServerBindings) == 0
}

// release removes the pair (name, uuid) from host: its pair, VIPs and virtual servers, and the
// agent when the host then holds nothing else (no real-server binding). A host held by another
// pair is left as it is, with a warning returned. A stopped agent is started to learn what the
// host holds.
func (r *directorPairResource) release(ctx context.Context, host, name, uuid string) (warning string, err error) {
	state, _, err := r.hosts.Probe(ctx, host)
	if err != nil {
		return "", err
	}
	switch state {
	case remote.AgentMissing:
		return "", nil
	case remote.AgentStopped:
		if _, err := r.hosts.Install(ctx, host); err != nil {
			return "", fmt.Errorf("the agent is stopped and did not start, so what the host holds cannot be checked: %w", err)
		}
	}
	a := r.hosts.Agent(host)
	st, err := a.State(ctx)
	if err != nil {
		return "", err
	}
	if p := st.Pair; p != nil {
		if !ownsPair(p, name, uuid) {
			return fmt.Sprintf("%s now holds %s, not this pair (pair_uuid %s): it was left as it is.", host, p.Describe(), uuid), nil
		}
		err := a.DeleteOwnPair(ctx, uuid)
		if errors.Is(err, agentapi.ErrConflict) {
			// Taken over between the read and the delete.
			return fmt.Sprintf("%s was left as it is: %v", host, err), nil
		}
		if err != nil && !errors.Is(err, agentapi.ErrNotFound) {
			return "", err
		}
		if st, err = a.State(ctx); err != nil {
			return "", err
		}
	}
	if !holdsNothing(st) {
		return "", nil // real-server bindings of other resources keep the agent
	}
	return "", r.hosts.Uninstall(ctx, host)
}

// undoCreate removes from host what a failed create added: the pair, if it was written; the
// agent, if the create installed it; a start of an agent that was stopped.
func (r *directorPairResource) undoCreate(ctx context.Context, host string, before remote.AgentState, created bool, uuid string) error {
	a := r.hosts.Agent(host)
	if created {
		if err := a.DeleteOwnPair(ctx, uuid); err != nil && !errors.Is(err, agentapi.ErrNotFound) {
			return err
		}
	}
	switch before {
	case remote.AgentMissing:
		// Installed by this create; kept only when something else came meanwhile.
		if st, err := a.State(ctx); err == nil && !holdsNothing(st) {
			return nil
		}
		return r.hosts.Uninstall(ctx, host)
	case remote.AgentStopped:
		return r.hosts.Stop(ctx, host)
	}
	return nil // running before (empty or another pair's): left running
}
