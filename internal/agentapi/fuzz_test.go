package agentapi_test

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// validator is a request body type of the agent's API.
type validator interface{ Validate() error }

// FuzzValidate decodes a request body as the agent does (strictly) into each body type, and
// checks that Validate never panics, gives the same answer twice (the same error, not just the
// same verdict), and gives it again after the body goes through JSON once more (what the agent
// stores and re-reads); for an accepted virtual server, that its key parses back to it.
func FuzzValidate(f *testing.F) {
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		var v validator
		switch kind % 4 {
		case 0:
			v = &agentapi.Pair{}
		case 1:
			v = &agentapi.VIP{}
		case 2:
			v = &agentapi.VirtualServer{}
		case 3:
			v = &agentapi.RealServerBinding{}
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if dec.Decode(v) != nil {
			return
		}
		err := v.Validate()
		for range 3 {
			if err2 := v.Validate(); errString(err2) != errString(err) {
				t.Fatalf("Validate of %s: %v, then %v", body, err, err2)
			}
		}
		b, jerr := json.Marshal(v)
		if jerr != nil {
			t.Fatal(jerr)
		}
		again := map[uint8]func() validator{0: func() validator { return &agentapi.Pair{} }, 1: func() validator { return &agentapi.VIP{} },
			2: func() validator { return &agentapi.VirtualServer{} }, 3: func() validator { return &agentapi.RealServerBinding{} }}[kind%4]()
		if err := json.Unmarshal(b, again); err != nil {
			t.Fatalf("our own JSON %s: %v", b, err)
		}
		if err2 := again.Validate(); errString(err2) != errString(err) {
			t.Fatalf("Validate of %s: %v; through JSON again (%s): %v", body, err, b, err2)
		}
		if vs, ok := v.(*agentapi.VirtualServer); ok && err == nil {
			key := agentapi.VirtualServerKey(vs)
			p, err := agentapi.ParseVirtualServerKey(key)
			if err != nil || agentapi.VirtualServerKey(p) != key {
				t.Fatalf("key %q of an accepted virtual server: %+v, %v", key, p, err)
			}
			for k, rs := range vs.RealServers {
				if c, err := agentapi.CanonicalRealServerKey(k); err != nil || c != k {
					t.Fatalf("real server key %q of an accepted virtual server: %q, %v", k, c, err)
				}
				if _, err := netip.ParseAddr(rs.Address); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzKeys feeds the key and address parsers of the API: canonical forms are fixed points
// (canonicalising a canonical key changes nothing) and a parsed key formats to its canonical form.
func FuzzKeys(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string, ipv6 bool) {
		if c, err := agentapi.CanonicalVirtualServerKey(s); err == nil {
			if c2, err := agentapi.CanonicalVirtualServerKey(c); err != nil || c2 != c {
				t.Fatalf("virtual server key %q: canonical %q, then %q (%v)", s, c, c2, err)
			}
			vs, _ := agentapi.ParseVirtualServerKey(s)
			if agentapi.VirtualServerKey(vs) != c {
				t.Fatalf("virtual server key %q: parsed %+v formats as %q, canonical %q", s, vs, agentapi.VirtualServerKey(vs), c)
			}
		}
		if c, err := agentapi.CanonicalRealServerKey(s); err == nil {
			if c2, err := agentapi.CanonicalRealServerKey(c); err != nil || c2 != c {
				t.Fatalf("real server key %q: canonical %q, then %q (%v)", s, c, c2, err)
			}
		}
		if p, err := agentapi.ParseVIPAddress(s); err == nil {
			if p2, err := agentapi.ParseVIPAddress(p.String()); err != nil || p2 != p {
				t.Fatalf("VIP address %q: %v, then %v (%v)", s, p, p2, err)
			}
		}
		if n, err := agentapi.ParseNetmask(s, ipv6); err == nil {
			if max := map[bool]int{false: 32, true: 128}[ipv6]; n < 1 || n > max {
				t.Fatalf("netmask %q: %d", s, n)
			}
		}
	})
}
