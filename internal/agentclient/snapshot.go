package agentclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// snapshot answers the object reads of a refresh from one read of the agent's whole state, so
// that `terraform plan` over a thousand real servers costs one request per host instead of a
// thousand. It is used only while nothing was written through this client for ttl: right after
// a write, reads go to the agent one object at a time, as a state fetched for every write would
// cost more than it saves.
type snapshot struct {
	ttl time.Duration

	mu        sync.Mutex // guards the following fields
	st        *agentapi.State
	fetchedAt time.Time
	lastWrite time.Time
	gen       uint64        // counts writes, so a fetch that raced a write is not kept
	inflight  chan struct{} // closed when the fetch under way ends
	fetchErr  error
}

// EnableSnapshotReads makes Pair, VIP, GetVirtualServer, GetRealServer and GetBinding answer
// from a read of the whole state at most ttl old, as long as no write went through this client
// within ttl.
func (c *Client) EnableSnapshotReads(ttl time.Duration) {
	c.snap = &snapshot{ttl: ttl}
}

// wrote records a write: snapshots taken before it are stale.
func (s *snapshot) wrote() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	s.st = nil
	s.lastWrite = time.Now()
}

// errNoSnapshot means the caller should read the object directly.
var errNoSnapshot = errors.New("no snapshot")

// state returns a fresh snapshot, fetching it once for all concurrent callers.
func (c *Client) snapshotState(ctx context.Context) (*agentapi.State, error) {
	s := c.snap
	if s == nil {
		return nil, errNoSnapshot
	}
	for {
		s.mu.Lock()
		now := time.Now()
		if now.Sub(s.lastWrite) < s.ttl {
			s.mu.Unlock()
			return nil, errNoSnapshot
		}
		if s.st != nil && now.Sub(s.fetchedAt) < s.ttl {
			st := s.st
			s.mu.Unlock()
			return st, nil
		}
		if wait := s.inflight; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		s.inflight, s.fetchErr = done, nil
		gen := s.gen
		s.mu.Unlock()

		var st agentapi.State
		err := c.do(ctx, "GET", agentapi.PathState, nil, &st)

		s.mu.Lock()
		s.inflight = nil
		if err == nil && gen == s.gen {
			s.st, s.fetchedAt = &st, time.Now()
		}
		s.mu.Unlock()
		close(done)
		if err != nil {
			return nil, err
		}
		return &st, nil
	}
}

func notFound(format string, args ...any) error {
	return agentapi.NotFound(fmt.Sprintf(format, args...))
}

func (c *Client) snapPair(ctx context.Context) (*agentapi.Pair, error) {
	st, err := c.snapshotState(ctx)
	if err != nil {
		return nil, err
	}
	if st.Pair == nil {
		return nil, notFound("this agent holds no director pair")
	}
	p := *st.Pair
	return &p, nil
}

func (c *Client) snapVIP(ctx context.Context, vrid int) (*agentapi.VIP, error) {
	st, err := c.snapshotState(ctx)
	if err != nil {
		return nil, err
	}
	v := st.VIPs[vrid]
	if v == nil {
		return nil, notFound("no VIP with virtual_router_id %d", vrid)
	}
	return st.Clone().VIPs[vrid], nil
}

func (c *Client) snapVirtualServer(ctx context.Context, key string) (*agentapi.VirtualServer, error) {
	st, err := c.snapshotState(ctx)
	if err != nil {
		return nil, err
	}
	canon, cerr := agentapi.CanonicalVirtualServerKey(key)
	if cerr != nil {
		return nil, errNoSnapshot // let the agent say what is wrong with the key
	}
	vs := st.VirtualServers[canon]
	if vs == nil {
		return nil, notFound("no virtual server %s", canon)
	}
	out := *vs
	out.RealServers = nil
	if len(vs.RealServers) > 0 {
		out.RealServers = make(map[string]*agentapi.RealServer, len(vs.RealServers))
		for k, rs := range vs.RealServers {
			r := *rs
			out.RealServers[k] = &r
		}
	}
	return &out, nil
}

func (c *Client) snapRealServer(ctx context.Context, vsKey, rsKey string) (*agentapi.RealServer, error) {
	st, err := c.snapshotState(ctx)
	if err != nil {
		return nil, err
	}
	vsCanon, err1 := agentapi.CanonicalVirtualServerKey(vsKey)
	rsCanon, err2 := agentapi.CanonicalRealServerKey(rsKey)
	if err1 != nil || err2 != nil {
		return nil, errNoSnapshot // let the agent say what is wrong with the key
	}
	vs := st.VirtualServers[vsCanon]
	if vs == nil {
		return nil, notFound("no virtual server %s", vsCanon)
	}
	// Copy only the one real server: a refresh reads each of thousands once.
	rs := vs.RealServers[rsCanon]
	if rs == nil {
		return nil, notFound("virtual server %s has no real server %s", vsCanon, rsCanon)
	}
	out := *rs
	if rs.HealthCheck != nil {
		hc := *rs.HealthCheck
		out.HealthCheck = &hc
	}
	return &out, nil
}

func (c *Client) snapBinding(ctx context.Context, id string) (*agentapi.RealServerBinding, error) {
	st, err := c.snapshotState(ctx)
	if err != nil {
		return nil, err
	}
	b := st.RealServerBindings[id]
	if b == nil {
		return nil, notFound("no real-server binding %q", id)
	}
	out := *b
	return &out, nil
}
