//go:build !windows

// Package fs shows torrents as a read-only FUSE file system, using go-fuse.
//
// The mount root holds one entry per torrent, added (Mount.Add) and removed (Mount.Remove)
// while mounted: a file for a single-file torrent and a directory otherwise. A torrent's
// tree is built whole, from its file list, before it appears in the root, and never changes
// after. Names from the torrent are untrusted and are cleaned so that every entry is a
// single, unique, valid name. Inodes are persistent and entries are cached by the kernel for
// a long time; Remove tells the kernel to forget the entry it removes. Inode numbers last:
// they are a function of the torrent's info-hash and the node's place in it, the same in
// every mount and after a restart (ino.go).
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
//
// go-fuse builds on Linux and macOS (with macFUSE). On Windows the package keeps its API but
// holds the tree in plain maps (plainTree): NewUnmounted serves HTTP and WebDAV, and New
// fails with a *NoFUSEError.
package fs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/torrentfs/torrentfs/fetch"
)

const (
	// entryTimeout: a torrent's names never change while mounted; Mount.Remove tells the
	// kernel to forget a removed root entry.
	entryTimeout = time.Hour
	// attrTimeout: st_blocks changes as pieces arrive; du should see it soon.
	attrTimeout = time.Second
)

// attrs are what every node reports besides its size and times: owner and modes, from
// Options. Immutable after New.
type attrs struct {
	uid, gid          uint32
	fileMode, dirMode uint32 // permission bits
	log               *slog.Logger
	openFlags         uint32 // FOPEN_KEEP_CACHE or FOPEN_DIRECT_IO
}

func (a *attrs) set(out *fuse.Attr, mode uint32, mtime time.Time) {
	out.Mode = mode
	out.Owner = fuse.Owner{Uid: a.uid, Gid: a.gid}
	setTime(out, mtime)
}

// root is the mount's root directory: one entry per torrent, added and removed by Mount.
type root struct {
	fusefs.Inode

	a     *attrs
	mtime atomic.Int64 // Unix nanoseconds: the mount time, then the last Add or Remove
}

var _ fusefs.NodeGetattrer = (*root)(nil)

func (r *root) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	r.a.set(&out.Attr, fuse.S_IFDIR|r.a.dirMode, time.Unix(0, r.mtime.Load()))
	out.Nlink = 2
	return 0
}

// builder builds the tree of one torrent, detached: Mount.Add attaches it whole.
type builder struct {
	parent *fusefs.Inode // any inode of the mount, to make new ones
	t      *fetch.Torrent
	a      *attrs
	seen   map[*fusefs.Inode]suffixes // of the directories where names clashed
	inos   inos                       // numbers the nodes (ino.go)
}

// build returns the torrent's entry: a file for a single-file torrent, else a directory
// holding its tree.
func (b *builder) build(ctx context.Context) *fusefs.Inode {
	if !b.t.IsDir() {
		return b.newFile(ctx, 0)
	}
	top := b.newDir(ctx)
	for i, f := range b.t.Files() {
		parent := top
		for _, elem := range f.Path[:max(len(f.Path)-1, 0)] {
			parent = b.subdir(ctx, parent, cleanName(elem))
		}
		base := "_"
		if len(f.Path) > 0 {
			base = cleanName(f.Path[len(f.Path)-1])
		}
		b.add(parent, base, b.newFile(ctx, i))
	}
	return top
}

// subdir returns parent's directory called name, making it if needed. If name is taken by a
// file, the directory gets a unique name instead; later files of the same directory find it
// through dirs.
func (b *builder) subdir(ctx context.Context, parent *fusefs.Inode, name string) *fusefs.Inode {
	pd := parent.Operations().(*dir)
	if d, ok := pd.dirs[name]; ok {
		return d
	}
	d := b.newDir(ctx)
	b.add(parent, name, d)
	if pd.dirs == nil {
		pd.dirs = make(map[string]*fusefs.Inode)
	}
	pd.dirs[name] = d
	return d
}

// add adds child to parent, a directory of the tree being built, under name made unique.
func (b *builder) add(parent *fusefs.Inode, name string, child *fusefs.Inode) {
	if parent.GetChild(name) != nil {
		s := b.seen[parent]
		if s == nil {
			if b.seen == nil {
				b.seen = make(map[*fusefs.Inode]suffixes)
			}
			s = make(suffixes)
			b.seen[parent] = s
		}
		name = uniqueName(name, func(n string) bool { return parent.GetChild(n) != nil }, s)
	}
	parent.AddChild(name, child, false)
}

// addUnique adds child to parent under name made unique, and returns the name used.
func addUnique(parent *fusefs.Inode, name string, child *fusefs.Inode) string {
	name = uniqueName(name, func(n string) bool { return parent.GetChild(n) != nil }, nil)
	parent.AddChild(name, child, false)
	return name
}

// newDir makes a directory, with the next inode number.
func (b *builder) newDir(ctx context.Context) *fusefs.Inode {
	return b.parent.NewPersistentInode(ctx, &dir{a: b.a, mtime: b.t.ModTime()},
		fusefs.StableAttr{Mode: fuse.S_IFDIR, Ino: b.inos.next(), Gen: b.inos.gen})
}

// newFile makes file i of the torrent, with the next inode number.
func (b *builder) newFile(ctx context.Context, i int) *fusefs.Inode {
	return b.parent.NewPersistentInode(ctx, &file{a: b.a, t: b.t, index: i},
		fusefs.StableAttr{Mode: fuse.S_IFREG, Ino: b.inos.next(), Gen: b.inos.gen})
}

// dir is a directory of the torrent.
type dir struct {
	fusefs.Inode

	// Immutable once built.
	a     *attrs
	mtime time.Time
	dirs  map[string]*fusefs.Inode // subdirectories by the name the torrent gave them
}

var _ fusefs.NodeGetattrer = (*dir)(nil)

func (d *dir) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.a.set(&out.Attr, fuse.S_IFDIR|d.a.dirMode, d.mtime)
	out.Nlink = 2
	return 0
}

// file is a file of the torrent.
type file struct {
	fusefs.Inode

	// Immutable once built.
	a     *attrs
	t     *fetch.Torrent
	index int
}

var (
	_ fusefs.NodeGetattrer = (*file)(nil)
	_ fusefs.NodeOpener    = (*file)(nil)
)

func (f *file) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	size := f.t.Files()[f.index].Length
	f.a.set(&out.Attr, fuse.S_IFREG|f.a.fileMode, f.t.ModTime())
	out.Nlink = 1
	out.Size = uint64(size)
	out.Blocks = uint64(f.t.BytesCached(f.index)+511) / 512
	out.Blksize = 1 << 20
	out.SetTimeout(attrTimeout)
	return 0
}

func (f *file) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	h, err := f.t.Open(f.index)
	if err != nil {
		return nil, 0, errno(f.a.log, err)
	}
	return &handle{h: h, log: f.a.log}, f.a.openFlags, 0
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
