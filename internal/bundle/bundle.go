// Package bundle holds the lvs-agent binaries embedded in the provider, one per host architecture.
//
// `make build` compiles them into agents/, gzipped, before compiling the provider: the provider
// then sends the compressed bytes (41% of the binary) to hosts that have gzip, which is most of
// the time an install takes on a slow link. A raw binary in agents/ (a plain `go build`) works
// too. A provider built without them still runs, and says which architecture is missing and how
// to build it when it needs one.
package bundle

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"sync"

	"github.com/lvs-provider/terraform-provider-lvs/internal/version"
)

//go:embed agents
var agents embed.FS

const prefix = "lvs-agent_linux_"

// ErrNotBundled matches every *NotBundledError.
var ErrNotBundled = errors.New("agent not bundled")

// NotBundledError says that this provider build carries no agent for a host's architecture.
type NotBundledError struct {
	Arch    string
	Bundled []string
}

func (e *NotBundledError) Error() string {
	have := "none"
	if len(e.Bundled) > 0 {
		have = strings.Join(e.Bundled, ", ")
	}
	return fmt.Sprintf("this provider build bundles no lvs-agent for linux/%s (bundled: %s); build the provider with `make build`, which bundles linux/amd64 and linux/arm64", e.Arch, have)
}

func (e *NotBundledError) Is(target error) bool { return target == ErrNotBundled }

// Agent is one bundled binary.
type Agent struct {
	Arch string
	// Gzip is the binary gzipped, nil when it was bundled raw.
	Gzip []byte
	// SHA256 is the hex SHA-256 of the binary itself, as installed.
	SHA256 string
	raw    []byte // the binary as bundled, or nil when gzipped

	sumOnce sync.Once // SHA256 is computed by For, once, for the architectures a run meets
	sumErr  error
}

// Binary returns the binary itself, decompressing it if it was bundled gzipped.
func (a *Agent) Binary() ([]byte, error) {
	if a.raw != nil {
		return a.raw, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(a.Gzip))
	if err != nil {
		return nil, fmt.Errorf("bundled lvs-agent linux/%s: %w", a.Arch, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("bundled lvs-agent linux/%s: %w", a.Arch, err)
	}
	return b, nil
}

var (
	once  sync.Once
	cache map[string]*Agent
	// agentVersion is the version the bundled agents are stamped with: `make build` stamps them
	// and the provider with the same one.
	agentVersion = version.Version
)

// Version is the version of the bundled agents.
func Version() string {
	once.Do(load)
	return agentVersion
}

// ReplaceForTest makes the bundle hold binary, stamped ver, for linux/arch, until restore is
// called. It is for tests only (the acceptance tests run the provider in-process and upgrade
// the lab's directors to a second agent build); a provider binary never calls it.
func ReplaceForTest(arch string, binary []byte, ver string) (restore func()) {
	once.Do(load)
	old, oldVer := cache[arch], agentVersion
	// Gzipped, as `make build` bundles them, so that it travels as a real upgrade does.
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(binary)
	_ = zw.Close()
	cache[arch], agentVersion = &Agent{Arch: arch, Gzip: z.Bytes()}, ver
	return func() { cache[arch], agentVersion = old, oldVer }
}

func load() {
	cache = map[string]*Agent{}
	entries, err := fs.ReadDir(agents, "agents")
	if err != nil {
		return
	}
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		arch, gzipped := strings.CutSuffix(name, ".gz")
		b, err := agents.ReadFile("agents/" + e.Name())
		if err != nil || len(b) == 0 {
			continue
		}
		a := &Agent{Arch: arch}
		if gzipped {
			a.Gzip = b
		} else {
			a.raw = b
		}
		cache[arch] = a
	}
}

// For returns the agent for a Go architecture name (amd64, arm64).
func For(arch string) (*Agent, error) {
	once.Do(load)
	a, ok := cache[arch]
	if !ok {
		return nil, &NotBundledError{Arch: arch, Bundled: Arches()}
	}
	// The installed binary's checksum, to compare with what a host has: a gzipped agent is
	// decompressed for it only when a host of its architecture is met.
	a.sumOnce.Do(func() {
		raw, err := a.Binary()
		if err != nil {
			a.sumErr = err
			return
		}
		sum := sha256.Sum256(raw)
		a.SHA256 = hex.EncodeToString(sum[:])
	})
	if a.sumErr != nil {
		return nil, a.sumErr
	}
	return a, nil
}

// Arches lists the bundled architectures.
func Arches() []string {
	once.Do(load)
	out := make([]string, 0, len(cache))
	for a := range cache {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// GoArch maps `uname -m` output to a Go architecture name.
func GoArch(unameM string) (string, bool) {
	switch strings.TrimSpace(unameM) {
	case "x86_64", "amd64":
		return "amd64", true
	case "aarch64", "arm64":
		return "arm64", true
	}
	return "", false
}
