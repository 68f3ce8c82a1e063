//go:build !windows

package fs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/sys/unix"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	tfs "github.com/torrentfs/torrentfs/fs"
	"github.com/torrentfs/torrentfs/internal/testnet"
)

const pieceLen = 64 << 10

func TestMain(m *testing.M) {
	if path := os.Getenv(mmapHelperEnv); path != "" {
		os.Exit(mmapHelper(path))
	}
	// The tests start peers: run as root, they run in a network namespace of their own.
	testnet.Isolate()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: /dev/fuse is missing; these tests need FUSE (modprobe fuse, or a container with --device /dev/fuse)")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// mount mounts the swarm's torrent, leeching into a fresh cache from peers, and unmounts
// when the test ends, whatever happened.
func mount(t *testing.T, s *fetchtest.Swarm, opts tfs.Options, peers ...string) (string, *fetch.Torrent) {
	t.Helper()
	c, err := cache.Open(t.TempDir(), cache.Options{Logger: fetchtest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	tt := s.Leech(t, c, fetch.Config{}, peers...)
	m := newMount(t, opts)
	if _, err := m.Add(tt.Name(), tt); err != nil {
		t.Fatal(err)
	}
	return m.dir, tt
}

// testMount is a mount of an empty root, unmounted when the test ends, whatever happened.
type testMount struct {
	*tfs.Mount
	dir string
}

func newMount(t *testing.T, opts tfs.Options) testMount {
	t.Helper()
	mnt := t.TempDir()
	if err := tfs.CheckMountPoint(mnt, nil); err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = fetchtest.Logger()
	}
	m, err := tfs.New(mnt, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		m.Wait()
	})
	return testMount{m, mnt}
}

// tree is a multi-file torrent with nested directories, an empty file, and sizes that are
// not multiples of the piece length.
func tree() []fetchtest.File {
	return []fetchtest.File{
		{Path: []string{"a", "b.bin"}, Data: fetchtest.Payload(3*pieceLen+100, 1)},
		{Path: []string{"a", "c", "d.txt"}, Data: fetchtest.Payload(5000, 2)},
		{Path: []string{"empty"}, Data: nil},
		{Path: []string{"top.bin"}, Data: fetchtest.Payload(pieceLen-1, 3)},
	}
}

func TestTreeAndBytes(t *testing.T) {
	files := tree()
	s := fetchtest.NewSwarm(t, "sample", files, pieceLen)
	_, addr := s.StartSeeder(t)
	mnt, _ := mount(t, s, tfs.Options{}, addr)

	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(append([]string{"sample"}, f.Path...)...))
	}
	if err := fstest.TestFS(os.DirFS(mnt), paths...); err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		p := filepath.Join(mnt, paths[i])
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("%s: %d bytes differ from the source's %d", paths[i], len(got), len(f.Data))
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != 0o444 || !st.ModTime().Equal(time.Unix(1700000000, 0)) {
			t.Errorf("%s: mode %v mtime %v, want -r--r--r-- and the torrent's creation date", paths[i], st.Mode(), st.ModTime())
		}
	}
	st, err := os.Stat(filepath.Join(mnt, "sample", "a"))
	if err != nil || st.Mode() != fs.ModeDir|0o555 {
		t.Errorf("directory: %v %v, want dr-xr-xr-x", st.Mode(), err)
	}
}

func TestSingleFileAndDu(t *testing.T) {
	data := fetchtest.Payload(2*pieceLen+7, 4)
	s := fetchtest.NewSwarm(t, "movie.mkv", []fetchtest.File{{Data: data}}, pieceLen)
	_, addr := s.StartSeeder(t)
	mnt, _ := mount(t, s, tfs.Options{}, addr)
	p := filepath.Join(mnt, "movie.mkv")
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(len(data)) || st.Blocks != 0 {
		t.Fatalf("before reading: size %d blocks %d, want %d and 0", st.Size, st.Blocks, len(data))
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: %v, equal=%v", err, bytes.Equal(got, data))
	}
	// st_blocks is cached by the kernel for the attribute timeout; AT_STATX_FORCE_SYNC asks
	// the file system.
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_STATX_FORCE_SYNC, unix.STATX_BLOCKS, &stx); err != nil {
		t.Fatal(err)
	}
	if stx.Blocks != uint64(len(data)+511)/512 {
		t.Fatalf("after reading: blocks %d, want %d", stx.Blocks, (len(data)+511)/512)
	}
}

func TestReadOnly(t *testing.T) {
	s := fetchtest.NewSwarm(t, "sample", tree(), pieceLen)
	mnt, _ := mount(t, s, tfs.Options{})
	f := filepath.Join(mnt, "sample", "top.bin")
	d := filepath.Join(mnt, "sample")
	for name, op := range map[string]func() error{
		"write":  func() error { return os.WriteFile(f, []byte("x"), 0o644) },
		"create": func() error { return os.WriteFile(filepath.Join(d, "new"), []byte("x"), 0o644) },
		"mkdir":  func() error { return os.Mkdir(filepath.Join(d, "new"), 0o755) },
		"rename": func() error { return os.Rename(f, filepath.Join(d, "moved")) },
		"remove": func() error { return os.Remove(f) },
		"chmod":  func() error { return os.Chmod(f, 0o644) },
	} {
		if err := op(); !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", name, err)
		}
	}
}

