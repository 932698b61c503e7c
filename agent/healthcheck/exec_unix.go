//go:build unix

package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Check runs the command with /bin/sh -c in its own process group and kills the whole group
// when ctx ends (the timeout) and after it exits, so that a hung script or its children never
// outlive the check.
func (c *execChecker) Check(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.command)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Children that keep the output pipe open must not hold Wait up after the kill.
	cmd.WaitDelay = time.Second
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err() // the Manager words the timeout
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("exec: %v", err)
	}
	if line := firstLine(out.String()); line != "" {
		return fmt.Errorf("exec: %v: %s", ee, line)
	}
	return fmt.Errorf("exec: %v", ee)
}
