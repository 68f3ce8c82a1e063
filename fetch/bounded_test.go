package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

// announcing counts the goroutines running a "need peers" announce to a tracker.
func announcing() int {
	return strings.Count(fetchtest.Stacks(), "fetch.(*Torrent).announce(")
}

// A torrent of 500 trackers that never answer, asked for peers twice, has at most
// AnnounceWorkers announces under way at once: the rest wait or are dropped, rather than
// each start a goroutine. Close ends them.
func TestNeedPeersIsBounded(t *testing.T) {
	arrived := make(chan struct{}, 1000)
	release := make(chan struct{})
	tracker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select { // a tracker that never answers
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer tracker.Close()
	defer close(release)
	var trackers []string
	for i := range 500 {
		trackers = append(trackers, fmt.Sprintf("%s/%d/announce", tracker.URL, i))
	}

	s, _ := singleFile(t, 64<<10+1)
	cfg := fetchtest.Loopback(fetch.Config{Storage: newCache(t)})
	cfg.NoTrackers = false
	// anacrolix's own announces are not ours to count: only the "need peers" ones reach it.
	cfg = fetch.Tune(cfg, func(tc *torrent.ClientConfig) { tc.DisableTrackers = true })
	c, err := fetch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			c.Close()
		}
	}()
	tt, err := c.Add(t.Context(), s.TorrentPath, fetch.AddOptions{Trackers: trackers})
	if err != nil {
		t.Fatal(err)
	}
	tt.NeedPeers()
	tt.NeedPeers()
	for range fetch.AnnounceWorkers {
		select {
		case <-arrived:
		case <-t.Context().Done():
			t.Fatal("the announces never reached the tracker")
		}
	}
	// Every announce that will run now is under way: the workers are all blocked in one.
	if n := announcing(); n != fetch.AnnounceWorkers {
		t.Fatalf("%d need-peers announces under way for 500 silent trackers; want %d", n, fetch.AnnounceWorkers)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if n := announcing(); n != 0 {
		t.Fatalf("%d need-peers announces still under way after Close", n)
	}
}

// A magnet link whose metadata never comes leaves no first-contact record behind.
func TestFailedMagnetForgotten(t *testing.T) {
	c, err := fetch.New(fetchtest.Loopback(fetch.Config{Storage: newCache(t)}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		magnet := fmt.Sprintf("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef0123456%d", i)
		if _, err := c.Add(ctx, magnet, fetch.AddOptions{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Add of a magnet link with its context cancelled: %v", err)
		}
	}
	if n := c.Contacts(); n != 0 {
		t.Fatalf("%d first-contact records kept for magnet links that failed", n)
	}
}

// Bans are bounded: of 5,000 addresses banned, the newest 4,096 are kept.
func TestBannedPeersBounded(t *testing.T) {
	c, err := fetch.New(fetchtest.Loopback(fetch.Config{Storage: newCache(t)}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 6881)
	}
	for i := range 5000 {
		c.BanPeer(addr(i))
	}
	banned := c.BannedPeers()
	if len(banned) != 4096 {
		t.Fatalf("%d bans kept after 5,000; want 4,096", len(banned))
	}
	kept := make(map[string]bool)
	for _, b := range banned {
		kept[b] = true
	}
	if oldest, newest := addr(5000-4096-1).Addr().String(), addr(4999).Addr().String(); kept[oldest] || !kept[newest] {
		t.Fatalf("bans kept: %s %v, %s %v; want the newest", oldest, kept[oldest], newest, kept[newest])
	}
}
