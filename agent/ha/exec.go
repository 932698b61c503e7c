package ha

import (
	"context"
	"fmt"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/shellcmd"
)

// maxOutput bounds what is kept of a command's output (for logs).
const maxOutput = 512

// runCommand runs command (track script or notify hook) with args as its "$@" through
// shellcmd, cut off with its whole process group after timeout. It returns the start of the
// output and the exit error.
func runCommand(ctx context.Context, timeout time.Duration, command string, args, env []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := shellcmd.Run(ctx, command, args, env, maxOutput)
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %v", timeout)
	}
	return out, err
}
