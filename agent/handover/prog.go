package handover

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// The classifier is a small eBPF program (BPF_PROG_TYPE_SCHED_CLS, direct action) on the
// interface's tc ingress hook. It is assembled here rather than compiled from C, so that the
// agent stays one static Go binary with no toolchain behind it:
//
//	if the frame does not come from the previous master, is IPv4 without options, not a
//	   later fragment, TCP, to one of the VIPs, and not a SYN:
//	    sk = bpf_skc_lookup_tcp(the 4-tuple, this network namespace)
//	    if sk is nil or a listener (TCP_LISTEN):   // no connection of this host's
//	        skb->mark = MARK
//	    release sk
//	return TC_ACT_UNSPEC                          // let every other filter run as before
//
// An established socket, a handshake in progress (request socket) or TIME_WAIT count as this
// host's own; a listener alone does not, since a non-SYN packet for an unknown connection finds
// the listener too, which answers it with a reset. What the previous master sends (by its MAC
// address) is never marked: should both directors have a window open at once — a preemption
// within the window of the takeover before it — a packet neither knows bounces once at most,
// instead of looping between them (direct routing keeps the IP header as it is).

// eBPF instruction encoding (linux/bpf.h, linux/bpf_common.h).
const (
	classLDX   = 0x01
	classSTX   = 0x03
	classJMP   = 0x05
	classJMP32 = 0x06
	classALU64 = 0x07

	sizeW = 0x00
	sizeH = 0x08
	sizeB = 0x10

	modeMEM = 0x60

	srcK = 0x00
	srcX = 0x08

	aluADD = 0x00
	aluAND = 0x50
	aluMOV = 0xb0

	jmpJA   = 0x00
	jmpJEQ  = 0x10
	jmpJGT  = 0x20
	jmpJNE  = 0x50
	jmpCALL = 0x80
	jmpEXIT = 0x90
)

// Registers.
const (
	r0 = iota
	r1
	r2
	r3
	r4
	r5
	r6
	r7
	r8
	r9
	r10 // frame pointer, read only
)

// Kernel ABI values the program uses.
const (
	funcSkRelease    = 86 // BPF_FUNC_sk_release
	funcSkcLookupTCP = 99 // BPF_FUNC_skc_lookup_tcp
	skbMarkOff       = 8  // offsetof(struct __sk_buff, mark)
	skbDataOff       = 76 // offsetof(struct __sk_buff, data)
	skbDataEndOff    = 80 // offsetof(struct __sk_buff, data_end)
	sockStateOff     = 72 // offsetof(struct bpf_sock, state)
	tcpListen        = 10 // TCP_LISTEN
	tcActUnspec      = -1 // TC_ACT_UNSPEC: continue with the next filter
	tupleSize        = 12 // sizeof(struct bpf_sock_tuple.ipv4)
	currentNetns     = -1 // BPF_F_CURRENT_NETNS
	ethHdr, ipHdr    = 14, 20
	tcpOff           = ethHdr + ipHdr
	minLen           = tcpOff + 20
	ethTypeOff       = 12
	ethSrcOff        = 6
	ipVerIHLOff      = ethHdr
	ipFragOff        = ethHdr + 6
	ipProtoOff       = ethHdr + 9
	ipSrcOff         = ethHdr + 12
	ipDstOff         = ethHdr + 16
	tcpFlagsOff      = tcpOff + 13
	tcpFlagSYN       = 0x02
	ipProtoTCP       = 6
	ipv4NoOptions    = 0x45
	// maxVIPs bounds the addresses one program compares (one instruction each; a VRRP
	// instance rarely has more than a few).
	maxVIPs = 64
)

// Insn is one eBPF instruction.
type Insn struct {
	Op       uint8
	Dst, Src uint8
	Off      int16
	Imm      int32
}

// Marshal encodes the instructions for BPF_PROG_LOAD, in the host's byte order.
func Marshal(insns []Insn) []byte {
	b := make([]byte, 0, 8*len(insns))
	for _, in := range insns {
		b = append(b, in.Op, in.Dst&0x0f|in.Src<<4)
		b = binary.NativeEndian.AppendUint16(b, uint16(in.Off))
		b = binary.NativeEndian.AppendUint32(b, uint32(in.Imm))
	}
	return b
}

// asm builds a program with forward jumps to labels.
type asm struct {
	insns  []Insn
	fixups map[int]string // instruction index -> label it jumps to
	labels map[string]int
}

func (a *asm) emit(in Insn) { a.insns = append(a.insns, in) }

func (a *asm) jump(op uint8, dst, src uint8, imm int32, label string) {
	a.fixups[len(a.insns)] = label
	a.emit(Insn{Op: op, Dst: dst, Src: src, Imm: imm})
}

