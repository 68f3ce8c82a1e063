//go:build !windows

package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/torrentfs/torrentfs/fetch"
)

// Mount is a mounted file system: a root directory of torrents. It is safe for concurrent
// use.
type Mount struct {
	// Immutable after New.
	dir    string
	server *fuse.Server
	log    *slog.Logger
	root   *root
	slots  slots         // how trees are numbered (ino.go)
	gen    atomic.Uint64 // the generation of the last tree built

	// mu serialises Add and Remove, so that a name is chosen and taken at once.
	mu sync.Mutex
	// Guarded by mu.
	taken map[uint64]bool             // the slots of the root's entries' numbers
	trees map[*fusefs.Inode][2]uint64 // each root entry's first slot and how many
}

// New mounts an empty root read-only on dir and returns once the kernel serves it. Check dir
// with CheckMountPoint first for clear errors.
func New(dir string, opts Options) (*Mount, error) {
	r, fo, log := newRoot(opts)
	// fusefs.Mount, but that one leaves the mount made and served when the kernel takes it
	// and the first look at it fails (a mount point that is a file: ENOTDIR).
	server, err := fuse.NewServer(fusefs.NewNodeFS(r, fo), dir, &fo.MountOptions)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	go server.Serve() // ends when the kernel lets the mount go; Wait waits for it
	if err := server.WaitMount(); err != nil {
		if detach(dir) == nil {
			server.Wait()
		}
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	m := &Mount{dir: dir, server: server, log: log, root: r}
	m.raiseReadahead()
	return m, nil
}

// NewUnmounted returns an empty root that no kernel serves: a tree of torrents that other
// front ends (the HTTP server) read through Lookup and ReadDir. Wait returns at once and
// Unmount does nothing.
func NewUnmounted(opts Options) *Mount {
	r, fo, log := newRoot(opts)
	fusefs.NewNodeFS(r, fo) // gives the root its inode, as a mount would
	return &Mount{log: log, root: r}
}

// newRoot returns an empty root and the go-fuse options that serve it.
func newRoot(opts Options) (*root, *fusefs.Options, *slog.Logger) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !opts.OwnerSet {
		opts.UID, opts.GID = uint32(os.Getuid()), uint32(os.Getgid())
	}
	if opts.FsName == "" {
		opts.FsName = "torrentfs"
	}
	a := &attrs{
		uid: opts.UID, gid: opts.GID,
		fileMode: 0o444 &^ opts.Umask, dirMode: 0o555 &^ opts.Umask,
		log: log, openFlags: fuse.FOPEN_KEEP_CACHE,
	}
	if opts.DirectIO {
		a.openFlags = fuse.FOPEN_DIRECT_IO
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
		// The root's inode number is fixed; the others are made to last (ino.go).
		RootStableAttr: &fusefs.StableAttr{Ino: fuse.FUSE_ROOT_ID},
		// No NegativeTimeout: a name looked up before it was added is found once it is.
		// Modes are ours even when a umask clears them all, and so are owners: go-fuse's
		// UID and GID options cannot ask for 0.
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			FsName: opts.FsName,
			Name:   "torrentfs",
			// default_permissions: the kernel checks modes and owners, so Umask means
			// something.
			Options:      []string{"ro", "default_permissions"},
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
	r := &root{a: a}
	r.mtime.Store(time.Now().UnixNano())
	return r, fo, log
}

// Add adds t to the root as one entry: Attach of Build.
func (m *Mount) Add(name string, t *fetch.Torrent) (string, error) {
	return m.Attach(name, m.Build(t)), nil
}

// Tree is a torrent's entry, built by Build and not yet in the root.
type Tree struct {
	entry       *fusefs.Inode
	t           *fetch.Torrent
	slot, slots uint64 // of its inode numbers (ino.go)
}

// Build builds t's entry: a file for a single-file torrent, a directory of its tree
// otherwise. It takes no lock of the Mount's, so that a torrent of many files holds up
// nothing else; its cost is linear in the torrent's files and path elements, which
// infocheck bounds. A Tree that is never attached is garbage.
//
// The Mount does not own t: after Remove, the caller drops it (t.Drop), which waits for
// files still open.
func (m *Mount) Build(t *fetch.Torrent) *Tree {
	return m.build(t, nil)
}

// build builds t's entry, numbered in the first slots of its probes that taken does not
// hold (ino.go).
func (m *Mount) build(t *fetch.Torrent, taken func(uint64) bool) *Tree {
	ih := t.InfoHash()
	need := uint64(1)
	for {
		slot := m.slots.find(ih, need, taken)
		b := builder{parent: m.root.EmbeddedInode(), t: t, a: m.root.a,
			inos: inos{base: slot << m.slots.width(), gen: m.gen.Add(1)}}
		entry := b.build(context.Background())
		if n := (b.inos.n-1)>>m.slots.width() + 1; n > need { // more than a slot's worth
			need = n
			continue
		}
		return &Tree{entry: entry, t: t, slot: slot, slots: need}
	}
}

// Attach adds tr to the root as one entry, called name, cleaned as names from a torrent
// are, and made unique among the root's entries with " (2)", " (3)"…; it returns the name
// used. The tree was built whole before, so a reader never sees part of it. Should its
// inode numbers' slot be another entry's (ino.go), Attach builds it again in another.
func (m *Mount) Attach(name string, tr *Tree) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.taken == nil {
		m.taken = make(map[uint64]bool)
		m.trees = make(map[*fusefs.Inode][2]uint64)
	}
	isTaken := func(slot uint64) bool { return m.taken[slot] }
	if anyTaken(tr.slot, tr.slots, isTaken) { // another torrent's: number it again
		tr = m.build(tr.t, isTaken)
	}
	for i := range tr.slots {
		m.taken[tr.slot+i] = true
	}
	m.trees[tr.entry] = [2]uint64{tr.slot, tr.slots}
	name = addUnique(m.root.EmbeddedInode(), cleanName(name), tr.entry)
	m.root.mtime.Store(time.Now().UnixNano())
	return name
}

