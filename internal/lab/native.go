package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// Native mode (`lab run --native`, UML only) lets a command inside the lab run programs on the
// machine itself, not under UML's ptrace, that reach the lab hosts over the network: the way
// operators run terraform, on their own machine, against directors elsewhere. See doc.go.

const (
	// EnvNative is, inside a native-mode run, the URL of the machine-side runner.
	EnvNative = "LVS_LAB_NATIVE"
	// EnvNativeDir is, inside a native-mode run, a directory seen at the same path inside the
	// lab and on the machine: files a native command reads or writes go there.
	EnvNativeDir = "LVS_LAB_NATIVE_DIR"
	// nativePort is the runner's TCP port on NativeIPv4.
	nativePort = 7070
)

// NativeIPv4 and NativeIPv6 are the machine side's addresses on the lab bridge in native mode;
// no lab host may use them.
var (
	NativeIPv4 = netip.MustParseAddr("198.51.100.254")
	NativeIPv6 = netip.MustParseAddr("2001:db8::fe")
)

// NativeDir returns the directory shared with native commands, or "" outside native mode.
func NativeDir() string {
	if os.Getenv(EnvNative) == "" {
		return ""
	}
	return os.Getenv(EnvNativeDir)
}

// nativeRequest is what RunNative sends to the runner.
type nativeRequest struct {
	Argv []string `json:"argv"`
	Dir  string   `json:"dir"`
	Env  []string `json:"env"` // added to the runner's own environment
}

// nativeResult is the runner's answer.
type nativeResult struct {
	Code   int    `json:"code"`
	Output string `json:"output"` // stdout and stderr, interleaved
	Error  string `json:"error,omitempty"`
	Nanos  int64  `json:"nanos"` // how long the command ran, measured on the machine
	// CPUNanos is the CPU time (user and system) of the command and the children it waited
	// for, such as terraform's provider plugins.
	CPUNanos int64 `json:"cpu_nanos"`
}

// NativeResult is what a native command did.
type NativeResult struct {
	Output []byte
	Code   int
	Took   time.Duration // wall time
	CPU    time.Duration // CPU time of the command and its waited-for children
}

// RunNative runs argv on the machine, in the native network namespace, with working directory
// dir (under NativeDir) and the machine's environment plus env, and returns what it did. It
// fails outside native mode.
func RunNative(ctx context.Context, dir string, env []string, argv ...string) (NativeResult, error) {
	url := os.Getenv(EnvNative)
	if url == "" {
		return NativeResult{}, fmt.Errorf("not in native mode: run under `lab run --native` (%s is not set)", EnvNative)
	}
	body, err := json.Marshal(nativeRequest{Argv: argv, Dir: dir, Env: env})
	if err != nil {
		return NativeResult{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/run", bytes.NewReader(body))
	if err != nil {
		return NativeResult{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return NativeResult{}, fmt.Errorf("native runner: %w", err)
	}
	defer resp.Body.Close()
	var res nativeResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return NativeResult{}, fmt.Errorf("native runner: answer %s: %w", resp.Status, err)
	}
	out := NativeResult{Output: []byte(res.Output), Code: res.Code, Took: time.Duration(res.Nanos), CPU: time.Duration(res.CPUNanos)}
	if res.Error != "" {
		return out, errors.New("native runner: " + res.Error)
	}
	return out, nil
}

func nativeURL() string {
	return "http://" + NativeIPv4.String() + ":" + strconv.Itoa(nativePort)
}
