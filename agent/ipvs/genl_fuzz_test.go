package ipvs

import (
	"reflect"
	"testing"
)

// FuzzDecode feeds generic-netlink attribute payloads, as the kernel answers GET_SERVICE,
// GET_DEST, GET_DAEMON and GET_CONFIG, to their decoders. Beyond not panicking: what a decoder
// accepts, encoded as the agent sends it and decoded again, is what it decoded (the reconciler
// compares the kernel's table with the desired one through these two directions), except the
// defaults the encoder fills in (the netmask of a service without one) and what it sends only
// for tunnels.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, kind uint8, msg []byte, family uint16) {
		switch kind % 4 {
		case 0:
			s, err := decodeService(msg)
			if err != nil {
				return
			}
			var e encoder
			encodeService(&e, s, true)
			got, err := decodeService(e.b)
			if err != nil {
				t.Fatalf("decode of our encoding of %+v: %v", s, err)
			}
			want := *s
			want.Stats = Stats{}
			if want.NetmaskBits == 0 {
				want.NetmaskBits = 32
				if want.Family == AFInet6 {
					want.NetmaskBits = 128
				}
			}
			if !reflect.DeepEqual(got, &want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, &want)
			}
		case 1:
			d, err := decodeDest(msg, family)
			if err != nil {
				return
			}
			if !d.Addr.IsValid() {
				t.Fatalf("decoded a destination without an address: %+v", d)
			}
			var e encoder
			encodeDest(&e, d, true)
			got, err := decodeDest(e.b, family)
			if err != nil {
				t.Fatalf("decode of our encoding of %+v: %v", d, err)
			}
			want := *d
			want.Stats, want.ActiveConns, want.InactiveConns, want.PersistConns = Stats{}, 0, 0, 0
			if want.FwdMethod != FwdTunnel {
				want.TunType, want.TunPort, want.TunFlags = 0, 0, 0
			}
			if !reflect.DeepEqual(got, &want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, &want)
			}
		case 2:
			d, err := decodeDaemon(msg)
			if err != nil {
				return
			}
			got, err := decodeDaemon(encodeDaemon(d, true))
			if err != nil || got != d {
				t.Fatalf("round trip: %+v became %+v, %v", d, got, err)
			}
		case 3:
			to, err := decodeTimeouts(msg)
			if err != nil {
				return
			}
			got, err := decodeTimeouts(encodeTimeouts(to))
			if err != nil || got != to {
				t.Fatalf("round trip: %+v became %+v, %v", to, got, err)
			}
		}
	})
}
