package handover

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
)

// A small interpreter of the instructions Classifier uses, to run it on packets without a
// kernel. Pointers are tagged with their region in the high bits.
const (
	regCtx   = 1 << 40
	regPkt   = 2 << 40
	regStack = 3 << 40
	regSock  = 4 << 40
	regMask  = 0xff << 40
	pktBase  = 0x1000 // what the 32-bit data field reads as
)

type sockResult struct {
	found bool
	state uint32
}

type run struct {
	mark     uint32
	ret      int64
	lookups  [][]byte // the tuples looked up
	netns    []uint64
	releases int
	sock     sockResult
}

func (r *run) exec(t *testing.T, prog []Insn, pkt []byte) {
	t.Helper()
	var reg [11]uint64
	stack := make([]byte, 512)
	reg[r1] = regCtx
	reg[r10] = regStack + 512
	mem := func(addr uint64, size int) []byte {
		off := int(addr &^ regMask)
		switch addr & regMask {
		case regPkt:
			if off+size > len(pkt) {
				t.Fatalf("packet read at %d+%d beyond %d", off, size, len(pkt))
			}
			return pkt[off : off+size]
		case regStack:
			return stack[off : off+size]
		case regCtx:
			ctx := make([]byte, 96)
			binary.NativeEndian.PutUint32(ctx[skbMarkOff:], r.mark)
			binary.NativeEndian.PutUint32(ctx[skbDataOff:], pktBase)
			binary.NativeEndian.PutUint32(ctx[skbDataEndOff:], pktBase+uint32(len(pkt)))
			return ctx[off : off+size]
		case regSock:
			b := make([]byte, 80)
			binary.NativeEndian.PutUint32(b[sockStateOff:], r.sock.state)
			return b[off : off+size]
		}
		t.Fatalf("access to %#x", addr)
		return nil
	}
	// data and data_end are 32-bit context fields: the interpreter widens them to pointers.
	widen := func(v uint64, src uint8, off int16) uint64 {
		if reg[src]&regMask == regCtx && (off == skbDataOff || off == skbDataEndOff) {
			return regPkt | (v - pktBase)
		}
		return v
	}
	for pc, steps := 0, 0; ; pc, steps = pc+1, steps+1 {
		if steps > 1000 || pc >= len(prog) {
			t.Fatalf("ran off at %d", pc)
		}
		in := prog[pc]
		imm := uint64(int64(in.Imm))
		switch in.Op {
		case classALU64 | aluMOV | srcX:
			reg[in.Dst] = reg[in.Src]
		case classALU64 | aluMOV | srcK:
			reg[in.Dst] = imm
		case classALU64 | aluADD | srcK:
			reg[in.Dst] += imm
		case classALU64 | aluAND | srcK:
			reg[in.Dst] &= imm
		case classLDX | modeMEM | sizeB:
			reg[in.Dst] = uint64(mem(reg[in.Src]+uint64(int64(in.Off)), 1)[0])
		case classLDX | modeMEM | sizeH:
			reg[in.Dst] = uint64(binary.NativeEndian.Uint16(mem(reg[in.Src]+uint64(int64(in.Off)), 2)))
		case classLDX | modeMEM | sizeW:
			reg[in.Dst] = widen(uint64(binary.NativeEndian.Uint32(mem(reg[in.Src]+uint64(int64(in.Off)), 4))), in.Src, in.Off)
		case classSTX | modeMEM | sizeW:
			addr := reg[in.Dst] + uint64(int64(in.Off))
			if addr&regMask == regCtx {
				if addr&^regMask != skbMarkOff {
					t.Fatalf("context write at %d", addr&^regMask)
				}
				r.mark = uint32(reg[in.Src])
				continue
			}
			binary.NativeEndian.PutUint32(mem(addr, 4), uint32(reg[in.Src]))
		case classJMP | jmpJA:
			pc += int(in.Off)
		case classJMP | jmpJGT | srcX, classJMP | jmpJEQ | srcK, classJMP | jmpJNE | srcK, classJMP32 | jmpJEQ | srcK, classJMP32 | jmpJNE | srcK:
			a, b := reg[in.Dst], imm
			if in.Op&srcX != 0 {
				b = reg[in.Src]
			}
			if in.Op&0x07 == classJMP32 {
				a, b = uint64(uint32(a)), uint64(uint32(b))
			}
			var jump bool
			switch in.Op & 0xf0 {
			case jmpJGT:
				jump = a > b
			case jmpJEQ:
				jump = a == b
			case jmpJNE:
				jump = a != b
			}
			if jump {
				pc += int(in.Off)
			}
		case classJMP | jmpCALL:
			switch in.Imm {
			case funcSkcLookupTCP:
				if reg[r1] != regCtx || reg[r3] != tupleSize || reg[r5] != 0 {
					t.Fatalf("skc_lookup_tcp(%#x, _, %d, _, %d)", reg[r1], reg[r3], reg[r5])
				}
				r.lookups = append(r.lookups, append([]byte(nil), mem(reg[r2], tupleSize)...))
				r.netns = append(r.netns, reg[r4])
				reg[r0] = 0
				if r.sock.found {
					reg[r0] = regSock
				}
			case funcSkRelease:
				if reg[r1] != regSock {
					t.Fatalf("sk_release(%#x)", reg[r1])
				}
				r.releases++
				reg[r0] = 0
			default:
				t.Fatalf("call %d", in.Imm)
			}
			reg[r1], reg[r2], reg[r3], reg[r4], reg[r5] = 0xdead, 0xdead, 0xdead, 0xdead, 0xdead
		case classJMP | jmpEXIT:
			r.ret = int64(reg[r0])
			return
		default:
			t.Fatalf("instruction %#x at %d", in.Op, pc)
		}
	}
}

