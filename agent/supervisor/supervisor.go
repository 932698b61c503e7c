// Package supervisor keeps `lvs-agent serve` running on hosts without systemd (containers, the
// lab): it restarts the server when it exits, with a backoff, and stops it on SIGTERM.
//
// A pid file held under an exclusive flock makes a second supervisor fail instead of fighting the
// first.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config says what to supervise.
type Config struct {
	Command []string // argv of the server
	PIDFile string
	Logger  *slog.Logger
	// MinBackoff and MaxBackoff bound the delay between restarts; a run longer than MaxBackoff
	// resets it.
	MinBackoff, MaxBackoff time.Duration
	// StopTimeout is how long the server gets to exit after SIGTERM before SIGKILL.
	StopTimeout time.Duration
	// Output takes the server's stdout and stderr (a Log, rotated by size); nil leaves them the
	// supervisor's own.
	Output io.Writer
	// OnDeath, if set, runs after the server ended without being asked to (a signal such as
	// SIGKILL, a crash), before it is restarted: the agent releases its VIPs there, as systemd's
	// ExecStopPost does, so that a server that does not come back leaves no VIP behind.
	OnDeath func()
}

// Backoff is the delay between restarts: it doubles from Min up to Max after every run that
// ended within Max, and starts again from Min after a run that lasted longer. The supervisor
// never gives up.
type Backoff struct {
	Min, Max time.Duration
	next     time.Duration
}

// Next returns the delay before the next start, given how long the last run lasted.
func (b *Backoff) Next(ran time.Duration) time.Duration {
	if b.next == 0 || ran > b.Max {
		b.next = b.Min
	}
	d := b.next
	b.next = min(b.next*2, b.Max)
	return d
}

// ErrRunning means another supervisor holds the pid file.
var ErrRunning = errors.New("another supervisor is running")

// Run supervises until ctx is done, then stops the server and returns.
func Run(ctx context.Context, cfg Config) error {
	if len(cfg.Command) == 0 {
		return errors.New("supervisor: no command")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	unlock, err := lockPIDFile(cfg.PIDFile)
	if err != nil {
		return err
	}
	defer unlock()
	stdout := os.Stdout
	if cfg.Output != nil {
		// One pipe for every run of the server: it writes to the pipe's end (a plain fd, as
		// any child it starts does), and the supervisor copies what comes to Output.
		pr, pw, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("supervisor: log pipe: %w", err)
		}
		copied := make(chan struct{})
		go func() {
			defer close(copied)
			_, _ = io.Copy(cfg.Output, pr)
			pr.Close()
		}()
		defer func() {
			pw.Close()
			// The last lines; a child of the server that still holds the pipe is not waited for.
			select {
			case <-copied:
			case <-time.After(time.Second):
			}
		}()
		stdout = pw
	}

	backoff := &Backoff{Min: cfg.MinBackoff, Max: cfg.MaxBackoff}
	for {
		started := time.Now()
		cmd := exec.Command(cfg.Command[0], cfg.Command[1:]...)
		cmd.Stdout, cmd.Stderr = stdout, stdout
		if cfg.Output == nil {
			cmd.Stderr = os.Stderr
		}
		// Its own process group, so that a kill reaches anything the server started too.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			cfg.Logger.Error("cannot start server", "err", err)
		} else {
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-ctx.Done():
				_ = cmd.Process.Signal(syscall.SIGTERM)
				var err error
				select {
				case err = <-exited:
				case <-time.After(cfg.StopTimeout):
					cfg.Logger.Warn("server ignored SIGTERM; killing it", "timeout", cfg.StopTimeout)
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					err = <-exited
				}
				cfg.Logger.Info("server stopped", "exit", err)
				return nil
			case err := <-exited:
				cfg.Logger.Warn("server exited; restarting", "err", err)
				if cfg.OnDeath != nil {
					cfg.OnDeath()
				}
			}
		}
		delay := backoff.Next(time.Since(started))
		cfg.Logger.Info("restarting the server", "after", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

func lockPIDFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create pid dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open pid file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		pid, _ := ReadPID(path)
		return nil, fmt.Errorf("%w (pid %d, %s)", ErrRunning, pid, path)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = os.Remove(path)
		f.Close()
	}, nil
}

// ReadPID returns the pid stored in path.
func ReadPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// Alive reports whether the supervisor recorded in path is running: the pid file exists and is
// locked by a live process.
func Alive(path string) (pid int, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return 0, false // nobody holds it: a leftover from a killed supervisor
	}
	pid, err = ReadPID(path)
	return pid, err == nil && pid > 0
}
