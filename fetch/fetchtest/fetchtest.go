// Package fetchtest builds loopback swarms for tests: generated payloads, torrents made from
// them (hostile names included), and seeders on 127.0.0.1 with DHT, trackers, uTP and port
// forwarding off.
package fetchtest

import (
	"context"
	"crypto/sha1"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/torrentfs/torrentfs/fetch"
)

// Payload returns n pseudo-random bytes from seed, with NUL bytes in them.
func Payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x7f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for i := 0; i < n; i += 1000 {
		b[i] = 0
	}
	return b
}

// Logger logs warnings and errors to stderr, where go test shows them on failure.
func Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Loopback returns cfg set up for a test: listening on 127.0.0.1, on a random port unless
// cfg.ListenAddr is 127.0.0.1:PORT, with DHT, port forwarding, PEX, trackers and uTP off.
func Loopback(cfg fetch.Config) fetch.Config {
	if !strings.HasPrefix(cfg.ListenAddr, "127.0.0.1:") {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	cfg.NoDHT, cfg.NoPortForwarding, cfg.NoPEX, cfg.NoTrackers, cfg.UTP = true, true, true, true, false
	if cfg.Logger == nil {
		cfg.Logger = Logger()
	}
	return cfg
}

// NewClient starts a client on cfg set up by Loopback, failing t if it cannot; it is closed
// when the test ends (before what the test set up before it, such as its storage).
func NewClient(t testing.TB, cfg fetch.Config) *fetch.Client {
	t.Helper()
	c, err := fetch.New(Loopback(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Stacks returns the stacks of every goroutine, the caller's first, as runtime.Stack writes
// them: to look for one that should have ended.
func Stacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// File is a file of a test torrent. Path nil makes a single-file torrent (with one File).
type File struct {
	Path []string
	Data []byte
}

// Swarm is a test torrent and its data.
type Swarm struct {
	TorrentPath string
	InfoHash    string // hex
	Info        *metainfo.Info
	Files       []File
	dataDir     string
}

// NewSwarm writes a torrent named name holding files, with pieces of pieceLen. File names are
// taken as they are, so they may be hostile; the seeder's data is stored under safe names.
func NewSwarm(t testing.TB, name string, files []File, pieceLen int64) *Swarm {
	t.Helper()
	return NewSwarmOpts(t, name, files, pieceLen, SwarmOptions{})
}

// SwarmOptions are NewSwarmOpts's choices; the zero value is NewSwarm's torrent.
type SwarmOptions struct {
	// Private sets the info's private flag (BEP 27).
	Private bool
}

// NewSwarmOpts is NewSwarm with opts.
func NewSwarmOpts(t testing.TB, name string, files []File, pieceLen int64, opts SwarmOptions) *Swarm {
	t.Helper()
	dir := t.TempDir()
	s := &Swarm{Files: files, dataDir: filepath.Join(dir, "data")}
	info := &metainfo.Info{Name: name, PieceLength: pieceLen}
	if opts.Private {
		info.Private = &opts.Private
	}
	var all []byte
	if len(files) == 1 && files[0].Path == nil {
		info.Length = int64(len(files[0].Data))
	} else {
		for _, f := range files {
			info.Files = append(info.Files, metainfo.FileInfo{Path: f.Path, Length: int64(len(f.Data))})
		}
	}
	for _, f := range files {
		all = append(all, f.Data...)
	}
	for off := 0; off < len(all); off += int(pieceLen) {
		h := sha1.Sum(all[off:min(off+int(pieceLen), len(all))])
		info.Pieces = append(info.Pieces, h[:]...)
	}
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, fi := range info.UpvertedFiles() {
		if err := os.WriteFile(filepath.Join(s.dataDir, dataName(&fi)), files[i].Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	s.InfoHash = metainfo.HashBytes(ib).HexString()
	mi := metainfo.MetaInfo{InfoBytes: ib, CreationDate: 1700000000}
	s.TorrentPath = filepath.Join(dir, "test.torrent")
	f, err := os.Create(s.TorrentPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := mi.Write(f); err != nil {
		t.Fatal(err)
	}
	s.Info = info
	return s
}

// dataName is where the seeder keeps a file: unique per torrent offset and length, and only
// empty files can share one.
func dataName(fi *metainfo.FileInfo) string {
	return fmt.Sprintf("%d-%d", fi.TorrentOffset, fi.Length)
}

// StartSeeder starts a seeding client on 127.0.0.1 and returns it and its host:port. It is
// closed when the test ends.
func (s *Swarm) StartSeeder(t testing.TB) (*fetch.Client, string) {
	t.Helper()
	return s.StartSeederConfig(t, fetch.Config{})
}

// StartSeederConfig is StartSeeder with cfg (its storage and network set by the swarm).
func (s *Swarm) StartSeederConfig(t testing.TB, cfg fetch.Config) (*fetch.Client, string) {
	t.Helper()
	cfg.Storage = storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir:   s.dataDir,
		FilePathMaker:   func(o storage.FilePathMakerOpts) string { return dataName(o.File) },
		PieceCompletion: storage.NewMapPieceCompletion(),
	})
	c, tt := s.startVerified(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	select {
	case <-tt.Complete():
	case <-ctx.Done():
		t.Fatalf("seeder has %d of %d bytes after verifying", tt.BytesCompleted(), tt.Length())
	}
	return c, fmt.Sprintf("127.0.0.1:%d", c.Port())
}

// StartFromDir starts a client on 127.0.0.1 whose storage is the files under dir, at their
// paths in the torrent, and adds the swarm's torrent, verified: it holds the pieces those
// files hold (a partial seeder). It is closed when the test ends.
func (s *Swarm) StartFromDir(t testing.TB, dir string) (*fetch.Client, *fetch.Torrent) {
	t.Helper()
	return s.startVerified(t, fetch.Config{Storage: storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir:   dir,
		PieceCompletion: storage.NewMapPieceCompletion(),
		// Without part files, as `torrentfs seed` (author.NewLocalStorage): with them, the
		// file storage marks every piece of a file of full size complete when it opens it,
		// unhashed, and the seeder holds pieces that fail their hash until it has verified
		// them (and renames the file to .part at the first failure).
		UsePartFiles: g.Some(false),
	})})
}

// startVerified starts a client with cfg on 127.0.0.1 and adds the swarm's torrent, its
// storage verified. The client is closed when the test ends.
func (s *Swarm) startVerified(t testing.TB, cfg fetch.Config) (*fetch.Client, *fetch.Torrent) {
	t.Helper()
	c, err := fetch.New(Loopback(cfg))
	if err != nil {
		t.Fatal(err)
	}
	// The file storage's Close only empties its in-memory completion, which anacrolix's
	// hashers may still read after the client closes; leave it to the garbage collector.
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tt, err := c.Add(ctx, s.TorrentPath, fetch.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tt.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	return c, tt
}

// Leech starts a client on 127.0.0.1 with st as its storage and adds the swarm's torrent with
// peers. The client is closed when the test ends, before st.
func (s *Swarm) Leech(t testing.TB, st storage.ClientImplCloser, cfg fetch.Config, peers ...string) *fetch.Torrent {
	t.Helper()
	cfg.Storage = st
	c, err := fetch.New(Loopback(cfg))
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); st.Close() })
	tt, err := c.Add(context.Background(), s.TorrentPath, fetch.AddOptions{Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	return tt
}
