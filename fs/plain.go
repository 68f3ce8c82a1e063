package fs

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/torrentfs/torrentfs/fetch"
)

// plainTree is the mount's tree without go-fuse, for the platforms go-fuse does not build
// on (Windows), where torrents are served over HTTP and WebDAV only. It names every file as
// the go-fuse tree does (the same builder rules: cleanName, uniqueName); TestPlainTreeSame
// holds it to that.
type plainTree struct {
	mu sync.RWMutex
	// Guarded by mu.
	root  map[string]*plainNode
	mtime time.Time            // the tree's creation, then the last attach or remove
	taken map[uint64]bool      // the slots of the root's entries' inode numbers (ino.go)
	slots map[string][2]uint64 // each root entry's first slot and how many
	s     slots                // how trees are numbered
}

// plainNode is a file or a directory of a torrent. Immutable once built.
type plainNode struct {
	t        *fetch.Torrent
	index    int                   // of a file
	children map[string]*plainNode // of a directory; nil for a file
	ino      uint64                // its inode number, as the go-fuse tree gives it (ino.go)
}

func newPlainTree() *plainTree {
	return &plainTree{root: make(map[string]*plainNode), mtime: time.Now(),
		taken: make(map[uint64]bool), slots: make(map[string][2]uint64)}
}

// buildPlain returns t's entry, numbered in the first slots of its probes that taken does
// not hold, and those slots, as Mount.build does (ino.go).
func buildPlain(t *fetch.Torrent, s slots, taken func(uint64) bool) (n *plainNode, slot, need uint64) {
	need = 1
	for {
		slot = s.find(t.InfoHash(), need, taken)
		a := inos{base: slot << s.width()}
		n = buildPlainIn(t, &a)
		if k := (a.n-1)>>s.width() + 1; k > need { // more than a slot's worth
			need = k
			continue
		}
		return n, slot, need
	}
}

// buildPlainIn returns t's entry, as builder.build does, numbered by a in the same order.
func buildPlainIn(t *fetch.Torrent, a *inos) *plainNode {
	if !t.IsDir() {
		return &plainNode{t: t, ino: a.next()}
	}
	var (
		top  = &plainNode{t: t, index: -1, children: make(map[string]*plainNode), ino: a.next()}
		dirs = make(map[*plainNode]map[string]*plainNode) // subdirectories by the torrent's names
		seen = make(map[*plainNode]suffixes)
	)
	add := func(parent *plainNode, name string, child *plainNode) {
		if _, ok := parent.children[name]; ok {
			s := seen[parent]
			if s == nil {
				s = make(suffixes)
				seen[parent] = s
			}
			name = uniqueName(name, func(n string) bool { _, ok := parent.children[n]; return ok }, s)
		}
		parent.children[name] = child
	}
	for i, f := range t.Files() {
		parent := top
		for _, elem := range f.Path[:max(len(f.Path)-1, 0)] {
			name := cleanName(elem)
			d, ok := dirs[parent][name]
			if !ok {
				d = &plainNode{t: t, index: -1, children: make(map[string]*plainNode), ino: a.next()}
				add(parent, name, d)
				if dirs[parent] == nil {
					dirs[parent] = make(map[string]*plainNode)
				}
				dirs[parent][name] = d
			}
			parent = d
		}
		base := "_"
		if len(f.Path) > 0 {
			base = cleanName(f.Path[len(f.Path)-1])
		}
		add(parent, base, &plainNode{t: t, index: i, ino: a.next()})
	}
	return top
}

// attach adds n, numbered in need slots from slot, as a root entry; should those slots be
// another entry's, it builds n again in others, as Mount.Attach does.
func (pt *plainTree) attach(name string, n *plainNode, slot, need uint64) string {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	isTaken := func(slot uint64) bool { return pt.taken[slot] }
	if anyTaken(slot, need, isTaken) {
		n, slot, need = buildPlain(n.t, pt.s, isTaken)
	}
	for i := range need {
		pt.taken[slot+i] = true
	}
	name = uniqueName(cleanName(name), func(c string) bool { _, ok := pt.root[c]; return ok }, nil)
	pt.root[name] = n
	pt.slots[name] = [2]uint64{slot, need}
	pt.mtime = time.Now()
	return name
}

