package remote

import (
	"context"
	"errors"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentclient"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentinstall"
	"github.com/lvs-provider/terraform-provider-lvs/internal/bundle"
)

// Upgrade is what an install would do to the agent on a host.
type Upgrade struct {
	// Running is the answering agent's identity; nil when no agent answers.
	Running *agentapi.VersionInfo
	// Installed is the SHA-256 of the binary on disk ("" when none); Bundled that of the binary
	// this provider would install.
	Installed, Bundled string
}

// Restarts reports whether installing the bundled agent restarts a running agent: the binary on
// disk changes, or the running one is not the bundled one.
func (u Upgrade) Restarts() bool {
	if u.Running == nil {
		return false
	}
	return u.Installed != u.Bundled || (u.Running.BinarySHA256 != "" && u.Running.BinarySHA256 != u.Bundled)
}

// CheckUpgrade finds out what installing the bundled agent would do on addr.
func (h *Hosts) CheckUpgrade(ctx context.Context, addr string) (Upgrade, error) {
	var u Upgrade
	v, err := h.Agent(addr).Version(ctx)
	switch {
	case err == nil:
		u.Running = v
	case !errors.Is(err, agentclient.ErrUnreachable):
		return u, err
	default:
		if sshErr := SSHFailure(err); sshErr != nil {
			return u, sshErr
		}
	}
	p, err := h.probeHost(ctx, addr)
	if err != nil {
		return u, err
	}
	a, err := bundle.For(p.Arch)
	if err != nil {
		return u, err
	}
	u.Installed, u.Bundled = p.InstalledHash, a.SHA256
	return u, nil
}

// Upgrade installs the bundled agent on addr and makes sure the running agent is the bundled
// one, restarting it if needed.
func (h *Hosts) Upgrade(ctx context.Context, addr string) error {
	res, err := h.Install(ctx, addr)
	if err != nil || res.Started {
		return err
	}
	v, err := h.Agent(addr).Version(ctx)
	if err != nil {
		return err
	}
	a, err := bundle.For(v.GOARCH)
	if err != nil {
		return err
	}
	if v.BinarySHA256 == "" || v.BinarySHA256 == a.SHA256 {
		return nil
	}
	ih, err := h.installHost(ctx, addr)
	if err != nil {
		return err
	}
	h.dropAgent(addr)
	return agentinstall.Restart(ctx, ih)
}

// Stage puts the bundled agent in place on addr without restarting the running one; see
// agentinstall.Stage.
func (h *Hosts) Stage(ctx context.Context, addr string) error {
	ih, err := h.installHost(ctx, addr)
	if err != nil {
		return err
	}
	_, err = agentinstall.Stage(ctx, ih)
	return err
}

// Stop stops the agent on addr gracefully (`lvs-agent stop`): a master hands its VIPs to the
// peer first.
func (h *Hosts) Stop(ctx context.Context, addr string) error {
	ih, err := h.installHost(ctx, addr)
	if err != nil {
		return err
	}
	h.dropAgent(addr)
	return agentinstall.Stop(ctx, ih)
}
