package ipvs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// batchSize bounds the requests sent in one sendmsg: the kernel acks each, and every ack is
// an skb charged to our receive buffer at its true size (about 1 KiB), so a bigger batch could
// overflow the buffer and lose acks.
const batchSize = 128

// recvTimeout bounds every wait for the kernel; it answers in microseconds, so reaching it
// means a lost message.
const recvTimeout = 10 * time.Second

// conn is a generic netlink socket bound to the IPVS family. It is not safe for concurrent
// use; netlinkKernel serialises it.
type conn struct {
	fd     int
	family uint16
	seq    uint32
	buf    []byte
}

func dial() (*conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("ipvs: netlink socket: %w", err)
	}
	c := &conn{fd: fd, seq: uint32(time.Now().UnixNano()), buf: make([]byte, 64<<10)}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		c.close()
		return nil, fmt.Errorf("ipvs: bind netlink socket: %w", err)
	}
	// Room for a whole batch of acks; FORCE needs CAP_NET_ADMIN, which the agent has.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 1<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	}
	tv := unix.NsecToTimeval(recvTimeout.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	// Short acks (no copy of the request) and the kernel's error text where it gives one.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	if err := c.resolve(); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *conn) close() { _ = unix.Close(c.fd) }

// message builds one netlink message with a generic netlink header.
func (c *conn) message(typ, flags uint16, cmd, version uint8, attrs []byte) ([]byte, uint32) {
	c.seq++
	n := unix.NLMSG_HDRLEN + 4 + len(attrs)
	b := make([]byte, 0, n)
	b = binary.NativeEndian.AppendUint32(b, uint32(n))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, c.seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, cmd, version, 0, 0)
	return append(b, attrs...), c.seq
}

func (c *conn) send(b []byte) error {
	for range 3 {
		err := unix.Sendto(c.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
	return unix.EINTR
}

// nlmsg is one received netlink message.
type nlmsg struct {
	typ, flags uint16
	seq        uint32
	data       []byte // after the netlink header
}

func (c *conn) recv() ([]nlmsg, error) {
	var n, rflags int
	var err error
	for range 3 {
		n, _, rflags, _, err = unix.Recvmsg(c.fd, c.buf, nil, 0)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EWOULDBLOCK) {
		return nil, fmt.Errorf("ipvs: no answer from the kernel in %v", recvTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("ipvs: netlink receive: %w", err)
	}
	if rflags&unix.MSG_TRUNC != 0 {
		return nil, errors.New("ipvs: netlink message truncated")
	}
	return splitMessages(c.buf[:n])
}

// splitMessages splits a datagram from a netlink socket into its messages, copying their data.
func splitMessages(b []byte) ([]nlmsg, error) {
	var out []nlmsg
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return nil, errors.New("ipvs: malformed netlink message")
		}
		m := nlmsg{typ: binary.NativeEndian.Uint16(b[4:]), flags: binary.NativeEndian.Uint16(b[6:]),
			seq: binary.NativeEndian.Uint32(b[8:]), data: append([]byte(nil), b[unix.NLMSG_HDRLEN:l]...)}
		out = append(out, m)
		adv := (l + 3) &^ 3
		if adv > len(b) {
			adv = len(b)
		}
		b = b[adv:]
	}
	return out, nil
}

// ackError decodes an NLMSG_ERROR: nil for an ack, else the errno with the kernel's message.
func ackError(m nlmsg) error {
	if len(m.data) < 4 {
		return errors.New("ipvs: short netlink error message")
	}
	code := int32(binary.NativeEndian.Uint32(m.data))
	if code == 0 {
		return nil
	}
	errno := unix.Errno(-code)
	// With NETLINK_CAP_ACK the original header follows, then extended-ack attributes.
	if m.flags&unix.NLM_F_ACK_TLVS != 0 && len(m.data) >= 4+unix.NLMSG_HDRLEN {
		if a, err := parseAttrs(m.data[4+unix.NLMSG_HDRLEN:]); err == nil {
			if msg := a.str(unix.NLMSGERR_ATTR_MSG); msg != "" {
				return fmt.Errorf("%w (%s)", errno, msg)
			}
		}
	}
	return errno
}

// transact sends one request and returns the payloads (after the genl header) of its
// answers: for a dump up to NLMSG_DONE, otherwise up to the ack.
func (c *conn) transact(typ uint16, cmd uint8, version uint8, attrs []byte, dump bool) ([][]byte, error) {
	flags := uint16(unix.NLM_F_REQUEST | unix.NLM_F_ACK)
	if dump {
		flags = unix.NLM_F_REQUEST | unix.NLM_F_DUMP
	}
	b, seq := c.message(typ, flags, cmd, version, attrs)
	if err := c.send(b); err != nil {
		return nil, fmt.Errorf("ipvs: netlink send: %w", err)
	}
	var out [][]byte
	interrupted := false
	// Bounded: every recv waits at most recvTimeout, and a dump is at most a few thousand
	// messages.
	for range 1 << 20 {
		ms, err := c.recv()
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if m.seq != seq {
				continue // a late answer to an earlier request that timed out
			}
			if m.flags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true
			}
			switch m.typ {
			case unix.NLMSG_ERROR:
				if err := ackError(m); err != nil {
					return nil, err
				}
				return out, nil
			case unix.NLMSG_DONE:
				if interrupted {
					return nil, errDumpInterrupted
				}
				return out, nil
			default:
				if len(m.data) < 4 {
					return nil, errors.New("ipvs: short generic netlink message")
				}
				out = append(out, m.data[4:])
				if !dump && m.flags&unix.NLM_F_MULTI == 0 && flags&unix.NLM_F_ACK == 0 {
					return out, nil
				}
			}
		}
	}
	return nil, errors.New("ipvs: netlink answer does not end")
}

