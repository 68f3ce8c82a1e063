//go:build unix

package dlna

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reuseAddr lets other SSDP software on the machine bind port 1900 too.
func reuseAddr(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	}); err != nil {
		return err
	}
	return serr
}
