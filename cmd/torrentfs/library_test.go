package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/library"
	"github.com/torrentfs/torrentfs/status"
)

// entries lists a mount's root.
func entries(t *testing.T, mnt string) []string {
	t.Helper()
	des, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// TestLibrary mounts several torrents in one mount, adds one to the running mount and
// removes two, one of them while its file is being read, as is a file of another torrent:
// every read returns the source's bytes, and the root lists what the library holds.
func TestLibrary(t *testing.T) {
	tor1, data1, addr1 := swarm(t, "one.bin", 3<<20+1)
	tor2, data2, addr2 := swarm(t, "two.bin", 2<<20+2)
	tor3, data3, addr3 := swarm(t, "three.bin", 1<<20+3)
	mnt, cache := t.TempDir(), t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", cache, "--peer", addr1, "--peer", addr2, "--peer", addr3,
		tor1, tor2, mnt}, loopback...)...)
	m.waitReady(t)
	if got := entries(t, mnt); !slices.Equal(got, []string{"one.bin", "two.bin"}) {
		t.Fatalf("root of a mount of two torrents: %q", got)
	}
	checkTree(t, mnt, map[string][]byte{"one.bin": data1, "two.bin": data2})

	if code, out, errOut := torrentfs(t, nil, "add", mnt, tor3); code != 0 || !strings.Contains(out, "added") {
		t.Fatalf("add: exit %d, %q, %q", code, out, errOut)
	}
	streamEqual(t, filepath.Join(mnt, "three.bin"), data3)
	if code, _, errOut := torrentfs(t, nil, "add", mnt, tor3); code != 1 || !strings.Contains(errOut, "already in this mount") {
		t.Fatalf("add of a torrent already there: exit %d, %q", code, errOut)
	}
	code, out, _ := torrentfs(t, nil, "ls", mnt)
	if code != 0 || !strings.Contains(out, "one.bin") || !strings.Contains(out, "two.bin") || !strings.Contains(out, "three.bin") {
		t.Fatalf("ls: exit %d:\n%s", code, out)
	}
	// status with no mount point reports every mount of ours; --json gives the torrents.
	if code, out, errOut := torrentfs(t, nil, "status"); code != 0 || !strings.Contains(out, "== "+mnt) || !strings.Contains(out, "torrent:  three.bin") {
		t.Fatalf("status: exit %d, %q:\n%s", code, errOut, out)
	}
	code, out, errOut := torrentfs(t, nil, "status", "--json", mnt)
	var st []struct {
		Mountpoint string
		Torrents   []library.Info
	}
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || len(st) != 1 || st[0].Mountpoint != mnt || len(st[0].Torrents) != 3 ||
		st[0].Torrents[0].Name != "one.bin" || st[0].Torrents[0].Length != int64(len(data1)) || st[0].Torrents[0].Cached != int64(len(data1)) {
		t.Fatalf("status --json: exit %d, %v, %q:\n%s", code, err, errOut, out)
	}

	// Open two files, read half of each, remove both torrents' neighbours and one of them.
	f1, err := os.Open(filepath.Join(mnt, "one.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	f2, err := os.Open(filepath.Join(mnt, "two.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	half := func(f *os.File, data []byte) {
		b := make([]byte, len(data)/2)
		if _, err := f.ReadAt(b, 0); err != nil || !bytes.Equal(b, data[:len(b)]) {
			t.Fatalf("first half of %s: %v", f.Name(), err)
		}
	}
	rest := func(f *os.File, data []byte) {
		b := make([]byte, len(data)-len(data)/2)
		if _, err := f.ReadAt(b, int64(len(data)/2)); err != nil || !bytes.Equal(b, data[len(data)/2:]) {
			t.Fatalf("second half of %s: %v", f.Name(), err)
		}
	}
	half(f1, data1)
	half(f2, data2)
	ih3 := infoHash(t, tor3)
	if code, _, errOut := torrentfs(t, nil, "remove", mnt, "two.bin", ih3); code != 0 {
		t.Fatalf("remove: exit %d, %q", code, errOut)
	}
	if got := entries(t, mnt); !slices.Equal(got, []string{"one.bin"}) {
		t.Fatalf("root after removing two torrents: %q", got)
	}
	rest(f2, data2) // removed, but open
	rest(f1, data1)
	if code, _, errOut := torrentfs(t, nil, "remove", mnt, "nothing.bin"); code != 1 || !strings.Contains(errOut, "no such torrent") {
		t.Fatalf("remove of a torrent not there: exit %d, %q", code, errOut)
	}
	f1.Close()
	f2.Close()

	// --purge deletes the torrent's cached pieces once its files are closed.
	if code, _, errOut := torrentfs(t, nil, "remove", "--purge", mnt, "one.bin"); code != 0 {
		t.Fatalf("remove --purge: exit %d, %q", code, errOut)
	}
	// Purged: its database gone from the cache, and its name from names.json (forgotten
	// after the database goes).
	ih1 := infoHash(t, tor1)
	waitUntil(t, "one.bin purged from the cache", func() bool {
		_, err := os.Stat(filepath.Join(cache, ih1))
		b, _ := os.ReadFile(filepath.Join(cache, "names.json"))
		return errors.Is(err, os.ErrNotExist) && !strings.Contains(string(b), ih1)
	})
	if _, out, _ := torrentfs(t, nil, "cache", "ls", "--cache-dir", cache); strings.Contains(out, "one.bin") || !strings.Contains(out, "two.bin") {
		t.Fatalf("cache ls after remove --purge of one.bin only:\n%s", out)
	}
	// and forgets the name it was given; a torrent removed without --purge keeps its own.
	b, _ := os.ReadFile(filepath.Join(cache, "names.json"))
	var names map[string]string
	if err := json.Unmarshal(b, &names); err != nil {
		t.Fatalf("names.json: %v, %q", err, b)
	}
	if n, ok := names[infoHash(t, tor1)]; ok || names[infoHash(t, tor2)] != "two.bin" {
		t.Fatalf("names.json after remove --purge of one.bin (%q, %v): %q", n, ok, b)
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

func infoHash(t *testing.T, tor string) string {
	t.Helper()
	mi, _, err := fetch.LoadTorrentFile(tor)
	if err != nil {
		t.Fatal(err)
	}
	return mi.HashInfoBytes().HexString()
}

// TestLibraryNames mounts two torrents of the same name: the second gets a unique one, and
// each keeps its name when they are mounted again the other way round.
func TestLibraryNames(t *testing.T) {
	data1, data2 := fetchtest.Payload(1<<20, 1), fetchtest.Payload(1<<20, 2)
	s1 := fetchtest.NewSwarm(t, "same.bin", []fetchtest.File{{Data: data1}}, 256<<10)
	_, addr1 := s1.StartSeeder(t)
	s2 := fetchtest.NewSwarm(t, "same.bin", []fetchtest.File{{Data: data2}}, 256<<10)
	_, addr2 := s2.StartSeeder(t)
	cache, mnt := t.TempDir(), t.TempDir()
	mount := func(tors ...string) *proc {
		m := start(t, nil, append(append([]string{"mount", "--cache-dir", cache, "--peer", addr1, "--peer", addr2}, append(tors, mnt)...), loopback...)...)
		m.waitReady(t)
		return m
	}
	m := mount(s1.TorrentPath, s2.TorrentPath)
	checkTree(t, mnt, map[string][]byte{"same.bin": data1, "same (2).bin": data2})
	m.stop(t, syscall.SIGINT)
	m = mount(s2.TorrentPath, s1.TorrentPath)
	checkTree(t, mnt, map[string][]byte{"same.bin": data1, "same (2).bin": data2})
	m.stop(t, syscall.SIGINT)
}

// TestLibraryWatch mounts a directory: its torrents are served, one copied in appears and
// one deleted disappears, while the mount runs.
func TestLibraryWatch(t *testing.T) {
	tor1, data1, addr1 := swarm(t, "one.bin", 1<<20+1)
	tor2, data2, addr2 := swarm(t, "two.bin", 1<<20+2)
	dir := t.TempDir()
	copyFile(t, tor1, filepath.Join(dir, "one.torrent"))
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a torrent"), 0o644)
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr1, "--peer", addr2, dir, mnt}, loopback...)...)
	m.waitReady(t)
	checkTree(t, mnt, map[string][]byte{"one.bin": data1})

	copyFile(t, tor2, filepath.Join(dir, "two.torrent"))
	waitStatus(t, mnt, hasTorrent("two.bin", false))
	checkTree(t, mnt, map[string][]byte{"one.bin": data1, "two.bin": data2})
	os.Remove(filepath.Join(dir, "one.torrent"))
	waitUntil(t, "one.bin to leave the mount's root", func() bool {
		return slices.Equal(entries(t, mnt), []string{"two.bin"})
	})
	waitStatus(t, mnt, func(r status.Report) bool { return len(r.Torrents) == 1 && r.Torrents[0].Name == "two.bin" })
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// TestLibraryDormant mounts a directory: its torrents are listed with their sizes before
// anything is read, with no database open in the cache; the first read of a file starts
// its torrent, and reads back the source's bytes.
func TestLibraryDormant(t *testing.T) {
	tor1, data1, addr1 := swarm(t, "one.bin", 1<<20+1)
	tree := []fetchtest.File{
		{Path: []string{"a", "b.bin"}, Data: fetchtest.Payload(700<<10+3, 3)},
		{Path: []string{"c.bin"}, Data: fetchtest.Payload(5, 4)},
	}
	s2 := fetchtest.NewSwarm(t, "tree", tree, 256<<10)
	_, addr2 := s2.StartSeeder(t)
	dir, cacheDir, mnt := t.TempDir(), t.TempDir(), t.TempDir()
	copyFile(t, tor1, filepath.Join(dir, "one.torrent"))
	copyFile(t, s2.TorrentPath, filepath.Join(dir, "tree.torrent"))
	m := start(t, nil, append([]string{"mount", "--cache-dir", cacheDir, "--peer", addr1, "--peer", addr2, dir, mnt}, loopback...)...)
	m.waitReady(t)

	sizes := map[string]int{"one.bin": len(data1), "tree/a/b.bin": len(tree[0].Data), "tree/c.bin": len(tree[1].Data)}
	for name, size := range sizes {
		st, err := os.Stat(filepath.Join(mnt, name))
		if err != nil || st.Size() != int64(size) {
			t.Fatalf("%s before any read: %v, size %d, want %d", name, err, st.Size(), size)
		}
	}
	for _, tor := range []string{tor1, s2.TorrentPath} {
		if _, err := os.Stat(filepath.Join(cacheDir, infoHash(t, tor))); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the cache holds a database of a torrent nothing read: %v", err)
		}
	}
	if strings.Contains(m.output(), "msg=started") {
		t.Fatalf("a torrent started before any read:\n%s", m.output())
	}

	streamEqual(t, filepath.Join(mnt, "tree", "c.bin"), tree[1].Data)
	waitStatus(t, mnt, hasTorrent("tree", true))
	if _, err := os.Stat(filepath.Join(cacheDir, infoHash(t, s2.TorrentPath))); err != nil {
		t.Fatalf("the cache of a started torrent: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cacheDir, infoHash(t, tor1))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the other torrent started too: %v", err)
	}
	checkTree(t, mnt, map[string][]byte{"one.bin": data1, "tree/a/b.bin": tree[0].Data, "tree/c.bin": tree[1].Data})
	waitStatus(t, mnt, hasTorrent("one.bin", true))
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	// Written beside and renamed in, as a download into the directory would finish.
	tmp := filepath.Join(filepath.Dir(to), ".part")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

// TestLibrarySources mounts from a URL, with bad sources beside good ones: each bad one gets
// one line that says what came back, and the others are served. A magnet link nobody seeds
// is dropped after --metadata-timeout.
func TestLibrarySources(t *testing.T) {
	tor1, data1, addr1 := swarm(t, "one.bin", 1<<20+1)
	tor2, data2, addr2 := swarm(t, "two.bin", 1<<20+2)
	b1, err := os.ReadFile(tor1)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/one.torrent", func(w http.ResponseWriter, r *http.Request) { w.Write(b1) })
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html><body>log in first</body></html>"))
	})
	mux.HandleFunc("/huge.torrent", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("d"), library.MaxTorrentSize+1))
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	base := "http://" + l.Addr().String()

	mnt := t.TempDir()
	nobody := "magnet:?xt=urn:btih:" + strings.Repeat("ab", 20)
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr1, "--peer", addr2,
		"--metadata-timeout", "1s", base + "/one.torrent", filepath.Join(t.TempDir(), "missing.torrent"), nobody, mnt}, loopback...)...)
	m.waitReady(t)
	// The line is what this test checks: each bad source gets one that says what came back,
	// before the mount is ready.
	m.wantLogged(t, "missing.torrent: no such file")
	checkTree(t, mnt, map[string][]byte{"one.bin": data1})
	// The magnet link went: a user is told why, which is what this checks (the library
	// logs it as it drops the entry, and the mount runs on for the adds below).
	waitStatus(t, mnt, func(r status.Report) bool {
		return !slices.ContainsFunc(r.Torrents, func(tr status.Torrent) bool { return tr.InfoHash == strings.Repeat("ab", 20) })
	})
	m.wantLogged(t, "no metadata from peers in time")

	for _, tc := range []struct{ path, want string }{
		{"/missing.torrent", "HTTP 404"},
		{"/page", "an HTML page (text/html)"},
		{"/huge.torrent", "more than a .torrent file may have"},
	} {
		code, _, errOut := torrentfs(t, nil, "add", mnt, base+tc.path)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("add %s: exit %d, %q; want one line with %q", tc.path, code, errOut, tc.want)
		}
	}
	if code, _, errOut := torrentfs(t, nil, "add", mnt, tor2); code != 0 {
		t.Fatalf("add: exit %d, %q", code, errOut)
	}
	checkTree(t, mnt, map[string][]byte{"one.bin": data1, "two.bin": data2})
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// TestOwner mounts with --uid, --gid and --umask, as for a media server running as its own
// user: every entry shows that owner and those modes.
func TestOwner(t *testing.T) {
	tor, data, addr := swarm(t, "f.bin", 1<<20)
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr,
		"-o", "uid=1234,gid=5678,umask=027", tor, mnt}, loopback...)...)
	m.waitReady(t)
	for path, mode := range map[string]os.FileMode{mnt: os.ModeDir | 0o550, filepath.Join(mnt, "f.bin"): 0o440} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if sys.Uid != 1234 || sys.Gid != 5678 || st.Mode() != mode {
			t.Errorf("%s: owner %d:%d, mode %v; want 1234:5678 and %v", path, sys.Uid, sys.Gid, st.Mode(), mode)
		}
	}
	streamEqual(t, filepath.Join(mnt, "f.bin"), data) // root may read it still
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}
