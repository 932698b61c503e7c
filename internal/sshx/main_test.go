package sshx_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	removeTestUser()
	if code == 0 {
		if leaked := waitGoroutines(before); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitGoroutines waits for the goroutine count to fall back to n and returns the stacks of the
// extra ones if it does not.
func waitGoroutines(n int) string {
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			var extra []string
			for _, g := range strings.Split(string(buf), "\n\n") {
				// os/signal's loop is the process's, started by its first signal.Notify (the
				// fuzzing engine's, under -fuzz) and never ended: not a test's.
				if !strings.Contains(g, "TestMain") && !strings.Contains(g, "runtime.goexit0") && !strings.Contains(g, "os/signal.loop") {
					extra = append(extra, g)
				}
			}
			return strings.Join(extra, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ""
}
