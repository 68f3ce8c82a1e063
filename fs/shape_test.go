//go:build !windows

package fs

import (
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	fusefs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/torrentfs/torrentfs/fetch"
)

// shapeMount is a Mount whose root is not mounted, to build trees in, and a client to make
// their torrents with (dormant: nothing is fetched).
func shapeMount(t *testing.T) (*Mount, *fetch.Client) {
	t.Helper()
	cl := nullClient(t)
	r := &root{a: &attrs{}}
	fusefs.NewNodeFS(r, &fusefs.Options{}) // a bridge, unmounted, to make inodes with
	return &Mount{root: r}, cl
}

// dormant adds a dormant torrent of one-byte files at paths.
func dormant(t *testing.T, cl *fetch.Client, name string, paths [][]string) *fetch.Torrent {
	t.Helper()
	info := metainfo.Info{Name: name, PieceLength: 1 << 24}
	for _, p := range paths {
		info.Files = append(info.Files, metainfo.FileInfo{Path: p, Length: 1})
	}
	info.Pieces = make([]byte, 20*((int64(len(paths))+info.PieceLength-1)/info.PieceLength))
	return addDormant(t, cl, info)
}

// addDormant adds a dormant torrent of info, named info.Name+".torrent", dropped when the test
// ends.
func addDormant(t *testing.T, cl *fetch.Client, info metainfo.Info) *fetch.Torrent {
	t.Helper()
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	tt, err := cl.AddDormant(info.Name+".torrent", &metainfo.MetaInfo{InfoBytes: ib}, fetch.AddOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tt.Drop(); <-tt.Dropped() })
	return tt
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestSameNameLinear: n files of one name in one directory are named a, a (2)… a (n), and
// building their tree costs O(n): ten times the files allocate well under a hundred times
// the bytes (the search for a free name from " (2)" up allocated 3.3 GB for 20,000 files).
func TestSameNameLinear(t *testing.T) {
	m, cl := shapeMount(t)
	cost := func(n int) uint64 {
		paths := make([][]string, n)
		for i := range paths {
			paths[i] = []string{"same.txt"}
		}
		tt := dormant(t, cl, "same"+strconv.Itoa(n), paths)
		var name string
		bytes := allocated(func() {
			var err error
			if name, err = m.Add("same", tt); err != nil {
				t.Fatal(err)
			}
		})
		top := m.root.EmbeddedInode().GetChild(name)
		if got := len(top.Children()); got != n {
			t.Fatalf("%d entries for %d files", got, n)
		}
		for _, c := range []string{"same.txt", "same (2).txt", "same (" + strconv.Itoa(n) + ").txt"} {
			if top.GetChild(c) == nil {
				t.Fatalf("no %q among %d files of one name", c, n)
			}
		}
		return bytes
	}
	small, large := cost(10_000), cost(100_000)
	t.Logf("10,000 files of one name: %d KiB allocated; 100,000: %d KiB", small>>10, large>>10)
	if large > 20*small {
		t.Fatalf("ten times the files of one name allocate %.1f times the bytes: not linear", float64(large)/float64(small))
	}
}

// TestDeepPathsLinear: Paths of a file d/d/…/f costs O(depth), not O(depth²).
func TestDeepPathsLinear(t *testing.T) {
	m, cl := shapeMount(t)
	cost := func(depth int) uint64 {
		p := append(strings.Split(strings.Repeat("d", depth), ""), "f")
		tt := dormant(t, cl, "deep"+strconv.Itoa(depth), [][]string{p})
		name, err := m.Add("deep", tt)
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		bytes := allocated(func() { paths, _ = m.Paths(name) })
		if want := name + strings.Repeat("/d", depth) + "/f"; len(paths) != 1 || paths[0] != want {
			t.Fatalf("Paths of a file %d deep: %.80q…", depth, paths)
		}
		return bytes
	}
	small, large := cost(100), cost(1000)
	t.Logf("Paths of a file 100 deep: %d KiB allocated; 1,000 deep: %d KiB", small>>10, large>>10)
	if large > 20*small {
		t.Fatalf("ten times the depth allocates %.1f times the bytes: not linear", float64(large)/float64(small))
	}
}
