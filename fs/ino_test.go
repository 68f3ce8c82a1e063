//go:build !windows

package fs

import (
	"context"
	"log/slog"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	fusefs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/torrentfs/torrentfs/fetch"
)

// unmounted is an empty Mount whose root is not mounted, its trees numbered by s.
func unmounted(s slots) *Mount {
	r := &root{a: &attrs{}}
	fusefs.NewNodeFS(r, &fusefs.Options{RootStableAttr: &fusefs.StableAttr{Ino: 1}})
	return &Mount{root: r, slots: s, log: slog.New(slog.DiscardHandler)}
}

// weak numbers trees in slots of 2^width numbers, chosen among 2^n: slots collide often.
func weak(n, width uint) slots {
	return slots{hash: func(b []byte) uint64 { return hashSlot(b) & (1<<n - 1) }, bits: width}
}

// addPaths adds a torrent called name of one-byte files at paths (elements separated by
// '|'), or returns nil if the client refuses it.
func addPaths(t *testing.T, cl *fetch.Client, name string, paths []string) *fetch.Torrent {
	t.Helper()
	tt, err := cl.Add(context.Background(), name+".torrent", fetch.AddOptions{MetaInfo: pathsTorrent(t, name, paths)})
	if err != nil {
		return nil
	}
	t.Cleanup(func() { tt.Drop(); <-tt.Dropped() })
	return tt
}

// pathsTorrent is a torrent called name of one-byte files at paths (elements separated by
// '|'), in pieces of 16 KiB.
func pathsTorrent(t *testing.T, name string, paths []string) *metainfo.MetaInfo {
	t.Helper()
	info := metainfo.Info{Name: name, PieceLength: 1 << 14}
	for _, p := range paths {
		info.Files = append(info.Files, metainfo.FileInfo{Path: strings.Split(p, "|"), Length: 1})
	}
	info.Pieces = make([]byte, 20*((int64(len(paths))+info.PieceLength-1)/info.PieceLength))
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	return &metainfo.MetaInfo{InfoBytes: ib}
}

// numbers returns the inode number of every node of the root entry called name, by its
// path under the entry ("" for the entry). It fails t unless they are the numbers of the
// entry's slots, from the first on, and files' follow the torrent's order.
func numbers(t *testing.T, m *Mount, name string) map[string]uint64 {
	t.Helper()
	entry := m.root.EmbeddedInode().GetChild(name)
	if entry == nil {
		t.Fatalf("no entry %q", name)
	}
	r := make(map[string]uint64)
	var files []uint64 // by index
	var walk func(p string, n *fusefs.Inode)
	walk = func(p string, n *fusefs.Inode) {
		r[p] = n.StableAttr().Ino
		if f, ok := n.Operations().(*file); ok {
			if files == nil {
				files = make([]uint64, len(f.t.Files()))
			}
			files[f.index] = n.StableAttr().Ino
		}
		for name, c := range n.Children() {
			walk(p+"/"+name, c)
		}
	}
	walk("", entry)
	m.mu.Lock()
	slot := m.trees[entry]
	m.mu.Unlock()
	base := slot[0] << m.slots.width()
	got := slices.Sorted(maps.Values(r))
	if got[0] != base || got[len(got)-1] != base+uint64(len(got))-1 || slot[1] != (uint64(len(got))-1)>>m.slots.width()+1 {
		t.Fatalf("%s: numbers %d, in slots %d", name, got, slot)
	}
	if !slices.IsSorted(files) {
		t.Fatalf("%s: files' numbers out of the torrent's order: %d", name, files)
	}
	return r
}

// checkUnique fails t unless every number of sets is valid and no two are equal.
func checkUnique(t *testing.T, sets ...map[string]uint64) {
	t.Helper()
	seen := make(map[uint64]string)
	for i, s := range sets {
		for p, ino := range s {
			if ino <= 1 || ino == ^uint64(0) {
				t.Fatalf("%d:%s has the reserved number %d", i, p, ino)
			}
			if o, ok := seen[ino]; ok {
				t.Fatalf("%d:%s and %s have the same number %d", i, p, o, ino)
			}
			seen[ino] = p
		}
	}
}

