package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
)

// The lab's address plan. Only these documentation prefixes are ever configured, and only on
// interfaces the lab creates.
var (
	// IPv4Net is the lab's IPv4 subnet (TEST-NET-2).
	IPv4Net = netip.MustParsePrefix("198.51.100.0/24")
	// IPv6Net is the lab's IPv6 subnet, inside the documentation prefix 2001:db8::/32.
	IPv6Net = netip.MustParsePrefix("2001:db8::/64")
	// InsideIPv4Net and InsideIPv6Net are the addresses of the optional second link (Bridge2,
	// a host's eth1: the inside of a two-armed NAT director). The /26 is inside IPv4Net, and
	// wins over eth0's /24 by its longer prefix; lab hosts and VIPs otherwise use low
	// addresses and .100, so the two do not meet.
	InsideIPv4Net = netip.MustParsePrefix("198.51.100.192/26")
	InsideIPv6Net = netip.MustParsePrefix("2001:db8:1::/64")
	// AdminIPv4 and AdminIPv6 are the admin context's addresses on the bridge.
	AdminIPv4 = netip.MustParseAddr("198.51.100.1")
	AdminIPv6 = netip.MustParseAddr("2001:db8::1")
)

// Fixed names of the kernel context.
const (
	// AdminNetns is the named network namespace in which `lab run` runs its command.
	AdminNetns = "lvslab-admin"
	// Bridge is the lab's bridge in AdminNetns. It has no uplink.
	Bridge = "lab0"
	// Bridge2 is the second link's bridge in AdminNetns, made when the first host that has an
	// inside address boots. No uplink, no address of the admin's: only hosts meet there.
	Bridge2 = "lab1"
	// DefaultDir is where the lab keeps its state when LVS_LAB_DIR is unset.
	DefaultDir = "/run/lvs-lab"
	// SSHUser is the user the lab's key logs in as on every host.
	SSHUser = "root"
	// SudoUser is a non-root user on every host that logs in with the same key and has
	// passwordless sudo, for testing the provider's non-root path.
	SudoUser = "lvsadmin"
	// SudoUID is SudoUser's uid and gid.
	SudoUID = 1001
	// AutostartPath is read by Boot inside the host: each line is started in the background.
	AutostartPath = "/etc/lvs-lab/autostart"
)

// Environment variables of the kernel context.
const (
	EnvLab      = "LVS_LAB"          // "1" inside a kernel context made by `lab run`
	EnvDir      = "LVS_LAB_DIR"      // lab state directory
	EnvRequired = "LVS_LAB_REQUIRED" // "1": lab tests fail instead of skipping outside the lab
	EnvMode     = "LVS_LAB_MODE"     // "uml" or "direct"; also forces a mode for `lab run`
	EnvBootSecs = "LVS_LAB_BOOT_SECONDS"
	EnvBin      = "LVS_LAB_BIN"    // path of the lab binary, for its host tools (lab serve, lab fetch)
	EnvShared   = "LVS_LAB_SHARED" // colon-separated directories bound read-only into every host
)

// Spec describes the hosts of a lab.
type Spec struct {
	Hosts []HostSpec `json:"hosts"`
}

// HostSpec is one host: a name (also its hostname) and its addresses on the lab bridge, and
// optionally on the second link.
type HostSpec struct {
	Name string `json:"name"`
	IPv4 string `json:"ipv4"` // in 198.51.100.0/24
	IPv6 string `json:"ipv6"` // in 2001:db8::/64
	// InsideIPv4 and InsideIPv6, both or neither, give the host an eth1 on Bridge2 with these
	// addresses, in InsideIPv4Net and InsideIPv6Net.
	InsideIPv4 string `json:"insideIpv4,omitempty"`
	InsideIPv6 string `json:"insideIpv6,omitempty"`
}

// DefaultSpec is the lab of the design: two directors, two real servers and a client.
func DefaultSpec() Spec {
	return Spec{Hosts: []HostSpec{
		{Name: "director1", IPv4: "198.51.100.11", IPv6: "2001:db8::11"},
		{Name: "director2", IPv4: "198.51.100.12", IPv6: "2001:db8::12"},
		{Name: "real1", IPv4: "198.51.100.21", IPv6: "2001:db8::21"},
		{Name: "real2", IPv4: "198.51.100.22", IPv6: "2001:db8::22"},
		{Name: "client", IPv4: "198.51.100.31", IPv6: "2001:db8::31"},
	}}
}

