package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// A torrent's metadata goes into its store as it starts (fetch.InfoStore). A client on the
// same cache then adds its bare magnet link with no peer anywhere: Prepare knows the
// metadata, and Wait returns the torrent at once. A Prepare given up (Cancel) gives its
// store back, so another cache on the directory can take it, and its info-hash can be added
// again.
func TestInfoKeptForMagnet(t *testing.T) {
	data := fetchtest.Payload(100<<10+3, 5)
	s := fetchtest.NewSwarm(t, "kept.bin", []fetchtest.File{{Data: data}}, 16384)
	mi, _, err := fetch.LoadTorrentFile(s.TorrentPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := cache.Open(dir, cache.Options{Logger: fetchtest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := fetch.New(fetchtest.Loopback(fetch.Config{Storage: st}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Add(t.Context(), s.TorrentPath, fetch.AddOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	st.Close()

	st, err = cache.Open(dir, cache.Options{Logger: fetchtest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	c = dormantClient(t, st)
	p, err := c.Prepare("magnet:?xt=urn:btih:"+s.InfoHash, fetch.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Known() {
		p.Cancel()
		t.Fatal("Prepare of the magnet link does not know the metadata kept in the cache")
	}
	// Known: no peer is needed, so a short bound is no race.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tt, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tt.Name() != "kept.bin" || tt.Length() != int64(len(data)) || !bytes.Equal(tt.InfoBytes(), mi.InfoBytes) {
		t.Fatalf("from the cache: %q, %d bytes, info equal %v", tt.Name(), tt.Length(), bytes.Equal(tt.InfoBytes(), mi.InfoBytes))
	}

	// A magnet link nobody has: nothing known; Cancel gives back its store and info-hash.
	var ih metainfo.Hash
	ih[0] = 0xab
	magnet := "magnet:?xt=urn:btih:" + ih.HexString()
	p, err = c.Prepare(magnet, fetch.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Known() {
		t.Fatal("Prepare knows metadata nobody kept")
	}
	if _, err := c.Prepare(magnet, fetch.AddOptions{}); !errors.Is(err, fetch.ErrDuplicate) {
		t.Fatalf("a second Prepare while the first is pending: %v, want ErrDuplicate", err)
	}
	other, err := cache.Open(dir, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Acquire(ih); !errors.Is(err, cache.ErrInUse) {
		t.Fatalf("another cache's Acquire while the Prepare holds the store: %v, want ErrInUse", err)
	}
	p.Cancel()
	if err := other.Acquire(ih); err != nil {
		t.Fatalf("the store is held after Cancel: %v", err)
	}
	other.Release(ih)
	p, err = c.Prepare(magnet, fetch.AddOptions{})
	if err != nil {
		t.Fatalf("Prepare after Cancel: %v", err)
	}
	p.Cancel()
}
