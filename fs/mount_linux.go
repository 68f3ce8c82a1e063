package fs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"golang.org/x/sys/unix"
)

// errNotMounted is detach's error for a directory that is not a mount point.
var errNotMounted = unix.EINVAL

// checkFUSE checks that this process can mount: /dev/fuse, and fusermount3 unless root.
func checkFUSE() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return errors.New("no /dev/fuse: the fuse kernel module is not loaded (modprobe fuse) or this container has no FUSE device")
	}
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			return errors.New("fusermount3 not found: install fuse3 (apt-get install fuse3) or run as root")
		}
		if unix.Access("/dev/fuse", unix.R_OK|unix.W_OK) != nil {
			return errors.New("no permission to use /dev/fuse: run as root, or give users access to it (chmod 0666 /dev/fuse, as Debian's udev rules do)")
		}
	}
	return nil
}

// raiseReadahead lets the kernel read ahead maxRead bytes at once on this mount instead of
// its default 128 KiB; without it, the 1 MiB MaxReadAhead is not used. Only root can.
func (m *Mount) raiseReadahead() {
	var st unix.Stat_t
	if err := unix.Stat(m.dir, &st); err != nil {
		return
	}
	bdi := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	if err := os.WriteFile(bdi, []byte(strconv.Itoa(maxRead>>10)), 0o644); err != nil {
		m.log.Debug("cannot raise kernel readahead", "err", err)
	}
}

// unmount unmounts dir: directly as root, else through fusermount3.
func unmount(dir string) error {
	err := unix.Unmount(dir, 0)
	if err == nil || !errors.Is(err, unix.EPERM) {
		return err
	}
	out, err := exec.Command("fusermount3", "-u", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fusermount3: %v: %s", err, out)
	}
	return nil
}

// detach lazily unmounts dir: directly as root, else through fusermount3.
func detach(dir string) error {
	err := unix.Unmount(dir, unix.MNT_DETACH)
	if err == nil || !errors.Is(err, unix.EPERM) {
		return err
	}
	out, err := exec.Command("fusermount3", "-u", "-z", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fusermount3: %v: %s", err, out)
	}
	return nil
}
