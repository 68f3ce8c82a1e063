package fetch_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// TestDHTBareMagnetAndRestart resolves a bare magnet link (no tracker, no peer) through the
// DHT, among libtorrent nodes only (Debian's python3-libtorrent): a bootstrap node, another
// node, and a seeder that announces the torrent. The client saves its routing table as it
// closes; a second client, whose only bootstrap node is gone by then, resolves the magnet
// from the nodes it loaded.
func TestDHTBareMagnetAndRestart(t *testing.T) {
	data := fetchtest.Payload(5*pieceLen+123, 11)
	sw := fetchtest.NewSwarm(t, "dht.bin", []fetchtest.File{{Data: data}}, pieceLen)
	seedDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(seedDir, "dht.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	boot := startLtDHT(t, "127.0.0.2:6881", nil)
	startLtDHT(t, "127.0.0.3:6881", []string{boot.Addr})
	seeder := startLtDHT(t, "127.0.0.5:6881", []string{boot.Addr}, "--seed", sw.TorrentPath, seedDir)
	seeder.waitSeeding(t)
	magnet := "magnet:?xt=urn:btih:" + sw.InfoHash
	nodes := filepath.Join(t.TempDir(), "dht-nodes")

	resolve := func(what string) {
		cfg := fetchtest.Loopback(fetch.Config{Storage: newCache(t)})
		cfg.NoDHT, cfg.DHTBootstrap, cfg.DHTNodesFile = false, []string{boot.Addr}, nodes
		c, err := fetch.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := c.Close(); err != nil {
				t.Errorf("%s: close: %v", what, err)
			}
		}()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		tt, err := c.Add(ctx, magnet, fetch.AddOptions{})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		readAll(t, tt, data)
		if c.DHTNodes() == 0 {
			t.Errorf("%s: the client's DHT routing table is empty", what)
		}
	}
	resolve("first start")
	saved, err := dht.ReadNodesFromFile(nodes)
	if err != nil || len(saved) == 0 {
		t.Fatalf("routing table saved: %d nodes, %v", len(saved), err)
	}
	boot.Stop()
	resolve("restart without the bootstrap node")
}
