package main

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/torrentfs/torrentfs/status"
)

// TestChokingPeerDoesNotStallReads mounts a torrent that a `torrentfs seed` seeds, reads
// one of its files through a first mount started with --no-upload, then mounts it again with
// both the seed and that first mount as peers, and reads the file through the second mount.
// The first mount has the file's pieces, is not a seed, and chokes the second for good: the
// second must take the file from the seed, every byte equal to the source, with no read
// running into --read-timeout (20 s here, EIO after it). Before anacrolix patch 29, the seed
// was not asked for a piece that such a peer had while the peer's 1 s grace to unchoke us
// ran (patch 14), and nothing asked the seed again once it ran out: the read failed with EIO.
func TestChokingPeerDoesNotStallReads(t *testing.T) {
	// The first mount never has every piece: it is a peer that is not a seed.
	dir := t.TempDir()
	data := unfinishedSet(t, dir, 6<<20+4321, 30)
	tor := filepath.Join(dir, "set.torrent")
	mktorrent(t, tor, filepath.Join(dir, "set"), 18, "")
	seeder := start(t, nil, append([]string{"seed", tor, filepath.Join(dir, "set")}, loopback...)...)
	seed := seeder.seedAddr(t)

	mntA := t.TempDir()
	a := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--no-upload", "--peer", seed, tor, mntA}, loopback...)...)
	a.waitReady(t)
	readEqual(t, filepath.Join(mntA, "set", "f.bin"), 0, data)
	choker := a.listenAddr(t)

	mntB := t.TempDir()
	b := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--read-timeout", "20s",
		"--peer", choker, "--peer", seed, tor, mntB}, loopback...)...)
	b.waitReady(t)
	// Both peers known before the read, so that the first request update sees the choker's
	// pieces: a read that starts first asks the seed for them before the choker's bitfield.
	waitStatus(t, mntB, func(r status.Report) bool {
		if len(r.Torrents) != 1 {
			return false
		}
		var seeds, partial int
		for _, p := range r.Torrents[0].PeerList {
			switch {
			case p.Have == 1:
				seeds++
			case p.Have > 0:
				partial++
			}
		}
		return seeds == 1 && partial == 1
	})
	readEqual(t, filepath.Join(mntB, "set", "f.bin"), 0, data)

	for _, p := range []*proc{b, a, seeder} {
		if code := p.stop(t, syscall.SIGINT); code != 0 {
			t.Errorf("%s: exit %d", p.name, code)
		}
	}
}
