package lab

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"
)

// Helper programs. A package's lab tests run small programs on lab hosts besides the agent (a
// TCP server naming its host, clients that count who answers): the test binary itself,
// re-executed with an environment variable set (see HelperMain). The pieces those programs
// share are here.

// Helper is one helper program: it gets the arguments after its name.
type Helper func(args []string) error

// HelperMain is the TestMain of a package with helper programs: when the environment
// variable env is "1" it runs the helper named by the first argument and exits with its
// status; otherwise it returns, and TestMain runs the tests.
func HelperMain(env string, helpers map[string]Helper) {
	if os.Getenv(env) != "1" {
		return
	}
	os.Exit(runHelper(os.Args[1:], helpers))
}

func runHelper(args []string, helpers map[string]Helper) int {
	if len(args) == 0 {
		names := make([]string, 0, len(helpers))
		for n := range helpers {
			names = append(names, n)
		}
		slices.Sort(names)
		fmt.Fprintln(os.Stderr, "helper: one of", strings.Join(names, ", "))
		return 2
	}
	h := helpers[args[0]]
	if h == nil {
		fmt.Fprintf(os.Stderr, "helper: unknown helper %q\n", args[0])
		return 1
	}
	if err := h(args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

// ServeName is the helper `serve PORT NAME`: on every TCP connection to port (both families,
// every address) it writes NAME, then answers every line with NAME again, until the client
// closes or deadline passes; a connection that lives through a handover shows which host
// still serves it. With reset, connections end with a reset (SO_LINGER 0), so that no TCP
// state outlives them: a socket in TIME_WAIT, or an orphan retransmitting its FIN, holds the
// network namespace, and a lab host cannot be killed while it lasts.
func ServeName(args []string, deadline time.Duration, reset bool) error {
	if len(args) != 2 {
		return fmt.Errorf("serve PORT NAME")
	}
	name := args[1] + "\n"
	ln, err := net.Listen("tcp", ":"+args[0])
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			if reset {
				_ = c.(*net.TCPConn).SetLinger(0)
			}
			_ = c.SetDeadline(time.Now().Add(deadline))
			if _, err := io.WriteString(c, name); err != nil {
				return
			}
			r := bufio.NewReader(c)
			for {
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
				if _, err := io.WriteString(c, name); err != nil {
					return
				}
			}
		}()
	}
}

// DialName connects to addr and returns the first line the server sends (ServeName's name),
// all within timeout.
func DialName(addr string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(io.LimitReader(c, 64)).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(line), nil
}
