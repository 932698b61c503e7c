package sshx

import (
	"bytes"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"
)

// FuzzParsePins feeds host_key settings to parsePins. Beyond not panicking: accepted text holds
// at least one key; the keys, written back one per line, parse to the same keys; and the host-key
// algorithms asked for cover every pinned key's type, so that a pinned host can always present
// a pinned key.
func FuzzParsePins(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		keys, err := parsePins(text)
		if err != nil {
			if keys != nil {
				t.Fatalf("error %v with keys", err)
			}
			return
		}
		if len(keys) == 0 {
			if len(bytes.TrimSpace([]byte(text))) != 0 {
				t.Fatalf("accepted %q without a key", text)
			}
			return
		}
		var out []byte
		for _, k := range keys {
			out = append(out, ssh.MarshalAuthorizedKey(k)...)
		}
		again, err := parsePins(string(out))
		if err != nil || len(again) != len(keys) {
			t.Fatalf("written back as %q: %d keys, %v", out, len(again), err)
		}
		algos := algorithmsFor(keys)
		for i, k := range keys {
			if !bytes.Equal(again[i].Marshal(), k.Marshal()) {
				t.Fatalf("key %d changed when written back", i)
			}
			rsa := k.Type() == ssh.KeyAlgoRSA && slices.Contains(algos, ssh.KeyAlgoRSASHA256)
			if !slices.Contains(algos, k.Type()) && !rsa {
				t.Fatalf("key type %s not among the algorithms %v", k.Type(), algos)
			}
		}
	})
}
