package fs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

// errNotMounted is detach's error for a directory that is not a mount point.
var errNotMounted = unix.EINVAL

// checkFUSE checks that macFUSE, which go-fuse mounts through, is installed.
func checkFUSE() error {
	for _, p := range []string{
		"/Library/Filesystems/macfuse.fs/Contents/Resources/mount_macfuse",
		"/Library/Filesystems/osxfuse.fs/Contents/Resources/mount_osxfuse",
	} {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	return noFUSE()
}

// raiseReadahead does nothing: macOS has no per-mount readahead to set.
func (m *Mount) raiseReadahead() {}

// unmount unmounts dir: directly as root, else through umount(8), which macFUSE lets the
// user who mounted use.
func unmount(dir string) error {
	err := unix.Unmount(dir, 0)
	if err == nil || !errors.Is(err, unix.EPERM) {
		return err
	}
	out, err := exec.Command("/sbin/umount", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("umount: %v: %s", err, out)
	}
	return nil
}

// detach forces dir's unmount: macOS has no lazy unmount.
func detach(dir string) error {
	err := unix.Unmount(dir, unix.MNT_FORCE)
	if err == nil || !errors.Is(err, unix.EPERM) {
		return err
	}
	out, err := exec.Command("/usr/sbin/diskutil", "unmount", "force", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("diskutil unmount: %v: %s", err, out)
	}
	return nil
}
