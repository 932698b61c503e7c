//go:build unix

package shellcmd

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Run runs command with /bin/sh -c, args as its "$@", and env added to the agent's own. It
// returns the first maxOutput bytes of stdout and stderr together, and the error of the run:
// an *exec.ExitError for a non-zero exit; when ctx ended first, callers tell that by ctx.Err().
func Run(ctx context.Context, command string, args, env []string, maxOutput int) (string, error) {
	script := command
	if len(args) > 0 {
		script += ` "$@"`
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", script, "sh"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Children that keep the output pipe open must not hold Wait up after the kill.
	cmd.WaitDelay = time.Second
	out := &limitedBuffer{max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	// Whatever the outcome, nothing of the group may outlive the run.
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	return out.String(), err
}

// limitedBuffer keeps the first max bytes written to it and accepts the rest unread. The
// buffer is a field, not embedded: an embedded bytes.Buffer's ReadFrom would let io.Copy
// bypass Write and its bound.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string { return b.buf.String() }
