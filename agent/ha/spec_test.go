package ha

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

type fakeEnv struct{}

func (fakeEnv) primary(ifname string, v6 bool, self string, vips []netip.Addr) (netip.Addr, error) {
	if ifname == "nolink" {
		return netip.Addr{}, errors.New("no such link")
	}
	if v6 {
		return netip.MustParseAddr("fe80::11"), nil
	}
	return netip.MustParseAddr(self), nil
}

func (fakeEnv) resolve(host string, v6 bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(host)
	if err != nil || a.Is6() != v6 {
		return netip.Addr{}, errors.New("no address of that family")
	}
	return a, nil
}

// holds: every interface has the 198.51.100.0/24 addresses below .200 and 2001:db8::/64 ones.
func (fakeEnv) holds(_ string, a netip.Addr) (bool, error) {
	return netip.MustParsePrefix("198.51.100.0/25").Contains(a) || netip.MustParsePrefix("2001:db8::/64").Contains(a), nil
}

func testPair(self int) *agentapi.Pair {
	return &agentapi.Pair{Name: "edge", Self: self, Directors: []agentapi.Director{
		{Host: "198.51.100.11", Interface: "eth0"}, {Host: "198.51.100.12", Interface: "eth1"},
	}}
}

func testVIP(vrid int, addrs ...string) *agentapi.VIP {
	return &agentapi.VIP{VRID: vrid, Addresses: addrs, Priorities: [2]int{200, 100}, AdvertIntervalCS: 100, Version: 3, Preempt: true}
}

