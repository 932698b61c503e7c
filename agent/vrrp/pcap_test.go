package vrrp

// Test helpers: a minimal pcap reader and frame decoder (Ethernet, Linux
// cooked v1/v2; IPv4, IPv6), and a reader for the keepalived configuration
// files the captures were made with. Just enough for the test vectors.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	linkEthernet = 1
	linkSLL      = 113
	linkSLL2     = 276
)

type pcapRecord struct {
	link  uint32
	frame []byte
}

func readPcap(t testing.TB, path string) []pcapRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 {
		t.Fatalf("%s: short pcap header", path)
	}
	var bo binary.ByteOrder
	switch m := binary.LittleEndian.Uint32(b); m {
	case 0xa1b2c3d4, 0xa1b23c4d: // µs, ns timestamps
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		t.Fatalf("%s: not a pcap file (magic %#x)", path, m)
	}
	link := bo.Uint32(b[20:]) & 0x0fffffff
	var recs []pcapRecord
	for off := 24; off < len(b); {
		if off+16 > len(b) {
			t.Fatalf("%s: truncated record header at %d", path, off)
		}
		incl := int(bo.Uint32(b[off+8:]))
		orig := int(bo.Uint32(b[off+12:]))
		off += 16
		if off+incl > len(b) || incl != orig {
			t.Fatalf("%s: truncated record at %d (%d of %d bytes)", path, off, incl, orig)
		}
		recs = append(recs, pcapRecord{link: link, frame: b[off : off+incl]})
		off += incl
	}
	return recs
}

// frame is a decoded capture record.
type frame struct {
	raw            []byte
	srcMAC, dstMAC net.HardwareAddr // Ethernet only
	ethType        uint16
	l3             []byte

	// IP, when ethType is IPv4 or IPv6.
	src, dst netip.Addr
	ttl      int
	proto    int
	payload  []byte
}

func decodeFrame(r pcapRecord) (frame, error) {
	f := frame{raw: r.frame}
	b := r.frame
	switch r.link {
	case linkEthernet:
		if len(b) < 14 {
			return f, fmt.Errorf("short ethernet frame")
		}
		f.dstMAC, f.srcMAC = net.HardwareAddr(b[0:6]), net.HardwareAddr(b[6:12])
		f.ethType = binary.BigEndian.Uint16(b[12:])
		b = b[14:]
		if f.ethType == 0x8100 && len(b) >= 4 {
			f.ethType = binary.BigEndian.Uint16(b[2:])
			b = b[4:]
		}
	case linkSLL:
		if len(b) < 16 {
			return f, fmt.Errorf("short SLL header")
		}
		f.ethType = binary.BigEndian.Uint16(b[14:])
		b = b[16:]
	case linkSLL2:
		if len(b) < 20 {
			return f, fmt.Errorf("short SLL2 header")
		}
		f.ethType = binary.BigEndian.Uint16(b[0:])
		b = b[20:]
	default:
		return f, fmt.Errorf("link type %d not supported", r.link)
	}
	f.l3 = b
	switch f.ethType {
	case 0x0800:
		if len(b) < 20 || b[0]>>4 != 4 {
			return f, fmt.Errorf("bad IPv4 header")
		}
		ihl := int(b[0]&0x0f) * 4
		tot := int(binary.BigEndian.Uint16(b[2:]))
		if ihl < 20 || tot < ihl || tot > len(b) {
			return f, fmt.Errorf("bad IPv4 lengths ihl=%d tot=%d have=%d", ihl, tot, len(b))
		}
		if fold(sumBytes(0, b[:ihl])) != 0 {
			return f, fmt.Errorf("bad IPv4 header checksum")
		}
		f.ttl, f.proto = int(b[8]), int(b[9])
		f.src = netip.AddrFrom4([4]byte(b[12:16]))
		f.dst = netip.AddrFrom4([4]byte(b[16:20]))
		f.payload = b[ihl:tot] // drops Ethernet padding
	case 0x86dd:
		if len(b) < 40 || b[0]>>4 != 6 {
			return f, fmt.Errorf("bad IPv6 header")
		}
		plen := int(binary.BigEndian.Uint16(b[4:]))
		if 40+plen > len(b) {
			return f, fmt.Errorf("bad IPv6 payload length %d", plen)
		}
		f.ttl = int(b[7])
		f.src = netip.AddrFrom16([16]byte(b[8:24]))
		f.dst = netip.AddrFrom16([16]byte(b[24:40]))
		nh, p := int(b[6]), b[40:40+plen]
		for nh == 0 || nh == 43 || nh == 60 { // hop-by-hop, routing, destination options
			if len(p) < 8 || len(p) < (int(p[1])+1)*8 {
				return f, fmt.Errorf("bad IPv6 extension header")
			}
			nh, p = int(p[0]), p[(int(p[1])+1)*8:]
		}
		f.proto, f.payload = nh, p
	}
	return f, nil
}

