package cache

import (
	"os"

	"golang.org/x/sys/unix"
)

// preallocate gives f size bytes of blocks at once.
func preallocate(f *os.File, size int64) error {
	return unix.Fallocate(int(f.Fd()), 0, 0, size)
}
