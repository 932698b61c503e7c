package lab

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// ServeSMTP speaks just enough SMTP on addr until ctx ends for smtp health checks: a 220
// greeting naming name, 250 to HELO and EHLO, 221 to QUIT, 502 to anything else.
func ServeSMTP(ctx context.Context, addr, name string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go smtpSession(c, name)
	}
}

func smtpSession(c net.Conn, name string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "220 %s ESMTP lab\r\n", name)
	br := bufio.NewReaderSize(c, 1024)
	for range 100 {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch strings.ToUpper(verb) {
		case "HELO", "EHLO":
			fmt.Fprintf(c, "250 %s\r\n", name)
		case "QUIT":
			fmt.Fprintf(c, "221 %s closing\r\n", name)
			return
		default:
			fmt.Fprint(c, "502 not implemented\r\n")
		}
	}
}

// ServeUDP answers every datagram on addr with name, a space and the datagram, until ctx
// ends, for udp health checks.
func ServeUDP(ctx context.Context, addr, name string) error {
	return serveDatagrams(ctx, addr, func(req []byte) []byte { return append([]byte(name+" "), req...) })
}

// serveDatagrams answers each datagram on addr with answer's reply (none when it returns nil)
// until ctx ends: the loop of the lab's UDP servers.
func serveDatagrams(ctx context.Context, addr string, answer func(req []byte) []byte) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		_ = pc.Close()
	}()
	buf := make([]byte, 2048)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if resp := answer(buf[:n]); resp != nil {
			_, _ = pc.WriteTo(resp, from)
		}
	}
}
