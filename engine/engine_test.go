package engine_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/storage"

	"github.com/torrentfs/torrentfs/engine"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/internal/testnet"
	"github.com/torrentfs/torrentfs/library"
)

// TestMain runs the tests, which start peers, in a network namespace of their own when
// run as root: see testnet.
func TestMain(m *testing.M) {
	testnet.Isolate()
	os.Exit(m.Run())
}

const pieceLen = 64 << 10

// seeded makes a single-file torrent of a size that is not a multiple of the piece length,
// starts its seeder, and returns the swarm, the seeder's address and the data.
func seeded(t *testing.T, name string) (*fetchtest.Swarm, string, []byte) {
	t.Helper()
	data := fetchtest.Payload(5*pieceLen+123, 22)
	s := fetchtest.NewSwarm(t, name, []fetchtest.File{{Data: data}}, pieceLen)
	_, addr := s.StartSeeder(t)
	return s, addr, data
}

// config is an engine's configuration for a test: a fresh cache, the loopback swarm, and
// the seeder at addr as every torrent's peer.
func config(t *testing.T, addr string) engine.Config {
	return engine.Config{
		CacheDir:     t.TempDir(),
		CacheMaxSize: 256 << 20,
		Client:       fetchtest.Loopback(fetch.Config{}),
		Library:      library.Options{Add: fetch.AddOptions{Peers: []string{addr}}},
		Logger:       fetchtest.Logger(),
	}
}

// TestServeWithoutMount opens an engine with no mount point, as `serve` will, and reads a
// torrent's file through its HTTP server.
func TestServeWithoutMount(t *testing.T) {
	s, addr, data := seeded(t, "film.bin")
	cfg := config(t, addr)
	cfg.Sources = []string{s.TorrentPath}
	cfg.HTTP = &engine.HTTPConfig{Addr: "127.0.0.1:0"}
	e, err := engine.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Unmounted() != nil {
		t.Error("an engine without a mount has an Unmounted channel")
	}
	if got := e.Mount().Names(); !slices.Equal(got, []string{"film.bin"}) {
		t.Errorf("the tree holds %q, want [film.bin]", got)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+e.HTTPAddr().String()+"/files/film.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /files/film.bin: %s, %v", resp.Status, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("GET /files/film.bin gave %d bytes unequal to the torrent's %d", len(got), len(data))
	}
	tr.CloseIdleConnections()
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close waited for the server: the port is free.
	l, err := net.Listen("tcp", e.HTTPAddr().String())
	if err != nil {
		t.Fatalf("the HTTP port is still taken after Close: %v", err)
	}
	l.Close()
}

// TestMountReadClose mounts a torrent with FUSE, reads its file through the kernel, and
// checks that Close unmounts it and leaves the cache free for the next engine.
func TestMountReadClose(t *testing.T) {
	s, addr, data := seeded(t, "film.bin")
	cfg := config(t, addr)
	cfg.MountPoint = t.TempDir()
	cfg.Sources = []string{s.TorrentPath}
	e, err := engine.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() }) // should the test fail first
	if !mounted(t, cfg.MountPoint) {
		t.Fatal("Open returned, and nothing is mounted on the mount point")
	}
	got, err := os.ReadFile(filepath.Join(cfg.MountPoint, "film.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes unequal to the torrent's %d", len(got), len(data))
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-e.Unmounted():
	default:
		t.Error("Close returned before the kernel let the file system go")
	}
	if mounted(t, cfg.MountPoint) {
		t.Fatal("still mounted after Close")
	}
	// The cache is unlocked: another engine opens it and finds the torrent's pieces there.
	cfg.MountPoint = ""
	cfg.Library.Add.Peers = nil
	e2, err := engine.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("second Open of the same cache: %v", err)
	}
	defer e2.Close()
	ts := e2.Library().Torrents()
	if len(ts) != 1 {
		t.Fatalf("second engine has %d torrents, want 1", len(ts))
	}
	if n := ts[0].BytesCompleted(); n != int64(len(data)) {
		t.Errorf("the cache kept %d of %d bytes", n, len(data))
	}
}

