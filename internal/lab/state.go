package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// stateFile is the lab's description in its directory, read by Load (the CLI, other processes).
const stateFile = "lab.json"

// state is the content of lab.json.
type state struct {
	Dir        string      `json:"dir"`
	SSHUser    string      `json:"sshUser"`
	SudoUser   string      `json:"sudoUser"`
	PrivateKey string      `json:"privateKey"`
	PublicKey  string      `json:"publicKey"`
	KnownHosts string      `json:"knownHosts"`
	Hosts      []hostState `json:"hosts"`
}

// hostState is one host in lab.json. PID is the host's init (the init of its PID namespace) as
// seen from the admin context, 0 while the host is down; StartTime guards against PID reuse.
type hostState struct {
	HostSpec
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
	Veth      string `json:"veth"`
	Disk      string `json:"disk"`
	Root      string `json:"root"`
	Console   string `json:"console"`
	HostKey   string `json:"hostKey"`
}

// Dir is the lab directory of this process: $LVS_LAB_DIR or DefaultDir.
func Dir() string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	return DefaultDir
}

// hostPaths are where a host's files live in the lab directory.
type hostPaths struct {
	dir, disk, upper, work, root, console string
}

func pathsFor(labDir, host string) hostPaths {
	d := filepath.Join(labDir, "hosts", host)
	return hostPaths{
		dir:     d,
		disk:    filepath.Join(d, "disk"),
		upper:   filepath.Join(d, "disk", "upper"),
		work:    filepath.Join(d, "disk", "work"),
		root:    filepath.Join(d, "root"),
		console: filepath.Join(d, "console.log"),
	}
}

func readState(dir string) (state, error) {
	var st state
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}

// writeState replaces lab.json atomically, so readers never see half a file.
func writeState(dir string, st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, stateFile))
}