func (a *asm) label(name string) { a.labels[name] = len(a.insns) }

// jumpIfAny jumps to label if register reg, loaded from an IPv4 address in the packet, holds one
// of addrs.
func (a *asm) jumpIfAny(reg uint8, addrs []netip.Addr, label string) error {
	for _, v := range addrs {
		if !v.Is4() {
			return fmt.Errorf("handover: %v is not an IPv4 address", v)
		}
		b := v.As4()
		// JMP32: the 32-bit comparison, free of sign extension of the immediate.
		a.jump(classJMP32|jmpJEQ|srcK, reg, 0, native32(b[:]), label)
	}
	return nil
}

func (a *asm) done() ([]Insn, error) {
	for i, l := range a.fixups {
		to, ok := a.labels[l]
		if !ok || to <= i {
			return nil, fmt.Errorf("handover: classifier: bad jump to %q", l)
		}
		a.insns[i].Off = int16(to - i - 1)
	}
	return a.insns, nil
}

func ldx(size, dst, src uint8, off int16) Insn {
	return Insn{Op: classLDX | modeMEM | size, Dst: dst, Src: src, Off: off}
}

func stx(size, dst, src uint8, off int16) Insn {
	return Insn{Op: classSTX | modeMEM | size, Dst: dst, Src: src, Off: off}
}

func movX(dst, src uint8) Insn { return Insn{Op: classALU64 | aluMOV | srcX, Dst: dst, Src: src} }
func movK(dst uint8, imm int32) Insn {
	return Insn{Op: classALU64 | aluMOV | srcK, Dst: dst, Imm: imm}
}
func addK(dst uint8, imm int32) Insn {
	return Insn{Op: classALU64 | aluADD | srcK, Dst: dst, Imm: imm}
}
func andK(dst uint8, imm int32) Insn {
	return Insn{Op: classALU64 | aluAND | srcK, Dst: dst, Imm: imm}
}
func call(fn int32) Insn { return Insn{Op: classJMP | jmpCALL, Imm: fn} }
func exit() Insn         { return Insn{Op: classJMP | jmpEXIT} }

// native reads network-order bytes as the host-order integer a load of them gives.
func native16(b ...byte) int32 { return int32(binary.NativeEndian.Uint16(b)) }
func native32(b []byte) int32  { return int32(binary.NativeEndian.Uint32(b)) }

