package ipvs

import (
	"encoding/binary"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzNetlinkMessages feeds datagrams, as a netlink socket receives them, to splitMessages and
// each message to ackError. Beyond not panicking: the messages split, framed again (header,
// data, padding), split into the same messages.
func FuzzNetlinkMessages(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := splitMessages(b)
		if err != nil {
			return
		}
		var again []byte
		for _, m := range ms {
			_ = ackError(m)
			again = binary.NativeEndian.AppendUint32(again, uint32(unix.NLMSG_HDRLEN+len(m.data)))
			again = binary.NativeEndian.AppendUint16(again, m.typ)
			again = binary.NativeEndian.AppendUint16(again, m.flags)
			again = binary.NativeEndian.AppendUint32(again, m.seq)
			again = binary.NativeEndian.AppendUint32(again, 0)
			again = append(again, m.data...)
			for len(again)%4 != 0 {
				again = append(again, 0)
			}
		}
		ms2, err := splitMessages(again)
		if err != nil || len(ms2) != len(ms) || (len(ms) > 0 && !reflect.DeepEqual(ms2, ms)) {
			t.Fatalf("framed again: %d messages (%v), first %d", len(ms2), err, len(ms))
		}
	})
}
