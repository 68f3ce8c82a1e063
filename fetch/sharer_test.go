package fetch_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

// TestReadNotStalledByLapsedSharer is issue #25's stall, with real clients on loopback: a
// seeder, a peer X that fetches file b from it, and a reader A, with both as peers, that
// reads file a, which ends where b's four pieces begin. When A opens a, the last 512 KiB of
// a (pieces 24 to 31) are wanted at once; X, which announces b's pieces just then, reads
// near a's last piece, so A leaves it to X to fetch from the seeder (rendezvous hashing gives
// X piece 31 for the two peer IDs below; anacrolix patch 14), for up to 10 s while no reader
// is in it. X never fetches it. A's read then comes into piece 31 and waits. Before anacrolix
// patch 60 nothing looked at the seeder's requests again: not the read coming into the
// piece (it was wanted already, so no wanted piece changed), not X's ceasing to qualify as
// the sharer once its last HAVE was 500 ms old, and no chunk, as nothing else was asked of
// the seeder. The read waited until the 10 s ran out, with no data coming, and failed with
// ErrTimeout at ReadTimeout (4 s here).
func TestReadNotStalledByLapsedSharer(t *testing.T) {
	const pieces = 32
	a, b := fetchtest.Payload(pieces*pieceLen, 7), fetchtest.Payload(4*pieceLen, 8)
	s := fetchtest.NewSwarm(t, "set", []fetchtest.File{{Path: []string{"a"}, Data: a}, {Path: []string{"b"}, Data: b}}, pieceLen)
	_, seed := s.StartSeeder(t)
	peerID := func(id string) func(*torrent.ClientConfig) {
		return func(c *torrent.ClientConfig) { c.PeerID = id }
	}
	// X fetches b at 128 KiB/s: its HAVEs of b's pieces go on for 2 s after A opens a.
	x := s.Leech(t, newCache(t), fetch.Tune(fetch.Config{MaxDownloadRate: 128 << 10}, peerID("-TF0000-sharer-xxxxx")), seed)
	xAddr := fmt.Sprintf("127.0.0.1:%d", x.Client().Port())
	r := s.Leech(t, newCache(t), fetch.Tune(fetch.Config{ReadTimeout: 4 * time.Second}, peerID("-TF0000-reader-aaaaa")), seed, xAddr)
	waitUntil(t, "the reader connected to the seeder and X", func() bool { return len(r.Peers()) == 2 })

	readBeside(t, x, 1, b, r, 0, a)
}

// readBeside has x read its file xi (xData) in the background and, once x has a piece, r read
// its file ri (rData); it fails t unless both reads return their file's bytes.
func readBeside(t *testing.T, x *fetch.Torrent, xi int, xData []byte, r *fetch.Torrent, ri int, rData []byte) {
	t.Helper()
	hx := open(t, x, xi)
	defer hx.Close()
	done := readAsync(t, hx, len(xData))
	waitUntil(t, "X has a piece", func() bool { return x.BytesCompleted() > 0 })

	hr := open(t, r, ri)
	defer hr.Close()
	if got := readAt(t, hr, 0, len(rData)); !bytes.Equal(got, rData) {
		t.Fatal("the reader: bytes differ from the source")
	}
	if got := <-done; !bytes.Equal(got, xData) {
		t.Fatal("X: bytes differ from the source")
	}
}

// TestReadFromPeerWithFewPieces reads a file whose only source is a peer that has a few
// pieces at a time: X downloads it from the seeder at 1 MiB/s while reading it, and the
// reader R knows only X. R's requests to X never fill its window, as in a fleet where each
// peer has only what it got lately. Since anacrolix patch 55 a chunk from such a peer
// refills the requests at half of what the last update asked, not at each chunk; what makes
// more of the file requestable (X's HAVEs) must still have R ask for it, or the read stops
// and fails with ErrTimeout at ReadTimeout (3 s here, where X sends a piece every 64 ms).
func TestReadFromPeerWithFewPieces(t *testing.T) {
	const pieces = 64
	a := fetchtest.Payload(pieces*pieceLen, 9)
	s := fetchtest.NewSwarm(t, "chain", []fetchtest.File{{Path: []string{"a"}, Data: a}}, pieceLen)
	_, seed := s.StartSeeder(t)
	x := s.Leech(t, newCache(t), fetch.Config{MaxDownloadRate: 1 << 20, NoPEX: true}, seed)
	xAddr := fmt.Sprintf("127.0.0.1:%d", x.Client().Port())
	r := s.Leech(t, newCache(t), fetch.Config{ReadTimeout: 3 * time.Second, NoPEX: true}, xAddr)
	waitUntil(t, "the reader connected to X", func() bool { return len(r.Peers()) == 1 })

	readBeside(t, x, 0, a, r, 0, a)
	if ps := r.Peers(); len(ps) != 1 || ps[0].Addr != xAddr {
		t.Fatalf("the reader's peers: %+v, want X alone", ps)
	}
}

// TestPrefetchFromPeerPastPiecesNobodyHas prefetches a torrent whose only source is a peer X
// that has its second file b and little of its first, a. The request order puts the pieces
// no peer has (a's) first, and anacrolix stopped each request update once the pieces it went
// through added up to MaxUnverified, whether the peer was to be asked for them or not: with
// a's pieces more than that bound, X was asked for nothing, and the prefetch never started
// (issue #25: mounts with --prefetch all took nothing from each other while the pieces the
// origin had not sent yet were over 64 MiB). Since anacrolix patch 67 a piece nothing has
// come of that the peer is not asked for does not count.
func TestPrefetchFromPeerPastPiecesNobodyHas(t *testing.T) {
	a, b := fetchtest.Payload(32*pieceLen, 10), fetchtest.Payload(16*pieceLen, 11)
	s := fetchtest.NewSwarm(t, "past", []fetchtest.File{{Path: []string{"a"}, Data: a}, {Path: []string{"b"}, Data: b}}, pieceLen)
	_, seed := s.StartSeeder(t)
	x := s.Leech(t, newCache(t), fetch.Config{NoPEX: true}, seed)
	hx := open(t, x, 1)
	if got := readAt(t, hx, 0, len(b)); !bytes.Equal(got, b) {
		t.Fatal("X: bytes differ from the source")
	}
	hx.Close()
	xAddr := fmt.Sprintf("127.0.0.1:%d", x.Client().Port())

	r := s.Leech(t, newCache(t), fetch.Config{NoPEX: true, Prefetch: fetch.PrefetchAll, MaxUnverified: 4 * pieceLen}, xAddr)
	waitUntil(t, "the prefetch took b from X", func() bool { return r.BytesCompleted() >= int64(len(b)) })
	hr := open(t, r, 1)
	defer hr.Close()
	if got := readAt(t, hr, 0, len(b)); !bytes.Equal(got, b) {
		t.Fatal("the prefetching client: bytes differ from the source")
	}
}
