//go:build !unix

package healthcheck

// openFileLimit is unknown off unix.
func openFileLimit() uint64 { return 0 }
