package fs

import (
	"log/slog"

	"github.com/torrentfs/torrentfs/fetch"
)

// Mount is the tree of torrents that serve's HTTP and WebDAV front ends read. On Windows no
// kernel serves it: New fails with a *NoFUSEError. It is safe for concurrent use.
type Mount struct {
	tree *plainTree
}

// New fails: mounting needs a FUSE layer (WinFsp), which torrentfs does not support.
func New(dir string, opts Options) (*Mount, error) { return nil, noFUSE() }

// NewUnmounted returns an empty root, read through Lookup and ReadDir.
func NewUnmounted(opts Options) *Mount { return &Mount{tree: newPlainTree()} }

// CheckMountPoint fails as New does.
func CheckMountPoint(dir string, log *slog.Logger) error { return noFUSE() }

// Detach does nothing: nothing is mounted.
func Detach(dir string) error { return nil }

// Tree is a torrent's entry, built by Build and not yet in the root.
type Tree struct {
	entry       *plainNode
	slot, slots uint64 // of its inode numbers (ino.go)
}

// Add adds t to the root as one entry: Attach of Build.
func (m *Mount) Add(name string, t *fetch.Torrent) (string, error) {
	return m.Attach(name, m.Build(t)), nil
}

// Build builds t's entry, as on the other systems.
func (m *Mount) Build(t *fetch.Torrent) *Tree {
	n, slot, slots := buildPlain(t, m.tree.s, nil)
	return &Tree{entry: n, slot: slot, slots: slots}
}

// Attach adds tr to the root as one entry called name, made unique; it returns the name used.
func (m *Mount) Attach(name string, tr *Tree) string {
	return m.tree.attach(name, tr.entry, tr.slot, tr.slots)
}

// Remove removes the root entry called name; ErrNotExist if there is none.
func (m *Mount) Remove(name string) error { return m.tree.remove(name) }

// Names returns the names of the root's entries, sorted.
func (m *Mount) Names() []string { return m.tree.names() }

// Lookup resolves a path to the torrent and index of the file there.
func (m *Mount) Lookup(p string) (*fetch.Torrent, int, bool) { return m.tree.lookup(p) }

// Stat describes the file or directory at p.
func (m *Mount) Stat(p string) (DirEntry, bool) { return m.tree.stat(p) }

// ReadDir returns the entries of the directory at p, by name.
func (m *Mount) ReadDir(p string) ([]DirEntry, bool) { return m.tree.readDir(p) }

// Paths returns the path of each file of the root entry called name, by file index.
func (m *Mount) Paths(name string) ([]string, bool) { return m.tree.paths(name) }

// Wait returns at once: nothing is mounted.
func (m *Mount) Wait() {}

// Unmount does nothing: nothing is mounted.
func (m *Mount) Unmount() error { return nil }