// TestOpenFailsPartWay has Open fail at the mount (its mount point is a file), after the
// cache, the client and both listeners: everything built is closed, no goroutine is left,
// and the cache can be opened again.
func TestOpenFailsPartWay(t *testing.T) {
	s, addr, _ := seeded(t, "film.bin")
	cfg := config(t, addr)
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "control.sock")
	control, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MountPoint = notDir
	cfg.Sources = []string{s.TorrentPath}
	cfg.Control = control
	httpL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP = &engine.HTTPConfig{Listener: httpL}
	var steps []string
	cfg.Step = func(s string) { steps = append(steps, s) }

	before := goroutines()
	_, err = engine.Open(t.Context(), cfg)
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("Open with a file as mount point: %v, want ENOTDIR", err)
	}
	if want := []string{"closing the torrent client", "closing the cache"}; !slices.Equal(steps, want) {
		t.Errorf("closed %q, want %q", steps, want)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the control socket is left: %v", err)
	}
	if l, err := net.Listen("tcp", httpL.Addr().String()); err != nil {
		t.Errorf("the HTTP listener is left open: %v", err)
	} else {
		l.Close()
	}
	leaked(t, before)

	cfg.MountPoint, cfg.Control, cfg.Step = "", nil, nil
	e, err := engine.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open after a failed Open of the same cache: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestStorageIsTheCache: a client configured with storage of its own is refused.
func TestStorageIsTheCache(t *testing.T) {
	cfg := engine.Config{CacheDir: t.TempDir()}
	st := storage.NewMMap(t.TempDir())
	defer st.Close()
	cfg.Client.Storage = st
	if _, err := engine.Open(t.Context(), cfg); !errors.Is(err, engine.ErrStorageSet) {
		t.Fatalf("Open with Client.Storage: %v, want ErrStorageSet", err)
	}
}

// mounted reports whether dir is a mount point, from /proc/self/mountinfo.
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// goroutines returns the stacks of the running goroutines but this one, by ID.
func goroutines() map[string]string {
	gs := make(map[string]string)
	for i, g := range strings.Split(fetchtest.Stacks(), "\n\n") {
		if i == 0 { // this one
			continue
		}
		id, _, _ := strings.Cut(g, " [")
		gs[id] = g
	}
	return gs
}

// leaked fails the test if goroutines that were not running before are still running: it
// looks again, as goleak does, for up to 5 s, for goroutines that returned but have not
// been reaped yet. Nothing signals a goroutine's end, so this one wait polls.
func leaked(t *testing.T, before map[string]string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for wait := time.Millisecond; ; wait *= 2 {
		var extra []string
		for id, g := range goroutines() {
			if _, ok := before[id]; !ok {
				extra = append(extra, g)
			}
		}
		if len(extra) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left after the failed Open:\n\n%s", len(extra), strings.Join(extra, "\n\n"))
		}
		select {
		case <-time.After(min(wait, 100*time.Millisecond)):
		case <-t.Context().Done():
			return
		}
	}
}

// TestNoSourceAdded: with several sources and none added, each is reported and Open fails
// with ErrNoSources, leaving nothing mounted.
func TestNoSourceAdded(t *testing.T) {
	cfg := config(t, "127.0.0.1:1")
	cfg.MountPoint = t.TempDir()
	dir := t.TempDir()
	cfg.Sources = []string{filepath.Join(dir, "a.torrent"), filepath.Join(dir, "b.torrent")}
	var failed []string
	cfg.SourceFailed = func(s string, err error) { failed = append(failed, s) }
	if _, err := engine.Open(t.Context(), cfg); !errors.Is(err, engine.ErrNoSources) {
		t.Fatalf("Open of missing sources: %v, want ErrNoSources", err)
	}
	if !slices.Equal(failed, cfg.Sources) {
		t.Errorf("SourceFailed heard of %q, want %q", failed, cfg.Sources)
	}
	if mounted(t, cfg.MountPoint) {
		t.Fatal("still mounted after a failed Open")
	}
	cfg.Sources = cfg.Sources[:1]
	if _, err := engine.Open(t.Context(), cfg); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open of one missing source: %v, want its not-exist error", err)
	}
}
