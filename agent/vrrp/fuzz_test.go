package vrrp

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzParse: Parse never panics, and whatever it accepts survives a
// Marshal/Parse round trip — byte for byte when the packet used no reserved
// bits and the standard checksum. With fixSum the input's checksum is
// corrected first, so that the fuzzer also explores past the checksum check.
func FuzzParse(f *testing.F) {
	for _, c := range loadCaptures(f) {
		for _, fr := range c.frames {
			if fr.proto == IPProto {
				f.Add(fr.payload, fr.src.AsSlice(), fr.dst.AsSlice(), false)
				f.Add(fr.payload, fr.src.AsSlice(), fr.dst.AsSlice(), true)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b, src, dst []byte, fixSum bool) {
		s, _ := netip.AddrFromSlice(src)
		d, _ := netip.AddrFromSlice(dst)
		if fixSum && len(b) >= headerLen {
			b = fix(b[0]>>4, s.Unmap(), d.Unmap(), bytes.Clone(b))
		}
		a, err := Parse(b, s, d)
		if err != nil {
			return
		}
		out, err := a.Marshal(s, d)
		if err != nil {
			t.Fatalf("Marshal of a parsed advert %+v: %v", a, err)
		}
		if a.MulticastChecksum {
			if out, err = a.Marshal(s, MulticastIPv4); err != nil {
				t.Fatal(err)
			}
		}
		again, err := Parse(out, s, d)
		if err != nil {
			t.Fatalf("Parse of our own Marshal: %v\n% x", err, out)
		}
		again.Checksum, a.Checksum = 0, 0
		if !advertEqual(again, a) {
			t.Fatalf("round trip: %+v became %+v", a, again)
		}
		reserved := a.Version == 3 && b[4]&0xf0 != 0
		authIgnored := a.Version == 2 && a.AuthType == AuthNone && !bytes.Equal(b[len(b)-8:], make([]byte, 8))
		if !reserved && !authIgnored && !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs:\n in % x\nout % x", b, out)
		}
	})
}