// Remove removes the root entry called name, and tells the kernel to forget it, so that it
// is gone from listings and lookups at once. Files of it already open keep reading until
// closed. It fails with ErrNotExist if the root holds no such entry.
func (m *Mount) Remove(name string) error {
	root := m.root.EmbeddedInode()
	m.mu.Lock()
	entry := root.GetChild(name)
	if entry == nil {
		m.mu.Unlock()
		return fmt.Errorf("%q: %w", name, ErrNotExist)
	}
	root.RmChild(name)
	r := m.trees[entry]
	for i := range r[1] {
		delete(m.taken, r[0]+i)
	}
	delete(m.trees, entry)
	m.root.mtime.Store(time.Now().UnixNano())
	m.mu.Unlock()
	// Outside mu: the kernel takes the root's lock for this, and a request holding it may
	// be waiting for go-fuse. NotifyDelete fails (ENOENT) for an entry the kernel never
	// looked up, and may fail (ENOTEMPTY) for a directory in use after it invalidated the
	// entry; NotifyEntry then makes sure.
	if errno := root.NotifyDelete(name, entry); errno != 0 {
		if errno := root.NotifyEntry(name); errno != 0 && errno != syscall.ENOENT {
			m.log.Debug("cannot invalidate a removed entry", "name", name, "err", errno)
		}
	}
	// The tree's nodes are persistent; let go-fuse forget them once the kernel has. Open
	// files keep their node until closed.
	entry.RmAllChildren()
	return nil
}

// Names returns the names of the root's entries, sorted.
func (m *Mount) Names() []string {
	return slices.Sorted(maps.Keys(m.root.Children()))
}

// Wait blocks until the file system is unmounted, by Unmount or from outside, and every
// request in progress has returned. It may wait for ever on a request that does not return
// (a read waiting for peers): bound it.
func (m *Mount) Wait() {
	if m.server != nil {
		m.server.Wait()
	}
}

// Unmount unmounts the file system and returns without waiting for requests in progress;
// Wait waits for them. If files are open, it detaches it lazily: the mount point is free at
// once and the open files keep working until closed.
//
// It does not use go-fuse's Server.Unmount, which, once the kernel has let go, waits
// without a bound for every request in progress, and retries with sleeps while files are
// open.
func (m *Mount) Unmount() error {
	if m.server == nil {
		return nil
	}
	err := unmount(m.dir)
	if err == nil {
		return nil
	}
	m.log.Info("mount busy, detaching lazily", "err", err)
	if err := detach(m.dir); err != nil {
		return fmt.Errorf("unmount %s: %w", m.dir, err)
	}
	return nil
}

// Detach lazily unmounts dir if it is still mounted: the mount point is free at once, and
// files open in it fail once the file system's process ends. A process that cannot end
// cleanly calls it last, so that it leaves no "transport endpoint is not connected" behind.
func Detach(dir string) error {
	err := detach(dir)
	if errors.Is(err, errNotMounted) {
		return nil
	}
	return err
}

// CheckMountPoint checks that dir can take a mount, with errors a user can act on. A stale
// mount left by a crashed torrentfs (ENOTCONN) is detached first.
func CheckMountPoint(dir string, log *slog.Logger) error {
	if err := checkFUSE(); err != nil {
		return err
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
