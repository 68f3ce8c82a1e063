package fetch_test

import (
	"crypto/sha1"
	"fmt"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// BenchmarkVerifyManyPieces starts a seeder whose storage is files of 16 KiB pieces and
// verifies them, as `torrentfs seed` does at start: every piece is queued for hashing at
// once, and anacrolix picks the next piece to hash from that queue each time (patch 97: that
// pick scanned the whole queue, quadratic in the pieces). The torrent is a directory of
// files of 256 pieces each, or one file: then anacrolix's file storage, as it marks each piece
// complete, looks at the file's pieces before it until one is not complete, also quadratic
// (not patched: the storage package is not in the copy). Reported: the process's CPU per
// start, hashing included, and its time.
func BenchmarkVerifyManyPieces(b *testing.B) {
	for _, c := range []struct{ pieces, files int }{{2048, 8}, {16384, 64}, {16384, 1}} {
		b.Run(fmt.Sprintf("pieces=%d/files=%d", c.pieces, c.files), func(b *testing.B) {
			benchVerifyMany(b, c.pieces, c.files)
		})
	}
}

func benchVerifyMany(b *testing.B, n, files int) {
	const pl = 16 << 10
	data := fetchtest.Payload(n*pl, 31)
	fl := len(data) / files
	info := &metainfo.Info{Name: "many", PieceLength: pl}
	for i := range files {
		info.Files = append(info.Files, metainfo.FileInfo{Path: []string{fmt.Sprint(i)}, Length: int64(fl)})
	}
	for off := 0; off < len(data); off += pl {
		h := sha1.Sum(data[off : off+pl])
		info.Pieces = append(info.Pieces, h[:]...)
	}
	parts := make(map[string][]byte, files)
	for i := range files {
		parts[fmt.Sprint(i)] = data[i*fl : (i+1)*fl]
	}
	s, dir := swarmFiles(b, info, parts)
	var cpu, wall time.Duration
	for b.Loop() {
		before, start := cpuTime(b), time.Now()
		c, tt := s.StartFromDir(b, dir)
		cpu += cpuTime(b) - before
		wall += time.Since(start)
		if tt.BytesCompleted() != int64(len(data)) {
			b.Fatalf("seeder has %d of %d bytes after verifying", tt.BytesCompleted(), len(data))
		}
		c.Close()
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s/op")
}