func TestInstanceSpecs(t *testing.T) {
	t.Parallel()
	v2 := testVIP(51, "198.51.100.100/24")
	v2.Version, v2.AuthPass, v2.Preempt, v2.PreemptDelayMS = 2, "secret", false, 1500
	unicastPair := testPair(1)
	unicastPair.VRRPUnicast = true

	for _, tc := range []struct {
		name  string
		pair  *agentapi.Pair
		vips  map[int]*agentapi.VIP
		check func(t *testing.T, specs map[instKey]vrrp.EngineConfig)
		errs  map[int]string
	}{{
		name: "mixed families run as two instances",
		pair: testPair(0),
		vips: map[int]*agentapi.VIP{91: testVIP(91, "198.51.100.100", "2001:db8::100", "198.51.100.101/24")},
		check: func(t *testing.T, specs map[instKey]vrrp.EngineConfig) {
			v4, v6 := specs[instKey{91, false}], specs[instKey{91, true}]
			if len(specs) != 2 || len(v4.Addresses) != 2 || len(v6.Addresses) != 1 {
				t.Fatalf("specs %+v", specs)
			}
			if v4.Addresses[1] != netip.MustParsePrefix("198.51.100.101/24") || v6.Addresses[0] != netip.MustParsePrefix("2001:db8::100/128") {
				t.Errorf("addresses %v %v", v4.Addresses, v6.Addresses)
			}
			if v4.Interface != "eth0" || v4.Router.Priority != 200 || v4.Router.AdvertInterval != time.Second || v4.Router.NoPreempt {
				t.Errorf("v4 %+v", v4)
			}
			if v4.Router.PrimaryAddr != netip.MustParseAddr("198.51.100.11") || v6.Router.PrimaryAddr != netip.MustParseAddr("fe80::11") {
				t.Errorf("primary %v %v", v4.Router.PrimaryAddr, v6.Router.PrimaryAddr)
			}
			if v4.Peer.IsValid() {
				t.Error("multicast pair got a peer")
			}
			// Multicast too: only the other director's adverts count; the IPv6 engine pins
			// its link-local address by the link-layer address of its IPv4 one.
			peer := []netip.Addr{netip.MustParseAddr("198.51.100.12")}
			if !slices.Equal(v4.Trusted, peer) || !slices.Equal(v6.Trusted, peer) {
				t.Errorf("trusted %v %v", v4.Trusted, v6.Trusted)
			}
		},
	}, {
		name: "v2 PASS, nopreempt, delay, second director",
		pair: testPair(1),
		vips: map[int]*agentapi.VIP{51: v2},
		check: func(t *testing.T, specs map[instKey]vrrp.EngineConfig) {
			c := specs[instKey{51, false}]
			want, _ := vrrp.PassAuthData("secret")
			if c.Interface != "eth1" || c.Router.Priority != 100 || c.Router.Version != 2 ||
				c.Router.AuthType != vrrp.AuthPass || c.Router.AuthData != want || !c.Router.NoPreempt ||
				c.Router.PreemptDelay != 1500*time.Millisecond {
				t.Errorf("%+v", c.Router)
			}
		},
	}, {
		name: "announcement policy: keepalived's delay 0 is no second burst; unset is the defaults",
		pair: testPair(0),
		vips: map[int]*agentapi.VIP{
			60: func() *agentapi.VIP {
				v := testVIP(60, "198.51.100.100", "2001:db8::100")
				v.GARP = &agentapi.GARP{DelayMS: 0, Repeat: 3, RefreshMS: 1000, RefreshRepeat: 2}
				return v
			}(),
			61: testVIP(61, "198.51.100.101"),
		},
		check: func(t *testing.T, specs map[instKey]vrrp.EngineConfig) {
			want := vrrp.GARPPolicy{Repeat: 3, Delay: -1, Refresh: time.Second, RefreshRepeat: 2}
			if g4, g6 := specs[instKey{60, false}].Router.GARP, specs[instKey{60, true}].Router.GARP; g4 != want || g6 != want {
				t.Errorf("policy %+v %+v, want %+v", g4, g6, want)
			}
			if g := garpOf(specs[instKey{60, false}].Router.GARP); *g != (agentapi.GARP{DelayMS: 0, Repeat: 3, RefreshMS: 1000, RefreshRepeat: 2}) {
				t.Errorf("reported %+v", g)
			}
			if g := specs[instKey{61, false}].Router.GARP; g != (vrrp.GARPPolicy{}) {
				t.Errorf("unset policy %+v, want the engine's defaults", g)
			}
			if g := garpOf(specs[instKey{61, false}].Router.GARP); *g != agentapi.DefaultGARP {
				t.Errorf("reported default %+v, want %+v", g, agentapi.DefaultGARP)
			}
		},
	}, {
		name: "unicast peer is the other director",
		pair: unicastPair,
		vips: map[int]*agentapi.VIP{52: testVIP(52, "198.51.100.100"), 53: testVIP(53, "2001:db8::100")},
		check: func(t *testing.T, specs map[instKey]vrrp.EngineConfig) {
			if p := specs[instKey{52, false}].Peer; p != netip.MustParseAddr("198.51.100.11") {
				t.Errorf("peer %v", p)
			}
		},
		errs: map[int]string{53: "vrrp_unicast"},
	}, {
		name: "vrrp_address: source and unicast peer of its family, host for the other",
		pair: &agentapi.Pair{Name: "edge", Self: 0, VRRPUnicast: true, Directors: []agentapi.Director{
			{Host: "198.51.100.11", Interface: "eth0", VRRPAddress: "198.51.100.111"},
			{Host: "director2.example", Interface: "eth0", VRRPAddress: "198.51.100.112"},
		}},
		vips: map[int]*agentapi.VIP{60: testVIP(60, "198.51.100.100"), 61: testVIP(61, "198.51.100.111"), 62: testVIP(62, "2001:db8::100")},
		check: func(t *testing.T, specs map[instKey]vrrp.EngineConfig) {
			c := specs[instKey{60, false}]
			if c.Router.PrimaryAddr != netip.MustParseAddr("198.51.100.111") || c.Peer != netip.MustParseAddr("198.51.100.112") {
				t.Errorf("source %v peer %v, want the vrrp_addresses", c.Router.PrimaryAddr, c.Peer)
			}
			if !slices.Equal(c.Trusted, []netip.Addr{netip.MustParseAddr("198.51.100.112")}) {
				t.Errorf("trusted %v", c.Trusted)
			}
		},
		// The IPv6 instance has no vrrp_address of its family: the peer's host, which does
		// not resolve here, as without vrrp_address. A VIP may not be a vrrp_address.
		errs: map[int]string{61: "director's own address", 62: "vrrp_unicast: peer director2.example"},
	}, {
		name: "vrrp_address IPv6 is the source too; one not on the interface is refused",
		pair: &agentapi.Pair{Name: "edge", Self: 1, VRRPUnicast: true, Directors: []agentapi.Director{
			{Host: "198.51.100.11", Interface: "eth0", VRRPAddress: "2001:db8::111"},
			{Host: "198.51.100.12", Interface: "eth0", VRRPAddress: "2001:db8:1::112"},
		}},
		vips: map[int]*agentapi.VIP{63: testVIP(63, "2001:db8::100"), 64: testVIP(64, "198.51.100.100")},
		check: func(t *testing.T, specs map[instKey]vrrp.EngineConfig) {
			if c := specs[instKey{64, false}]; c.Peer != netip.MustParseAddr("198.51.100.11") ||
				!slices.Equal(c.Trusted, []netip.Addr{netip.MustParseAddr("2001:db8::111"), netip.MustParseAddr("198.51.100.11")}) {
				t.Errorf("IPv4 instance: peer %v trusted %v", c.Peer, c.Trusted)
			}
		},
		errs: map[int]string{63: "vrrp_address 2001:db8:1::112 is not an address of eth0"},
	}, {
		name: "a peer that cannot be resolved is refused, not trusted blindly",
		pair: &agentapi.Pair{Name: "edge", Self: 0, Directors: []agentapi.Director{
			{Host: "198.51.100.11", Interface: "eth0"}, {Host: "director2.invalid", Interface: "eth0"},
		}},
		vips: map[int]*agentapi.VIP{54: testVIP(54, "198.51.100.100")},
		errs: map[int]string{54: "cannot resolve the peer director director2.invalid"},
	}, {
		name: "an address in two VIPs, a director's address",
		pair: testPair(0),
		vips: map[int]*agentapi.VIP{
			10: testVIP(10, "198.51.100.100"),
			11: testVIP(11, "198.51.100.100/24"),
			12: testVIP(12, "198.51.100.12"),
		},
		check: func(t *testing.T, specs map[instKey]vrrp.EngineConfig) {
			if len(specs) != 1 {
				t.Errorf("specs %v", specs)
			}
		},
		errs: map[int]string{11: "already a VIP of virtual_router_id 10", 12: "director's own address"},
	}, {
		name: "invalid VIP",
		pair: testPair(0),
		vips: map[int]*agentapi.VIP{7: {VRID: 7, Addresses: []string{"198.51.100.100"}, Priorities: [2]int{100, 100}, Version: 3, AdvertIntervalCS: 100}},
		errs: map[int]string{7: "priority"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			specs, errs := instanceSpecs(tc.pair, tc.vips, fakeEnv{})
			if tc.check != nil {
				tc.check(t, specs)
			}
			if len(errs) != len(tc.errs) {
				t.Fatalf("errors %v, want %v", errs, tc.errs)
			}
			for vrid, want := range tc.errs {
				if errs[vrid] == nil || !strings.Contains(errs[vrid].Error(), want) {
					t.Errorf("vrid %d: error %v, want %q", vrid, errs[vrid], want)
				}
			}
			for k, c := range specs {
				if _, err := vrrp.NewEngine(c, nil, nil); err != nil {
					t.Errorf("%s: engine rejects the config: %v", k, err)
				}
			}
		})
	}
}

// A VIP's own interface is where its engines keep the addresses, in both families; the adverts
// stay on the pair's interface. Unset, the addresses are on the pair's.
func TestInstanceSpecsVIPInterface(t *testing.T) {
	t.Parallel()
	v := testVIP(52, "198.51.100.120/26", "2001:db8:1::120")
	v.Interface = "inside0"
	plain := testVIP(53, "198.51.100.121")
	specs, errs := instanceSpecs(testPair(0), map[int]*agentapi.VIP{52: v, 53: plain}, fakeEnv{})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	for _, k := range []instKey{{52, false}, {52, true}} {
		if s := specs[k]; s.Interface != "eth0" || s.AddrInterface != "inside0" {
			t.Errorf("%s: adverts on %q, addresses on %q; want eth0, inside0", k, s.Interface, s.AddrInterface)
		}
	}
	if s := specs[instKey{53, false}]; s.Interface != "eth0" || s.AddrInterface != "eth0" {
		t.Errorf("VIP without interface: adverts on %q, addresses on %q; want eth0 for both", s.Interface, s.AddrInterface)
	}
}
