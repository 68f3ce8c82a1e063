//go:build !linux

package cache

import "os"

// preallocate gives f size bytes of blocks by writing zeros: fallocate(2) is Linux's.
func preallocate(f *os.File, size int64) error {
	zeros := make([]byte, 1<<20)
	for size > 0 {
		n := min(size, int64(len(zeros)))
		if _, err := f.Write(zeros[:n]); err != nil {
			return err
		}
		size -= n
	}
	return nil
}