// frame builds an Ethernet + IPv4 + TCP (or other protocol) frame.
type frame struct {
	srcMAC       net.HardwareAddr
	ethType      uint16
	verIHL       byte
	frag         uint16
	proto        byte
	src, dst     string
	sport, dport uint16
	flags        byte
	truncateTo   int
}

func (f frame) bytes() []byte {
	if f.ethType == 0 {
		f.ethType = 0x0800
	}
	if f.verIHL == 0 {
		f.verIHL = 0x45
	}
	if f.proto == 0 {
		f.proto = 6
	}
	b := make([]byte, 14+20+20+8)
	copy(b[6:], f.srcMAC)
	binary.BigEndian.PutUint16(b[12:], f.ethType)
	ip := b[14:]
	ip[0] = f.verIHL
	binary.BigEndian.PutUint16(ip[6:], f.frag)
	ip[8], ip[9] = 64, f.proto
	s, d := netip.MustParseAddr(f.src).As4(), netip.MustParseAddr(f.dst).As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], f.sport)
	binary.BigEndian.PutUint16(tcp[2:], f.dport)
	tcp[12], tcp[13] = 0x50, f.flags
	if f.truncateTo > 0 {
		b = b[:f.truncateTo]
	}
	return b
}

func TestClassifier(t *testing.T) {
	const client, vip, vip2, other = "198.51.100.31", "198.51.100.100", "198.51.100.200", "198.51.100.12"
	const syn, ack, psh, fin, rst = 0x02, 0x10, 0x08, 0x01, 0x04
	mark := Mark(3)
	prevMAC := net.HardwareAddr{0x02, 0, 0xc6, 0x33, 0x64, 0x0b}
	clientMAC := net.HardwareAddr{0x02, 0, 0xc6, 0x33, 0x64, 0x1f}
	prog, err := Classifier([]netip.Addr{netip.MustParseAddr(vip), netip.MustParseAddr(vip2)}, mark, prevMAC)
	if err != nil {
		t.Fatal(err)
	}
	listener, established, synRecv := sockResult{true, 10}, sockResult{true, 1}, sockResult{true, 12}
	for _, c := range []struct {
		name   string
		f      frame
		sock   sockResult
		marked bool
		lookup bool
	}{
		{"ACK of a handshake the old master answered: only a listener here", frame{dst: vip, flags: ack}, listener, true, true},
		{"data of an unknown connection, no listener", frame{dst: vip, flags: ack | psh}, sockResult{}, true, true},
		{"FIN of an unknown connection", frame{dst: vip, flags: fin | ack}, sockResult{}, true, true},
		{"RST of an unknown connection", frame{dst: vip, flags: rst}, listener, true, true},
		{"second VIP (high bit set in host order)", frame{dst: vip2, flags: ack}, listener, true, true},
		{"data of a connection of ours", frame{dst: vip, flags: ack | psh}, established, false, true},
		{"ACK of a handshake of ours", frame{dst: vip, flags: ack}, synRecv, false, true},
		{"SYN: ours to answer", frame{dst: vip, flags: syn}, listener, false, false},
		{"SYN-ACK", frame{dst: vip, flags: syn | ack}, listener, false, false},
		{"another address", frame{dst: other, flags: ack}, listener, false, false},
		{"UDP", frame{dst: vip, proto: 17, flags: ack}, listener, false, false},
		{"IP options", frame{dst: vip, verIHL: 0x46, flags: ack}, listener, false, false},
		{"later fragment", frame{dst: vip, frag: 0x20b9, flags: ack}, listener, false, false},
		{"first fragment (more fragments set)", frame{dst: vip, frag: 0x2000, flags: ack}, listener, true, true},
		{"not IPv4", frame{ethType: 0x86dd, dst: vip, flags: ack}, listener, false, false},
		{"too short", frame{dst: vip, flags: ack, truncateTo: 53}, listener, false, false},
		{"sent by the previous master (a bounce)", frame{srcMAC: prevMAC, dst: vip, flags: ack}, listener, false, false},
		{"MAC like the previous master's but for the last bytes", frame{srcMAC: net.HardwareAddr{0x02, 0, 0xc6, 0x33, 0x64, 0x0c}, dst: vip, flags: ack}, listener, true, true},
		{"MAC like the previous master's but for the first bytes", frame{srcMAC: net.HardwareAddr{0x03, 0, 0xc6, 0x33, 0x64, 0x0b}, dst: vip, flags: ack}, listener, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.f.src, c.f.sport, c.f.dport = client, 40000, 7
			if c.f.srcMAC == nil {
				c.f.srcMAC = clientMAC
			}
			r := &run{sock: c.sock, mark: 0x77}
			r.exec(t, prog, c.f.bytes())
			if r.ret != tcActUnspec {
				t.Errorf("returned %d, want TC_ACT_UNSPEC", r.ret)
			}
			if marked := r.mark == mark; marked != c.marked || (!marked && r.mark != 0x77) {
				t.Errorf("mark %#x, want marked %v", r.mark, c.marked)
			}
			if (len(r.lookups) > 0) != c.lookup {
				t.Fatalf("%d lookups", len(r.lookups))
			}
			if c.lookup {
				s, d := netip.MustParseAddr(client).As4(), netip.MustParseAddr(c.f.dst).As4()
				want := fmt.Sprintf("%x%x%x", s[:], d[:], []byte{0x9c, 0x40, 0, 7})
				if got := fmt.Sprintf("%x", r.lookups[0]); got != want || r.netns[0] != ^uint64(0) {
					t.Errorf("lookup of %s in netns %#x, want %s in the current one", got, r.netns[0], want)
				}
				if want := 0; c.sock.found {
					if r.releases != 1 {
						t.Errorf("%d releases", r.releases)
					}
				} else if r.releases != want {
					t.Errorf("%d releases of no socket", r.releases)
				}
			}
		})
	}
}

