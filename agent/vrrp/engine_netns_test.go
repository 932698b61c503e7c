//go:build linux

package vrrp_test

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/lvs-provider/terraform-provider-lvs/agent/netconf/netnstest"
	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
)

// Engines on real raw sockets in network namespaces of this kernel: a LAN of two routers and a
// third host that watches and injects.

type realNode struct {
	host *netnstest.Host
	conn *vrrp.Conn
	eng  *vrrp.Engine
}

func listen(t *testing.T, h *netnstest.Host, v6 bool) *vrrp.Conn {
	t.Helper()
	var c *vrrp.Conn
	if err := h.Net.Do(func() (err error) { c, err = vrrp.ListenConn("eth0", v6); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func startReal(t *testing.T, h *netnstest.Host, c *vrrp.Conn, cfg vrrp.EngineConfig) *realNode {
	t.Helper()
	if cfg.Router.PrimaryAddr.Is6() {
		ll, err := h.Net.LinkLocal("eth0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Router.PrimaryAddr = ll.WithZone("")
	}
	e, err := vrrp.NewEngine(cfg, c, h.Net)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return &realNode{host: h, conn: c, eng: e}
}

func (n *realNode) is(s vrrp.State) func() bool {
	return func() bool { return n.eng.Status().State == s }
}

func holds(t *testing.T, h *netnstest.Host, addr string) bool {
	t.Helper()
	ps, err := h.Net.Addresses("eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Addr() == netip.MustParseAddr(addr) {
			return true
		}
	}
	return false
}

func mac(t *testing.T, h *netnstest.Host) string {
	t.Helper()
	l, err := h.Net.Link("eth0")
	if err != nil {
		t.Fatal(err)
	}
	return l.MAC.String()
}

// serve answers TCP connections on port 7 of every address of h with h's name.
func serve(t *testing.T, h *netnstest.Host) {
	t.Helper()
	var ln net.Listener
	if err := h.Net.Do(func() (err error) { ln, err = net.Listen("tcp", ":7"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(h.Name))
			_ = c.Close()
		}
	}()
}

// connect returns who answers on addr port 7 from h.
func connect(t *testing.T, h *netnstest.Host, addr string) string {
	t.Helper()
	var c net.Conn
	if err := h.Net.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", net.JoinHostPort(addr, "7"), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 64)
	n, _ := io.ReadFull(c, b)
	return string(b[:n])
}

func TestNetnsEngineFailover(t *testing.T) {
	for _, tc := range []struct {
		name string
		v6   bool
		vip  string
		cfg  func(c *vrrp.EngineConfig)
	}{
		{"v3 IPv4", false, "198.51.100.100", nil},
		{"v3 IPv6", true, "2001:db8::100", nil},
		{"v2 PASS", false, "198.51.100.100", func(c *vrrp.EngineConfig) {
			c.Router.Version, c.Router.AdvertInterval = 2, time.Second
			c.Router.AuthType, c.Router.AuthData = vrrp.AuthPass, [8]byte{'p', 'w'}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := netnstest.NewLAN(t, 3)
			a, b, client := hs[0], hs[1], hs[2]
			ca := engineConfig(a.IPv4.String(), 200, tc.vip)
			cb := engineConfig(b.IPv4.String(), 100, tc.vip)
			if tc.v6 {
				ca.Router.PrimaryAddr, cb.Router.PrimaryAddr = netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::1")
			}
			if tc.cfg != nil {
				tc.cfg(&ca)
				tc.cfg(&cb)
			}
			na := startReal(t, a, listen(t, a, tc.v6), ca)
			nb := startReal(t, b, listen(t, b, tc.v6), cb)
			waitFor(t, "a master", na.is(vrrp.StateMaster))
			waitFor(t, "b backup hearing a", func() bool { return nb.eng.Status().MasterPriority == 200 })
			if !holds(t, a, tc.vip) || holds(t, b, tc.vip) {
				t.Fatal("VIP not on the master alone")
			}
			// The client reaches the VIP on a, and learns a's MAC for it.
			serve(t, a)
			serve(t, b)
			if who := connect(t, client, tc.vip); who != a.Name {
				t.Fatalf("VIP answered by %q, want a", who)
			}
			if out := client.Exec(t, "ip", "neigh", "show", tc.vip); !strings.Contains(out, mac(t, a)) {
				t.Fatalf("client neighbour entry %q, want a's MAC %s", out, mac(t, a))
			}
			// Graceful stop of a: priority 0, b takes over, the client's entry moves to b by
			// the gratuitous ARP / unsolicited NA, before the client sends anything.
			if err := na.eng.Close(); err != nil {
				t.Fatal(err)
			}
			if holds(t, a, tc.vip) {
				t.Error("a kept the VIP after Close")
			}
			waitFor(t, "b master", nb.is(vrrp.StateMaster))
			waitFor(t, "client neighbour entry moved to b", func() bool {
				return strings.Contains(client.Exec(t, "ip", "neigh", "show", tc.vip), mac(t, b))
			})
			if who := connect(t, client, tc.vip); who != b.Name {
				t.Fatalf("VIP answered by %q, want b", who)
			}
			if st := nb.eng.Status(); st.AdvertsOut == 0 || len(st.Dropped) != 0 {
				t.Errorf("b status %+v", st)
			}
		})
	}
}

func TestNetnsEnginePartition(t *testing.T) {
	hs := netnstest.NewLAN(t, 2)
	a, b := hs[0], hs[1]
	na := startReal(t, a, listen(t, a, false), engineConfig(a.IPv4.String(), 200, vip1))
	nb := startReal(t, b, listen(t, b, false), engineConfig(b.IPv4.String(), 100, vip1))
	waitFor(t, "a master", na.is(vrrp.StateMaster))
	netnstest.Partition(t, hs, 0, true)
	waitFor(t, "b master while partitioned", nb.is(vrrp.StateMaster))
	netnstest.Partition(t, hs, 0, false)
	waitFor(t, "b back to backup after the heal", nb.is(vrrp.StateBackup))
	waitFor(t, "b released the VIP", func() bool { return !holds(t, b, vip1) })
	if na.eng.Status().State != vrrp.StateMaster || !holds(t, a, vip1) {
		t.Fatal("a is not the one master after the heal")
	}
}

// A third host injects adverts: what the engine must drop is counted by reason, and none of it
// moves the election.
func TestNetnsEngineInjectedAdverts(t *testing.T) {
	hs := netnstest.NewLAN(t, 3)
	a, evil := hs[0], hs[2]
	cfg := engineConfig(a.IPv4.String(), 100, vip1)
	cfg.Router.Version, cfg.Router.AdvertInterval = 2, time.Second
	cfg.Router.AuthType, cfg.Router.AuthData = vrrp.AuthPass, [8]byte{'p', 'w'}
	na := startReal(t, a, listen(t, a, false), cfg)
	waitFor(t, "a master", na.is(vrrp.StateMaster))

	var rc *ipv4.RawConn
	if err := evil.Net.Do(func() error {
		pc, err := net.ListenPacket("ip4:112", "0.0.0.0")
		if err != nil {
			return err
		}
		if rc, err = ipv4.NewRawConn(pc); err != nil {
			return err
		}
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		return rc.SetMulticastInterface(ifi)
	}); err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	send := func(adv *vrrp.Advert, ttl int, mangle func([]byte)) {
		t.Helper()
		b, err := adv.Marshal(evil.IPv4, vrrp.MulticastIPv4)
		if err != nil {
			t.Fatal(err)
		}
		if mangle != nil {
			mangle(b)
		}
		h := &ipv4.Header{Version: 4, Len: 20, TotalLen: 20 + len(b), TTL: ttl, Protocol: vrrp.IPProto,
			Src: evil.IPv4.AsSlice(), Dst: vrrp.MulticastIPv4.AsSlice()}
		if err := rc.WriteTo(h, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	good := vrrp.Advert{Version: 2, VRID: 91, Priority: 254, AuthType: vrrp.AuthPass, AuthData: cfg.Router.AuthData,
		AdvertInterval: 1, Addresses: []netip.Addr{netip.MustParseAddr(vip1)}}
	wrongPass := good
	wrongPass.AuthData = [8]byte{'n', 'o'}
	otherVRID := good
	otherVRID.VRID = 92
	send(&good, 64, nil)                              // routed: TTL
	send(&wrongPass, 255, nil)                        // auth
	send(&good, 255, func(b []byte) { b[6] ^= 0x55 }) // checksum
	send(&otherVRID, 255, nil)                        // nobody's: counted by the socket
	want := map[string]uint64{"ttl": 1, "auth": 1, "checksum": 1}
	waitFor(t, "drops counted", func() bool {
		st := na.eng.Status()
		return len(st.Dropped) == len(want) && st.Dropped["ttl"] == 1 && st.Dropped["auth"] == 1 && st.Dropped["checksum"] == 1
	})
	waitFor(t, "other VRID counted by the socket", func() bool { return na.conn.Dropped()["unknown_vrid"] == 1 })
	time.Sleep(200 * time.Millisecond)
	if st := na.eng.Status(); st.State != vrrp.StateMaster {
		t.Fatalf("an injected advert moved a: %+v", st)
	}
	// A valid higher-priority advert does make a step down: the injection path itself works.
	send(&good, 255, nil)
	waitFor(t, "a backup after a valid priority 254 advert", na.is(vrrp.StateBackup))
}

// Received packets carry the kernel's receive time, which the backup's Master_Down_Timer runs
// from: never after the moment the packet reached the engine, and not long before it.
func TestNetnsConnReceiveTime(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "IPv4", true: "IPv6"}[v6], func(t *testing.T) {
			hs := netnstest.NewLAN(t, 2)
			a, b := hs[0], hs[1]
			ca, cb := listen(t, a, v6), listen(t, b, v6)
			type delivery struct {
				p       vrrp.Packet
				handled time.Time
			}
			got := make(chan delivery, 1)
			unregister, err := cb.Register(91, func(p vrrp.Packet) {
				select {
				case got <- delivery{p, time.Now()}:
				default:
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer unregister()
			src, dst := a.IPv4, vrrp.MulticastIPv4
			if v6 {
				ll, err := a.Net.LinkLocal("eth0")
				if err != nil {
					t.Fatal(err)
				}
				src, dst = ll.WithZone(""), vrrp.MulticastIPv6
			}
			adv := vrrp.Advert{Version: 3, VRID: 91, Priority: 100, AdvertInterval: 10, Addresses: []netip.Addr{netip.MustParseAddr(vip1)}}
			if v6 {
				adv.Addresses = []netip.Addr{netip.MustParseAddr("2001:db8::100")}
			}
			payload, err := adv.Marshal(src, dst)
			if err != nil {
				t.Fatal(err)
			}
			sent := time.Now()
			var d delivery
			// Multicast on a fresh bridge port may need a moment: resend, boundedly.
			for i := 0; ; i++ {
				if err := ca.Send(payload, src, dst); err != nil {
					t.Fatal(err)
				}
				select {
				case d = <-got:
				case <-time.After(200 * time.Millisecond):
					if i < 25 {
						sent = time.Now()
						continue
					}
					t.Fatal("no advert received")
				}
				break
			}
			p, handled := d.p, d.handled
			if p.At.IsZero() || p.At.After(handled) || p.At.Before(sent.Add(-time.Millisecond)) {
				t.Fatalf("receive time %v not within sent %v .. handled %v", p.At, sent, handled)
			}
			if p.Src != src || p.TTL != vrrp.TTL || p.Dst != dst {
				t.Fatalf("packet %+v", p)
			}
		})
	}
}

// Announcements go out one address at a time, in turn, as keepalived sends them: each address
// is announced once before any is repeated.
func TestNetnsConnAnnounceOrder(t *testing.T) {
	hs := netnstest.NewLAN(t, 2)
	a, b := hs[0], hs[1]
	ca := listen(t, a, false)
	var fd int
	if err := b.Net.Do(func() (err error) {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		// ETH_P_ARP in network byte order, as AF_PACKET wants it.
		proto := int(binary.NativeEndian.Uint16([]byte{0x08, 0x06}))
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifi.Index})
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5}); err != nil {
		t.Fatal(err)
	}
	vips := []netip.Addr{netip.MustParseAddr("198.51.100.101"), netip.MustParseAddr("198.51.100.102")}
	if err := ca.Announce(vips, 2); err != nil {
		t.Fatal(err)
	}
	var got []netip.Addr
	buf := make([]byte, 128)
	for len(got) < 4 {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		if n < vrrp.GratuitousARPLen {
			continue
		}
		sender, _ := netip.AddrFromSlice(buf[28:32]) // sender protocol address
		got = append(got, sender)
	}
	if want := []netip.Addr{vips[0], vips[1], vips[0], vips[1]}; !slices.Equal(got, want) {
		t.Fatalf("announced %v, want %v", got, want)
	}
}
