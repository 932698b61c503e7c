// Package agentclient is the typed client of the lvs-agent API.
//
// It speaks HTTP+JSON over whatever stream a DialFunc returns: the agent's unix socket on the host
// itself, or an SSH session running `lvs-agent dial-stdio` from the provider. It has no Terraform
// imports; errors are *agentapi.Error for answers and *TransportError when the agent was not reached.
package agentclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
	"github.com/lvs-provider/terraform-provider-lvs/internal/version"
)

// DialFunc opens one byte stream to the agent's API.
type DialFunc func(ctx context.Context) (net.Conn, error)

// Unix dials the agent's socket directly, for use on the host itself.
func Unix(path string) DialFunc {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
}

// ErrUnreachable matches every *TransportError.
var ErrUnreachable = errors.New("agent not reachable")

// TransportError means no answer came from the agent: it is not installed, not running, or the
// stream to it broke.
type TransportError struct {
	Host string
	Op   string // "PUT /v1/vips/7"; empty when not known
	Err  error
}

func (e *TransportError) Error() string {
	if e.Op != "" {
		return fmt.Sprintf("agent on %s did not answer %s: %v", e.Host, e.Op, e.Err)
	}
	return fmt.Sprintf("agent on %s did not answer: %v", e.Host, e.Err)
}

// DefaultTimeout bounds a request whose context has no deadline of its own: no call waits
// forever on a stuck agent or a stalled SSH stream. The provider's resources pass their
// `timeouts` as the context's deadline.
const DefaultTimeout = 5 * time.Minute

// timeoutError says how long the client waited, for a host and operation.
func timeoutError(ctx context.Context, host, op string, started time.Time) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %v (the operation's timeout; see the resource's timeouts block): %w", time.Since(started).Round(time.Millisecond), err)
	}
	return &TransportError{Host: host, Op: op, Err: err}
}

func (e *TransportError) Unwrap() []error { return []error{ErrUnreachable, e.Err} }

// Client talks to one agent.
type Client struct {
	host  string
	hc    *http.Client
	snap  *snapshot // nil unless EnableSnapshotReads
	batch batcher
}

// maxStreams bounds the streams, hence SSH sessions, a Client keeps open to its agent. Eight
// keep terraform's default ten parallel operations busy: the agent commits concurrent writes
// together, so more streams would not make writes faster.
const maxStreams = 8

// New returns a client for the agent on host (used in messages) reached through dial.
func New(host string, dial DialFunc) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		// Streams are SSH sessions, and each starts `lvs-agent dial-stdio` on the host, which
		// costs far more than a request. Open at most maxStreams (requests beyond wait for one)
		// and keep them all when idle, so that a run of any parallelism opens each once.
		MaxConnsPerHost:     maxStreams,
		MaxIdleConnsPerHost: maxStreams,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
	}
	return &Client{host: host, hc: &http.Client{Transport: tr}}
}

// Host is the host this client talks to.
func (c *Client) Host() string { return c.host }

// Close drops idle streams.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Version returns the running agent's identity. It works across API versions.
func (c *Client) Version(ctx context.Context) (*agentapi.VersionInfo, error) {
	var v agentapi.VersionInfo
	return &v, c.do(ctx, http.MethodGet, agentapi.PathVersion, nil, &v)
}

// Status returns what the agent reports about itself and the host.
func (c *Client) Status(ctx context.Context) (*agentapi.Status, error) {
	var s agentapi.Status
	return &s, c.do(ctx, http.MethodGet, agentapi.PathStatus, nil, &s)
}

// Dest names one IPVS destination: a virtual server key and a real server key.
type Dest struct{ VirtualServer, RealServer string }

// maxNarrowDests bounds the destinations StatusFor names in its query (the URL grows with
// them); beyond it reads the whole table, which holds them all.
const maxNarrowDests = 256

// StatusFor is Status with the IPVS table narrowed to dests (agentapi.QueryIPVSDest): the
// destinations of them the directors' tables hold, with the VRRP state. An agent that does not
// know the narrowing answers the whole table, in which the same destinations are found, and one
// that refuses it is asked again for the whole table. With no dests, or many, it is Status.
func (c *Client) StatusFor(ctx context.Context, dests []Dest) (*agentapi.Status, error) {
	if len(dests) == 0 || len(dests) > maxNarrowDests {
		return c.Status(ctx)
	}
	q := url.Values{}
	for _, d := range dests {
		q.Add(agentapi.QueryIPVSDest, d.VirtualServer+","+d.RealServer)
	}
	var s agentapi.Status
	err := c.do(ctx, http.MethodGet, agentapi.PathStatus+"?"+q.Encode(), nil, &s)
	if errors.Is(err, agentapi.ErrValidation) || errors.Is(err, agentapi.ErrNotFound) {
		return c.Status(ctx)
	}
	return &s, err
}

// Pair returns the stored director pair, or an error matching agentapi.ErrNotFound.
func (c *Client) Pair(ctx context.Context) (*agentapi.Pair, error) {
	if p, err := c.snapPair(ctx); !errors.Is(err, errNoSnapshot) {
		return p, err
	}
	var p agentapi.Pair
	return &p, c.do(ctx, http.MethodGet, agentapi.PathPair, nil, &p)
}

// PutPair stores and applies p.
func (c *Client) PutPair(ctx context.Context, p *agentapi.Pair) (*agentapi.Pair, error) {
	var out agentapi.Pair
	return &out, c.do(ctx, http.MethodPut, agentapi.PathPair, p, &out)
}