var errDumpInterrupted = errors.New("ipvs: table changed during the dump")

// resolve finds the IPVS generic netlink family.
func (c *conn) resolve() error {
	var e encoder
	e.str(unix.CTRL_ATTR_FAMILY_NAME, genlName)
	ms, err := c.transact(unix.GENL_ID_CTRL, unix.CTRL_CMD_GETFAMILY, 1, e.b, false)
	if errors.Is(err, unix.ENOENT) {
		return ErrNoIPVS
	}
	if err != nil {
		return fmt.Errorf("ipvs: resolve the IPVS netlink family: %w", err)
	}
	for _, m := range ms {
		a, err := parseAttrs(m)
		if err == nil && a.u16(unix.CTRL_ATTR_FAMILY_ID) != 0 {
			c.family = a.u16(unix.CTRL_ATTR_FAMILY_ID)
			return nil
		}
	}
	return errors.New("ipvs: the kernel did not say the IPVS family id")
}

func (c *conn) do(cmd uint8, attrs []byte) ([][]byte, error) {
	return c.transact(c.family, cmd, genlVersion, attrs, false)
}

func (c *conn) dump(cmd uint8, attrs []byte) ([][]byte, error) {
	var err error
	for range 5 {
		var out [][]byte
		if out, err = c.transact(c.family, cmd, genlVersion, attrs, true); !errors.Is(err, errDumpInterrupted) {
			return out, err
		}
	}
	return nil, err
}

// batch sends requests batchSize at a time and returns each one's error.
func (c *conn) batch(reqs []request) []error {
	errs := make([]error, len(reqs))
	for start := 0; start < len(reqs); start += batchSize {
		end := min(start+batchSize, len(reqs))
		// Only the batch's last request asks for an ack: the kernel acks a failed request
		// whether asked or not and handles a batch in order, so once the last one's ack is in,
		// every request without an error message succeeded. One ack per request meant one
		// recvmsg per request, 10,000 of them to program 10,000 destinations.
		pending := make(map[uint32]int, end-start)
		var buf []byte
		var last uint32
		for i := start; i < end; i++ {
			flags := uint16(unix.NLM_F_REQUEST)
			if i == end-1 {
				flags |= unix.NLM_F_ACK
			}
			b, seq := c.message(c.family, flags, reqs[i].cmd, genlVersion, reqs[i].attrs)
			buf = append(buf, b...)
			pending[seq], last = i, seq
		}
		if err := c.send(buf); err != nil {
			for i := start; i < end; i++ {
				errs[i] = fmt.Errorf("netlink send: %w", err)
			}
			continue
		}
		for done := false; !done; {
			ms, err := c.recv()
			if err != nil {
				for i := start; i < end; i++ {
					if errs[i] == nil {
						errs[i] = err
					}
				}
				break
			}
			for _, m := range ms {
				i, ok := pending[m.seq]
				if !ok || m.typ != unix.NLMSG_ERROR {
					continue
				}
				errs[i] = ackError(m)
				delete(pending, m.seq)
				done = done || m.seq == last
			}
		}
	}
	return errs
}

type request struct {
	cmd   uint8
	attrs []byte
}

// netlinkKernel is the Kernel of the agent's network namespace.
type netlinkKernel struct {
	mu sync.Mutex // guards c
	c  *conn
}

// Open connects to the IPVS table of the calling process's network namespace. With load set,
// a kernel without IPVS gets `modprobe ip_vs` once first (ipvsadm does the same; scheduler
// modules then load on demand).
func Open(ctx context.Context, load bool) (Kernel, error) {
	c, err := dial()
	if errors.Is(err, ErrNoIPVS) && load {
		if _, serr := os.Stat("/proc/net/ip_vs"); serr != nil {
			mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			out, merr := exec.CommandContext(mctx, "modprobe", "-q", "ip_vs").CombinedOutput()
			cancel()
			if merr != nil {
				return nil, fmt.Errorf("%w; modprobe ip_vs: %v %s", ErrNoIPVS, merr, out)
			}
		}
		c, err = dial()
	}
	if err != nil {
		return nil, err
	}
	return &netlinkKernel{c: c}, nil
}

