package vrrp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Conn is the Transport of one interface and address family on Linux: a raw IP protocol 112
// socket bound to the interface (SO_BINDTODEVICE) that has joined 224.0.0.18 or ff02::12, and a
// packet socket for gratuitous ARPs and unsolicited NAs. One Conn serves every virtual router on
// the interface: received packets are demultiplexed by VRID, so that a packet for another
// instance is no error.
//
// Sockets belong to the network namespace of the thread that opens them; tests open a Conn
// inside netconf.Handle.Do.
type Conn struct {
	ifname  string
	ifindex int
	mac     net.HardwareAddr
	v6      bool
	router  bool // IPv6 forwarding on: NAs carry the Router flag
	// announceOnly: opened by OpenAnnouncer, without the VRRP socket.
	announceOnly bool

	pc  net.PacketConn
	r4  *ipv4.RawConn    // IPv4: with IP_HDRINCL, so the source and TTL are ours
	p6  *ipv6.PacketConn // IPv6: source, hop limit and interface per packet
	pkt int              // AF_PACKET socket, send only
	// traffic follows the packets that arrive for virtual addresses being handed over.
	traffic *trafficWatch
	// nl reads the neighbour table of the Conn's namespace (sameLink).
	nl *netlink.Handle

	wg sync.WaitGroup

	rmu        sync.Mutex // taking a packet off the socket and delivering it (read, Flush)
	rbuf, roob []byte

	mu       sync.Mutex // guards the following fields
	handlers map[uint8]func(Packet)
	dropped  map[string]uint64
	closed   bool
}

var _ Transport = (*Conn)(nil)

// ListenConn opens the VRRP socket of the interface for IPv4 (v6 false) or IPv6, in the
// calling thread's network namespace, and starts reading.
func ListenConn(ifname string, v6 bool) (*Conn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("vrrp: interface %s: %w", ifname, err)
	}
	c := &Conn{ifname: ifname, ifindex: ifi.Index, mac: ifi.HardwareAddr, v6: v6, pkt: -1,
		handlers: map[uint8]func(Packet){}, dropped: map[string]uint64{}}
	if err := c.open(ifi); err != nil {
		_ = c.closeSockets()
		return nil, fmt.Errorf("vrrp: open %s socket on %s: %w", c.family(), ifname, err)
	}
	c.wg.Add(1)
	go c.read()
	return c, nil
}

// OpenAnnouncer opens what announcing addresses on an interface that carries no adverts needs
// (keepalived's "dev" in virtual_ipaddress): the packet socket and the traffic watch of a Conn,
// without the VRRP socket. Register and Send fail on it.
func OpenAnnouncer(ifname string, v6 bool) (*Conn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("vrrp: interface %s: %w", ifname, err)
	}
	c := &Conn{ifname: ifname, ifindex: ifi.Index, mac: ifi.HardwareAddr, v6: v6, pkt: -1, announceOnly: true,
		handlers: map[uint8]func(Packet){}, dropped: map[string]uint64{}}
	if err := c.openAnnounce(); err != nil {
		_ = c.closeSockets()
		return nil, fmt.Errorf("vrrp: open %s announcer on %s: %w", c.family(), ifname, err)
	}
	return c, nil
}

var errAnnounceOnly = errors.New("vrrp: this interface only announces addresses")

func (c *Conn) family() string {
	if c.v6 {
		return "IPv6"
	}
	return "IPv4"
}

