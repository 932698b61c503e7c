//go:build linux

package ha_test

import (
	"strings"
	"testing"
)

// Lines of a real capture of the client's (tcpdump -nn -e -tt), as TestLabHandover reads it.
const wireOK = `1795297142.717150 02:00:c6:33:64:1f > 02:00:c6:33:64:0b, ethertype IPv4 (0x0800), length 74: 198.51.100.31.47002 > 198.51.100.100.7: Flags [S], seq 1698093740, win 64240, options [mss 1460,sackOK,TS val 349912298 ecr 0,nop,wscale 7], length 0
1795297142.717206 02:00:c6:33:64:0b > 02:00:c6:33:64:1f, ethertype IPv4 (0x0800), length 74: 198.51.100.100.7 > 198.51.100.31.47002: Flags [S.], seq 3152658241, ack 1698093741, win 65160, options [mss 1460,sackOK,TS val 1011862559 ecr 349912298,nop,wscale 7], length 0
1795297142.717223 02:00:c6:33:64:1f > 02:00:c6:33:64:0b, ethertype IPv4 (0x0800), length 66: 198.51.100.31.47002 > 198.51.100.100.7: Flags [.], ack 1, win 502, options [nop,nop,TS val 349912298 ecr 1011862559], length 0
1795297142.717710 02:00:c6:33:64:0b > 02:00:c6:33:64:1f, ethertype IPv4 (0x0800), length 76: 198.51.100.100.7 > 198.51.100.31.47002: Flags [P.], seq 1:11, ack 1, win 510, options [nop,nop,TS val 1011862560 ecr 349912298], length 10
1795297145.167775 02:00:c6:33:64:1f > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 198.51.100.100 tell 198.51.100.31, length 28
1795297145.167821 02:00:c6:33:64:0c > 02:00:c6:33:64:1f, ethertype ARP (0x0806), length 42: Reply 198.51.100.100 is-at 02:00:c6:33:64:0c, length 28
1795297149.433265 02:00:c6:33:64:0c > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 198.51.100.100 (ff:ff:ff:ff:ff:ff) tell 198.51.100.100, length 28
`

func TestCheckWire(t *testing.T) {
	const vip, client = "198.51.100.100.7", "198.51.100.31"
	w := checkWire(wireOK, vip, client)
	if w.conns != 1 || len(w.problems) != 0 {
		t.Fatalf("a clean capture: %+v", w)
	}
	lines := strings.Split(wireOK, "\n")
	for _, c := range []struct {
		name, text, want string
	}{
		{"SYN unanswered", lines[0], "SYN at 1795297142.717150 not answered"},
		{"SYN-ACK late", lines[0] + "\n" + strings.Replace(lines[1], "1795297142.717206", "1795297143.017206", 1), "not answered within 300ms"},
		{"no data", strings.Join(lines[:3], "\n"), "no data from the VIP"},
		{"reset", strings.Join(lines[:3], "\n") + "\n" + strings.Replace(strings.Replace(lines[3], "[P.]", "[R]", 1), "length 10", "length 0", 1), "reset by the VIP"},
		{"abortive close after no data", strings.Join(lines[:3], "\n") + "\n" + strings.Replace(strings.Replace(lines[3], "[P.]", "[R.]", 1), "length 10", "length 0", 1), "no data from the VIP"},
		{"ARP unanswered", lines[4], "ARP request for the VIP at 1795297145.167775 not answered"},
	} {
		w := checkWire(c.text, vip, client)
		if len(w.problems) != 1 || !strings.Contains(w.problems[0], c.want) {
			t.Errorf("%s: %q, want one problem with %q", c.name, w.problems, c.want)
		}
	}
}
