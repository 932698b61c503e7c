package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// trafficWatch tells when an interface last received packets for some addresses: how a router
// that hands its virtual addresses over knows that the clients have moved to its successor
// (nothing arrives for them any more), so that it neither keeps them longer than needed nor
// drops them while clients still send to it. It is a packet socket with a kernel filter that
// passes only packets addressed to this host for the watched addresses, and reads nothing when
// no address is watched.
//
// The socket is opened with the Conn, in its network namespace, since the engine that watches
// may run on a thread of another one (tests).
type trafficWatch struct {
	v6      bool
	ifindex int
	fd      int
	f       *os.File // fd, registered with the poller so that Close ends the reader

	mu sync.Mutex // guards the following fields
	// watched counts the watchers of each address; last is when a packet for it last came.
	watched map[netip.Addr]int
	last    map[netip.Addr]time.Time
}

// ethProto returns the Ethernet protocol number in network byte order, as AF_PACKET wants it.
func ethProto(v6 bool) uint16 {
	if v6 {
		return htons(unix.ETH_P_IPV6)
	}
	return htons(unix.ETH_P_IP)
}

// openTrafficWatch opens the socket, receiving nothing yet (protocol 0), and starts its reader.
func openTrafficWatch(ifindex int, v6 bool) (*trafficWatch, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("traffic watch socket: %w", err)
	}
	w := &trafficWatch{v6: v6, ifindex: ifindex, fd: fd, f: os.NewFile(uintptr(fd), "vrrp-traffic"),
		watched: map[netip.Addr]int{}, last: map[netip.Addr]time.Time{}}
	go w.read()
	return w, nil
}

// dstOffset and dstLen locate the destination address in the IP header (SOCK_DGRAM sockets
// receive from the network header on).
func (w *trafficWatch) dst() (off, n uint32) {
	if w.v6 {
		return 24, 16
	}
	return 16, 4
}

func (w *trafficWatch) read() {
	off, n := w.dst()
	buf := make([]byte, off+n)
	for {
		got, err := w.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			// A link going down reports ENETDOWN once; the watch must outlive it, without
			// spinning on an error that persists.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if got < len(buf) {
			continue
		}
		a, _ := netip.AddrFromSlice(buf[off:])
		now := time.Now()
		w.mu.Lock()
		if w.watched[a] > 0 {
			w.last[a] = now
		}
		w.mu.Unlock()
	}
}

// watch starts following addrs; lastSeen returns when a packet for any of them last arrived
// (the zero time if none did), stop ends the watch.
func (w *trafficWatch) watch(addrs []netip.Addr) (lastSeen func() time.Time, stop func(), err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range addrs {
		w.watched[a.Unmap()]++
	}
	if err := w.applyLocked(); err != nil {
		for _, a := range addrs {
			w.unwatchLocked(a.Unmap())
		}
		return nil, nil, err
	}
	var once sync.Once
	lastSeen = func() time.Time {
		w.mu.Lock()
		defer w.mu.Unlock()
		var t time.Time
		for _, a := range addrs {
			if l := w.last[a.Unmap()]; l.After(t) {
				t = l
			}
		}
		return t
	}
	stop = func() {
		once.Do(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			for _, a := range addrs {
				w.unwatchLocked(a.Unmap())
			}
			_ = w.applyLocked()
		})
	}
	return lastSeen, stop, nil
}

func (w *trafficWatch) unwatchLocked(a netip.Addr) {
	if w.watched[a]--; w.watched[a] <= 0 {
		delete(w.watched, a)
		delete(w.last, a)
	}
}

// applyLocked installs the filter for the watched addresses and binds the socket to the
// interface and protocol, or to protocol 0 (nothing) when none is watched. The filter goes in
// before the bind, so that nothing unfiltered is ever queued.
func (w *trafficWatch) applyLocked() error {
	if len(w.watched) == 0 {
		if err := unix.Bind(w.fd, &unix.SockaddrLinklayer{Protocol: 0, Ifindex: w.ifindex}); err != nil {
			return fmt.Errorf("traffic watch: unbind: %w", err)
		}
		return nil
	}
	prog, err := w.filter()
	if err != nil {
		return err
	}
	if err := unix.SetsockoptSockFprog(w.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, prog); err != nil {
		return fmt.Errorf("traffic watch: attach filter: %w", err)
	}
	if err := unix.Bind(w.fd, &unix.SockaddrLinklayer{Protocol: ethProto(w.v6), Ifindex: w.ifindex}); err != nil {
		return fmt.Errorf("traffic watch: bind: %w", err)
	}
	return nil
}

// filter is a classic BPF program that keeps packets for this host (not multicast, not
// outgoing) whose destination is a watched address, cut to the end of that address.
func (w *trafficWatch) filter() (*unix.SockFprog, error) {
	off, n := w.dst()
	words := int(n / 4)
	var blocks [][]bpf.Instruction
	for a := range w.watched {
		b := a.AsSlice()
		var blk []bpf.Instruction
		for i := range words {
			v := uint32(b[4*i])<<24 | uint32(b[4*i+1])<<16 | uint32(b[4*i+2])<<8 | uint32(b[4*i+3])
			blk = append(blk, bpf.LoadAbsolute{Off: off + uint32(4*i), Size: 4})
			if i < words-1 {
				// A mismatch skips the rest of this address's block.
				blk = append(blk, bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: v, SkipTrue: uint8(2 * (words - 1 - i))})
			} else {
				blk = append(blk, bpf.JumpIf{Cond: bpf.JumpEqual, Val: v}) // SkipTrue set below
			}
		}
		blocks = append(blocks, blk)
	}
	total := 0
	for _, blk := range blocks {
		total += len(blk)
	}
	prog := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.PACKET_HOST, SkipTrue: uint8(min(total, 255))},
	}
	after := total
	for _, blk := range blocks {
		after -= len(blk)
		last := blk[len(blk)-1].(bpf.JumpIf)
		last.SkipTrue = uint8(after + 1) // over the other blocks and the drop, to the accept
		blk[len(blk)-1] = last
		prog = append(prog, blk...)
	}
	prog = append(prog, bpf.RetConstant{Val: 0}, bpf.RetConstant{Val: off + n})
	if total > 250 {
		return nil, fmt.Errorf("traffic watch: too many addresses (%d) for one filter", len(w.watched))
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("traffic watch: filter: %w", err)
	}
	fs := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		fs[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return &unix.SockFprog{Len: uint16(len(fs)), Filter: &fs[0]}, nil
}

func (w *trafficWatch) close() error {
	return w.f.Close()
}
