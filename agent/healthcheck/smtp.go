package healthcheck

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

// smtpChecker talks SMTP to the real server (keepalived SMTP_CHECK): a 220 greeting, HELO
// answered by 250, then QUIT, whose answer is read but not judged.
type smtpChecker struct {
	addr string
	helo []byte // "HELO name\r\n"
}

func newSMTPChecker(s *spec) *smtpChecker {
	name := agentapi.DefaultSMTPHelo
	if m := s.hc.SMTP; m != nil && m.HeloName != "" {
		name = m.HeloName
	}
	return &smtpChecker{addr: s.addr, helo: []byte("HELO " + name + "\r\n")}
}

// maxSMTPLines bounds the lines of one reply (a greeting may run over several).
const maxSMTPLines = 64

func (c *smtpChecker) Check(ctx context.Context) error {
	conn, err := dialTCP(ctx, c.addr)
	if err != nil {
		return connectError(ctx, "smtp", c.addr, err)
	}
	defer closeReset(conn)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	br := readers.Get().(*bufio.Reader)
	defer readers.Put(br)
	br.Reset(conn)
	defer br.Reset(nil)

	fail := func(step string, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("smtp: %s %s: %v", step, c.addr, err)
	}
	if err := expectReply(br, 220); err != nil {
		return fail("greeting from", err)
	}
	if _, err := conn.Write(c.helo); err != nil {
		return fail("send HELO to", errors.New(ioReason(err)))
	}
	if err := expectReply(br, 250); err != nil {
		return fail("HELO answer from", err)
	}
	if _, err := conn.Write([]byte("QUIT\r\n")); err != nil {
		return fail("send QUIT to", errors.New(ioReason(err)))
	}
	// keepalived waits for the answer to QUIT and takes any, or the close.
	if _, err := br.ReadSlice('\n'); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// expectReply reads one SMTP reply, over several lines ("250-..." then "250 ..."), and checks
// its code.
func expectReply(br *bufio.Reader, want int) error {
	for range maxSMTPLines {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return errors.New("reply line too long")
			}
			return errors.New(ioReason(err))
		}
		if len(line) < 4 || (line[3] != ' ' && line[3] != '-' && line[3] != '\r' && line[3] != '\n') {
			return fmt.Errorf("not an SMTP reply: %q", trimLine(line))
		}
		code, err := strconv.Atoi(string(line[:3]))
		if err != nil {
			return fmt.Errorf("not an SMTP reply: %q", trimLine(line))
		}
		if code != want {
			return fmt.Errorf("%q, expected %d", trimLine(line), want)
		}
		if line[3] != '-' {
			return nil
		}
	}
	return fmt.Errorf("reply longer than %d lines", maxSMTPLines)
}

func trimLine(b []byte) string {
	s := string(b[:min(len(b), 80)])
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
