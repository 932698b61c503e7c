//go:build !unix

package shellcmd

import (
	"context"
	"errors"
)

// Run fails: commands are run in process groups, which only unix hosts have.
func Run(context.Context, string, []string, []string, int) (string, error) {
	return "", errors.New("commands need a unix host")
}
