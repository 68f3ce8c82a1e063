package fetch_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// dormantClient starts a client on st for AddDormant; it is closed when the test ends,
// before st.
func dormantClient(t *testing.T, st *cache.Cache) *fetch.Client {
	t.Helper()
	t.Cleanup(func() { st.Close() })
	return fetchtest.NewClient(t, fetch.Config{Storage: st})
}

// A dormant torrent lists its files from the metainfo alone, with nothing in anacrolix and
// no storage acquired; the first Open wakes it, once, and it reads the source's bytes.
func TestDormantWakesOnOpen(t *testing.T) {
	files := []fetchtest.File{
		{Path: []string{"a", "one.bin"}, Data: fetchtest.Payload(300<<10+7, 1)},
		{Path: []string{"two.bin"}, Data: fetchtest.Payload(100<<10+3, 2)},
	}
	s := fetchtest.NewSwarm(t, "tree", files, pieceLen)
	_, addr := s.StartSeeder(t)
	st := newCache(t)
	c := dormantClient(t, st)
	mi, _, err := fetch.LoadTorrentFile(s.TorrentPath)
	if err != nil {
		t.Fatal(err)
	}
	var woke int
	tt, err := c.AddDormant(s.TorrentPath, mi, fetch.AddOptions{Peers: []string{addr}}, func() { woke++ })
	if err != nil {
		t.Fatal(err)
	}
	if !tt.Dormant() || c.AnacrolixTorrents() != 0 || woke != 0 {
		t.Fatalf("added dormant: Dormant %v, %d torrents in anacrolix, woke %d times", tt.Dormant(), c.AnacrolixTorrents(), woke)
	}
	// No storage acquired: another cache on the same directory can take the torrent's.
	other, err := cache.Open(st.Dir(), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Acquire(mi.HashInfoBytes()); err != nil {
		t.Fatalf("the dormant torrent's database is held: %v", err)
	}
	other.Close()
	if tt.Name() != "tree" || !tt.IsDir() || tt.InfoHash() != s.InfoHash || tt.Length() != int64(len(files[0].Data)+len(files[1].Data)) {
		t.Fatalf("dormant torrent: %q dir %v %s length %d", tt.Name(), tt.IsDir(), tt.InfoHash(), tt.Length())
	}
	for i, f := range tt.Files() {
		if !slices.Equal(f.Path, files[i].Path) || f.Length != int64(len(files[i].Data)) || tt.BytesCached(i) != 0 {
			t.Fatalf("file %d: %q, %d bytes, %d cached", i, f.Path, f.Length, tt.BytesCached(i))
		}
	}
	if _, err := c.Add(t.Context(), s.TorrentPath, fetch.AddOptions{}); !errors.Is(err, fetch.ErrDuplicate) {
		t.Fatalf("Add of a dormant torrent's: %v, want ErrDuplicate", err)
	}
	if err := tt.Verify(t.Context()); !errors.Is(err, fetch.ErrDormant) {
		t.Fatalf("Verify while dormant: %v, want ErrDormant", err)
	}

	h := open(t, tt, 1)
	defer h.Close()
	if tt.Dormant() || c.AnacrolixTorrents() != 1 || woke != 1 {
		t.Fatalf("after Open: Dormant %v, %d torrents in anacrolix, woke %d times", tt.Dormant(), c.AnacrolixTorrents(), woke)
	}
	if got := readAt(t, h, 0, len(files[1].Data)); !bytes.Equal(got, files[1].Data) {
		t.Fatal("read of the woken torrent differs from the source")
	}
	h2 := open(t, tt, 0)
	defer h2.Close()
	if got := readAt(t, h2, 0, len(files[0].Data)); !bytes.Equal(got, files[0].Data) {
		t.Fatal("read of its other file differs from the source")
	}
	if woke != 1 {
		t.Fatalf("woke %d times for two opens", woke)
	}
	if tt.BytesCached(1) != int64(len(files[1].Data)) {
		t.Fatalf("%d bytes cached of the file read", tt.BytesCached(1))
	}
}

// A wake whose storage cannot be acquired (another cache, as another process would, holds
// the torrent's database) leaves the torrent dormant, and the Open fails with the storage's
// error; a dormant torrent drops at once.
func TestDormantWakeFailsThenDrop(t *testing.T) {
	s, _ := singleFile(t, 100<<10)
	st := newCache(t)
	c := dormantClient(t, st)
	mi, _, err := fetch.LoadTorrentFile(s.TorrentPath)
	if err != nil {
		t.Fatal(err)
	}
	other, err := cache.Open(st.Dir(), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Acquire(mi.HashInfoBytes()); err != nil {
		t.Fatal(err)
	}
	tt, err := c.AddDormant(s.TorrentPath, mi, fetch.AddOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tt.Open(0); !errors.Is(err, cache.ErrInUse) {
		t.Fatalf("Open with the database in use: %v, want cache.ErrInUse", err)
	}
	if !tt.Dormant() || c.AnacrolixTorrents() != 0 {
		t.Fatal("a failed wake left the torrent in anacrolix")
	}
	other.Close()
	tt.Drop()
	if !dropped(tt) || len(c.Torrents()) != 0 {
		t.Fatal("a dormant torrent did not drop at once")
	}
	if _, err := tt.Open(0); !errors.Is(err, fetch.ErrDropped) {
		t.Fatalf("Open after the drop: %v, want ErrDropped", err)
	}
	if _, err := c.Add(t.Context(), s.TorrentPath, fetch.AddOptions{}); err != nil {
		t.Fatalf("Add after the dormant one dropped: %v", err)
	}
}
