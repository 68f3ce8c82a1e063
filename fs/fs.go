// Package fs shows a torrent as a read-only FUSE file system, using go-fuse.
//
// The tree is built once, when the file system is mounted, from the torrent's file list:
// the mount root holds one entry named after the torrent, a file for a single-file torrent
// and a directory otherwise. Names from the torrent are untrusted and are cleaned so that
// every entry is a single, unique, valid name. Inodes are persistent and entries are cached
// by the kernel for a long time, as the tree never changes.
//
// Reads go to a fetch.Handle per open file, which waits for the pieces under the read. File
// data is immutable, so the kernel keeps it in its page cache across opens
// (FOPEN_KEEP_CACHE). st_blocks tells how much of a file is cached, so du shows progress.
//
// Errors become errno values in one place, errno. A read whose caller went away gets EINTR;
// the download of its pieces goes on. A read that found no peers for the read timeout gets
// EIO, and the mount stays usable.
//
// The package holds go-fuse nodes only: it knows nothing of Badger, and of BitTorrent only
// what package fetch exposes.
package fs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/torrentfs/torrentfs/fetch"
)

const (
	// entryTimeout: names never change while mounted.
	entryTimeout = time.Hour
	// attrTimeout: st_blocks changes as pieces arrive; du should see it soon.
	attrTimeout = time.Second
)

// root is the mount's root directory.
type root struct {
	fusefs.Inode

	// Immutable after New.
	t         *fetch.Torrent
	log       *slog.Logger
	openFlags uint32 // FOPEN_KEEP_CACHE or FOPEN_DIRECT_IO
}

var _ fusefs.NodeOnAdder = (*root)(nil)

// OnAdd builds the whole tree.
func (r *root) OnAdd(ctx context.Context) {
	name := cleanName(r.t.Name())
	if !r.t.IsDir() {
		r.AddChild(name, r.newFile(ctx, 0), false)
		return
	}
	top := r.NewPersistentInode(ctx, &dir{mtime: r.t.ModTime()}, fusefs.StableAttr{Mode: fuse.S_IFDIR})
	r.AddChild(name, top, false)
	for i, f := range r.t.Files() {
		parent := top
		for _, elem := range f.Path[:max(len(f.Path)-1, 0)] {
			parent = r.subdir(ctx, parent, cleanName(elem))
		}
		base := "_"
		if len(f.Path) > 0 {
			base = cleanName(f.Path[len(f.Path)-1])
		}
		addUnique(parent, base, r.newFile(ctx, i))
	}
}

// subdir returns parent's directory called name, making it if needed. If name is taken by a
// file, the directory gets a unique name instead; later files of the same directory find it
// through dirs.
func (r *root) subdir(ctx context.Context, parent *fusefs.Inode, name string) *fusefs.Inode {
	pd := parent.Operations().(*dir)
	if d, ok := pd.dirs[name]; ok {
		return d
	}
	d := r.NewPersistentInode(ctx, &dir{mtime: r.t.ModTime()}, fusefs.StableAttr{Mode: fuse.S_IFDIR})
	addUnique(parent, name, d)
	if pd.dirs == nil {
		pd.dirs = make(map[string]*fusefs.Inode)
	}
	pd.dirs[name] = d
	return d
}

func addUnique(parent *fusefs.Inode, name string, child *fusefs.Inode) {
	name = uniqueName(name, func(n string) bool { return parent.GetChild(n) != nil })
	parent.AddChild(name, child, false)
}

func (r *root) newFile(ctx context.Context, i int) *fusefs.Inode {
	return r.NewPersistentInode(ctx, &file{t: r.t, index: i, log: r.log, openFlags: r.openFlags}, fusefs.StableAttr{Mode: fuse.S_IFREG})
}

func (r *root) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = fuse.S_IFDIR | 0o555
	out.Nlink = 2
	setTime(&out.Attr, r.t.ModTime())
	return 0
}

// dir is a directory of the torrent.
type dir struct {
	fusefs.Inode

	// Immutable after OnAdd.
	mtime time.Time
	dirs  map[string]*fusefs.Inode // subdirectories by the name the torrent gave them
}

var _ fusefs.NodeGetattrer = (*dir)(nil)

func (d *dir) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = fuse.S_IFDIR | 0o555
	out.Nlink = 2
	setTime(&out.Attr, d.mtime)
	return 0
}

// file is a file of the torrent.
type file struct {
	fusefs.Inode

	// Immutable after OnAdd.
	t         *fetch.Torrent
	index     int
	log       *slog.Logger
	openFlags uint32
}

var (
	_ fusefs.NodeGetattrer = (*file)(nil)
	_ fusefs.NodeOpener    = (*file)(nil)
)

func (f *file) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	size := f.t.Files()[f.index].Length
	out.Mode = fuse.S_IFREG | 0o444
	out.Nlink = 1
	out.Size = uint64(size)
	out.Blocks = uint64(f.t.BytesCached(f.index)+511) / 512
	out.Blksize = 1 << 20
	setTime(&out.Attr, f.t.ModTime())
	out.SetTimeout(attrTimeout)
	return 0
}

func (f *file) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	h, err := f.t.Open(f.index)
	if err != nil {
		return nil, 0, errno(f.log, err)
	}
	return &handle{h: h, log: f.log}, f.openFlags, 0
}

// handle is an open file.
type handle struct {
	h   *fetch.Handle
	log *slog.Logger
}

var (
	_ fusefs.FileReader   = (*handle)(nil)
	_ fusefs.FileReleaser = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.h.ReadAt(ctx, dest, off)
	if err != nil && err != io.EOF {
		return nil, errno(h.log, err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.h.Close()
	return 0
}

// errno maps an error to what the caller of a syscall sees, and logs what needs a log.
// It is the only place errors become errno values.
func errno(log *slog.Logger, err error) syscall.Errno {
	var e syscall.Errno
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return syscall.EINTR
	case errors.Is(err, fetch.ErrTimeout):
		return syscall.EIO // fetch logged it with the file and offset
	case errors.Is(err, fetch.ErrClosed):
		return syscall.EBADF
	case errors.Is(err, fetch.ErrDropped):
		return syscall.ENOENT // its entry was removed, and the torrent dropped
	case errors.As(err, &e):
		return e
	}
	log.Error("read failed", "err", err)
	return syscall.EIO
}

func setTime(a *fuse.Attr, t time.Time) {
	a.SetTimes(&t, &t, &t)
}
