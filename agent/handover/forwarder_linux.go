package handover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvs-provider/terraform-provider-lvs/agent/ipvs"
)

// Forward opens a window on interface ifname: until stop is called, TCP packets for the IPv4
// addresses of vips that this host cannot handle are sent on to prev (see the package
// comment). stop removes what the window installed and logs what it forwarded.
func (f *Forwarder) Forward(ifname string, prev netip.Addr, vips []netip.Addr) (stop func(), err error) {
	prev = prev.Unmap()
	vips = forwardable(vips)
	if !prev.Is4() || len(vips) == 0 {
		return nil, fmt.Errorf("handover: nothing to forward to %v for %v (IPv4 only)", prev, vips)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	slot := freeSlot(f.open)
	if slot == 0 {
		return nil, errors.New("handover: too many windows open")
	}
	w := &window{slot: slot, ifname: ifname, prev: prev, vips: vips, opened: time.Now()}
	f.open[slot] = w
	if err := f.do(func() error { return f.install(w) }); err != nil {
		_ = f.do(func() error { _, e := f.remove(w); return e })
		delete(f.open, slot)
		_ = f.holdSysctls()
		return nil, err
	}
	f.log.Debug("handover window opened", "interface", ifname, "previous_master", prev, "addresses", vips, "took", time.Since(w.opened))
	return f.once(func() {
		var st ipvs.Stats
		err := f.do(func() (err error) { st, err = f.remove(w); return err })
		delete(f.open, slot)
		err = errors.Join(err, f.holdSysctls())
		log := f.log.Info
		args := []any{"interface", ifname, "previous_master", prev, "addresses", vips, "open", time.Since(w.opened).Round(time.Millisecond),
			"forwarded_connections", st.Conns, "forwarded_packets", st.InPkts}
		if err != nil {
			log = f.log.Warn
			args = append(args, "err", err)
		}
		log("handover window closed", args...)
	}), nil
}

// holdSysctls makes the keeper hold what the open windows need; f.mu must be held.
func (f *Forwarder) holdSysctls() error {
	var err error
	_ = f.do(func() error {
		_, err = f.keeper.Hold(sysctlsWanted(len(f.open)))
		return nil
	})
	if err != nil {
		return fmt.Errorf("handover: sysctls: %w", err)
	}
	return nil
}

// install puts a window in place: the sysctls, the IPVS service, then the classifier that feeds
// it. It runs in the namespace, with f.mu held.
func (f *Forwarder) install(w *window) error {
	if _, err := f.keeper.Hold(sysctlsWanted(len(f.open))); err != nil {
		return fmt.Errorf("handover: sysctls: %w", err)
	}
	k, err := ipvs.Open(context.Background(), true)
	if err != nil {
		return fmt.Errorf("handover: %w", err)
	}
	defer func() { _ = k.Close() }()
	svc := Service(Mark(w.slot), w.prev)
	if err := errors.Join(k.Exec([]ipvs.Op{{Kind: ipvs.AddService, Service: svc}, {Kind: ipvs.AddDest, Service: svc, Dest: svc.Dests[0]}})...); err != nil {
		return fmt.Errorf("handover: IPVS service: %w", err)
	}
	link, err := netlink.LinkByName(w.ifname)
	if err != nil {
		return fmt.Errorf("handover: interface %s: %w", w.ifname, err)
	}
	mac, err := resolve(link.Attrs().Index, w.prev)
	if err != nil {
		return err
	}
	prog, err := Classifier(w.vips, Mark(w.slot), mac)
	if err != nil {
		return err
	}
	return attach(link, prog, Filter(w.slot), FilterPriority(w.slot), unix.ETH_P_IP)
}

// attach loads prog and puts it on link's tc ingress hook (adding the clsact qdisc if needed)
// as a direct-action filter named name, for the frames of Ethernet protocol proto.
func attach(link netlink.Link, prog []Insn, name string, prio uint16, proto uint16) error {
	fd, err := loadProgram(prog)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Close(fd) }() // the filter holds the program
	idx, ifname := link.Attrs().Index, link.Attrs().Name
	qd := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
	if err := netlink.QdiscAdd(qd); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("handover: clsact qdisc on %s: %w", ifname, err)
	}
	flt := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: idx, Parent: netlink.HANDLE_MIN_INGRESS, Handle: netlink.MakeHandle(0, 1),
			Protocol: proto, Priority: prio},
		Fd: fd, Name: name, DirectAction: true,
	}
	if err := netlink.FilterAdd(flt); err != nil {
		return fmt.Errorf("handover: tc filter on %s: %w", ifname, err)
	}
	return nil
}