func readFrames(t testing.TB, path string) []frame {
	t.Helper()
	var fs []frame
	for i, r := range readPcap(t, path) {
		f, err := decodeFrame(r)
		if err != nil {
			t.Fatalf("%s: packet %d: %v", path, i+1, err)
		}
		fs = append(fs, f)
	}
	return fs
}

// kaConf is what the tests need from a keepalived configuration file.
type kaConf struct {
	version      uint8
	vrid         uint8
	priority     uint8
	advertInt    time.Duration
	authType     AuthType
	authPass     string
	vips         []netip.Addr
	unicastSrc   netip.Addr
	unicastPeers []netip.Addr
}

// readKaConf understands the flat subset of keepalived syntax the capture
// configurations use: "keyword value" and "keyword { values }".
func readKaConf(t testing.TB, path string) kaConf {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var toks []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.NewReplacer("{", " { ", "}", " } ").Replace(line)
		toks = append(toks, strings.Fields(line)...)
	}
	c := kaConf{version: 2} // keepalived's default
	u8 := func(s string) uint8 {
		n, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return uint8(n)
	}
	addr := func(s string) netip.Addr {
		if p, err := netip.ParsePrefix(s); err == nil {
			return p.Addr()
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return a
	}
	block := func(i int) ([]string, int) { // toks[i] == "{"
		j := i + 1
		for j < len(toks) && toks[j] != "}" {
			j++
		}
		return toks[i+1 : j], j
	}
	for i := 0; i < len(toks); i++ {
		next := func() string { i++; return toks[i] }
		switch toks[i] {
		case "vrrp_version":
			c.version = u8(next())
		case "virtual_router_id":
			c.vrid = u8(next())
		case "priority":
			c.priority = u8(next())
		case "advert_int":
			f, err := strconv.ParseFloat(next(), 64)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			c.advertInt = time.Duration(math.Round(f*100)) * 10 * time.Millisecond
		case "auth_type":
			switch next() {
			case "PASS":
				c.authType = AuthPass
			case "AH":
				c.authType = AuthAH
			}
		case "auth_pass":
			c.authPass = next()
		case "unicast_src_ip":
			c.unicastSrc = addr(next())
		case "virtual_ipaddress", "unicast_peer":
			key := toks[i]
			vals, j := block(i + 1)
			for _, v := range vals {
				if key == "virtual_ipaddress" {
					c.vips = append(c.vips, addr(v))
				} else {
					c.unicastPeers = append(c.unicastPeers, addr(v))
				}
			}
			i = j
		}
	}
	if c.priority == 0 {
		c.priority = 100 // keepalived's default
	}
	return c
}

// capture is one test vector: a pcap and its keepalived configuration.
type capture struct {
	name   string
	conf   kaConf
	frames []frame
}

func loadCaptures(t testing.TB) []capture {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.pcap")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no captures in testdata: %v", err)
	}
	var cs []capture
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".pcap")
		cs = append(cs, capture{
			name:   name,
			conf:   readKaConf(t, filepath.Join("testdata", "ka-"+name+".conf")),
			frames: readFrames(t, p),
		})
	}
	return cs
}
