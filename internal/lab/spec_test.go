package lab

import (
	"strings"
	"testing"
)

func TestSpecValidate(t *testing.T) {
	t.Parallel()
	ok := HostSpec{Name: "h1", IPv4: "198.51.100.40", IPv6: "2001:db8::40"}
	tests := []struct {
		name  string
		hosts []HostSpec
		want  string // substring of the error; "" for valid
	}{
		{"valid", []HostSpec{ok}, ""},
		{"empty", nil, "no hosts"},
		{"bad name", []HostSpec{{Name: "Director", IPv4: ok.IPv4, IPv6: ok.IPv6}}, "host name"},
		{"long name", []HostSpec{{Name: "abcdefghijklm", IPv4: ok.IPv4, IPv6: ok.IPv6}}, "host name"},
		{"dup name", []HostSpec{ok, {Name: "h1", IPv4: "198.51.100.41", IPv6: "2001:db8::41"}}, "already used"},
		{"dup v4", []HostSpec{ok, {Name: "h2", IPv4: ok.IPv4, IPv6: "2001:db8::41"}}, "already used"},
		{"dup v6", []HostSpec{ok, {Name: "h2", IPv4: "198.51.100.41", IPv6: "2001:db8:0::40"}}, "already used"},
		{"v4 outside", []HostSpec{{Name: "h", IPv4: "10.0.0.1", IPv6: ok.IPv6}}, "not an address in"},
		{"v4 admin", []HostSpec{{Name: "h", IPv4: "198.51.100.1", IPv6: ok.IPv6}}, "reserved"},
		{"v4 broadcast", []HostSpec{{Name: "h", IPv4: "198.51.100.255", IPv6: ok.IPv6}}, "reserved"},
		{"v6 outside", []HostSpec{{Name: "h", IPv4: ok.IPv4, IPv6: "2001:db9::1"}}, "not an address in"},
		{"v6 as v4", []HostSpec{{Name: "h", IPv4: ok.IPv4, IPv6: "198.51.100.40"}}, "not an address in"},
		{"v6 admin", []HostSpec{{Name: "h", IPv4: ok.IPv4, IPv6: "2001:db8::1"}}, "reserved"},
		{"inside", []HostSpec{{Name: "h", IPv4: ok.IPv4, IPv6: ok.IPv6, InsideIPv4: "198.51.100.201", InsideIPv6: "2001:db8:1::201"}}, ""},
		{"inside v4 only", []HostSpec{{Name: "h", IPv4: ok.IPv4, IPv6: ok.IPv6, InsideIPv4: "198.51.100.201"}}, "inside IPv6"},
		{"inside v4 outside the /26", []HostSpec{{Name: "h", IPv4: ok.IPv4, IPv6: ok.IPv6, InsideIPv4: "198.51.100.41", InsideIPv6: "2001:db8:1::41"}}, "inside IPv4"},
		{"inside v4 network", []HostSpec{{Name: "h", IPv4: ok.IPv4, IPv6: ok.IPv6, InsideIPv4: "198.51.100.192", InsideIPv6: "2001:db8:1::41"}}, "inside IPv4"},
		{"inside v6 on eth0's prefix", []HostSpec{{Name: "h", IPv4: ok.IPv4, IPv6: ok.IPv6, InsideIPv4: "198.51.100.201", InsideIPv6: "2001:db8::201"}}, "inside IPv6"},
		{"inside v4 used on eth0", []HostSpec{ok, {Name: "h2", IPv4: "198.51.100.201", IPv6: "2001:db8::41"}, {Name: "h3", IPv4: "198.51.100.42", IPv6: "2001:db8::42", InsideIPv4: "198.51.100.201", InsideIPv6: "2001:db8:1::201"}}, "already used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Spec{Hosts: tt.hosts}.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestDefaultSpec(t *testing.T) {
	t.Parallel()
	s := DefaultSpec()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(s.Hosts) != 5 || s.Hosts[0].Name != "director1" || s.Hosts[0].IPv4 != "198.51.100.11" || s.Hosts[0].IPv6 != "2001:db8::11" {
		t.Fatalf("DefaultSpec() = %+v", s)
	}
	for _, h := range s.Hosts {
		if n := len(vethName(h.Name)); n > 15 {
			t.Errorf("interface name %q is %d bytes, Linux allows 15", vethName(h.Name), n)
		}
	}
}

func TestAccountFiles(t *testing.T) {
	t.Parallel()
	passwd := "root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nalice:x:1001:1001::/home/alice:/bin/bash\n"
	shadow := "root:!:19000:0:99999:7:::\nsshd:*:19000::::::\nnobody:*:19000::::::\nalice:$y$hash:19000::::::\n"
	group := "root:x:0:\nshadow:x:42:\nnogroup:x:65534:\nalice:x:1001:\n"
	p, s, g := accountFiles([]byte(passwd), []byte(shadow), []byte(group))
	wantP := "root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nlvsadmin:x:1001:1001:LVS lab admin:/home/lvsadmin:/bin/bash\n"
	wantS := "root:*:19000:0:99999:7:::\nsshd:*:19000::::::\nnobody:*:19000::::::\nlvsadmin:*:19000:0:99999:7:::\n"
	wantG := "root:x:0:\nshadow:x:42:\nnogroup:x:65534:\nlvsadmin:x:1001:\n"
	if string(p) != wantP {
		t.Errorf("passwd:\n%s\nwant:\n%s", p, wantP)
	}
	if string(s) != wantS {
		t.Errorf("shadow:\n%s\nwant:\n%s", s, wantS)
	}
	if string(g) != wantG {
		t.Errorf("group:\n%s\nwant:\n%s", g, wantG)
	}
}

func TestKnownHostsLineAndEtcHosts(t *testing.T) {
	t.Parallel()
	h := HostSpec{Name: "real1", IPv4: "198.51.100.21", IPv6: "2001:db8::21"}
	got := knownHostsLine(h, "ssh-ed25519 AAAAkey root@real1\n")
	if want := "real1,198.51.100.21,2001:db8::21 ssh-ed25519 AAAAkey\n"; got != want {
		t.Errorf("knownHostsLine = %q, want %q", got, want)
	}
	if got := knownHostsLine(h, "garbage"); got != "" {
		t.Errorf("knownHostsLine(garbage) = %q, want empty", got)
	}
	hosts := etcHosts(Spec{Hosts: []HostSpec{h}})
	if !strings.Contains(hosts, "198.51.100.21\treal1\n") || !strings.Contains(hosts, "2001:db8::21\treal1\n") {
		t.Errorf("etcHosts:\n%s", hosts)
	}
}

func TestAutostartCommands(t *testing.T) {
	t.Parallel()
	got := autostartCommands([]byte("# services\n\n  /usr/local/sbin/lvs-agent serve  \n#off\nsleep 1 &\n"))
	want := []string{"/usr/local/sbin/lvs-agent serve", "sleep 1 &"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("autostartCommands = %q, want %q", got, want)
	}
}

func TestMacFor(t *testing.T) {
	t.Parallel()
	if got := macFor("198.51.100.11", 0); got != "02:00:c6:33:64:0b" {
		t.Errorf("macFor = %s", got)
	}
	if got := macFor("198.51.100.1", 2); got != "02:02:c6:33:64:01" {
		t.Errorf("macFor = %s", got)
	}
}