// Host names become hostnames and, with a "vh-" prefix, interface names (at most 15 bytes).
var hostNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,11}$`)

// Validate checks names and addresses: names unique and short, addresses unique, inside the
// lab's prefixes and not the admin's or a network/broadcast address.
func (s Spec) Validate() error {
	if len(s.Hosts) == 0 {
		return errors.New("lab spec has no hosts")
	}
	if len(s.Hosts) > 200 {
		return fmt.Errorf("lab spec has %d hosts, at most 200", len(s.Hosts))
	}
	seen := map[string]string{}
	claim := func(key, host string) error {
		if other, ok := seen[key]; ok {
			return fmt.Errorf("host %q: %s already used by host %q", host, key, other)
		}
		seen[key] = host
		return nil
	}
	for _, h := range s.Hosts {
		if !hostNameRE.MatchString(h.Name) {
			return fmt.Errorf("host name %q: want a lower-case letter then up to 11 of [a-z0-9-]", h.Name)
		}
		if err := claim("name "+h.Name, h.Name); err != nil {
			return err
		}
		v4, err := netip.ParseAddr(h.IPv4)
		if err != nil || !v4.Is4() || !IPv4Net.Contains(v4) {
			return fmt.Errorf("host %q: IPv4 %q is not an address in %s", h.Name, h.IPv4, IPv4Net)
		}
		if v4 == AdminIPv4 || v4 == NativeIPv4 || v4 == IPv4Net.Addr() || v4.As4()[3] == 255 {
			return fmt.Errorf("host %q: IPv4 %s is reserved (admin, native side, network or broadcast)", h.Name, v4)
		}
		v6, err := netip.ParseAddr(h.IPv6)
		if err != nil || !v6.Is6() || v6.Is4In6() || v6.Zone() != "" || !IPv6Net.Contains(v6) {
			return fmt.Errorf("host %q: IPv6 %q is not an address in %s", h.Name, h.IPv6, IPv6Net)
		}
		if v6 == AdminIPv6 || v6 == NativeIPv6 || v6 == IPv6Net.Addr() {
			return fmt.Errorf("host %q: IPv6 %s is reserved (admin, native side or subnet-router anycast)", h.Name, v6)
		}
		if err := claim("address "+v4.String(), h.Name); err != nil {
			return err
		}
		if err := claim("address "+v6.String(), h.Name); err != nil {
			return err
		}
		if err := h.validateInside(claim); err != nil {
			return err
		}
	}
	return nil
}

// validateInside checks the host's second-link addresses, if any.
func (h HostSpec) validateInside(claim func(key, host string) error) error {
	if h.InsideIPv4 == "" && h.InsideIPv6 == "" {
		return nil
	}
	v4, err := netip.ParseAddr(h.InsideIPv4)
	if err != nil || !v4.Is4() || !InsideIPv4Net.Contains(v4) || v4 == InsideIPv4Net.Addr() || v4.As4()[3] == 255 {
		return fmt.Errorf("host %q: inside IPv4 %q is not a host address in %s", h.Name, h.InsideIPv4, InsideIPv4Net)
	}
	v6, err := netip.ParseAddr(h.InsideIPv6)
	if err != nil || !v6.Is6() || v6.Is4In6() || v6.Zone() != "" || !InsideIPv6Net.Contains(v6) || v6 == InsideIPv6Net.Addr() {
		return fmt.Errorf("host %q: inside IPv6 %q is not a host address in %s", h.Name, h.InsideIPv6, InsideIPv6Net)
	}
	if err := claim("address "+v4.String(), h.Name); err != nil {
		return err
	}
	return claim("address "+v6.String(), h.Name)
}

// vethName is the admin-side end of a host's veth pair; inside the host it is eth0.
func vethName(host string) string { return "vh-" + host }

// veth2Name is the admin-side end of a host's second veth pair; inside the host it is eth1.
func veth2Name(host string) string { return "vi-" + host }

// HostIface2 is the name of a host's interface on the second link.
const HostIface2 = "eth1"

// HostIface is the name of every host's lab interface.
const HostIface = "eth0"

// macFor is a fixed, locally administered MAC address from an IPv4 address of the lab:
// 02:<kind>:<the four address bytes>. A host keeps its MAC across reboots like a real NIC, so
// its peers' neighbour caches stay right (a new random MAC each boot stalls them for ~30 s).
// Kind 0 is a host's eth0, 1 the bridge end of its veth, 2 the bridge.
// MACFor is the MAC address of a host's interface (eth0 or eth1) with the IPv4 address ipv4.
func MACFor(ipv4 string) string { return macFor(ipv4, 0) }

func macFor(ipv4 string, kind byte) string {
	a := netip.MustParseAddr(ipv4).As4()
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", kind, a[0], a[1], a[2], a[3])
}
