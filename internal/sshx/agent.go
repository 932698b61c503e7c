package sshx

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// agentSigners connects to the SSH agent at socket (default $SSH_AUTH_SOCK) and returns its
// signers. The connection must stay open while the signers are used: close it after the
// handshake.
func agentSigners(socket string) ([]ssh.Signer, func(), error) {
	if socket == "" {
		socket = os.Getenv("SSH_AUTH_SOCK")
	}
	if socket == "" {
		return nil, nil, errors.New("the SSH agent is enabled but SSH_AUTH_SOCK is not set; start ssh-agent and add a key, or configure private_key")
	}
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot connect to the SSH agent at %s: %w", socket, err)
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("listing the SSH agent's keys at %s: %w", socket, err)
	}
	return signers, func() { conn.Close() }, nil
}