// Classifier is the program that marks, with mark, the TCP packets for vips (IPv4) that are
// not a SYN, belong to no connection of this host's, and do not come from prevMAC.
func Classifier(vips []netip.Addr, mark uint32, prevMAC net.HardwareAddr) ([]Insn, error) {
	if len(vips) == 0 || len(vips) > maxVIPs {
		return nil, fmt.Errorf("handover: classifier for %d addresses", len(vips))
	}
	if len(prevMAC) != 6 {
		return nil, fmt.Errorf("handover: classifier: previous master's MAC address %v", prevMAC)
	}
	a := &asm{fixups: map[int]string{}, labels: map[string]int{}}
	a.emit(movX(r6, r1)) // r6 = skb, kept across calls
	a.emit(ldx(sizeW, r2, r6, skbDataOff))
	a.emit(ldx(sizeW, r3, r6, skbDataEndOff))
	a.emit(movX(r4, r2))
	a.emit(addK(r4, minLen))
	a.jump(classJMP|jmpJGT|srcX, r4, r3, 0, "pass") // shorter than Ethernet + IPv4 + TCP
	a.emit(ldx(sizeW, r4, r2, ethSrcOff))
	a.jump(classJMP32|jmpJNE|srcK, r4, 0, native32(prevMAC[:4]), "notprev")
	a.emit(ldx(sizeH, r4, r2, ethSrcOff+4))
	a.jump(classJMP|jmpJEQ|srcK, r4, 0, native16(prevMAC[4], prevMAC[5]), "pass") // forwarded to us
	a.label("notprev")
	a.emit(ldx(sizeH, r4, r2, ethTypeOff))
	a.jump(classJMP|jmpJNE|srcK, r4, 0, native16(0x08, 0x00), "pass") // not IPv4
	a.emit(ldx(sizeB, r4, r2, ipVerIHLOff))
	a.jump(classJMP|jmpJNE|srcK, r4, 0, ipv4NoOptions, "pass") // IP options: leave it alone
	a.emit(ldx(sizeH, r4, r2, ipFragOff))
	a.emit(andK(r4, native16(0x1f, 0xff)))
	a.jump(classJMP|jmpJNE|srcK, r4, 0, 0, "pass") // a later fragment: no TCP header
	a.emit(ldx(sizeB, r4, r2, ipProtoOff))
	a.jump(classJMP|jmpJNE|srcK, r4, 0, ipProtoTCP, "pass")
	a.emit(ldx(sizeW, r4, r2, ipDstOff))
	if err := a.jumpIfAny(r4, vips, "vip"); err != nil {
		return nil, err
	}
	a.jump(classJMP|jmpJA, 0, 0, 0, "pass")
	a.label("vip")
	a.emit(ldx(sizeB, r4, r2, tcpFlagsOff))
	a.emit(andK(r4, tcpFlagSYN))
	a.jump(classJMP|jmpJNE|srcK, r4, 0, 0, "pass") // a SYN is this host's to answer
	// struct bpf_sock_tuple.ipv4 {saddr, daddr, sport, dport} on the stack, as on the wire.
	a.emit(ldx(sizeW, r4, r2, ipSrcOff))
	a.emit(stx(sizeW, r10, r4, -16))
	a.emit(ldx(sizeW, r4, r2, ipDstOff))
	a.emit(stx(sizeW, r10, r4, -12))
	a.emit(ldx(sizeW, r4, r2, tcpOff)) // source and destination ports
	a.emit(stx(sizeW, r10, r4, -8))
	a.emit(movX(r1, r6))
	a.emit(movX(r2, r10))
	a.emit(addK(r2, -16))
	a.emit(movK(r3, tupleSize))
	a.emit(movK(r4, currentNetns))
	a.emit(movK(r5, 0))
	a.emit(call(funcSkcLookupTCP))
	a.jump(classJMP|jmpJEQ|srcK, r0, 0, 0, "mark") // no socket at all
	a.emit(ldx(sizeW, r7, r0, sockStateOff))
	a.emit(movX(r1, r0))
	a.emit(call(funcSkRelease))
	a.jump(classJMP|jmpJNE|srcK, r7, 0, tcpListen, "pass") // a connection of ours
	a.label("mark")
	a.emit(movK(r1, int32(mark)))
	a.emit(stx(sizeW, r6, r1, skbMarkOff))
	a.label("pass")
	a.emit(movK(r0, tcActUnspec))
	a.emit(exit())
	return a.done()
}

// ARP header offsets (RFC 826, Ethernet and IPv4) and the verdict that drops a frame.
const (
	arpOpOff       = ethHdr + 6
	arpTargetIPOff = ethHdr + 24
	arpLen         = ethHdr + 28
	arpOpRequest   = 1
	ethTypeARP     = 0x0806
	tcActShot      = 2 // TC_ACT_SHOT
)

// ARPSilencer is the program a previous master puts on its interface's ingress while it still
// holds its addresses after a planned handover: it drops the ARP requests for vips (IPv4), so
// that only the new master answers them and no client is drawn back to the host about to let
// the addresses go, while the packets of the connections still in flight (forwarded by the new
// master, or from clients yet to move) keep reaching it.
//
//	if the frame is an ARP request for one of vips: return TC_ACT_SHOT
//	return TC_ACT_UNSPEC
func ARPSilencer(vips []netip.Addr) ([]Insn, error) {
	if len(vips) == 0 || len(vips) > maxVIPs {
		return nil, fmt.Errorf("handover: ARP silencer for %d addresses", len(vips))
	}
	a := &asm{fixups: map[int]string{}, labels: map[string]int{}}
	a.emit(ldx(sizeW, r2, r1, skbDataOff))
	a.emit(ldx(sizeW, r3, r1, skbDataEndOff))
	a.emit(movX(r4, r2))
	a.emit(addK(r4, arpLen))
	a.jump(classJMP|jmpJGT|srcX, r4, r3, 0, "pass") // shorter than an Ethernet ARP frame
	a.emit(ldx(sizeH, r4, r2, ethTypeOff))
	a.jump(classJMP|jmpJNE|srcK, r4, 0, native16(ethTypeARP>>8, ethTypeARP&0xff), "pass")
	a.emit(ldx(sizeH, r4, r2, arpOpOff))
	a.jump(classJMP|jmpJNE|srcK, r4, 0, native16(0, arpOpRequest), "pass")
	a.emit(ldx(sizeW, r4, r2, arpTargetIPOff))
	if err := a.jumpIfAny(r4, vips, "drop"); err != nil {
		return nil, err
	}
	a.label("pass")
	a.emit(movK(r0, tcActUnspec))
	a.emit(exit())
	a.label("drop")
	a.emit(movK(r0, tcActShot))
	a.emit(exit())
	return a.done()
}
