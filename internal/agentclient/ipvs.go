package agentclient

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// Keys contain slashes ("tcp/198.51.100.100:80"): each is escaped into one path segment.
func vsPath(key string) string { return agentapi.PathVirtualServers + "/" + url.PathEscape(key) }

func rsPath(vsKey, rsKey string) string {
	return vsPath(vsKey) + "/real-servers/" + url.PathEscape(rsKey)
}

func bindingPath(id string) string { return agentapi.PathRealServerBindings + "/" + url.PathEscape(id) }

// ListVirtualServers returns every virtual server with its real servers, by key order.
func (c *Client) ListVirtualServers(ctx context.Context) ([]*agentapi.VirtualServer, error) {
	var out []*agentapi.VirtualServer
	return out, c.do(ctx, http.MethodGet, agentapi.PathVirtualServers, nil, &out)
}

// GetVirtualServer returns the virtual server with key, or an error matching
// agentapi.ErrNotFound.
func (c *Client) GetVirtualServer(ctx context.Context, key string) (*agentapi.VirtualServer, error) {
	if vs, err := c.snapVirtualServer(ctx, key); !errors.Is(err, errNoSnapshot) {
		return vs, err
	}
	var vs agentapi.VirtualServer
	return &vs, c.do(ctx, http.MethodGet, vsPath(key), nil, &vs)
}

// PutVirtualServer stores and applies vs under its key. Without RealServers it keeps the real
// servers the agent has; with them it replaces them.
func (c *Client) PutVirtualServer(ctx context.Context, vs *agentapi.VirtualServer) (*agentapi.VirtualServer, error) {
	var out agentapi.VirtualServer
	return &out, c.do(ctx, http.MethodPut, vsPath(agentapi.VirtualServerKey(vs)), vs, &out)
}

// CreateVirtualServer stores and applies vs unless the host holds a virtual server with its key:
// then it changes nothing and returns an error matching agentapi.ErrExists.
func (c *Client) CreateVirtualServer(ctx context.Context, vs *agentapi.VirtualServer) (*agentapi.VirtualServer, error) {
	var out agentapi.VirtualServer
	return &out, c.doWith(ctx, http.MethodPut, vsPath(agentapi.VirtualServerKey(vs)), createOnly(), vs, &out)
}

// DeleteVirtualServer removes the virtual server with key and its real servers.
func (c *Client) DeleteVirtualServer(ctx context.Context, key string) error {
	return c.do(ctx, http.MethodDelete, vsPath(key), nil, nil)
}

// GetRealServer returns a real server of a virtual server, or an error matching
// agentapi.ErrNotFound.
func (c *Client) GetRealServer(ctx context.Context, vsKey, rsKey string) (*agentapi.RealServer, error) {
	if rs, err := c.snapRealServer(ctx, vsKey, rsKey); !errors.Is(err, errNoSnapshot) {
		return rs, err
	}
	var rs agentapi.RealServer
	return &rs, c.do(ctx, http.MethodGet, rsPath(vsKey, rsKey), nil, &rs)
}

// PutRealServer stores and applies rs in the virtual server with vsKey.
func (c *Client) PutRealServer(ctx context.Context, vsKey string, rs *agentapi.RealServer) (*agentapi.RealServer, error) {
	var out agentapi.RealServer
	return &out, c.do(ctx, http.MethodPut, rsPath(vsKey, agentapi.RealServerKey(rs)), rs, &out)
}

// CreateRealServer stores and applies rs in the virtual server with vsKey, unless that already
// holds a real server with rs's key: then it changes nothing and returns an error matching
// agentapi.ErrExists.
func (c *Client) CreateRealServer(ctx context.Context, vsKey string, rs *agentapi.RealServer) (*agentapi.RealServer, error) {
	var out agentapi.RealServer
	return &out, c.doWith(ctx, http.MethodPut, rsPath(vsKey, agentapi.RealServerKey(rs)), createOnly(), rs, &out)
}

// DeleteRealServer removes a real server from a virtual server.
func (c *Client) DeleteRealServer(ctx context.Context, vsKey, rsKey string) error {
	return c.do(ctx, http.MethodDelete, rsPath(vsKey, rsKey), nil, nil)
}

// GetBinding returns the real-server binding with id, or an error matching
// agentapi.ErrNotFound.
func (c *Client) GetBinding(ctx context.Context, id string) (*agentapi.RealServerBinding, error) {
	if b, err := c.snapBinding(ctx, id); !errors.Is(err, errNoSnapshot) {
		return b, err
	}
	var b agentapi.RealServerBinding
	return &b, c.do(ctx, http.MethodGet, bindingPath(id), nil, &b)
}

// ListBindings returns every real-server binding by id.
func (c *Client) ListBindings(ctx context.Context) (map[string]*agentapi.RealServerBinding, error) {
	out := map[string]*agentapi.RealServerBinding{}
	return out, c.do(ctx, http.MethodGet, agentapi.PathRealServerBindings, nil, &out)
}

// PutBinding stores and applies a real-server binding: the VIP on loopback (dr) or the tunnel
// interface (tunnel) of the host the client talks to.
func (c *Client) PutBinding(ctx context.Context, id string, b *agentapi.RealServerBinding) (*agentapi.RealServerBinding, error) {
	var out agentapi.RealServerBinding
	return &out, c.do(ctx, http.MethodPut, bindingPath(id), b, &out)
}

// CreateBinding stores and applies a real-server binding unless the host holds one with id: then
// it changes nothing and returns an error matching agentapi.ErrExists.
func (c *Client) CreateBinding(ctx context.Context, id string, b *agentapi.RealServerBinding) (*agentapi.RealServerBinding, error) {
	var out agentapi.RealServerBinding
	return &out, c.doWith(ctx, http.MethodPut, bindingPath(id), createOnly(), b, &out)
}

// DeleteBinding removes a real-server binding; its VIP goes when no other binding needs it.
func (c *Client) DeleteBinding(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, bindingPath(id), nil, nil)
}

// IPVS returns the director's IPVS report: the kernel's table merged with the configuration,
// sync daemons, timeouts and repaired drift.
func (c *Client) IPVS(ctx context.Context) (*agentapi.IPVSReport, error) {
	var r agentapi.IPVSReport
	return &r, c.do(ctx, http.MethodGet, agentapi.PathIPVS, nil, &r)
}
