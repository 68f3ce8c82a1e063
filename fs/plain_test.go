//go:build !windows

package fs

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/fetch"
)

// dormantSingle adds a dormant single-file torrent of 1000 bytes called name.
func dormantSingle(t *testing.T, cl *fetch.Client, name string) *fetch.Torrent {
	t.Helper()
	return addDormant(t, cl, metainfo.Info{Name: name, PieceLength: 1 << 24, Length: 1000, Pieces: make([]byte, 20)})
}

// TestPlainTreeSame: the tree Windows serves (plainTree) names, sizes and resolves every file
// and directory as the go-fuse tree does, hostile and clashing names included, as torrents
// come and go.
func TestPlainTreeSame(t *testing.T) {
	_, cl := shapeMount(t)
	m, pt := NewUnmounted(Options{}), newPlainTree()
	long := strings.Repeat("é", 200)
	shapes := map[string][][]string{
		"../evil": {
			{"..", "..", "etc", "passwd"}, {"a/b"}, {"nul\x00name"}, {""}, {"."}, {long},
			{"dup.txt"}, {"dup.txt"}, {"dup (2).txt"}, {"x"}, {"x", "y"}, {"x", "z"}, {"d", "e", "f"},
		},
		"tree": {{"a", "b.bin"}, {".."}, {"top.bin"}},
	}
	for _, name := range []string{"../evil", "tree", "tree", "single"} {
		var tt *fetch.Torrent
		if name == "single" {
			tt = dormantSingle(t, cl, "single.bin")
		} else {
			tt = dormant(t, cl, fmt.Sprint(name, len(m.Names())), shapes[name])
		}
		got, _ := m.Add(name, tt)
		n, slot, need := buildPlain(tt, slots{}, nil)
		if plain := pt.attach(name, n, slot, need); plain != got {
			t.Fatalf("%q attached as %q in the plain tree, %q in the go-fuse tree", name, plain, got)
		}
	}
	same := func() {
		t.Helper()
		if a, b := pt.names(), m.Names(); !slices.Equal(a, b) {
			t.Fatalf("root: plain %q, go-fuse %q", a, b)
		}
		var walk func(p string)
		walk = func(p string) {
			a, aok := pt.stat(p)
			b, bok := m.Stat(p)
			if p == "" { // the roots were made at different times
				a.ModTime = b.ModTime
			}
			if a != b || aok != bok {
				t.Errorf("Stat(%q): plain %+v %v, go-fuse %+v %v", p, a, aok, b, bok)
			}
			at, ai, aok := pt.lookup(p)
			bt, bi, bok := m.Lookup(p)
			if at != bt || ai != bi || aok != bok {
				t.Errorf("Lookup(%q): plain %d %v, go-fuse %d %v", p, ai, aok, bi, bok)
			}
			as, aok := pt.readDir(p)
			bs, bok := m.ReadDir(p)
			if p == "" {
				for i := range as {
					if i < len(bs) {
						as[i].ModTime = bs[i].ModTime
					}
				}
			}
			if !slices.Equal(as, bs) || aok != bok {
				t.Fatalf("ReadDir(%q): plain %+v %v, go-fuse %+v %v", p, as, aok, bs, bok)
			}
			for _, e := range bs {
				walk(path.Join(p, e.Name))
			}
		}
		walk("")
		for _, name := range m.Names() {
			a, aok := pt.paths(name)
			b, bok := m.Paths(name)
			if !slices.Equal(a, b) || aok != bok {
				t.Errorf("Paths(%q): plain %q, go-fuse %q", name, a, b)
			}
		}
		for _, p := range []string{"nothing", "tree/nothing", "single.bin/x", "tree/a/b.bin/c"} {
			_, aok := pt.stat(p)
			_, bok := m.Stat(p)
			if aok || bok {
				t.Errorf("Stat(%q) of nothing: plain %v, go-fuse %v", p, aok, bok)
			}
		}
	}
	same()
	if len(m.Names()) != 4 {
		t.Fatalf("root %q: want 4 entries", m.Names())
	}

	if err := pt.remove("tree"); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("tree"); err != nil {
		t.Fatal(err)
	}
	same()
	if err := pt.remove("tree"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("removing a removed entry: %v, want ErrNotExist", err)
	}
}

// TestNoFUSEMessage: mount on Windows, and on a Mac without macFUSE, fails with one line
// that names what is missing and the command that works instead.
func TestNoFUSEMessage(t *testing.T) {
	for goos, want := range map[string][]string{
		"windows": {"WinFsp", "torrentfs serve --http", "/dav/", "Map network drive"},
		"darwin":  {"macFUSE", "torrentfs serve --http", "/dav/", "Connect to Server"},
	} {
		err := error(&NoFUSEError{GOOS: goos})
		msg := err.Error()
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q does not say %q", goos, msg, w)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: %q is more than one line", goos, msg)
		}
		if !errors.Is(err, ErrNoFUSE) {
			t.Errorf("%s: not ErrNoFUSE", goos)
		}
	}
}