func attach(t *testing.T, m *Mount, tt *fetch.Torrent) string {
	t.Helper()
	name, err := m.Add(tt.Name(), tt)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// TestInodeNumbers: a torrent's numbers are the same whatever was added before, and
// again after a Remove (with another generation). With slots of 4 numbers among 7, every
// number is still unique and valid, a torrent's numbers depend on it alone, and a second
// torrent is numbered around the first's; a Remove frees its slots.
func TestInodeNumbers(t *testing.T) {
	cl := nullClient(t)
	a := addPaths(t, cl, "a", []string{"x|1", "x|2", "y", "x|z|3", "x", "..|..|x"})
	b := addPaths(t, cl, "b", []string{"x|1", "x|2", "w|v|u"})
	one := addPaths(t, cl, "one", []string{"one"})

	m1 := unmounted(slots{})
	a1, b1, one1 := numbers(t, m1, attach(t, m1, a)), numbers(t, m1, attach(t, m1, b)), numbers(t, m1, attach(t, m1, one))
	checkUnique(t, a1, b1, one1)
	m2 := unmounted(slots{})
	one2, b2, a2 := numbers(t, m2, attach(t, m2, one)), numbers(t, m2, attach(t, m2, b)), numbers(t, m2, attach(t, m2, a))
	for _, c := range [][2]map[string]uint64{{a1, a2}, {b1, b2}, {one1, one2}} {
		if !maps.Equal(c[0], c[1]) {
			t.Errorf("added in another order: %v, then %v", c[0], c[1])
		}
	}
	genBefore := m2.root.EmbeddedInode().GetChild("a").StableAttr().Gen
	if err := m2.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if a3 := numbers(t, m2, attach(t, m2, a)); !maps.Equal(a1, a3) {
		t.Errorf("added again: %v, first %v", a3, a1)
	}
	if gen := m2.root.EmbeddedInode().GetChild("a").StableAttr().Gen; gen == genBefore {
		t.Errorf("added again with the same generation %d", gen)
	}

	// a has 11 nodes (3 slots), b 7 (2 slots).
	w := weak(3, 2)
	w1 := unmounted(w)
	wa1 := numbers(t, w1, attach(t, w1, a))
	wb1 := numbers(t, w1, attach(t, w1, b))
	checkUnique(t, wa1, wb1)
	w2 := unmounted(w)
	wb2 := numbers(t, w2, attach(t, w2, b))
	wa2 := numbers(t, w2, attach(t, w2, a))
	checkUnique(t, wa2, wb2)
	w3 := unmounted(w)
	if wa3 := numbers(t, w3, attach(t, w3, a)); !maps.Equal(wa1, wa3) {
		t.Errorf("a added first to two mounts: %v, then %v", wa1, wa3)
	}
	if err := w1.Remove("a"); err != nil {
		t.Fatal(err)
	}
	w1.mu.Lock()
	if len(w1.taken) != 2 {
		t.Errorf("after a's Remove, the mount holds %d slots, b has 2", len(w1.taken))
	}
	w1.mu.Unlock()
}

// FuzzInodeNumbers adds two torrents whose file paths come from the fuzzer (as in
// FuzzBuildTree) to a mount whose slots are few and narrow, so that they collide and
// torrents take several: every number is valid and unique, and the first torrent's are
// those it gets alone.
func FuzzInodeNumbers(f *testing.F) {
	f.Add("a|b\na|b\na\n..|..|etc|passwd\n/|x\n\x00\n\n|\na|b|c", "a|b\nc", uint8(3))
	f.Add("a\na\na (2)\nb.txt|c\nb.txt", "a", uint8(0))
	f.Add("x|y|z\nx|y\nx", "x|y|z\nx|y\nx", uint8(8))
	cl := nullClient(f)
	f.Fuzz(func(t *testing.T, first, second string, n uint8) {
		p1, p2 := strings.Split(first, "\n"), strings.Split(second, "\n")
		if len(p1)+len(p2) > 500 {
			return // out of scope: ignored, not a failure
		}
		a := addPaths(t, cl, "first", p1)
		b := addPaths(t, cl, "second", p2)
		if a == nil || b == nil {
			return
		}
		// Slots of 2 to 16 numbers; enough of them for every node (at most two a path
		// element, with the top directories), and up to 7 bits more.
		width := 1 + uint(n%4)
		nodes := 0
		for _, p := range append(p1, p2...) {
			nodes += 2 * (strings.Count(p, "|") + 1)
		}
		need := uint(bits.Len(uint(2*(nodes>>width+2) + 2)))
		s := weak(need+uint(n>>2)%8, width)
		m := unmounted(s)
		n1 := numbers(t, m, attach(t, m, a))
		n2 := numbers(t, m, attach(t, m, b))
		checkUnique(t, n1, n2)
		alone := unmounted(s)
		if got := numbers(t, alone, attach(t, alone, a)); !maps.Equal(got, n1) {
			t.Fatalf("alone %v, first of two %v", got, n1)
		}
	})
}