func (pt *plainTree) remove(name string) error {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if _, ok := pt.root[name]; !ok {
		return fmt.Errorf("%q: %w", name, ErrNotExist)
	}
	delete(pt.root, name)
	r := pt.slots[name]
	for i := range r[1] {
		delete(pt.taken, r[0]+i)
	}
	delete(pt.slots, name)
	pt.mtime = time.Now()
	return nil
}

func (pt *plainTree) names() []string {
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	return slices.Sorted(maps.Keys(pt.root))
}

// node returns the node at p, nil for the root, and whether p names anything.
func (pt *plainTree) node(p string) (*plainNode, bool) {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil, true
	}
	elems := strings.Split(p, "/")
	pt.mu.RLock()
	n := pt.root[elems[0]]
	pt.mu.RUnlock()
	for _, elem := range elems[1:] {
		if n == nil {
			return nil, false
		}
		n = n.children[elem]
	}
	return n, n != nil
}

func (pt *plainTree) entry(name string, n *plainNode) DirEntry {
	if n == nil {
		pt.mu.RLock()
		defer pt.mu.RUnlock()
		return DirEntry{Name: name, Dir: true, ModTime: pt.mtime, Ino: rootIno}
	}
	if n.children == nil {
		return DirEntry{Name: name, Size: n.t.Files()[n.index].Length, ModTime: n.t.ModTime(), Ino: n.ino}
	}
	return DirEntry{Name: name, Dir: true, ModTime: n.t.ModTime(), Ino: n.ino}
}

func (pt *plainTree) lookup(p string) (*fetch.Torrent, int, bool) {
	n, ok := pt.node(p)
	if !ok || n == nil || n.children != nil {
		return nil, 0, false
	}
	return n.t, n.index, true
}

func (pt *plainTree) stat(p string) (DirEntry, bool) {
	n, ok := pt.node(p)
	if !ok {
		return DirEntry{}, false
	}
	name := ""
	if p = strings.Trim(p, "/"); p != "" {
		name = path.Base(p)
	}
	return pt.entry(name, n), true
}

func (pt *plainTree) readDir(p string) ([]DirEntry, bool) {
	n, ok := pt.node(p)
	if !ok || n != nil && n.children == nil {
		return nil, false
	}
	var es []DirEntry
	if n == nil {
		pt.mu.RLock()
		for name, c := range pt.root {
			es = append(es, pt.entry(name, c)) // c is not nil: entry takes no lock
		}
		pt.mu.RUnlock()
	} else {
		for name, c := range n.children {
			es = append(es, pt.entry(name, c))
		}
	}
	slices.SortFunc(es, func(a, b DirEntry) int { return strings.Compare(a.Name, b.Name) })
	return es, true
}

// paths is Mount.Paths: every file's path under the root entry name, by file index.
func (pt *plainTree) paths(name string) ([]string, bool) {
	pt.mu.RLock()
	n, ok := pt.root[name]
	pt.mu.RUnlock()
	if !ok {
		return nil, false
	}
	if n.children == nil {
		r := make([]string, len(n.t.Files()))
		r[n.index] = name
		return r, true
	}
	var r []string
	type frame struct {
		n   *plainNode
		dir string
	}
	stack := []frame{{n, name}}
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for cname, c := range top.n.children {
			p := top.dir + "/" + cname
			if c.children != nil {
				stack = append(stack, frame{c, p})
				continue
			}
			if r == nil {
				r = make([]string, len(c.t.Files()))
			}
			r[c.index] = p
		}
	}
	return r, true
}
