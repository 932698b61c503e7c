//go:build !linux

package ipvs

import (
	"context"
	"errors"
)

// Open returns an error: IPVS exists only on Linux.
func Open(context.Context, bool) (Kernel, error) {
	return nil, errors.New("ipvs: only supported on Linux")
}
