package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/netconf"
	"github.com/lvs-provider/terraform-provider-lvs/agent/store"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// release removes from the pair interface the VIP addresses the stored state names, and
// nothing else (no advert is sent, the IPVS table stays). systemd runs it after the agent ended
// however it ended (ExecStopPost), and the supervisor before it restarts a server that died:
// an agent killed with SIGKILL otherwise leaves its VIPs on the interface while the peer takes
// them over, and if it never comes back both directors answer for them.
func release(args []string) error {
	var c common
	fs := flags("release", &c)
	_ = fs.Parse(args)
	if agentAnswers(c.socket) {
		return errors.New("the agent is running and holds its VIPs; stop it first (lvs-agent stop), which hands them to the peer")
	}
	released, err := releaseVIPs(c.state)
	for _, a := range released {
		fmt.Printf("released %s\n", a)
	}
	return err
}

// agentAnswers reports whether an agent serves the API socket.
func agentAnswers(socket string) bool {
	conn, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// releaseVIPs removes the VIP addresses of the state at statePath from the pair interface and
// returns those it removed ("ADDR on IF").
func releaseVIPs(statePath string) ([]string, error) {
	st, err := store.New(statePath).Load()
	if err != nil {
		return nil, fmt.Errorf("cannot tell which VIPs are this agent's (%w); a restarted agent removes them before it joins the election", err)
	}
	p := st.Pair
	if p == nil || len(st.VIPs) == 0 || p.Self < 0 || p.Self >= len(p.Directors) {
		return nil, nil
	}
	pairIf := p.Directors[p.Self].Interface
	h, err := netconf.Open()
	if err != nil {
		return nil, err
	}
	defer func() { _ = h.Close() }()
	// Each VIP's addresses are on its own interface (lvs_vip.interface), else the pair's.
	heldOn := map[string][]netip.Prefix{}
	var out []string
	var errs []error
	for _, v := range st.VIPs {
		ifname := pairIf
		if v.Interface != "" {
			ifname = v.Interface
		}
		held, ok := heldOn[ifname]
		if !ok {
			if held, err = h.Addresses(ifname); err != nil {
				errs = append(errs, err)
				continue
			}
			heldOn[ifname] = held
		}
		for _, s := range v.Addresses {
			want, err := agentapi.ParseVIPAddress(s)
			if err != nil {
				continue
			}
			for _, hp := range held {
				if hp.Addr() != want.Addr().Unmap() {
					continue
				}
				if err := h.RemoveAddress(ifname, hp); err != nil {
					errs = append(errs, err)
				} else {
					out = append(out, hp.Addr().String()+" on "+ifname)
				}
			}
		}
	}
	return out, errors.Join(errs...)
}

// releaser is the supervisor's OnDeath: it logs what releaseVIPs did.
func releaser(statePath string, log *slog.Logger) func() {
	return func() {
		released, err := releaseVIPs(statePath)
		if err != nil {
			log.Error("release VIPs of the dead server", "err", err)
		}
		if len(released) > 0 {
			log.Warn("released the VIPs of the dead server", "addresses", released)
		}
	}
}

const stateUsage = `usage: lvs-agent state <export|import> [flags]

  export                      print the agent's desired state as JSON
  import [--from-peer] FILE   replace the agent's desired state with FILE ("-": stdin); the
                              way to recover an agent whose stored state cannot be read, with
                              no flush: the state of the other director, exported there, with
                              --from-peer to make this director the pair's "self"
`

// state exports and imports the desired state (GET and PUT of agentapi.PathState).
func state(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, stateUsage)
		return &exitError{code: exitUsage, err: errors.New("state: export or import?")}
	}
	var c common
	fs := flags("state "+args[0], &c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	switch args[0] {
	case "export":
		_ = fs.Parse(args[1:])
		cl := client(c.socket)
		defer cl.Close()
		st, err := cl.State(ctx)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	case "import":
		fromPeer := fs.Bool("from-peer", false, "the file is the other director's state: make this director the pair's self")
		_ = fs.Parse(args[1:])
		if fs.NArg() != 1 {
			return &exitError{code: exitUsage, err: errors.New("state import: give one FILE (- for stdin)")}
		}
		st, err := readState(fs.Arg(0), *fromPeer)
		if err != nil {
			return err
		}
		cl := client(c.socket)
		defer cl.Close()
		if err := cl.PutState(ctx, st); err != nil {
			return err
		}
		fmt.Printf("state imported: %d VIPs, %d virtual servers\n", len(st.VIPs), len(st.VirtualServers))
		return nil
	}
	fmt.Fprint(os.Stderr, stateUsage)
	return &exitError{code: exitUsage, err: fmt.Errorf("state: unknown command %q", args[0])}
}

func readState(path string, fromPeer bool) (*agentapi.State, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var st agentapi.State
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("%s: not a state (lvs-agent state export writes one): %w", path, err)
	}
	if fromPeer {
		if st.Pair == nil || len(st.Pair.Directors) != 2 {
			return nil, fmt.Errorf("%s: --from-peer needs a state with a director pair of two", path)
		}
		st.Pair.Self = 1 - st.Pair.Self
	}
	return &st, nil
}
