package resourceid_test

import (
	"strings"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/resourceid"
)

func TestPairRoundTrip(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"edge@198.51.100.11,198.51.100.12", "web-1@2001:db8::11,2001:db8::12", "x@lb1.example,lb2.example"} {
		p, err := resourceid.ParsePair(id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if p.String() != id {
			t.Fatalf("round trip %q -> %q", id, p.String())
		}
	}
}

func TestPairErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"edge":                              "want NAME@HOST1,HOST2",
		"@198.51.100.11,198.51.100.12":      "name",
		"edge@198.51.100.11":                "exactly two",
		"edge@198.51.100.11,198.51.100.11":  "must differ",
		"edge@198.51.100.11,bad/host":       "not an address",
		"ed ge@198.51.100.11,198.51.100.12": "name",
	}
	for id, want := range cases {
		_, err := resourceid.ParsePair(id)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePair(%q) = %v, want error containing %q", id, err, want)
		}
	}
}

func TestVIP(t *testing.T) {
	t.Parallel()
	id := "edge@198.51.100.11,198.51.100.12/vrid/91"
	v, err := resourceid.ParseVIP(id)
	if err != nil || v.VRID != 91 || v.Pair.Name != "edge" || v.String() != id {
		t.Fatalf("ParseVIP(%q) = %+v, %v", id, v, err)
	}
	for id, want := range map[string]string{
		"edge@198.51.100.11,198.51.100.12":          "want PAIR_ID/vrid/N",
		"edge@198.51.100.11,198.51.100.12/vrid/256": "not 1-255",
		"edge@198.51.100.11/vrid/1":                 "exactly two",
	} {
		if _, err := resourceid.ParseVIP(id); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseVIP(%q) = %v, want %q", id, err, want)
		}
	}
}

func TestVirtualAndRealServer(t *testing.T) {
	t.Parallel()
	for _, id := range []string{
		"edge@198.51.100.11,198.51.100.12/vrid/91/tcp/198.51.100.100:80",
		"edge@198.51.100.11,198.51.100.12/vrid/91/udp/[2001:db8::100]:53",
		"edge@198.51.100.11,198.51.100.12/vrid/91/fwmark/inet/7",
	} {
		vs, err := resourceid.ParseVirtualServer(id)
		if err != nil || vs.String() != id || vs.VIP.VRID != 91 {
			t.Fatalf("ParseVirtualServer(%q) = %+v, %v", id, vs, err)
		}
		rsID := id + "/198.51.100.21:8080"
		rs, err := resourceid.ParseRealServer(rsID)
		if err != nil || rs.String() != rsID || rs.Key != "198.51.100.21:8080" || rs.VirtualServer != vs {
			t.Fatalf("ParseRealServer(%q) = %+v, %v", rsID, rs, err)
		}
	}
	if _, err := resourceid.ParseVirtualServer("edge@198.51.100.11,198.51.100.12/vrid/91"); err == nil {
		t.Fatal("a VIP ID is not a virtual server ID")
	}
	if _, err := resourceid.ParseRealServer("edge@198.51.100.11,198.51.100.12/vrid/91/198.51.100.21:80"); err == nil {
		t.Fatal("a real server ID needs a virtual server key")
	}
}