// SilenceARP makes this host stop answering the ARP requests for the IPv4 addresses of addrs
// that arrive on interface ifname (see ARPSilencer), until stop is called. A previous master
// calls it while it keeps its addresses after a planned handover, so that it can keep them for
// the whole of the new master's window without drawing clients back.
func (f *Forwarder) SilenceARP(ifname string, addrs []netip.Addr) (stop func(), err error) {
	v4 := forwardable(addrs)
	if len(v4) == 0 {
		return nil, fmt.Errorf("handover: no IPv4 address to silence ARP for in %v", addrs)
	}
	addrs = v4
	prog, err := ARPSilencer(addrs)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	slot := freeSlot(f.silenced)
	if slot == 0 {
		return nil, errors.New("handover: too many ARP silencers")
	}
	name := arpFilter(slot)
	del := func() error {
		link, err := netlink.LinkByName(ifname)
		if err != nil {
			return nil // the interface is gone, and its filters with it
		}
		_, err = delFilters(link, func(n string) bool { return n == name })
		return err
	}
	err = f.do(func() error {
		link, err := netlink.LinkByName(ifname)
		if err != nil {
			return fmt.Errorf("handover: interface %s: %w", ifname, err)
		}
		return attach(link, prog, name, arpFilterPriority(slot), unix.ETH_P_ARP)
	})
	if err != nil {
		_ = f.do(del)
		return nil, err
	}
	f.silenced[slot] = true
	f.log.Debug("handover: ARP requests for the addresses are dropped", "interface", ifname, "addresses", addrs)
	return f.once(func() {
		delete(f.silenced, slot)
		if err := f.do(del); err != nil {
			f.log.Warn("handover: ARP silencer", "interface", ifname, "err", err)
		}
	}), nil
}

// resolveWait bounds how long a window's opening waits for the previous master's MAC address
// when the neighbour table does not have it yet.
const resolveWait = 100 * time.Millisecond

// resolve returns addr's MAC address on the link from the neighbour table, asking the kernel to
// resolve it (NTF_USE, as `ip neigh replace ADDR dev DEV use`) if the table lacks it.
func resolve(ifindex int, addr netip.Addr) (net.HardwareAddr, error) {
	lookup := func() net.HardwareAddr {
		ns, err := netlink.NeighList(ifindex, netlink.FAMILY_V4)
		if err != nil {
			return nil
		}
		for _, n := range ns {
			ip, _ := netip.AddrFromSlice(n.IP)
			if ip.Unmap() == addr && len(n.HardwareAddr) == 6 &&
				n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) == 0 && n.State != netlink.NUD_NONE {
				return n.HardwareAddr
			}
		}
		return nil
	}
	if mac := lookup(); mac != nil {
		return mac, nil
	}
	if err := netlink.NeighSet(&netlink.Neigh{LinkIndex: ifindex, Family: netlink.FAMILY_V4, IP: addr.AsSlice(),
		Flags: netlink.NTF_USE}); err != nil {
		return nil, fmt.Errorf("handover: resolve %v: %w", addr, err)
	}
	for deadline := time.Now().Add(resolveWait); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if mac := lookup(); mac != nil {
			return mac, nil
		}
	}
	return nil, fmt.Errorf("handover: the previous master %v did not answer ARP within %v", addr, resolveWait)
}

// remove takes a window's classifier and service away (whichever exist) and returns the
// service's counters. It runs in the namespace, with f.mu held.
func (f *Forwarder) remove(w *window) (ipvs.Stats, error) {
	var errs []error
	if link, err := netlink.LinkByName(w.ifname); err == nil {
		_, err := delFilters(link, func(name string) bool { return name == Filter(w.slot) })
		errs = append(errs, err)
	}
	var st ipvs.Stats
	k, err := ipvs.Open(context.Background(), false)
	if err != nil {
		return st, errors.Join(append(errs, fmt.Errorf("handover: %w", err))...)
	}
	defer func() { _ = k.Close() }()
	mark := Mark(w.slot)
	svcs, err := k.Services()
	if err != nil {
		return st, errors.Join(append(errs, fmt.Errorf("handover: IPVS services: %w", err))...)
	}
	for _, s := range svcs {
		if s.FWMark == mark && s.Family == ipvs.AFInet {
			st = s.Stats
			// The destinations first: with expire_nodest_conn still 1, deleting one queues the
			// kernel's flush of the connection entries that lead to it.
			var ops []ipvs.Op
			for _, d := range s.Dests {
				ops = append(ops, ipvs.Op{Kind: ipvs.DelDest, Service: s, Dest: d})
			}
			errs = append(errs, k.Exec(append(ops, ipvs.Op{Kind: ipvs.DelService, Service: s}))...)
		}
	}
	return st, errors.Join(errs...)
}

