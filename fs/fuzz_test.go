//go:build !windows

package fs

import (
	"context"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	fusefs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// checkName fails t unless name is a valid single directory entry.
func checkName(t *testing.T, name string) {
	t.Helper()
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || len(name) > maxName {
		t.Fatalf("not a valid name: %q", name)
	}
}

var nameSeeds = []string{"", ".", "..", "a/b", "\x00", "/", "a.mkv", strings.Repeat("é", 200),
	strings.Repeat("x", 300) + ".mkv", strings.Repeat("\xff", 300), "\xc3", "a\xe2\x82", "日本語.txt"}

// FuzzCleanName: cleanName makes a valid entry of anything, keeps valid UTF-8 valid, leaves
// a clean name as it is (so cleaning twice is cleaning once), and keeps a short name's
// length in runes.
func FuzzCleanName(f *testing.F) {
	for _, s := range nameSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := cleanName(s)
		checkName(t, c)
		if utf8.ValidString(s) && !utf8.ValidString(c) {
			t.Fatalf("%q: cleaned to invalid UTF-8 %q", s, c)
		}
		if cc := cleanName(c); cc != c {
			t.Fatalf("%q: cleaned to %q, then to %q", s, c, cc)
		}
	})
}

// FuzzUniqueName: uniqueName returns a valid name that is not taken, the name itself when it
// is free, and the same name with the memory of a directory's suffixes as without it. taken
// holds the names of a directory, one a line; then runs names are taken, alternately name's
// and other's (whose stems may clash with name's once cut), as a tree's build takes them.
func FuzzUniqueName(f *testing.F) {
	for _, s := range nameSeeds {
		f.Add(s, s+"x", "a.mkv\na (2).mkv", uint8(30))
	}
	f.Add(strings.Repeat("x", 250)+"a", strings.Repeat("x", 250)+"b", strings.Repeat("x", 248)+" (3)", uint8(40))
	f.Add("a. (3)", "a (2).", "a (2). (3)\na. (3) (2)", uint8(25))
	f.Fuzz(func(t *testing.T, name, other, others string, runs uint8) {
		names := [2]string{cleanName(name), cleanName(other)}
		taken := make(map[string]bool)
		for _, o := range strings.Split(others, "\n") {
			taken[o] = true
		}
		seen := make(suffixes)
		for r := range int(runs) {
			name := names[r%2]
			free := !taken[name]
			isTaken := func(s string) bool { return taken[s] }
			u := uniqueName(name, isTaken, seen)
			checkName(t, u)
			if want := uniqueName(name, isTaken, nil); u != want {
				t.Fatalf("%q: %q with the directory's suffixes, %q without", name, u, want)
			}
			if taken[u] {
				t.Fatalf("%q: %q is taken", name, u)
			}
			if free && u != name {
				t.Fatalf("%q is free, but %q was given", name, u)
			}
			if utf8.ValidString(name) && !utf8.ValidString(u) {
				t.Fatalf("%q: made unique as invalid UTF-8 %q", name, u)
			}
			taken[u] = true
		}
	})
}

// nullClient is a client on nullStorage, not uploading, to add torrents whose trees are
// built and never read; it is closed when the test ends.
func nullClient(t testing.TB) *fetch.Client {
	t.Helper()
	return fetchtest.NewClient(t, fetch.Config{Storage: nullStorage{}, NoUpload: true})
}

// nullStorage stores nothing: the trees FuzzBuildTree builds are never read.
type nullStorage struct{}

func (nullStorage) OpenTorrent(context.Context, *metainfo.Info, metainfo.Hash) (storage.TorrentImpl, error) {
	return storage.TorrentImpl{
		Piece: func(metainfo.Piece) storage.PieceImpl { return nullPiece{} },
		Close: func() error { return nil },
	}, nil
}

type nullPiece struct{}

func (nullPiece) ReadAt([]byte, int64) (int, error)      { return 0, io.ErrUnexpectedEOF }
func (nullPiece) WriteAt(b []byte, _ int64) (int, error) { return len(b), nil }
func (nullPiece) MarkComplete() error                    { return nil }
func (nullPiece) MarkNotComplete() error                 { return nil }
func (nullPiece) Completion() storage.Completion         { return storage.Completion{Ok: true} }

// FuzzBuildTree builds the tree of a torrent whose file paths come from the fuzzer: one
// path a line, elements separated by '|' (so that '/' and NUL reach cleanName). Every entry
// of the tree has a valid name, and every file of the torrent is in it exactly once.
func FuzzBuildTree(f *testing.F) {
	f.Add("a|b\na|b\na\n..|..|etc|passwd\n/|x\n\x00\n\n|\na|b|c", "name")
	f.Add("a\na\na (2)\nb.txt|c\nb.txt", "")
	f.Add("\xff\xfe|\xc3\na/b\nc_\nc\x00", "..")
	cl := nullClient(f)
	root := &root{a: &attrs{}}
	fusefs.NewNodeFS(root, &fusefs.Options{}) // a bridge, unmounted, to make inodes with
	f.Fuzz(func(t *testing.T, paths, name string) {
		lines := strings.Split(paths, "\n")
		if len(lines) > 1000 {
			return // out of scope: ignored, not a failure
		}
		tt, err := cl.Add(context.Background(), "fuzz.torrent", fetch.AddOptions{MetaInfo: pathsTorrent(t, name, lines)})
		if err != nil { // refused: nothing to build (ErrDuplicate: the same torrent again)
			return
		}
		defer func() { tt.Drop(); <-tt.Dropped() }()
		b := builder{parent: root.EmbeddedInode(), t: tt, a: root.a}
		top := b.build(context.Background())
		seen := make([]int, len(tt.Files()))
		var walk func(n *fusefs.Inode)
		walk = func(n *fusefs.Inode) {
			for name, c := range n.Children() {
				checkName(t, name)
				switch op := c.Operations().(type) {
				case *file:
					seen[op.index]++
				case *dir:
					walk(c)
				}
			}
		}
		walk(top)
		for i, n := range seen {
			if n != 1 {
				t.Fatalf("file %d (%q) is in the tree %d times", i, tt.Files()[i].Path, n)
			}
		}
	})
}
