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
	out, err := shellcmd.Run(ctx, c.command, nil, c.env, maxExecOutput)
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
	if line := firstLine(out); line != "" {
		return fmt.Errorf("exec: %v: %s", ee, line)
	}
	return fmt.Errorf("exec: %v", ee)
}
