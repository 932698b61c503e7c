//go:build !unix

package healthcheck

import (
	"context"
	"errors"
)

// Check fails: exec checks need process groups, which only unix hosts have.
func (c *execChecker) Check(context.Context) error {
	return errors.New("exec: exec checks need a unix host")
}
