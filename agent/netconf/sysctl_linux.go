package netconf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// sysctlPath maps "net/ipv4/ip_forward" or "net.ipv4.ip_forward" to its /proc/sys file.
// Dotted names are only converted when they contain no slash, so interface names with dots
// (eth0.100) work in the slash form.
func sysctlPath(name string) string {
	if !strings.Contains(name, "/") {
		name = strings.ReplaceAll(name, ".", "/")
	}
	return filepath.Join("/proc/sys", filepath.Clean("/"+name))
}

// Sysctl reads a sysctl of the handle's namespace, trimmed.
func (h *Handle) Sysctl(name string) (string, error) {
	var v string
	err := h.Do(func() error {
		b, err := os.ReadFile(sysctlPath(name))
		v = strings.TrimSpace(string(b))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("netconf: read sysctl %s: %w", name, err)
	}
	return v, nil
}

// SetSysctl writes a sysctl of the handle's namespace, skipping the write when it already
// holds the value.
func (h *Handle) SetSysctl(name, value string) error {
	err := h.Do(func() error {
		p := sysctlPath(name)
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == value {
			return nil
		}
		return os.WriteFile(p, []byte(value), 0o644)
	})
	if err != nil {
		return fmt.Errorf("netconf: set sysctl %s=%s: %w", name, value, err)
	}
	return nil
}
