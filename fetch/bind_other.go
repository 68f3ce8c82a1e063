//go:build !linux

package fetch

import (
	"errors"
	"syscall"
)

// errBindUnsupported: binding to an interface is Linux's SO_BINDTODEVICE here.
var errBindUnsupported = errors.New("fetch: binding to a network interface needs Linux")

// bindControl returns a socket Control that fails: see errBindUnsupported.
func bindControl(name string) func(network, address string, c syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error { return errBindUnsupported }
}

// sendQueueControl is nil: TCP_NOTSENT_LOWAT is set on Linux only.
func sendQueueControl() func(network, address string, c syscall.RawConn) error { return nil }
