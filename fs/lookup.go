//go:build !windows

package fs

import (
	"path"
	"slices"
	"strings"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/torrentfs/torrentfs/fetch"
)

// The mount's tree, read without FUSE: a path as the mount shows it (relative to the root,
// slash-separated, "" for the root) names the same file through Lookup, so that other
// front ends (the HTTP server) serve the same names through the same read path.

// node returns the inode at p, or nil.
func (m *Mount) node(p string) *fusefs.Inode {
	n := m.root.EmbeddedInode()
	p = strings.Trim(p, "/")
	if p == "" {
		return n
	}
	for _, elem := range strings.Split(p, "/") {
		if n = n.GetChild(elem); n == nil {
			return nil
		}
	}
	return n
}

// Lookup resolves a path as the mount shows it to the torrent and index of the file there.
// It reports false for a path that names nothing or a directory.
func (m *Mount) Lookup(p string) (*fetch.Torrent, int, bool) {
	n := m.node(p)
	if n == nil {
		return nil, 0, false
	}
	f, ok := n.Operations().(*file)
	if !ok {
		return nil, 0, false
	}
	return f.t, f.index, true
}

// entry describes the inode n, called name.
func entry(name string, n *fusefs.Inode) DirEntry {
	e := DirEntry{Name: name, Dir: n.IsDir(), Ino: n.StableAttr().Ino}
	switch op := n.Operations().(type) {
	case *file:
		e.Size, e.ModTime = op.t.Files()[op.index].Length, op.t.ModTime()
	case *dir:
		e.ModTime = op.mtime
	case *root:
		e.ModTime = time.Unix(0, op.mtime.Load())
	}
	return e
}

// Stat describes the file or directory at p; its Name is p's last element ("" for the
// root). It reports false for a path that names nothing.
func (m *Mount) Stat(p string) (DirEntry, bool) {
	n := m.node(p)
	if n == nil {
		return DirEntry{}, false
	}
	name := ""
	if p = strings.Trim(p, "/"); p != "" {
		name = path.Base(p)
	}
	return entry(name, n), true
}

// ReadDir returns the entries of the directory at p, by name. It reports false for a path
// that names nothing or a file.
func (m *Mount) ReadDir(p string) ([]DirEntry, bool) {
	n := m.node(p)
	if n == nil || !n.IsDir() {
		return nil, false
	}
	var es []DirEntry
	for name, c := range n.Children() {
		es = append(es, entry(name, c))
	}
	slices.SortFunc(es, func(a, b DirEntry) int { return strings.Compare(a.Name, b.Name) })
	return es, true
}

// Paths returns the path of each file of the root entry called name as the mount shows it,
// by file index (as in Torrent.Files). It reports false if the root holds no such entry.
// It walks the tree without recursion, building each path in one buffer: its cost is the
// size of the paths it returns, however deep they are.
func (m *Mount) Paths(name string) ([]string, bool) {
	n := m.root.EmbeddedInode().GetChild(name)
	if n == nil {
		return nil, false
	}
	if f, ok := n.Operations().(*file); ok {
		r := make([]string, len(f.t.Files()))
		r[f.index] = name
		return r, true
	}
	// Depth first: the directories from the entry down to the one being listed, each with
	// the children left to visit and the length of its path in buf.
	type child struct {
		name string
		n    *fusefs.Inode
	}
	type frame struct {
		left []child
		end  int
	}
	children := func(n *fusefs.Inode) []child {
		var cs []child
		for name, c := range n.Children() {
			cs = append(cs, child{name, c})
		}
		return cs
	}
	var (
		r     []string
		buf   = []byte(name)
		stack = []frame{{children(n), len(name)}}
	)
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if len(top.left) == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		c := top.left[0]
		top.left = top.left[1:]
		buf = append(append(buf[:top.end], '/'), c.name...)
		switch op := c.n.Operations().(type) {
		case *file:
			if r == nil {
				r = make([]string, len(op.t.Files()))
			}
			r[op.index] = string(buf)
		case *dir:
			stack = append(stack, frame{children(c.n), len(buf)})
		}
	}
	return r, true // nil for a directory torrent with no files
}