func (k *netlinkKernel) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c != nil {
		k.c.close()
		k.c = nil
	}
	return nil
}

func (k *netlinkKernel) Services() ([]*Service, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c == nil {
		return nil, errClosed
	}
	ms, err := k.c.dump(cmdGetService, nil)
	if err != nil {
		return nil, fmt.Errorf("ipvs: list services: %w", err)
	}
	out := make([]*Service, 0, len(ms))
	for _, m := range ms {
		s, err := decodeService(m)
		if err != nil {
			return nil, err
		}
		var e encoder
		encodeService(&e, s, false)
		dms, err := k.c.dump(cmdGetDest, e.b)
		if err != nil {
			return nil, fmt.Errorf("ipvs: list destinations of %s: %w", s.ServiceKey, err)
		}
		for _, dm := range dms {
			d, err := decodeDest(dm, s.Family)
			if err != nil {
				return nil, err
			}
			s.Dests = append(s.Dests, d)
		}
		sortDests(s.Dests)
		out = append(out, s)
	}
	sortServices(out)
	return out, nil
}

var errClosed = errors.New("ipvs: kernel handle closed")

func (k *netlinkKernel) Exec(ops []Op) []error {
	reqs := make([]request, len(ops))
	for i, o := range ops {
		reqs[i].cmd, reqs[i].attrs = opCommand(o)
	}
	k.mu.Lock()
	var errs []error
	if k.c == nil {
		errs = make([]error, len(ops))
		for i := range errs {
			errs[i] = errClosed
		}
	} else {
		errs = k.c.batch(reqs)
	}
	k.mu.Unlock()
	for i, err := range errs {
		if err != nil {
			errs[i] = &OpError{Op: ops[i], Err: explain(ops[i], err)}
		}
	}
	return errs
}

// explain turns the kernel's terse errno into what an operator can act on.
func explain(o Op, err error) error {
	switch {
	case o.Kind == AddService && errors.Is(err, unix.ENOENT):
		return fmt.Errorf("scheduler %q is not available in this kernel (no module ip_vs_%s): %w", o.Service.Scheduler, o.Service.Scheduler, err)
	case (o.Kind == UpdateService || o.Kind == AddDest || o.Kind == UpdateDest || o.Kind == DelDest) && errors.Is(err, unix.ESRCH):
		return fmt.Errorf("the service is not in the kernel: %w", err)
	case o.Kind == UpdateService && errors.Is(err, unix.ENOENT):
		return fmt.Errorf("scheduler %q is not available in this kernel (no module ip_vs_%s): %w", o.Service.Scheduler, o.Service.Scheduler, err)
	}
	return err
}

func (k *netlinkKernel) Timeouts() (Timeouts, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c == nil {
		return Timeouts{}, errClosed
	}
	ms, err := k.c.do(cmdGetConfig, nil)
	if err != nil {
		return Timeouts{}, fmt.Errorf("ipvs: read timeouts: %w", err)
	}
	if len(ms) == 0 {
		return Timeouts{}, errors.New("ipvs: no timeouts in the kernel's answer")
	}
	return decodeTimeouts(ms[0])
}

func (k *netlinkKernel) SetTimeouts(t Timeouts) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c == nil {
		return errClosed
	}
	if _, err := k.c.do(cmdSetConfig, encodeTimeouts(t)); err != nil {
		return fmt.Errorf("ipvs: set timeouts: %w", err)
	}
	return nil
}

func (k *netlinkKernel) Daemons() ([]Daemon, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c == nil {
		return nil, errClosed
	}
	ms, err := k.c.dump(cmdGetDaemon, nil)
	if err != nil {
		return nil, fmt.Errorf("ipvs: list sync daemons: %w", err)
	}
	var out []Daemon
	for _, m := range ms {
		d, err := decodeDaemon(m)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func (k *netlinkKernel) StartDaemon(d Daemon) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c == nil {
		return errClosed
	}
	if _, err := k.c.do(cmdNewDaemon, encodeDaemon(d, true)); err != nil {
		return fmt.Errorf("ipvs: start %s sync daemon on %s: %w", daemonStateName(d.State), d.Interface, err)
	}
	return nil
}

func (k *netlinkKernel) StopDaemon(state uint32) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c == nil {
		return errClosed
	}
	if _, err := k.c.do(cmdDelDaemon, encodeDaemon(Daemon{State: state}, false)); err != nil {
		return fmt.Errorf("ipvs: stop %s sync daemon: %w", daemonStateName(state), err)
	}
	return nil
}
