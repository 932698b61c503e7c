//go:build unix

package healthcheck

import "syscall"

// openFileLimit raises the soft RLIMIT_NOFILE to the hard one (the Go runtime usually did
// already) and returns the soft limit then in force; 0 when it cannot be read.
func openFileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	if r.Cur < r.Max {
		raised := r
		raised.Cur = r.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			r = raised
		}
	}
	return r.Cur
}
