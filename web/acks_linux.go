package web

import "golang.org/x/sys/unix"

// countsAcks: Linux tells how much a TCP peer has acknowledged (TCP_INFO).
const countsAcks = true

// bytesAcked is the bytes the peer of the TCP socket fd has acknowledged.
func bytesAcked(fd uintptr) uint64 {
	info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0
	}
	return info.Bytes_acked
}
