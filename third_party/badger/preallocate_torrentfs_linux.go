package badger

import (
	"os"

	"golang.org/x/sys/unix"
)

// torrentfs: preallocate allocates the blocks of f's bytes [off, off+n) (fallocate(2), the
// file's size unchanged). The value log is written with write(2) (patch 1) into a file
// truncated to twice its size, a sparse file, so on ext4 each page that a write fills in a
// hole was a delayed allocation, reserved as the write reached it. 256 MiB written in
// 1 MiB writes cost 58-63 ms of CPU into a sparse file, 32-37 ms with the blocks allocated
// 2 MiB ahead (torrentfs's docs/measurements.md, "Ninth pass"). A file system that cannot preallocate,
// or a full one, leaves the file sparse as before: the error is ignored.
func preallocate(f *os.File, off, n int64) {
	_ = unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, off, n)
}
