// Package resourceid formats and parses the provider's resource IDs.
//
// IDs are readable paths that carry the director addresses, so that import and every CRUD
// operation work from the ID alone, with no hidden registry:
//
//	director pair: NAME@HOST1,HOST2            edge@198.51.100.11,198.51.100.12
//	VIP:           PAIR/vrid/N                 edge@198.51.100.11,198.51.100.12/vrid/91
//	virtual server VIP_ID/PROTO/ADDR:PORT       edge@…/vrid/91/tcp/198.51.100.100:80  (or VIP_ID/fwmark/inet/1)
//	real server:   VIRTUAL_SERVER_ID/ADDR:PORT  edge@…/vrid/91/tcp/198.51.100.100:80/198.51.100.21:80
package resourceid

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Pair identifies a director pair.
type Pair struct {
	Name  string
	Hosts [2]string
}

// String is the pair's ID.
func (p Pair) String() string {
	return p.Name + "@" + p.Hosts[0] + "," + p.Hosts[1]
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	hostRE = regexp.MustCompile(`^[A-Za-z0-9.:_-]+$`)
)

// NamePattern describes valid names, for validation messages.
const NamePattern = "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"

// ValidName reports whether s can be a pair name.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// ValidHost reports whether s can be a host in an ID: an IPv4 or IPv6 address or a DNS name.
func ValidHost(s string) bool { return hostRE.MatchString(s) }

// ParsePair parses NAME@HOST1,HOST2.
func ParsePair(id string) (Pair, error) {
	name, hosts, ok := strings.Cut(id, "@")
	if !ok {
		return Pair{}, fmt.Errorf("director pair ID %q: want NAME@HOST1,HOST2, e.g. edge@198.51.100.11,198.51.100.12", id)
	}
	if !ValidName(name) {
		return Pair{}, fmt.Errorf("director pair ID %q: name %q must be %s", id, name, NamePattern)
	}
	h := strings.Split(hosts, ",")
	if len(h) != 2 {
		return Pair{}, fmt.Errorf("director pair ID %q: want exactly two comma-separated hosts after '@'", id)
	}
	for _, x := range h {
		if !ValidHost(x) {
			return Pair{}, fmt.Errorf("director pair ID %q: %q is not an address or host name", id, x)
		}
	}
	if h[0] == h[1] {
		return Pair{}, fmt.Errorf("director pair ID %q: the two hosts must differ", id)
	}
	return Pair{Name: name, Hosts: [2]string{h[0], h[1]}}, nil
}

// VIP identifies a VRRP instance of a pair: PAIR/vrid/N.
type VIP struct {
	Pair Pair
	VRID int
}

// String is the VIP's ID.
func (v VIP) String() string { return fmt.Sprintf("%s/vrid/%d", v.Pair, v.VRID) }

// ParseVIP parses PAIR/vrid/N.
func ParseVIP(id string) (VIP, error) {
	pair, vrid, ok := strings.Cut(id, "/vrid/")
	if !ok {
		return VIP{}, fmt.Errorf("VIP ID %q: want PAIR_ID/vrid/N, e.g. edge@198.51.100.11,198.51.100.12/vrid/91", id)
	}
	p, err := ParsePair(pair)
	if err != nil {
		return VIP{}, fmt.Errorf("VIP ID %q: %w", id, err)
	}
	// Decimal without sign or leading zeros: one VIP has one ID ("+91" and "091" are not 91).
	n, err := strconv.Atoi(vrid)
	if err != nil || n < 1 || n > 255 || strconv.Itoa(n) != vrid {
		return VIP{}, fmt.Errorf("VIP ID %q: virtual router id %q is not 1-255", id, vrid)
	}
	return VIP{Pair: p, VRID: n}, nil
}

// VirtualServer identifies an IPVS service of a VIP: VIP_ID/KEY, where KEY is
// PROTO/ADDR:PORT or fwmark/FAMILY/MARK.
type VirtualServer struct {
	VIP VIP
	Key string
}

// String is the virtual server's ID.
func (v VirtualServer) String() string { return v.VIP.String() + "/" + v.Key }

// ParseVirtualServer parses VIP_ID/KEY. The key's own syntax is checked by the caller, which
// knows the agent's key rules.
func ParseVirtualServer(id string) (VirtualServer, error) {
	i := strings.Index(id, "/vrid/")
	if i < 0 {
		return VirtualServer{}, fmt.Errorf("virtual server ID %q: want VIP_ID/PROTO/ADDR:PORT, e.g. edge@198.51.100.11,198.51.100.12/vrid/91/tcp/198.51.100.100:80", id)
	}
	rest := id[i+len("/vrid/"):]
	vrid, key, ok := strings.Cut(rest, "/")
	if !ok || key == "" {
		return VirtualServer{}, fmt.Errorf("virtual server ID %q: missing PROTO/ADDR:PORT after the VIP ID", id)
	}
	vip, err := ParseVIP(id[:i] + "/vrid/" + vrid)
	if err != nil {
		return VirtualServer{}, fmt.Errorf("virtual server ID %q: %w", id, err)
	}
	return VirtualServer{VIP: vip, Key: key}, nil
}

// RealServer identifies a destination of a virtual server: VIRTUAL_SERVER_ID/ADDR:PORT.
type RealServer struct {
	VirtualServer VirtualServer
	Key           string
}

// String is the real server's ID.
func (r RealServer) String() string { return r.VirtualServer.String() + "/" + r.Key }

// ParseRealServer parses VIRTUAL_SERVER_ID/ADDR:PORT.
func ParseRealServer(id string) (RealServer, error) {
	i := strings.LastIndex(id, "/")
	if i < 0 {
		return RealServer{}, fmt.Errorf("real server ID %q: want VIRTUAL_SERVER_ID/ADDR:PORT", id)
	}
	vs, err := ParseVirtualServer(id[:i])
	if err != nil {
		return RealServer{}, fmt.Errorf("real server ID %q: %w", id, err)
	}
	if strings.Count(vs.Key, "/") < 1 || i == len(id)-1 {
		return RealServer{}, fmt.Errorf("real server ID %q: want VIRTUAL_SERVER_ID/ADDR:PORT", id)
	}
	return RealServer{VirtualServer: vs, Key: id[i+1:]}, nil
}
