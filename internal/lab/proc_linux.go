package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procStat is the part of /proc/PID/stat the lab uses.
type procStat struct {
	state     byte
	ppid      int
	pgrp      int
	startTime uint64 // clock ticks after boot: with the PID, identifies a process
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

// parseProcStat parses /proc/PID/stat. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from its last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 20 {
		return procStat{}, errors.New("short /proc stat")
	}
	var s procStat
	s.state = f[0][0]
	s.ppid, _ = strconv.Atoi(f[1])
	s.pgrp, _ = strconv.Atoi(f[2])
	st, err := strconv.ParseUint(f[19], 10, 64) // field 22
	if err != nil {
		return procStat{}, fmt.Errorf("malformed /proc stat start time: %w", err)
	}
	s.startTime = st
	return s, nil
}

// alive reports whether pid is the process that started at startTime and has not exited.
func alive(pid int, startTime uint64) bool {
	if pid <= 0 {
		return false
	}
	s, err := readProcStat(pid)
	return err == nil && s.startTime == startTime && s.state != 'Z' && s.state != 'X'
}

// allPIDs lists the numeric entries of /proc.
func allPIDs() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procArgs returns the argv of pid, or nil.
func procArgs(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// waitFor polls cond every step until it is true or timeout passes.
func waitFor(ctx context.Context, timeout, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(step):
		}
	}
}

// killMatching SIGKILLs every process for which match is true, repeatedly (new ones may appear
// while their parents die), until none is left or timeout passes.
func killMatching(timeout time.Duration, match func(pid int, s procStat) bool) error {
	var left []int
	ok := waitFor(context.Background(), timeout, 20*time.Millisecond, func() bool {
		left = left[:0]
		for _, pid := range allPIDs() {
			s, err := readProcStat(pid)
			if err != nil || s.state == 'Z' || s.state == 'X' || !match(pid, s) {
				continue
			}
			left = append(left, pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return len(left) == 0
	})
	if !ok {
		return fmt.Errorf("processes still alive after SIGKILL: %v", left)
	}
	return nil
}
