//go:build !linux

package lab

import (
	"context"
	"errors"
)

var errNotLinux = errors.New("the lab needs Linux")

// Lab is a lab of hosts; only Linux has them.
type Lab struct{}

// Host is a lab host; only Linux has them.
type Host struct{ Name, IPv4, IPv6, InsideIPv4, InsideIPv6 string }

// Up fails: the lab needs Linux.
func Up(context.Context, Spec) (*Lab, error) { return nil, errNotLinux }

// Load fails: the lab needs Linux.
func Load(string) (*Lab, error) { return nil, errNotLinux }

// Down does nothing.
func (*Lab) Down(context.Context) error { return nil }

// Host returns nil.
func (*Lab) Host(string) *Host { return nil }
