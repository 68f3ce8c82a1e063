package fetch

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindControl returns a socket Control that binds a socket to the network interface name
// (SO_BINDTODEVICE): its packets leave by that interface or not at all.
func bindControl(name string) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = unix.BindToDevice(int(fd), name)
		}); cerr != nil {
			return cerr
		}
		return err
	}
}
