package lab

import "golang.org/x/sys/unix"

// MonotonicNow is CLOCK_MONOTONIC in nanoseconds. Every process of a lab shares one kernel, so
// times taken in a test and in a program on a lab host compare directly.
func MonotonicNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
