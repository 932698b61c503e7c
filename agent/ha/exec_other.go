//go:build !unix

package ha

import (
	"context"
	"errors"
	"time"
)

func runCommand(context.Context, time.Duration, string, []string, []string) (string, error) {
	return "", errors.New("scripts need a Unix host")
}
