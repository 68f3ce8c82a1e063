package fs

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/torrentfs/torrentfs/fetch"
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
}

// FsName is the mount's source as mount(8) and /proc/self/mountinfo show it, for a torrent
// with info-hash ih (hex).
func FsName(ih string) string { return "torrentfs:" + ih }

// Mount is a mounted torrent.
type Mount struct {
	// Immutable after New.
	dir    string
	server *fuse.Server
	log    *slog.Logger
}

// New mounts t read-only on dir and returns once the kernel serves it. Check dir with
// CheckMountPoint first for clear errors.
func New(dir string, t *fetch.Torrent, opts Options) (*Mount, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	et, at := entryTimeout, attrTimeout
	// go-fuse's own messages are debug output, except the requests Debug asks to see.
	level := slog.LevelDebug
	if opts.Debug {
		level = slog.LevelInfo
	}
	fo := &fusefs.Options{
		EntryTimeout: &et,
		AttrTimeout:  &at,
		MountOptions: fuse.MountOptions{
			FsName:       FsName(t.InfoHash()),
			Name:         "torrentfs",
			Options:      []string{"ro"},
			AllowOther:   opts.AllowOther,
			MaxWrite:     maxRead,
			MaxReadAhead: maxRead,
			DirectMount:  true,
			// Data never changes while mounted: no invalidation on mtime checks.
			ExplicitDataCacheControl: true,
			// No extended attributes: the kernel then stops asking, instead of two round
			// trips per file for every ls -l (measured: 10,000 files, 2.2 s).
			DisableXAttrs: true,
			// mmap works with --direct-io too, through the page cache (kernel 6.6 and
			// later; older kernels refuse such maps with ENODEV).
			ExtraCapabilities: fuse.CAP_DIRECT_IO_ALLOW_MMAP,
			Debug:             opts.Debug,
			Logger:            slog.NewLogLogger(log.Handler(), level),
		},
	}
	openFlags := uint32(fuse.FOPEN_KEEP_CACHE)
	if opts.DirectIO {
		openFlags = fuse.FOPEN_DIRECT_IO
	}
	server, err := fusefs.Mount(dir, &root{t: t, log: log, openFlags: openFlags}, fo)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	m := &Mount{dir: dir, server: server, log: log}
	m.raiseReadahead()
	return m, nil
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

// Wait blocks until the file system is unmounted, by Unmount or from outside.
func (m *Mount) Wait() { m.server.Wait() }

// Unmount unmounts the file system. If files are open, it detaches it lazily: the mount
// point is free at once and the open files keep working until closed.
func (m *Mount) Unmount() error {
	err := m.server.Unmount()
	if err == nil {
		return nil
	}
	m.log.Info("mount busy, detaching lazily", "err", err)
	if err := detach(m.dir); err != nil {
		return fmt.Errorf("unmount %s: %w", m.dir, err)
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

// CheckMountPoint checks that dir can take a mount, with errors a user can act on. A stale
// mount left by a crashed torrentfs (ENOTCONN) is detached first.
func CheckMountPoint(dir string, log *slog.Logger) error {
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
	st, err := os.Stat(dir)
	if errors.Is(err, syscall.ENOTCONN) || err == nil && st.IsDir() && isStale(dir) {
		if log != nil {
			log.Info("cleaning up stale mount left by a crashed process", "dir", dir)
		}
		if err := detach(dir); err != nil {
			return fmt.Errorf("mount point %s: stale mount: %w", dir, err)
		}
		st, err = os.Stat(dir)
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("mount point %s does not exist: create it with mkdir", dir)
	case err != nil:
		return fmt.Errorf("mount point: %w", err)
	case !st.IsDir():
		return fmt.Errorf("mount point %s is not a directory", dir)
	}
	parent, err := os.Stat(filepath.Join(dir, ".."))
	if err == nil && !sameDev(parent, st) {
		return fmt.Errorf("mount point %s is already a mount point: unmount it first", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err != io.EOF {
		if err == nil {
			return fmt.Errorf("mount point %s is not empty", dir)
		}
		return fmt.Errorf("mount point: %w", err)
	}
	return nil
}

// isStale reports whether dir is a FUSE mount whose server is gone. stat may be answered
// from the kernel's attribute cache, so list the directory instead.
func isStale(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return errors.Is(err, syscall.ENOTCONN)
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	return errors.Is(err, syscall.ENOTCONN)
}

func sameDev(a, b os.FileInfo) bool {
	sa, oka := a.Sys().(*syscall.Stat_t)
	sb, okb := b.Sys().(*syscall.Stat_t)
	return !oka || !okb || sa.Dev == sb.Dev
}