func (c *Conn) open(ifi *net.Interface) error {
	network, laddr := "ip4:112", "0.0.0.0"
	if c.v6 {
		network, laddr = "ip6:112", "::"
	}
	pc, err := net.ListenPacket(network, laddr)
	if err != nil {
		return err
	}
	c.pc = pc
	sc, err := pc.(*net.IPConn).SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := sc.Control(func(fd uintptr) {
		serr = unix.BindToDevice(int(fd), c.ifname)
		if serr != nil {
			serr = fmt.Errorf("SO_BINDTODEVICE: %w", serr)
			return
		}
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			serr = fmt.Errorf("SO_TIMESTAMPNS: %w", err)
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	if c.v6 {
		p := ipv6.NewPacketConn(pc)
		c.p6 = p
		for _, step := range []struct {
			what string
			err  func() error
		}{
			{"join ff02::12", func() error { return p.JoinGroup(ifi, &net.IPAddr{IP: MulticastIPv6.AsSlice()}) }},
			{"multicast interface", func() error { return p.SetMulticastInterface(ifi) }},
			{"multicast loop", func() error { return p.SetMulticastLoopback(false) }},
			{"multicast hops", func() error { return p.SetMulticastHopLimit(TTL) }},
			{"unicast hops", func() error { return p.SetHopLimit(TTL) }},
			{"control messages", func() error {
				return p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true)
			}},
		} {
			if err := step.err(); err != nil {
				return fmt.Errorf("%s: %w", step.what, err)
			}
		}
	} else {
		r, err := ipv4.NewRawConn(pc)
		if err != nil {
			return fmt.Errorf("IP_HDRINCL: %w", err)
		}
		c.r4 = r
		for _, step := range []struct {
			what string
			err  func() error
		}{
			{"join 224.0.0.18", func() error { return r.JoinGroup(ifi, &net.IPAddr{IP: MulticastIPv4.AsSlice()}) }},
			{"multicast interface", func() error { return r.SetMulticastInterface(ifi) }},
			{"multicast loop", func() error { return r.SetMulticastLoopback(false) }},
		} {
			if err := step.err(); err != nil {
				return fmt.Errorf("%s: %w", step.what, err)
			}
		}
	}
	return c.openAnnounce()
}

// openAnnounce opens the packet socket for announcements, the traffic watch and the netlink
// handle, and reads whether NAs carry the Router flag.
func (c *Conn) openAnnounce() error {
	if c.v6 {
		b, _ := os.ReadFile("/proc/sys/net/ipv6/conf/" + c.ifname + "/forwarding")
		c.router = strings.TrimSpace(string(b)) == "1"
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0) // protocol 0: receives nothing
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	c.pkt = fd
	if c.traffic, err = openTrafficWatch(c.ifindex, c.v6); err != nil {
		return err
	}
	if c.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	return nil
}

// watchTraffic implements trafficWatcher.
func (c *Conn) watchTraffic(addrs []netip.Addr) (lastSeen func() time.Time, stop func(), err error) {
	return c.traffic.watch(addrs)
}

// Register implements Transport.
func (c *Conn) Register(vrid uint8, deliver func(Packet)) (func(), error) {
	if c.announceOnly {
		return nil, errAnnounceOnly
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, net.ErrClosed
	}
	if _, dup := c.handlers[vrid]; dup {
		return nil, fmt.Errorf("VRID %d already runs on %s (%s)", vrid, c.ifname, c.family())
	}
	c.handlers[vrid] = deliver
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			delete(c.handlers, vrid)
			c.mu.Unlock()
		})
	}, nil
}

// Handlers returns how many engines are registered.
func (c *Conn) Handlers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.handlers)
}

// Dropped returns the counters of packets dropped before any engine saw them: too short to
// carry a VRID ("truncated") or for a VRID nobody runs here ("unknown_vrid").
func (c *Conn) Dropped() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.dropped)
}

// read is the reader goroutine: it waits until the socket is readable and takes every queued
// packet off it (recvQueued). Flush does the same from an engine that must not decide before
// it has seen what already arrived.
func (c *Conn) read() {
	defer c.wg.Done()
	rc, err := c.pc.(*net.IPConn).SyscallConn()
	if err != nil {
		c.count("read_error")
		return
	}
	var errs int
	for {
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			rerr = c.recvQueued(int(fd))
			// EAGAIN: wait for the poller to say that more arrived.
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			if c.readFailed(err, &errs) {
				return
			}
			continue
		}
		errs = 0
	}
}

