package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"github.com/torrentfs/torrentfs/fs"
)

// runStatus prints the report a mount serves as an extended attribute of its root.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("status", "MOUNTPOINT", stderr)
	pos, err := parse(flags, args, 1)
	if err != nil {
		return err
	}
	mnt := pos[0]
	for {
		n, err := unix.Getxattr(mnt, fs.StatusAttr, nil)
		if err != nil {
			if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) {
				return fmt.Errorf("%s is not a torrentfs mount", mnt)
			}
			return fmt.Errorf("status of %s: %w", mnt, err)
		}
		buf := make([]byte, n+512) // the report may grow between the two calls
		n, err = unix.Getxattr(mnt, fs.StatusAttr, buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return fmt.Errorf("status of %s: %w", mnt, err)
		}
		_, err = stdout.Write(buf[:n])
		return err
	}
}
