package fetch_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// TestPrefetchAllTakesPeersPiecesBesideWebSeed is issue #25's fleet with `--prefetch all` and
// a web seed, reduced to one mount: A prefetches the whole torrent, whose web seed answers
// nothing until the test lets it, and whose one peer B has the first half. anacrolix asks
// for the requestable pieces at the front of its piece order, up to MaxUnverified bytes
// (256 KiB here, 4 pieces), and that order put the rarest first: the second half, which only
// the web seed has. B's half, which a peer could give at once, lay past the cut, and A asked
// B for nothing until the web seed had sent the rest (in a fleet, the mounts sent each other
// 0.4 MiB/s until nginx had sent its copy). Since anacrolix patch 67 a piece B is not asked
// for (B lacks the second half) does not count against the cut in B's request update, so A
// takes B's half while the web seed is still held.
func TestPrefetchAllTakesPeersPiecesBesideWebSeed(t *testing.T) {
	const pieces = 64
	data := fetchtest.Payload(pieces*pieceLen, 11)
	s := fetchtest.NewSwarm(t, "file.bin", []fetchtest.File{{Data: data}}, pieceLen)

	// The web seed serves the file once released; until then its requests wait.
	release := make(chan struct{})
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		http.ServeContent(w, r, "file.bin", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(ws.Close)
	var once sync.Once
	releaseSeed := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseSeed) // before ws.Close: its handlers must return

	mi, err := metainfo.LoadFromFile(s.TorrentPath)
	if err != nil {
		t.Fatal(err)
	}
	mi.UrlList = []string{ws.URL + "/file.bin"}
	withSeed := filepath.Join(t.TempDir(), "webseed.torrent")
	if err := os.WriteFile(withSeed, bencode.MustMarshal(mi), 0o644); err != nil {
		t.Fatal(err)
	}

	// B holds the first half: the file's second half is zeros on its disk, and fails its hash.
	half := pieces / 2 * pieceLen
	bDir := t.TempDir()
	partial := append(append([]byte(nil), data[:half]...), make([]byte, len(data)-half)...)
	if err := os.WriteFile(filepath.Join(bDir, "file.bin"), partial, 0o644); err != nil {
		t.Fatal(err)
	}
	b, bt := s.StartFromDir(t, bDir)
	// Exactly the first half. Once, under load, B counted one piece more right after Verify
	// (2162688 bytes): a piece of zeros that had just failed its hash, which the file storage
	// (with part files, then) held complete until hashed, and whose failure was not recorded
	// yet when Verify returned (anacrolix patch 95; fetch's TestVerifyCountsWhatTheHashDecided).
	if got := bt.BytesCompleted(); got != int64(half) {
		t.Fatalf("B has %d bytes after verifying, want %d", got, half)
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st := newCache(t)
	t.Cleanup(func() { st.Close() })
	a := fetchtest.NewClient(t, fetch.Config{Storage: st, Prefetch: fetch.PrefetchAll, MaxUnverified: 4 * pieceLen})
	at, err := a.Add(ctx, withSeed, fetch.AddOptions{Peers: []string{fmt.Sprintf("127.0.0.1:%d", b.Port())}})
	if err != nil {
		t.Fatal(err)
	}

	// On loopback B's half takes well under a second; 15 s is the bound of a failure.
	held, stop := context.WithTimeout(ctx, 15*time.Second)
	defer stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for at.BytesCompleted() < int64(half) {
		select {
		case <-held.Done():
			t.Fatalf("A has %d of B's %d bytes after 15 s with the web seed held: it did not ask B", at.BytesCompleted(), half)
		case <-tick.C:
		}
	}
	releaseSeed()
	select {
	case <-at.Complete():
	case <-ctx.Done():
		t.Fatalf("A has %d of %d bytes a minute in, with the web seed released", at.BytesCompleted(), len(data))
	}
	h := open(t, at, 0)
	defer h.Close()
	if got := readAt(t, h, 0, len(data)); !bytes.Equal(got, data) {
		t.Fatal("bytes differ from the source")
	}
}
