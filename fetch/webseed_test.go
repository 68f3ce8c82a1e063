package fetch_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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

	withSeed := webSeeded(t, s.TorrentPath, ws.URL+"/file.bin")

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

// TestPrefetchingPeersSplitWebSeedFromTheStart is issue #25's fleet with `--prefetch all` and
// a web seed as the only origin, at its start, with two real clients on loopback: A and B
// are added at once, each naming the other, and prefetch the whole torrent. The web seed
// (httptest, 8 MiB/s shared by its requests) counts what it sends. Before anacrolix patch 85
// each asked the web seed for every slice before the other was connected (nobody to share
// the pieces out with, patch 35), and the web seed sent two copies; the same happens in a
// fleet of hosts that start together, whose tracker names the peers a moment after the
// prefetch begins. Now a piece only a prefetch wants waits a second for the peers, and a
// peer counts as a sharer for 2 s after its handshake, so A and B split the torrent.
func TestPrefetchingPeersSplitWebSeedFromTheStart(t *testing.T) {
	const pieces = 128
	data := fetchtest.Payload(pieces*pieceLen, 12)
	s := fetchtest.NewSwarm(t, "file.bin", []fetchtest.File{{Data: data}}, pieceLen)

	// 16 KiB per tick of 2 ms: 8 MiB/s, one copy a second, shared by every request.
	tick := time.NewTicker(2 * time.Millisecond)
	t.Cleanup(tick.Stop)
	var sent atomic.Int64
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(&pacedWriter{ResponseWriter: w, ctx: r.Context(), tick: tick.C, sent: &sent}, r, "file.bin", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(ws.Close)

	withSeed := webSeeded(t, s.TorrentPath, ws.URL+"/file.bin")

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var cs [2]*fetch.Client
	for i := range cs {
		st := newCache(t)
		t.Cleanup(func() { st.Close() })
		cs[i] = fetchtest.NewClient(t, fetch.Config{Storage: st, Prefetch: fetch.PrefetchAll})
	}
	var ts [2]*fetch.Torrent
	for i, c := range cs {
		other := fmt.Sprintf("127.0.0.1:%d", cs[1-i].Port())
		var err error
		if ts[i], err = c.Add(ctx, withSeed, fetch.AddOptions{Peers: []string{other}}); err != nil {
			t.Fatal(err)
		}
	}
	for i, tt := range ts {
		select {
		case <-tt.Complete():
		case <-ctx.Done():
			t.Fatalf("client %d has %d of %d bytes a minute in", i, tt.BytesCompleted(), len(data))
		}
		h := open(t, tt, 0)
		if got := readAt(t, h, 0, len(data)); !bytes.Equal(got, data) {
			t.Fatalf("client %d: bytes differ from the source", i)
		}
		h.Close()
	}
	// One copy, and what a cut request had on its way; two before patch 85.
	copies := float64(sent.Load()) / float64(len(data))
	t.Logf("the web seed sent %.2f copies", copies)
	if copies > 1.4 {
		t.Fatalf("the web seed sent %.2f copies to two peers that prefetch together; want at most 1.4", copies)
	}
}

// pacedWriter writes a response 16 KiB per tick, and counts what it wrote.
type pacedWriter struct {
	http.ResponseWriter
	ctx  context.Context
	tick <-chan time.Time
	sent *atomic.Int64
}

func (w *pacedWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		select {
		case <-w.tick:
		case <-w.ctx.Done():
			return n, w.ctx.Err()
		}
		k, err := w.ResponseWriter.Write(p[:min(len(p), 16<<10)])
		n += k
		w.sent.Add(int64(k))
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// TestPrefetchKeepsFewWebSeedRequestsWhilePeersShare is anacrolix patch 86: two clients on
// loopback that name each other prefetch a torrent whose web seed holds its answers until
// the test lets it, each from its own path of the server so their requests can be told
// apart. Once the peers share, a web seed host gets at most 4 requests at once from a client
// for pieces only a prefetch wants. Before the patch each client opened 25 (anacrolix's
// webseedHostRequestConcurrency), one piece each: in a fleet, pieces side by side at a
// host's share of nginx took seconds each, the host announced none for over 2 s, its peers
// stopped counting it as a sharer and took its pieces from nginx too (issue #25).
func TestPrefetchKeepsFewWebSeedRequestsWhilePeersShare(t *testing.T) {
	// A web seed request runs within one 4 MiB slice of the torrent, one at a time per
	// slice: 12 slices, 1 MiB pieces, so each client's share (pieces the rendezvous gives
	// it) lies in most of them.
	const piece, pieces = 1 << 20, 48
	data := fetchtest.Payload(pieces*piece, 13)
	s := fetchtest.NewSwarm(t, "file.bin", []fetchtest.File{{Data: data}}, piece)

	release := make(chan struct{})
	var once sync.Once
	releaseSeed := func() { once.Do(func() { close(release) }) }
	var mu sync.Mutex
	inFlight := map[string]int{}
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")[0]
		mu.Lock()
		inFlight[who]++
		mu.Unlock()
		defer func() {
			mu.Lock()
			inFlight[who]--
			mu.Unlock()
		}()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		http.ServeContent(w, r, "file.bin", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(ws.Close)
	t.Cleanup(releaseSeed) // before ws.Close: its handlers must return

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	names := [2]string{"a", "b"}
	var cs [2]*fetch.Client
	for i := range cs {
		st := newCache(t)
		t.Cleanup(func() { st.Close() })
		cs[i] = fetchtest.NewClient(t, fetch.Config{Storage: st, Prefetch: fetch.PrefetchAll})
	}
	var ts [2]*fetch.Torrent
	for i, c := range cs {
		path := webSeeded(t, s.TorrentPath, ws.URL+"/"+names[i]+"/file.bin")
		var err error
		if ts[i], err = c.Add(ctx, path, fetch.AddOptions{Peers: []string{fmt.Sprintf("127.0.0.1:%d", cs[1-i].Port())}}); err != nil {
			t.Fatal(err)
		}
	}
	// A client added before its peer may ask the web seed for more while it is alone; once
	// they are connected, the next plan keeps 4 of those requests and cuts the rest.
	waitUntil(t, "the clients connected to each other", func() bool {
		return ts[0].Stats().Peers == 1 && ts[1].Stats().Peers == 1
	})
	waitUntil(t, "at most 4 requests open at the web seed from each client, while they share", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return inFlight["a"] > 0 && inFlight["a"] <= 4 && inFlight["b"] > 0 && inFlight["b"] <= 4
	})
	releaseSeed()
	done, cancelDone := context.WithTimeout(t.Context(), time.Minute) // the downloads' own minute
	defer cancelDone()
	for i, tt := range ts {
		select {
		case <-tt.Complete():
		case <-done.Done():
			t.Fatalf("client %s has %d of %d bytes a minute after the seed let go", names[i], tt.BytesCompleted(), len(data))
		}
		h := open(t, tt, 0)
		if got := readAt(t, h, 0, len(data)); !bytes.Equal(got, data) {
			t.Fatalf("client %s: bytes differ from the source", names[i])
		}
		h.Close()
	}
}

// webSeeded writes a copy of the torrent at path with url as its one web seed (url-list), and
// returns the copy's path.
func webSeeded(t *testing.T, path, url string) string {
	t.Helper()
	mi, err := metainfo.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mi.UrlList = []string{url}
	withSeed := filepath.Join(t.TempDir(), "webseed.torrent")
	if err := os.WriteFile(withSeed, bencode.MustMarshal(mi), 0o644); err != nil {
		t.Fatal(err)
	}
	return withSeed
}
