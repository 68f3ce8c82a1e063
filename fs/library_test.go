//go:build !windows

package fs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	tfs "github.com/torrentfs/torrentfs/fs"
)

// newClient starts one leeching client, with a fresh cache, for many torrents. It closes
// when the test ends, after the mounts made later.
func newClient(t *testing.T) *fetch.Client {
	t.Helper()
	st, err := cache.Open(t.TempDir(), cache.Options{Logger: fetchtest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return fetchtest.NewClient(t, fetch.Config{Storage: st})
}

// seeded makes a swarm with a seeder and adds its torrent to c.
func seeded(t *testing.T, c *fetch.Client, name string, files []fetchtest.File) *fetch.Torrent {
	t.Helper()
	s := fetchtest.NewSwarm(t, name, files, pieceLen)
	_, addr := s.StartSeeder(t)
	tt, err := c.Add(context.Background(), s.TorrentPath, fetch.AddOptions{Peers: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func single(size int, seed uint64) []fetchtest.File {
	return []fetchtest.File{{Data: fetchtest.Payload(size, seed)}}
}

// readAll checks that every file of files reads back equal under dir (the torrent's entry).
func readAll(t *testing.T, dir string, files []fetchtest.File) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(append([]string{dir}, f.Path...)...)
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.Data) {
			i := 0
			for i < min(len(got), len(f.Data)) && got[i] == f.Data[i] {
				i++
			}
			t.Fatalf("%s: %d bytes differ from the source's %d, first at %d", p, len(got), len(f.Data), i)
		}
	}
}

func readDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// Two torrents in one mount read back equal to their sources; a name looked up before it
// was added is found at once after.
func TestTwoTorrents(t *testing.T) {
	c := newClient(t)
	treeFiles, movie := tree(), single(2*pieceLen+7, 4)
	ta := seeded(t, c, "sample", treeFiles)
	tb := seeded(t, c, "movie.mkv", movie)
	m := newMount(t, tfs.Options{})
	if names := readDir(t, m.dir); len(names) != 0 {
		t.Fatalf("empty root lists %q", names)
	}
	if _, err := os.Stat(filepath.Join(m.dir, "movie.mkv")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat before Add: %v, want ENOENT", err)
	}
	for _, tt := range []*fetch.Torrent{ta, tb} {
		if name, err := m.Add(tt.Name(), tt); err != nil || name != tt.Name() {
			t.Fatalf("Add(%q): %q, %v", tt.Name(), name, err)
		}
	}
	want := []string{"movie.mkv", "sample"}
	if got := readDir(t, m.dir); !slices.Equal(got, want) {
		t.Fatalf("root lists %q, want %q", got, want)
	}
	if got := m.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names %q, want %q", got, want)
	}
	readAll(t, filepath.Join(m.dir, "sample"), treeFiles)
	readAll(t, filepath.Join(m.dir, "movie.mkv"), movie)
}

// Names that clash get " (2)", " (3)"… before the extension; names are cleaned; a removed
// name is free again.
func TestNameClash(t *testing.T) {
	c := newClient(t)
	m := newMount(t, tfs.Options{})
	var files [][]fetchtest.File
	for i := range 3 {
		f := single(pieceLen+i, uint64(10+i))
		files = append(files, f)
		tt := seeded(t, c, "x.bin", f)
		name, err := m.Add("x.bin", tt)
		if want := []string{"x.bin", "x (2).bin", "x (3).bin"}[i]; err != nil || name != want {
			t.Fatalf("Add %d: %q, %v, want %q", i, name, err, want)
		}
	}
	td := seeded(t, c, "d", tree())
	if name, err := m.Add("../x/y", td); err != nil || name != ".._x_y" {
		t.Fatalf("Add(../x/y): %q, %v, want .._x_y", name, err)
	}
	want := []string{".._x_y", "x (2).bin", "x (3).bin", "x.bin"}
	if got := readDir(t, m.dir); !slices.Equal(got, want) {
		t.Fatalf("root lists %q, want %q", got, want)
	}
	for i, name := range []string{"x.bin", "x (2).bin", "x (3).bin"} {
		readAll(t, filepath.Join(m.dir, name), files[i])
	}
	if err := m.Remove("x.bin"); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("x.bin"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("second Remove: %v, want ErrNotExist", err)
	}
	te := seeded(t, c, "x.bin", single(100, 20))
	if name, err := m.Add("x.bin", te); err != nil || name != "x.bin" {
		t.Fatalf("Add after Remove: %q, %v, want x.bin", name, err)
	}
	readAll(t, filepath.Join(m.dir, "x.bin"), single(100, 20))
}

// Removing a torrent while one of its files is open and half read: the entry is gone from
// listings and lookups at once, the open file reads to its end, and the torrent leaves the
// client only once it is closed. The other torrent reads throughout.
func TestRemoveWhileReading(t *testing.T) {
	c := newClient(t)
	big := single(40*pieceLen+123, 7)
	other := tree()
	ta := seeded(t, c, "big.bin", big)
	tb := seeded(t, c, "other", other)
	// Direct I/O: every read after the removal reaches the file system.
	m := newMount(t, tfs.Options{DirectIO: true})
	for _, tt := range []*fetch.Torrent{ta, tb} {
		if _, err := m.Add(tt.Name(), tt); err != nil {
			t.Fatal(err)
		}
	}
	otherDir := filepath.Join(m.dir, "other")
	readAll(t, otherDir, other)

	f, err := os.Open(filepath.Join(m.dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := big[0].Data
	half := len(data) / 2
	got := make([]byte, len(data))
	if _, err := io.ReadFull(f, got[:half]); err != nil {
		t.Fatal(err)
	}

	// The first half is read; reads of the second go on in the background as the entry
	// is removed.
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	removed := make(chan struct{})
	go func() {
		n, err := io.ReadFull(f, got[half:half+pieceLen])
		<-removed
		if err == nil {
			var m int
			m, err = io.ReadFull(f, got[half+n:])
			n += m
		}
		done <- result{n, err}
	}()
	if err := m.Remove("big.bin"); err != nil {
		t.Fatal(err)
	}
	ta.Drop()
	close(removed)
	if names := readDir(t, m.dir); !slices.Equal(names, []string{"other"}) {
		t.Errorf("root lists %q right after Remove, want [other]", names)
	}
	if _, err := os.Stat(filepath.Join(m.dir, "big.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat right after Remove: %v, want ENOENT", err)
	}
	readAll(t, otherDir, other)

	r := <-done
	if r.err != nil || r.n != len(data)-half {
		t.Fatalf("reading on after Remove: %d bytes, %v", r.n, r.err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the open file's bytes differ from the source")
	}
	select {
	case <-ta.Dropped():
		t.Fatal("the torrent left the client while its file was open")
	default:
	}
	if !slices.Contains(c.Torrents(), ta) {
		t.Fatal("the torrent is not in the client while its file is open")
	}
	f.Close()
	// The kernel sends RELEASE after close returns.
	select {
	case <-ta.Dropped():
	case <-time.After(30 * time.Second):
		t.Fatal("the torrent did not leave the client after its file was closed")
	}
	if slices.Contains(c.Torrents(), ta) || len(c.Torrents()) != 1 {
		t.Fatalf("client holds %d torrents after the drop, want 1", len(c.Torrents()))
	}
	readAll(t, otherDir, other)
}

// Owner, modes and the source name come from Options.
func TestOwnerAndUmask(t *testing.T) {
	c := newClient(t)
	files := tree()
	tt := seeded(t, c, "sample", files)
	for _, tc := range []struct {
		opts           tfs.Options
		uid, gid       uint32
		fmode, dirmode os.FileMode
		source         string
	}{
		{tfs.Options{}, uint32(os.Getuid()), uint32(os.Getgid()), 0o444, 0o555, "torrentfs"},
		{tfs.Options{UID: 1234, GID: 5678, OwnerSet: true, Umask: 0o027, FsName: "torrentfs:lib"}, 1234, 5678, 0o440, 0o550, "torrentfs:lib"},
		{tfs.Options{OwnerSet: true, Umask: 0o777}, 0, 0, 0, 0, "torrentfs"},
	} {
		m := newMount(t, tc.opts)
		if _, err := m.Add("sample", tt); err != nil {
			t.Fatal(err)
		}
		check := func(rel string, mode os.FileMode) {
			t.Helper()
			var st syscall.Stat_t
			if err := syscall.Stat(filepath.Join(m.dir, rel), &st); err != nil {
				t.Fatal(err)
			}
			if st.Uid != tc.uid || st.Gid != tc.gid || os.FileMode(st.Mode&0o7777) != mode {
				t.Errorf("%+v: %s: uid %d gid %d mode %o, want %d %d %o", tc.opts, rel, st.Uid, st.Gid, st.Mode&0o7777, tc.uid, tc.gid, mode)
			}
		}
		check(".", tc.dirmode)
		check("sample", tc.dirmode)
		check("sample/a", tc.dirmode)
		check("sample/a/b.bin", tc.fmode)
		check("sample/empty", tc.fmode)
		if src := mountSource(t, m.dir); src != tc.source {
			t.Errorf("%+v: source %q, want %q", tc.opts, src, tc.source)
		}
	}
	// Root reads whatever the modes; the kernel checks them (default_permissions).
	readAll(t, filepath.Join(newMountWith(t, tt, tfs.Options{UID: 1234, GID: 5678, OwnerSet: true, Umask: 0o077}), "sample"), files)
}

func newMountWith(t *testing.T, tt *fetch.Torrent, opts tfs.Options) string {
	m := newMount(t, opts)
	if _, err := m.Add(tt.Name(), tt); err != nil {
		t.Fatal(err)
	}
	return m.dir
}

// mountSource is the source of the mount at dir, from /proc/self/mountinfo.
func mountSource(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) >= 5 && f[4] == dir && sep >= 0 && sep+2 < len(f) {
			return f[sep+2]
		}
	}
	t.Fatalf("%s is not in mountinfo", dir)
	return ""
}

// Removing a directory torrent while a file deep in it is open: the tree is gone at once,
// the file reads on, and the root still takes new entries.
func TestRemoveDirWhileOpen(t *testing.T) {
	c := newClient(t)
	files := tree()
	tt := seeded(t, c, "sample", files)
	m := newMount(t, tfs.Options{DirectIO: true})
	if _, err := m.Add("sample", tt); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(m.dir, "sample", "a", "b.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := files[0].Data
	got := make([]byte, len(data))
	if _, err := io.ReadFull(f, got[:100]); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("sample"); err != nil {
		t.Fatal(err)
	}
	tt.Drop()
	if names := readDir(t, m.dir); len(names) != 0 {
		t.Errorf("root lists %q after Remove", names)
	}
	if _, err := os.Stat(filepath.Join(m.dir, "sample", "a", "b.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat in the removed tree: %v, want ENOENT", err)
	}
	if _, err := io.ReadFull(f, got[100:]); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reading on after Remove: %v, equal %v", err, bytes.Equal(got, data))
	}
	f.Close()
	select {
	case <-tt.Dropped():
	case <-time.After(30 * time.Second):
		t.Fatal("the torrent did not leave the client after its file was closed")
	}
	other := single(1000, 9)
	if _, err := m.Add("again", seeded(t, c, "again", other)); err != nil {
		t.Fatal(err)
	}
	readAll(t, filepath.Join(m.dir, "again"), other)
}
