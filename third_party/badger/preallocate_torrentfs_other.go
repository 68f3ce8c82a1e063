//go:build !linux

package badger

import "os"

// torrentfs: preallocate does nothing here; see preallocate_torrentfs_linux.go.
func preallocate(*os.File, int64, int64) {}
