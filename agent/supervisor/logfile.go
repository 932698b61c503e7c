package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"
)

// DefaultLogMaxBytes is the size at which Log rotates: PATH.1 becomes PATH.2 (replacing it), the
// file becomes PATH.1 and a new PATH starts, so the agent's log never takes more than LogFiles
// times this (30 MB).
const DefaultLogMaxBytes = 10 << 20

// LogFiles is how many files the log keeps: PATH and LogFiles-1 rotated ones.
const LogFiles = 3

// RotatedSuffix names the newest rotated log: PATH + RotatedSuffix.
const RotatedSuffix = ".1"

// RotatedPaths are the rotated logs of the log at path, newest first.
func RotatedPaths(path string) []string {
	var out []string
	for i := 1; i < LogFiles; i++ {
		out = append(out, fmt.Sprintf("%s.%d", path, i))
	}
	return out
}

// Log is the agent's log file when no systemd journal takes its output: opened without following
// a symlink and only if it is a regular file of ours (see OpenLogFile), and rotated by size.
// It is safe for concurrent use.
type Log struct {
	path string
	max  int64

	mu   sync.Mutex
	f    *os.File
	size int64
}

// OpenLog opens (or creates) the log at path, rotating it at maxBytes (DefaultLogMaxBytes when
// not positive).
func OpenLog(path string, maxBytes int64) (*Log, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultLogMaxBytes
	}
	f, size, err := OpenLogFile(path)
	if err != nil {
		return nil, err
	}
	return &Log{path: path, max: maxBytes, f: f, size: size}, nil
}

// OpenLogFile opens path for appending as the agent, which runs as root, may safely: never
// through a symlink (O_NOFOLLOW: a link planted at the path would have root append to, or create,
// any file, as in keepalived's CVE-2018-19044), and only a regular file owned by the agent's user
// with no other hard link (a hard link to /etc/shadow is a regular root-owned file too). A new
// file is 0600; an existing one readable by others is narrowed to 0600. It returns the file and its
// size.
func OpenLogFile(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, 0, fmt.Errorf("agent log %s is a symbolic link; refusing to write through it (remove it to let the agent create the file)", path)
		}
		if errors.Is(err, syscall.ENXIO) {
			return nil, 0, fmt.Errorf("agent log %s is not a regular file (a FIFO or socket); refusing to write to it", path)
		}
		return nil, 0, fmt.Errorf("open agent log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("agent log %s: %w", path, err)
	}
	if err := checkLogFile(path, fi); err != nil {
		f.Close()
		return nil, 0, err
	}
	if fi.Mode().Perm()&^0o640 != 0 {
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("agent log %s: restrict mode: %w", path, err)
		}
	}
	// O_NONBLOCK only kept the open from hanging on a FIFO planted at the path; a regular file
	// ignores it, so it stays.
	return f, fi.Size(), nil
}

func checkLogFile(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("agent log %s is not a regular file (%v); refusing to write to it", path, fi.Mode().Type())
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Errorf("agent log %s is owned by uid %d, not %d (the agent's user); refusing to write to it", path, st.Uid, uid)
	}
	if st.Nlink > 1 {
		return fmt.Errorf("agent log %s has %d hard links; refusing to write to a file linked elsewhere", path, st.Nlink)
	}
	return nil
}

// Write appends p, first rotating the file when p would take it past the limit. A failed
// rotation keeps writing to the current file.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	if l.size > 0 && l.size+int64(len(p)) > l.max {
		if err := l.rotate(); err != nil {
			fmt.Fprintf(l.f, "lvs-agent: cannot rotate the log: %v\n", err)
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

// rotate shifts the rotated logs (PATH.1 to PATH.2, ...; the oldest is replaced), renames the
// log to PATH.1 and opens a new one. A rename replaces whatever is at its target, a symlink
// included, and never writes through it.
func (l *Log) rotate() error {
	old := RotatedPaths(l.path)
	for i := len(old) - 1; i > 0; i-- {
		if err := os.Rename(old[i-1], old[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(l.path, old[0]); err != nil {
		return err
	}
	f, size, err := OpenLogFile(l.path)
	if err != nil {
		return err
	}
	_ = l.f.Close()
	l.f, l.size = f, size
	return nil
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
