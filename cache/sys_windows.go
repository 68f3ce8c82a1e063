package cache

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// ownerChecks: no owner or mode checks on Windows, whose files have ACLs instead of POSIX
// owners and modes (os.Stat reports 0777 for every directory). The default cache directory,
// under %LocalAppData%, is private to its user by its ACL.
const ownerChecks = false

func ownerOf(fs.FileInfo) (int, bool) { return 0, false }

// openNoFollow opens path with flag, and returns a *PlantedError if path is a symlink.
// Windows has no O_NOFOLLOW: the check comes before the open (and creating a symlink takes
// a privilege that users do not have by default).
func openNoFollow(path string, flag int, perm fs.FileMode) (*os.File, error) {
	if st, err := os.Lstat(path); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		return nil, &PlantedError{Path: path, What: "is a symlink"}
	}
	return os.OpenFile(path, flag, perm)
}

// errLocked is tryLock's error when another process holds the lock.
var errLocked = windows.ERROR_LOCK_VIOLATION

// tryLock takes an exclusive lock on f's first byte without waiting. Windows drops it when
// the process dies, as it does a flock.
func tryLock(f *os.File) error {
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, new(windows.Overlapped))
	if errors.Is(err, windows.ERROR_IO_PENDING) {
		return errLocked
	}
	return err
}

// setTimes sets path's access and modification times.
func setTimes(path string, t time.Time) error { return os.Chtimes(path, t, t) }

// allocated is path's size: Windows has no count of allocated blocks in os.Stat.
func allocated(path string) (int64, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// freeSpace is the bytes the user may still write on dir's volume.
func freeSpace(dir string) (int64, error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, err
	}
	var free, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, &total, &totalFree); err != nil {
		return 0, err
	}
	return int64(free), nil
}
