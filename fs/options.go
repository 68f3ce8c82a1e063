package fs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"
)

// maxRead is the largest READ the kernel sends, and its readahead on the mount.
const maxRead = 1 << 20

// Options configure a mount. The zero value is usable.
type Options struct {
	// AllowOther lets other users read the mount (needs user_allow_other in /etc/fuse.conf
	// when not root).
	AllowOther bool
	// DirectIO bypasses the kernel's page cache: every read(2) reaches the file system with
	// the application's size, and nothing is cached or read ahead by the kernel.
	DirectIO bool
	// Debug logs every FUSE request.
	Debug bool
	// Logger receives the file system's log. Nil discards.
	Logger *slog.Logger
	// FsName is the mount's source as mount(8) and /proc/self/mountinfo show it. Empty means
	// "torrentfs".
	FsName string
	// UID and GID own every entry. Unless OwnerSet, New sets them to the mounting process's.
	UID, GID uint32
	// OwnerSet says that UID and GID were given, so that 0 can be asked for.
	OwnerSet bool
	// Umask holds the permission bits cleared: files are 0444&^Umask, directories
	// 0555&^Umask. The kernel enforces them (default_permissions).
	Umask uint32
}

// FsName is the source (Options.FsName) of a mount of one torrent with info-hash ih (hex).
func FsName(ih string) string { return "torrentfs:" + ih }

// ErrNotExist is returned by Remove for a name the root does not hold (errors.Is
// os.ErrNotExist holds too).
var ErrNotExist = fmt.Errorf("fs: no such entry: %w", os.ErrNotExist)

// NoFUSEError is the error of mount where the system has no FUSE layer that torrentfs can
// use: Windows (WinFsp is not supported), a Mac without macFUSE. serve, with its WebDAV
// share, works there.
type NoFUSEError struct {
	GOOS string // the system: "windows", "darwin"…
}

func (e *NoFUSEError) Error() string {
	const serve = "run `torrentfs serve --http 127.0.0.1:8080 SOURCE...` and open http://127.0.0.1:8080/dav/ as a WebDAV share"
	switch e.GOOS {
	case "windows":
		return "mount needs a FUSE layer (WinFsp), which torrentfs does not support on Windows: " + serve + " (Map network drive)"
	case "darwin":
		return "mount needs macFUSE (https://macfuse.github.io), which is not installed: install it, or " + serve + " (Finder: Go > Connect to Server)"
	}
	return "mount needs FUSE, which " + e.GOOS + " does not have: " + serve
}

// ErrNoFUSE matches every *NoFUSEError (errors.Is).
var ErrNoFUSE = errors.New("fs: no FUSE")

func (e *NoFUSEError) Is(target error) bool { return target == ErrNoFUSE }

// noFUSE is the *NoFUSEError of the running system.
func noFUSE() error { return &NoFUSEError{GOOS: runtime.GOOS} }

// DirEntry is an entry of a directory of the mount.
type DirEntry struct {
	Name    string
	Dir     bool
	Size    int64     // of a file
	ModTime time.Time // as the mount shows it: its torrent's, or the root's last change
	Ino     uint64    // the inode number the mount shows, which lasts (ino.go)
}
