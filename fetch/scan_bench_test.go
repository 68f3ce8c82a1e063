package fetch_test

import (
	"crypto/sha1"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// BenchmarkPrefetchFromPeerWithLastFile is TestPrefetchFromPeerPastPiecesNobodyHas at scale:
// a torrent of 16 KiB pieces whose first file ("a", nobody has it) is wide pieces long and
// whose last ("b", 16 MiB) one peer has. A client prefetching the whole torrent takes b from
// that peer; each request update for the peer scans a's pieces first (patch 67's scan is not
// bounded), so its cost grows with wide. Reported: the process's CPU per run (the peer's
// serving included, the same at every width), and the time the download takes.
func BenchmarkPrefetchFromPeerWithLastFile(b *testing.B) {
	for _, wide := range []int{256, 16384, 40960} {
		b.Run(fmt.Sprintf("a=%d", wide), func(b *testing.B) { benchPrefetchLastFile(b, wide) })
	}
}

func benchPrefetchLastFile(b *testing.B, wide int) {
	const pl, bPieces = 16 << 10, 1024
	data := fetchtest.Payload(bPieces*pl, 21)
	info := &metainfo.Info{Name: "wide", PieceLength: pl, Files: []metainfo.FileInfo{
		{Path: []string{"a"}, Length: int64(wide) * pl},
		{Path: []string{"b"}, Length: int64(len(data))},
	}}
	r := rand.New(rand.NewPCG(22, 23))
	for range wide { // hashes nobody's data matches: a is nowhere
		var h [20]byte
		for i := range h {
			h[i] = byte(r.Uint32())
		}
		info.Pieces = append(info.Pieces, h[:]...)
	}
	for off := 0; off < len(data); off += pl {
		h := sha1.Sum(data[off : off+pl])
		info.Pieces = append(info.Pieces, h[:]...)
	}
	s, dir := swarmFiles(b, info, map[string][]byte{"b": data})
	x, _ := s.StartFromDir(b, dir)
	addr := fmt.Sprintf("127.0.0.1:%d", x.Port())

	var cpu, wall time.Duration
	for b.Loop() {
		before, start := cpuTime(b), time.Now()
		st, err := cache.Open(b.TempDir(), cache.Options{Logger: fetchtest.Logger()})
		if err != nil {
			b.Fatal(err)
		}
		tt := s.Leech(b, st, fetch.Config{NoPEX: true, Prefetch: fetch.PrefetchAll}, addr)
		waitUntil(b, "the prefetch took b from the peer", func() bool { return tt.BytesCompleted() >= int64(len(data)) })
		cpu += cpuTime(b) - before
		wall += time.Since(start)
		tt.Client().Close()
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s/op")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// swarmFiles writes a torrent of info and, in a directory it returns, the torrent's files
// from files (by their paths in the torrent, slash-separated), for Swarm.StartFromDir.
func swarmFiles(b *testing.B, info *metainfo.Info, files map[string][]byte) (*fetchtest.Swarm, string) {
	b.Helper()
	ib, err := bencode.Marshal(info)
	if err != nil {
		b.Fatal(err)
	}
	s := &fetchtest.Swarm{TorrentPath: filepath.Join(b.TempDir(), info.Name+".torrent"), Info: info}
	if err := os.WriteFile(s.TorrentPath, bencode.MustMarshal(metainfo.MetaInfo{InfoBytes: ib}), 0o644); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	for name, data := range files {
		path := filepath.Join(dir, info.Name, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return s, dir
}