// CreatePair stores and applies p unless the host holds a pair of another UUID: then it changes
// nothing and returns an error matching agentapi.ErrExists.
func (c *Client) CreatePair(ctx context.Context, p *agentapi.Pair) (*agentapi.Pair, error) {
	var out agentapi.Pair
	return &out, c.doWith(ctx, http.MethodPut, agentapi.PathPair, createOnly(), p, &out)
}

// DeletePair removes the pair and everything configured under it from the host.
func (c *Client) DeletePair(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, agentapi.PathPair, nil, nil)
}

// DeleteOwnPair is DeletePair of the pair with uuid only: when the host holds a pair of another
// UUID it changes nothing and returns an error matching agentapi.ErrConflict.
func (c *Client) DeleteOwnPair(ctx context.Context, uuid string) error {
	return c.doWith(ctx, http.MethodDelete, agentapi.PathPair, http.Header{agentapi.HeaderPairUUID: {uuid}}, nil, nil)
}

// createOnly is the header of a create-only PUT (see agentapi.HeaderIfNoneMatch).
func createOnly() http.Header { return http.Header{agentapi.HeaderIfNoneMatch: {"*"}} }

// State returns the agent's whole desired state.
func (c *Client) State(ctx context.Context) (*agentapi.State, error) {
	var st agentapi.State
	return &st, c.do(ctx, http.MethodGet, agentapi.PathState, nil, &st)
}

// PutState replaces the agent's whole desired state.
func (c *Client) PutState(ctx context.Context, st *agentapi.State) error {
	return c.do(ctx, http.MethodPut, agentapi.PathState, st, nil)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return c.doWith(ctx, method, path, nil, in, out)
}

// doWith is do with extra request headers.
func (c *Client) doWith(ctx context.Context, method, path string, hdr http.Header, in, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = b
	}
	var (
		status int
		answer []byte
		err    error
	)
	if method == http.MethodGet {
		status, answer, err = c.roundTrip(ctx, method, path, hdr, body)
	} else {
		if c.snap != nil {
			// Whatever the outcome, a write may have changed the state.
			defer c.snap.wrote()
		}
		status, answer, err = c.submit(ctx, batchItem(method, path, hdr, body))
	}
	if err != nil {
		return err
	}
	if status >= 300 {
		var ae agentapi.Error
		if json.Unmarshal(answer, &ae) != nil || ae.Code == "" {
			return &TransportError{Host: c.host, Err: fmt.Errorf("unexpected answer %d %s: %.200q", status, http.StatusText(status), answer)}
		}
		return &ae
	}
	if out == nil || status == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("decode answer of %s %s from %s: %w", method, path, c.host, err)
	}
	return nil
}

// roundTrip sends one request and returns the answer's status and body; its errors are
// *TransportError.
func (c *Client) roundTrip(ctx context.Context, method, path string, hdr http.Header, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	p, _, _ := strings.Cut(path, "?") // a query (StatusFor's destinations) would swamp errors
	op := method + " " + p
	started := time.Now()
	req, err := http.NewRequestWithContext(ctx, method, "http://lvs-agent"+path, rd)
	if err != nil {
		return 0, nil, &TransportError{Host: c.host, Op: op, Err: err}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set(agentapi.HeaderAPIVersion, strconv.Itoa(agentapi.APIVersion))
	req.Header.Set(agentapi.HeaderClientVersion, version.Version)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, timeoutError(ctx, c.host, op, started)
		}
		return 0, nil, &TransportError{Host: c.host, Op: op, Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, agentapi.MaxResponseBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, timeoutError(ctx, c.host, op, started)
		}
		return 0, nil, &TransportError{Host: c.host, Op: op, Err: err}
	}
	if len(b) > agentapi.MaxResponseBytes {
		return 0, nil, &TransportError{Host: c.host, Op: op, Err: fmt.Errorf("answer is larger than %d bytes, the most this client reads; stopped reading", agentapi.MaxResponseBytes)}
	}
	return resp.StatusCode, b, nil
}

// VIP returns the VIP with vrid, or an error matching agentapi.ErrNotFound.
func (c *Client) VIP(ctx context.Context, vrid int) (*agentapi.VIP, error) {
	if v, err := c.snapVIP(ctx, vrid); !errors.Is(err, errNoSnapshot) {
		return v, err
	}
	var v agentapi.VIP
	return &v, c.do(ctx, http.MethodGet, fmt.Sprintf("%s/%d", agentapi.PathVIPs, vrid), nil, &v)
}

// PutVIP stores and applies v.
func (c *Client) PutVIP(ctx context.Context, v *agentapi.VIP) (*agentapi.VIP, error) {
	var out agentapi.VIP
	return &out, c.do(ctx, http.MethodPut, fmt.Sprintf("%s/%d", agentapi.PathVIPs, v.VRID), v, &out)
}

// CreateVIP stores and applies v unless the host holds a VIP with its VRID: then it changes
// nothing and returns an error matching agentapi.ErrExists.
func (c *Client) CreateVIP(ctx context.Context, v *agentapi.VIP) (*agentapi.VIP, error) {
	var out agentapi.VIP
	return &out, c.doWith(ctx, http.MethodPut, fmt.Sprintf("%s/%d", agentapi.PathVIPs, v.VRID), createOnly(), v, &out)
}

// DeleteVIP removes the VIP with vrid; the addresses leave the interface.
func (c *Client) DeleteVIP(ctx context.Context, vrid int) error {
	return c.do(ctx, http.MethodDelete, fmt.Sprintf("%s/%d", agentapi.PathVIPs, vrid), nil, nil)
}