// delFilters deletes the windows' ingress filters on link whose name matches, and then the
// clsact qdisc if nothing is left on it; it returns the names deleted.
func delFilters(link netlink.Link, match func(string) bool) ([]string, error) {
	fs, err := netlink.FilterList(link, netlink.HANDLE_MIN_INGRESS)
	if err != nil {
		return nil, nil // no clsact qdisc: no filter of ours
	}
	var deleted []string
	var errs []error
	left := 0
	for _, flt := range fs {
		b, ok := flt.(*netlink.BpfFilter)
		if !ok || !strings.HasPrefix(b.Name, FilterName) || !match(b.Name) {
			left++
			continue
		}
		if err := netlink.FilterDel(b); err != nil {
			errs = append(errs, fmt.Errorf("handover: delete tc filter %s on %s: %w", b.Name, link.Attrs().Name, err))
			left++
			continue
		}
		deleted = append(deleted, b.Name+" on "+link.Attrs().Name)
	}
	if len(deleted) > 0 && left == 0 {
		if eg, err := netlink.FilterList(link, netlink.HANDLE_MIN_EGRESS); err == nil && len(eg) == 0 {
			qd := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
			if err := netlink.QdiscDel(qd); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
				errs = append(errs, fmt.Errorf("handover: delete clsact qdisc on %s: %w", link.Attrs().Name, err))
			}
		}
	}
	return deleted, errors.Join(errs...)
}

// Cleanup removes what windows of an earlier run left (a crash, a kill) and closes the windows
// still open: their filters, fwmark services and sysctls. The agent calls it on start and on
// stop.
func (f *Forwarder) Cleanup() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	var removed []string
	err := f.do(func() error {
		links, err := netlink.LinkList()
		errs = append(errs, err)
		for _, l := range links {
			names, err := delFilters(l, func(string) bool { return true })
			errs = append(errs, err)
			for _, n := range names {
				removed = append(removed, "tc filter "+n)
			}
		}
		if k, err := ipvs.Open(context.Background(), false); err == nil {
			defer func() { _ = k.Close() }()
			svcs, err := k.Services()
			errs = append(errs, err)
			for _, s := range svcs {
				if IsWindowMark(s.FWMark) {
					removed = append(removed, "IPVS service "+s.String())
					errs = append(errs, k.Exec([]ipvs.Op{{Kind: ipvs.DelService, Service: s}})...)
				}
			}
		}
		return nil
	})
	errs = append(errs, err)
	clear(f.open)
	clear(f.silenced)
	var changes []string
	_ = f.do(func() error {
		cs, err := f.keeper.Hold(nil)
		for _, c := range cs {
			changes = append(changes, "sysctl "+c.String())
		}
		errs = append(errs, err)
		return nil
	})
	removed = append(removed, changes...)
	if len(removed) > 0 {
		slices.Sort(removed)
		f.log.Info("handover: removed what an earlier window left", "removed", removed)
	}
	return errors.Join(errs...)
}

// progLoadAttr is the head of union bpf_attr for BPF_PROG_LOAD, up to what is used.
type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
}

// loadProgram loads a tc classifier and returns its file descriptor; a program the verifier
// refuses is loaded again with its log, which the error carries.
func loadProgram(insns []Insn) (int, error) {
	code := Marshal(insns)
	license := []byte("Dual MPL/GPL\x00")
	load := func(logBuf []byte) (int, error) {
		attr := progLoadAttr{
			progType: unix.BPF_PROG_TYPE_SCHED_CLS,
			insnCnt:  uint32(len(insns)),
			insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
			license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		}
		copy(attr.progName[:], "lvs_handover")
		if logBuf != nil {
			attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(logBuf)), uint64(uintptr(unsafe.Pointer(&logBuf[0])))
		}
		fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		runtime.KeepAlive(code)
		runtime.KeepAlive(license)
		runtime.KeepAlive(logBuf)
		if errno != 0 {
			return -1, errno
		}
		return int(fd), nil
	}
	fd, err := load(nil)
	if err == nil {
		return fd, nil
	}
	logBuf := make([]byte, 256<<10)
	if fd, err2 := load(logBuf); err2 == nil {
		return fd, nil // a passing retry: take it
	}
	msg := string(bytes.TrimRight(logBuf, "\x00"))
	if len(msg) > 2000 {
		msg = "..." + msg[len(msg)-2000:]
	}
	return -1, fmt.Errorf("handover: load the tc classifier: %w: %s", err, strings.TrimSpace(msg))
}