// Flush delivers, before it returns, every packet the kernel has queued on the socket: those the
// reader has not taken yet and the one it may be delivering. A backup whose Master_Down_Timer
// ran out calls it (through awaitDeadline) before it calls the master silent: on a loaded host
// the engine may run before the reader, with the master's adverts still in the socket, and an
// advert that arrived before the deadline restarts the timer from its arrival (RFC 5798
// §6.4.2); without it the backup takes over from a live master, and its gratuitous ARPs send
// the clients' connections in flight to a director that resets them.
func (c *Conn) Flush() {
	sc, err := c.pc.(*net.IPConn).SyscallConn()
	if err != nil {
		return
	}
	_ = sc.Control(func(fd uintptr) {
		if err := c.recvQueued(int(fd)); err != nil && !errors.Is(err, unix.EAGAIN) {
			c.count("read_error")
		}
	})
}

// recvQueued takes the packets queued on the socket off it, without waiting, and delivers them,
// until the queue is empty (EAGAIN) or a read fails. Taking a packet and delivering it happen
// under rmu, so that once Flush returns no packet is between the two.
func (c *Conn) recvQueued(fd int) error {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rbuf == nil {
		c.rbuf, c.roob = make([]byte, 65536), make([]byte, 256)
	}
	for {
		n, oobn, _, from, err := unix.Recvmsg(fd, c.rbuf, c.roob, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		c.received(c.rbuf[:n], c.roob[:oobn], from)
	}
}

// received parses one packet read from the socket and delivers it to its VRID's engine.
func (c *Conn) received(buf, oob []byte, from unix.Sockaddr) {
	p := Packet{At: rxTime(oob, time.Now())}
	var payload []byte
	if c.v6 {
		// The kernel strips the IPv6 header; hop limit and destination come as control
		// messages.
		payload = buf
		p.TTL = -1
		var cm ipv6.ControlMessage
		if cm.Parse(oob) == nil {
			p.TTL = cm.HopLimit
			p.Dst, _ = netip.AddrFromSlice(cm.Dst)
		}
		if sa, ok := from.(*unix.SockaddrInet6); ok {
			p.Src = netip.AddrFrom16(sa.Addr)
		}
	} else {
		// A raw IPv4 socket delivers the IP header.
		var err error
		if payload, p.TTL, p.Src, p.Dst, err = frameIPv4(buf); err != nil {
			c.count("truncated")
			return
		}
	}
	p.Src, p.Dst = p.Src.Unmap().WithZone(""), p.Dst.Unmap().WithZone("")
	if len(payload) < 2 {
		c.count("truncated")
		return
	}
	c.mu.Lock()
	deliver := c.handlers[payload[1]]
	if deliver == nil {
		c.dropped["unknown_vrid"]++
	}
	c.mu.Unlock()
	if deliver != nil {
		p.Payload = append([]byte(nil), payload...)
		deliver(p)
	}
}

// maxRxAge bounds the age a kernel receive timestamp may give a packet: beyond it the
// timestamp (wall clock) is taken for a clock step, and the read time is used.
const maxRxAge = time.Second

// rxTime returns when the kernel received a packet, from its SO_TIMESTAMPNS control message,
// on the Go clock of now, the moment it was read: the backup's Master_Down_Timer restarts from
// the advert's arrival, not from when a loaded host got round to it (RFC 5798 §6.4.2). Without
// a usable timestamp it returns now.
func rxTime(oob []byte, now time.Time) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return now
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_TIMESTAMPNS {
			continue
		}
		var ts unix.Timespec
		if binary.Read(bytes.NewReader(m.Data), binary.NativeEndian, &ts) != nil {
			return now
		}
		// time.Unix carries no monotonic reading, so this difference is of wall clocks.
		if age := now.Sub(time.Unix(ts.Unix())); age >= 0 && age <= maxRxAge {
			return now.Add(-age)
		}
	}
	return now
}

// readFailed reports whether the reader must stop; transient errors are retried after a pause
// so that a persistent one cannot spin.
func (c *Conn) readFailed(err error, errs *int) bool {
	if errors.Is(err, net.ErrClosed) {
		return true
	}
	c.count("read_error")
	*errs++
	time.Sleep(min(time.Duration(*errs)*10*time.Millisecond, time.Second))
	return false
}

func (c *Conn) count(reason string) {
	c.mu.Lock()
	c.dropped[reason]++
	c.mu.Unlock()
}

