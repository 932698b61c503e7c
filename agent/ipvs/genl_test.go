package ipvs

import (
	"encoding/binary"
	"reflect"
	"testing"
)

func TestGenlServiceRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []*Service{
		{ServiceKey: ServiceKey{Family: AFInet, Protocol: ProtoTCP, Addr: mustAddr("198.51.100.100"), Port: 80}, Scheduler: "wrr", Flags: FlagPersistent | FlagSched2, Timeout: 300, NetmaskBits: 24},
		{ServiceKey: ServiceKey{Family: AFInet6, Protocol: ProtoSCTP, Addr: mustAddr("2001:db8::100"), Port: 5060}, Scheduler: "mh", NetmaskBits: 64},
		{ServiceKey: ServiceKey{Family: AFInet6, FWMark: 42}, Scheduler: "rr", NetmaskBits: 128},
	} {
		var e encoder
		encodeService(&e, s, true)
		got, err := decodeService(e.b)
		if err != nil {
			t.Fatal(err)
		}
		got.Dests = nil
		if !reflect.DeepEqual(got, s) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
		}
	}
}

func TestGenlWireDetails(t *testing.T) {
	t.Parallel()
	// IPv4 netmask in network order, IPv6 as a host-order prefix length (as ipvsadm sends).
	if got := netmaskWire(AFInet, 24); !reflect.DeepEqual(got, []byte{255, 255, 255, 0}) {
		t.Errorf("IPv4 /24 = % x", got)
	}
	if got := binary.NativeEndian.Uint32(netmaskWire(AFInet6, 64)); got != 64 {
		t.Errorf("IPv6 /64 = %d", got)
	}
	// Ports are big endian; the address is a 16-byte union.
	var e encoder
	encodeService(&e, &Service{ServiceKey: ServiceKey{Family: AFInet, Protocol: ProtoTCP, Addr: mustAddr("198.51.100.100"), Port: 80}}, false)
	top, _ := parseAttrs(e.b)
	a, _ := parseAttrs(top[attrService])
	if !reflect.DeepEqual(a[svcPort], []byte{0, 80}) || len(a[svcAddr]) != 16 || a[svcAddr][0] != 198 {
		t.Errorf("service key attrs %v", a)
	}
	if _, ok := a[svcSchedName]; ok {
		t.Error("a key-only service carries settings")
	}
	// Timeouts: zero means "keep", so it is not sent.
	ta, _ := parseAttrs(encodeTimeouts(Timeouts{TCP: 60}))
	if len(ta) != 1 || ta.u32(attrTimeoutTCP) != 60 {
		t.Errorf("timeouts attrs %v", ta)
	}
}

func TestGenlDestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, d := range []*Dest{
		{Addr: mustAddr("198.51.100.21"), Port: 8080, FwdMethod: FwdMasq, Weight: 65535, UpperThreshold: 100, LowerThreshold: 10},
		{Addr: mustAddr("2001:db8::21"), Port: 80, FwdMethod: FwdTunnel, Weight: 0, TunType: TunGUE, TunPort: 6080, TunFlags: 1},
	} {
		var e encoder
		encodeDest(&e, d, true)
		got, err := decodeDest(e.b, AFInet)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, d) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, d)
		}
	}
	for _, d := range []Daemon{
		{State: DaemonBackup, Interface: "eth0", SyncID: 77},
		{State: DaemonMaster, Interface: "eth1", SyncID: 0, MaxLen: 1400, Port: 8850, TTL: 2, Group: mustAddr("239.1.2.3")},
		{State: DaemonBackup, Interface: "eth1", SyncID: 255, Port: 9000, Group: mustAddr("ff05::81")},
	} {
		if got, err := decodeDaemon(encodeDaemon(d, true)); err != nil || got != d {
			t.Errorf("daemon round trip %+v %v, want %+v", got, err, d)
		}
	}
}

func TestOpCommands(t *testing.T) {
	t.Parallel()
	s := &Service{ServiceKey: ServiceKey{Family: AFInet, Protocol: ProtoTCP, Addr: mustAddr("198.51.100.100"), Port: 80}, Scheduler: "rr"}
	d := &Dest{Addr: mustAddr("198.51.100.21"), Port: 80, FwdMethod: FwdDroute, Weight: 1}
	want := map[OpKind]uint8{AddService: cmdNewService, UpdateService: cmdSetService, DelService: cmdDelService,
		AddDest: cmdNewDest, UpdateDest: cmdSetDest, DelDest: cmdDelDest}
	for kind, cmd := range want {
		o := Op{Kind: kind, Service: s}
		if kind >= AddDest {
			o.Dest = d
		}
		if got, _ := opCommand(o); got != cmd {
			t.Errorf("%s: command %d, want %d", kind, got, cmd)
		}
	}
}