func TestClassifierRefuses(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	if _, err := Classifier(nil, Mark(1), mac); err == nil {
		t.Error("no addresses accepted")
	}
	if _, err := Classifier([]netip.Addr{netip.MustParseAddr("2001:db8::100")}, Mark(1), mac); err == nil {
		t.Error("IPv6 accepted")
	}
	if _, err := Classifier([]netip.Addr{netip.MustParseAddr("198.51.100.100")}, Mark(1), nil); err == nil {
		t.Error("no MAC address accepted")
	}
}

func TestMarshal(t *testing.T) {
	got := Marshal([]Insn{ldx(sizeW, r2, r6, skbDataOff), {Op: classJMP | jmpJNE | srcK, Dst: r7, Off: -2, Imm: -1}})
	ne := binary.NativeEndian
	want := []byte{0x61, 0x62}
	want = ne.AppendUint16(want, 76)
	want = ne.AppendUint32(want, 0)
	want = append(want, 0x55, 0x07)
	want = ne.AppendUint16(want, 0xfffe)
	want = ne.AppendUint32(want, 0xffffffff)
	if fmt.Sprintf("%x", got) != fmt.Sprintf("%x", want) {
		t.Errorf("got %x, want %x", got, want)
	}
}

// arpFrame builds an Ethernet ARP frame for IPv4.
func arpFrame(op uint16, sender, target string) []byte {
	b := make([]byte, 14+28)
	copy(b[0:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(b[6:], []byte{0x02, 0, 0xc6, 0x33, 0x64, 0x1f})
	binary.BigEndian.PutUint16(b[12:], 0x0806)
	arp := b[14:]
	binary.BigEndian.PutUint16(arp[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(arp[2:], 0x0800) // IPv4
	arp[4], arp[5] = 6, 4
	binary.BigEndian.PutUint16(arp[6:], op)
	copy(arp[8:], b[6:12])
	s, d := netip.MustParseAddr(sender).As4(), netip.MustParseAddr(target).As4()
	copy(arp[14:], s[:])
	copy(arp[24:], d[:])
	return b
}

func TestARPSilencer(t *testing.T) {
	const client, vip, vip2, other = "198.51.100.31", "198.51.100.100", "198.51.100.200", "198.51.100.12"
	prog, err := ARPSilencer([]netip.Addr{netip.MustParseAddr(vip), netip.MustParseAddr(vip2)})
	if err != nil {
		t.Fatal(err)
	}
	ipFrame := frame{srcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, src: client, dst: vip, sport: 40000, dport: 7, flags: 0x10}.bytes()
	for _, c := range []struct {
		name    string
		pkt     []byte
		dropped bool
	}{
		{"request for the VIP", arpFrame(1, client, vip), true},
		{"request for the second VIP (high bit set in host order)", arpFrame(1, client, vip2), true},
		{"request for another address", arpFrame(1, client, other), false},
		{"reply from the VIP (the new master's)", arpFrame(2, vip, client), false},
		{"reply naming the VIP as target", arpFrame(2, client, vip), false},
		{"gratuitous request (the new master's announcement)", arpFrame(1, vip, vip), true},
		{"truncated request", arpFrame(1, client, vip)[:41], false},
		{"TCP to the VIP", ipFrame, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &run{mark: 0x77}
			r.exec(t, prog, c.pkt)
			want := int64(tcActUnspec)
			if c.dropped {
				want = tcActShot
			}
			if r.ret != want || r.mark != 0x77 {
				t.Errorf("returned %d (mark %#x), want %d", r.ret, r.mark, want)
			}
		})
	}
	if _, err := ARPSilencer(nil); err == nil {
		t.Error("no addresses accepted")
	}
	if _, err := ARPSilencer([]netip.Addr{netip.MustParseAddr("2001:db8::100")}); err == nil {
		t.Error("IPv6 accepted")
	}
}