func TestHostileNames(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	files := []fetchtest.File{
		{Path: []string{"..", "..", "etc", "passwd"}, Data: []byte("1")},
		{Path: []string{"a/b"}, Data: []byte("2")},
		{Path: []string{"nul\x00name"}, Data: []byte("3")},
		{Path: []string{""}, Data: []byte("4")},
		{Path: []string{"."}, Data: []byte("5")},
		{Path: []string{long}, Data: []byte("6")},
		{Path: []string{"dup.txt"}, Data: []byte("7")},
		{Path: []string{"dup.txt"}, Data: []byte("8")},
		{Path: []string{"x"}, Data: []byte("9")},
		{Path: []string{"x", "y"}, Data: []byte("10")},
	}
	s := fetchtest.NewSwarm(t, "../evil", files, pieceLen)
	_, addr := s.StartSeeder(t)
	mnt, _ := mount(t, s, tfs.Options{}, addr)

	cut := strings.Repeat("é", 127) // 254 bytes: 255 would split a character
	want := map[string]string{
		".._evil/_../_../etc/passwd": "1",
		".._evil/a_b":                "2",
		".._evil/nul_name":           "3",
		".._evil/_":                  "4",
		".._evil/_.":                 "5",
		".._evil/" + cut:             "6",
		".._evil/dup.txt":            "7",
		".._evil/dup (2).txt":        "8",
		".._evil/x":                  "9",
		".._evil/x (2)/y":            "10",
	}
	got := map[string]string{}
	err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(mnt, p)
		got[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tree:\n got %q\nwant %q", got, want)
	}
}

func TestParallelReads(t *testing.T) {
	files := tree()
	s := fetchtest.NewSwarm(t, "sample", files, pieceLen)
	_, addr := s.StartSeeder(t)
	mnt, _ := mount(t, s, tfs.Options{}, addr)
	var wg sync.WaitGroup
	for range 8 {
		for _, f := range files {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := filepath.Join(append([]string{mnt, "sample"}, f.Path...)...)
				got, err := os.ReadFile(p)
				if err != nil || !bytes.Equal(got, f.Data) {
					t.Errorf("%s: err %v, equal %v", p, err, bytes.Equal(got, f.Data))
				}
			}()
		}
	}
	wg.Wait()
}

// readSeen is a slog handler that signals when go-fuse logs a READ request.
type readSeen struct {
	slog.Handler
	once *sync.Once
	ch   chan struct{}
}

func (h readSeen) Enabled(context.Context, slog.Level) bool { return true }

func (h readSeen) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "READ") {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}

// A reader killed while it waits for data that no peer has does not wedge the mount:
// other requests are answered, and reads work once a peer comes.
func TestKilledReader(t *testing.T) {
	data := fetchtest.Payload(pieceLen*2, 5)
	s := fetchtest.NewSwarm(t, "f.bin", []fetchtest.File{{Data: data}}, pieceLen)
	seen := readSeen{slog.DiscardHandler, &sync.Once{}, make(chan struct{})}
	mnt, tt := mount(t, s, tfs.Options{Debug: true, Logger: slog.New(seen)})
	p := filepath.Join(mnt, "f.bin")
	dd := exec.Command("dd", "if="+p, "of=/dev/null", "bs=64k")
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-seen.ch:
	case <-time.After(30 * time.Second):
		dd.Process.Kill()
		t.Fatal("dd's read never reached the file system")
	}
	dd.Process.Kill()
	dd.Wait()
	if _, err := os.ReadDir(mnt); err != nil {
		t.Fatalf("mount wedged after killing a reader: %v", err)
	}
	_, addr := s.StartSeeder(t)
	tt.AddPeers(addr)
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after a peer came: err %v, equal %v", err, bytes.Equal(got, data))
	}
}

func TestCheckMountPoint(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	for mp, want := range map[string]string{
		filepath.Join(dir, "missing"): "does not exist",
		file:                          "not a directory",
		full:                          "not empty",
		"/proc":                       "already a mount point",
	} {
		err := tfs.CheckMountPoint(mp, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", mp, err, want)
		}
	}
}

// A mapped file reads like read(2) does: page faults become FUSE reads, served from the
// swarm, back to front here so that no readahead helps. A writable shared mapping is
// refused. Also with --direct-io, which keeps mmap working for reads (go-fuse's mounts
// allow it).
func TestMmap(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct-io=%v", direct), func(t *testing.T) {
			data := fetchtest.Payload(20*pieceLen+123, 8)
			s := fetchtest.NewSwarm(t, "video.mp4", []fetchtest.File{{Data: data}}, pieceLen)
			_, addr := s.StartSeeder(t)
			mnt, _ := mount(t, s, tfs.Options{DirectIO: direct}, addr)
			path := filepath.Join(mnt, "video.mp4")
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := unix.Mmap(int(f.Fd()), 0, len(data), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err == nil {
				t.Error("a writable shared mapping of a read-only file was allowed")
			}
			// The mapping is read in another process: a page fault into this process's own
			// mount cannot be preempted, and a stop-the-world GC waiting for it would stop
			// the goroutines that serve the fault.
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), mmapHelperEnv+"="+path)
			got, err := cmd.Output()
			if err != nil {
				t.Fatalf("reading the mapping: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("the mapping differs from the source")
			}
		})
	}
}

// mmapHelperEnv names the file that the test binary, run as the mmap helper, maps.
const mmapHelperEnv = "TORRENTFS_TEST_MMAP"

// mmapHelper maps a file read-only and shared, touches it from the end backwards a piece
// and a half at a time (pieces arrive while it reads), and writes the mapping to stdout.
func mmapHelper(path string) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer unix.Munmap(m)
	var sum byte
	for off := len(m) - 1; off >= 0; off -= 3 * pieceLen / 2 {
		sum += m[off]
	}
	fmt.Fprintf(os.Stderr, "touched back to front: %d\n", sum)
	if _, err := os.Stdout.Write(m); err != nil {
		return 1
	}
	return 0
}
