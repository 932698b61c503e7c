package agentapi

import (
	"fmt"
	"strings"
)

// ParseHex reads keepalived's free-form hex string (UDP_CHECK payload and require_reply):
// groups of hex digits separated by spaces, each group read two digits to a byte from the
// left, a last odd digit making a byte of its own ("Ab12f 3" is AB 12 0F 03). With wildcard, x
// or X stands for a nibble that is not compared: mask has its bits set where the data counts.
func ParseHex(s string, wildcard bool) (data, mask []byte, err error) {
	nibble := func(c byte) (v, m byte, ok bool) {
		switch {
		case '0' <= c && c <= '9':
			return c - '0', 0xf, true
		case 'a' <= c && c <= 'f':
			return c - 'a' + 10, 0xf, true
		case 'A' <= c && c <= 'F':
			return c - 'A' + 10, 0xf, true
		case wildcard && (c == 'x' || c == 'X'):
			return 0, 0, true
		}
		return 0, 0, false
	}
	for _, g := range strings.Fields(s) {
		for i := 0; i < len(g); i += 2 {
			hi, hm, ok := nibble(g[i])
			if !ok {
				return nil, nil, fmt.Errorf("%q is not a hex digit", g[i:i+1])
			}
			if i+1 == len(g) {
				data, mask = append(data, hi), append(mask, hm)
				break
			}
			lo, lm, ok := nibble(g[i+1])
			if !ok {
				return nil, nil, fmt.Errorf("%q is not a hex digit", g[i+1:i+2])
			}
			data, mask = append(data, hi<<4|lo), append(mask, hm<<4|lm)
		}
	}
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("%q holds no hex digits", s)
	}
	return data, mask, nil
}
