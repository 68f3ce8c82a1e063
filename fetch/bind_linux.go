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

// peerSendQueue bounds the bytes a peer connection's socket holds that were not sent yet
// (TCP_NOTSENT_LOWAT). Without a bound, the kernel queues up to its send buffer (MiBs) per
// connection: on a link shared by several peers that is a second or more, and a HAVE, or a
// piece a peer cancelled, waits behind it (docs/measurements.md, "A fleet").
const peerSendQueue = 64 << 10

// sendQueueControl returns a socket Control that sets peerSendQueue. An accepted socket
// takes it from its listener.
func sendQueueControl() func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, peerSendQueue)
		}); cerr != nil {
			return cerr
		}
		return err
	}
}