// Send implements Transport: TTL/hop limit 255, from src (which must be on the interface).
func (c *Conn) Send(payload []byte, src, dst netip.Addr) error {
	if c.announceOnly {
		return errAnnounceOnly
	}
	if c.v6 {
		cm := &ipv6.ControlMessage{HopLimit: TTL, Src: src.AsSlice(), IfIndex: c.ifindex}
		_, err := c.p6.WriteTo(payload, cm, &net.IPAddr{IP: dst.AsSlice()})
		return err
	}
	h := &ipv4.Header{
		Version: ipv4.Version, Len: ipv4.HeaderLen, TOS: 0xc0, // precedence "internetwork control", as keepalived
		TotalLen: ipv4.HeaderLen + len(payload), TTL: TTL, Protocol: IPProto,
		Src: src.AsSlice(), Dst: dst.AsSlice(),
	}
	return c.r4.WriteTo(h, payload, nil)
}

// Announce implements Transport. The frames go out back to back, one per address in turn (as
// keepalived sends them), so that every address is announced once before any is repeated; a
// full device queue drops them (MSG_DONTWAIT) rather than blocking the engine.
func (c *Conn) Announce(addrs []netip.Addr, count int) error {
	if len(c.mac) != 6 {
		return nil // no link-layer address (e.g. a tunnel): nothing to announce
	}
	type announcement struct {
		addr  netip.Addr
		frame []byte
		sa    *unix.SockaddrLinklayer
	}
	var as []announcement
	for _, a := range addrs {
		var frame []byte
		var proto uint16
		var dst []byte
		if c.v6 {
			frame, proto, dst = UnsolicitedNAFrame(c.mac, a, c.router), unix.ETH_P_IPV6, []byte{0x33, 0x33, 0, 0, 0, 1}
		} else {
			frame, proto, dst = GratuitousARP(c.mac, a), unix.ETH_P_ARP, broadcastMAC
		}
		if frame == nil {
			continue
		}
		sa := &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: c.ifindex, Halen: 6}
		copy(sa.Addr[:], dst)
		as = append(as, announcement{a, frame, sa})
	}
	failed := map[netip.Addr]error{}
	for range count {
		for _, a := range as {
			if failed[a.addr] != nil {
				continue
			}
			if err := unix.Sendto(c.pkt, a.frame, unix.MSG_DONTWAIT, a.sa); err != nil {
				failed[a.addr] = fmt.Errorf("announce %v on %s: %w", a.addr, c.ifname, err)
			}
		}
	}
	var errs []error
	for _, a := range as {
		if err := failed[a.addr]; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// Close stops the reader and closes the sockets.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	err := c.closeSockets()
	c.wg.Wait()
	return err
}

func (c *Conn) closeSockets() error {
	var err error
	if c.pc != nil {
		err = c.pc.Close()
	}
	if c.pkt >= 0 {
		_ = syscall.Close(c.pkt)
		c.pkt = -1
	}
	if c.traffic != nil {
		_ = c.traffic.close()
		c.traffic = nil
	}
	if c.nl != nil {
		c.nl.Close()
	}
	return err
}

// preciseSleeper sleeps with the precision of the kernel's high-resolution timers rather than
// the millisecond of the Go scheduler's: on a timerfd that the Go poller waits on, so that only
// the goroutine blocks, not its thread (and processor).
type preciseSleeper struct {
	fd int
	f  *os.File // fd, registered with the poller; nil if there is no timerfd
}

func newPreciseSleeper() *preciseSleeper {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return &preciseSleeper{fd: -1}
	}
	return &preciseSleeper{fd: fd, f: os.NewFile(uintptr(fd), "vrrp-timerfd")}
}

// sleep waits d, or with Go's timers if the timerfd fails.
func (s *preciseSleeper) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	if s.f != nil {
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
		var b [8]byte // the expiration count
		if unix.TimerfdSettime(s.fd, 0, &spec, nil) == nil {
			if _, err := s.f.Read(b[:]); err == nil {
				return
			}
		}
	}
	time.Sleep(d)
}

func (s *preciseSleeper) close() {
	if s.f != nil {
		_ = s.f.Close()
	}
}
