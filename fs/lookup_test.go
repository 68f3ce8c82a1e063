//go:build !windows

package fs_test

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	tfs "github.com/torrentfs/torrentfs/fs"
)

// Lookup, ReadDir and Paths name what the mount shows, cleaned and unique names included.
func TestLookup(t *testing.T) {
	c := newClient(t)
	files := []fetchtest.File{
		{Path: []string{"a", "b.bin"}, Data: fetchtest.Payload(3*pieceLen+100, 1)},
		{Path: []string{".."}, Data: fetchtest.Payload(10, 2)}, // cleaned to "_.."
		{Path: []string{"top.bin"}, Data: fetchtest.Payload(pieceLen-1, 3)},
	}
	tt := seeded(t, c, "tree", files)
	one := seeded(t, c, "one.bin", single(1000, 4))
	m := newMount(t, tfs.Options{})
	name, err := m.Add("tree", tt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Add("one.bin", one); err != nil {
		t.Fatal(err)
	}

	paths, ok := m.Paths(name)
	want := []string{"tree/a/b.bin", "tree/_..", "tree/top.bin"}
	if !ok || !slices.Equal(paths, want) {
		t.Fatalf("Paths(%q) = %q, %v; want %q", name, paths, ok, want)
	}
	for i, p := range paths {
		if _, err := os.Stat(filepath.Join(m.dir, p)); err != nil {
			t.Errorf("%s is not in the mount: %v", p, err)
		}
		got, idx, ok := m.Lookup(p)
		if !ok || got != tt || idx != i {
			t.Errorf("Lookup(%q) = %v, %d, %v", p, got, idx, ok)
		}
	}
	if got, idx, ok := m.Lookup("/one.bin"); !ok || got != one || idx != 0 {
		t.Errorf("Lookup(one.bin) = %v, %d, %v", got, idx, ok)
	}
	for _, p := range []string{"", "tree", "tree/a", "nope", "tree/a/nope", "one.bin/x"} {
		if _, _, ok := m.Lookup(p); ok {
			t.Errorf("Lookup(%q) found a file", p)
		}
	}
	// noIno checks that an entry's Ino is what the mount shows at p, then clears it.
	noIno := func(p string, e tfs.DirEntry) tfs.DirEntry {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(m.dir, p), &st); err != nil || st.Ino != e.Ino {
			t.Errorf("%s: Ino %d, the mount shows %d (%v)", p, e.Ino, st.Ino, err)
		}
		e.Ino = 0
		return e
	}
	es, ok := m.ReadDir("")
	for i := range es {
		es[i] = noIno(es[i].Name, es[i])
	}
	mt := one.ModTime()
	if !ok || len(es) != 2 || es[0] != (tfs.DirEntry{Name: "one.bin", Size: 1000, ModTime: mt}) || es[1] != (tfs.DirEntry{Name: "tree", Dir: true, ModTime: mt}) {
		t.Errorf("ReadDir(root) = %+v, %v", es, ok)
	}
	es, ok = m.ReadDir("tree/a/")
	for i := range es {
		es[i] = noIno("tree/a/"+es[i].Name, es[i])
	}
	if !ok || len(es) != 1 || es[0] != (tfs.DirEntry{Name: "b.bin", Size: 3*pieceLen + 100, ModTime: mt}) {
		t.Errorf("ReadDir(tree/a) = %+v, %v", es, ok)
	}
	for p, want := range map[string]tfs.DirEntry{
		"tree/a": {Name: "a", Dir: true, ModTime: mt}, "one.bin": {Name: "one.bin", Size: 1000, ModTime: mt},
	} {
		if e, ok := m.Stat(p); !ok || noIno(p, e) != want {
			t.Errorf("Stat(%q) = %+v, %v; want %+v", p, e, ok, want)
		}
	}
	if e, ok := m.Stat(""); !ok || !e.Dir || e.Name != "" || e.ModTime.IsZero() || e.Ino != 1 || noIno("", e).Ino != 0 {
		t.Errorf("Stat(root) = %+v, %v", e, ok)
	}
	if _, ok := m.Stat("tree/nope"); ok {
		t.Error("Stat found nothing's entry")
	}
	if _, ok := m.ReadDir("one.bin"); ok {
		t.Error("ReadDir of a file")
	}
	if err := m.Remove(name); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := m.Lookup("tree/top.bin"); ok {
		t.Error("Lookup found a file of a removed entry")
	}
}
