package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"os/exec"

	"github.com/lvs-provider/terraform-provider-lvs/agent/shellcmd"
)

// Check runs the command through shellcmd: its whole process group goes when ctx ends (the
// timeout) and after it exits, so that a hung script or its children never outlive the check.
func (c *execChecker) Check(ctx context.Context) error {
	_, err := c.CheckWeight(ctx)
	return err
}

// CheckWeight is Check that also says the weight a dynamic check's exit status sets: -1 for
// the configured weight (exit 0, or a check without dynamic_weight), status-2 for 2-255.
func (c *execChecker) CheckWeight(ctx context.Context) (int, error) {
	out, err := shellcmd.Run(ctx, c.command, nil, c.env, maxExecOutput)
	if err == nil {
		return -1, nil
	}
	if ctx.Err() != nil {
		return -1, ctx.Err() // the Manager words the timeout
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return -1, fmt.Errorf("exec: %v", err)
	}
	if st := ee.ExitCode(); c.dynamic && st >= 2 && st <= 255 {
		return st - 2, nil
	}
	return -1, execFailure(ee, out)
}

// execFailure words a failed exit.
func execFailure(ee *exec.ExitError, out string) error {
	if line := firstLine(out); line != "" {
		return fmt.Errorf("exec: %v: %s", ee, line)
	}
	return fmt.Errorf("exec: %v", ee)
}
