package resourceid

import "testing"

// FuzzParse feeds import IDs to every parser. None may panic, and an ID one accepts is the ID of
// what it parsed (String(Parse(id)) == id: an import ID names one resource, in one spelling), which
// parses again to the same value; the parsers of longer IDs agree with those of their prefixes.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, id string) {
		if p, err := ParsePair(id); err == nil {
			if p.String() != id {
				t.Fatalf("ParsePair(%q) = %+v, which is %q", id, p, p.String())
			}
			if !ValidName(p.Name) || !ValidHost(p.Hosts[0]) || !ValidHost(p.Hosts[1]) || p.Hosts[0] == p.Hosts[1] {
				t.Fatalf("ParsePair(%q) accepted %+v", id, p)
			}
		}
		if v, err := ParseVIP(id); err == nil {
			if v.String() != id {
				t.Fatalf("ParseVIP(%q) = %+v, which is %q", id, v, v.String())
			}
			if v.VRID < 1 || v.VRID > 255 {
				t.Fatalf("ParseVIP(%q): VRID %d", id, v.VRID)
			}
			if p, err := ParsePair(v.Pair.String()); err != nil || p != v.Pair {
				t.Fatalf("ParseVIP(%q): pair %+v does not parse back: %v", id, v.Pair, err)
			}
		}
		if vs, err := ParseVirtualServer(id); err == nil {
			if vs.String() != id {
				t.Fatalf("ParseVirtualServer(%q) = %+v, which is %q", id, vs, vs.String())
			}
			if vs.Key == "" {
				t.Fatalf("ParseVirtualServer(%q): empty key", id)
			}
			if v, err := ParseVIP(vs.VIP.String()); err != nil || v != vs.VIP {
				t.Fatalf("ParseVirtualServer(%q): VIP %+v does not parse back: %v", id, vs.VIP, err)
			}
			if again, err := ParseVirtualServer(vs.String()); err != nil || again != vs {
				t.Fatalf("ParseVirtualServer(%q) again: %+v, %v", id, again, err)
			}
		}
		if rs, err := ParseRealServer(id); err == nil {
			if rs.String() != id {
				t.Fatalf("ParseRealServer(%q) = %+v, which is %q", id, rs, rs.String())
			}
			if rs.Key == "" {
				t.Fatalf("ParseRealServer(%q): empty key", id)
			}
			if vs, err := ParseVirtualServer(rs.VirtualServer.String()); err != nil || vs != rs.VirtualServer {
				t.Fatalf("ParseRealServer(%q): virtual server %+v does not parse back: %v", id, rs.VirtualServer, err)
			}
			if again, err := ParseRealServer(rs.String()); err != nil || again != rs {
				t.Fatalf("ParseRealServer(%q) again: %+v, %v", id, again, err)
			}
		}
	})
}
