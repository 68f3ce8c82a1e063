package fetch_test

import (
	"testing"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// BenchmarkReadCached is the read path where the pieces are in the cache: a 128 KiB ReadAt
// of a file 8 MiB long, in sequence, through one handle, as the kernel's reads of a cached
// file come. Nothing is fetched: it measures what fetch adds to the storage's read.
func BenchmarkReadCached(b *testing.B) {
	const size, chunk = 8 << 20, 128 << 10
	s := fetchtest.NewSwarm(b, "file.bin", []fetchtest.File{{Data: fetchtest.Payload(size, 1)}}, pieceLen)
	_, addr := s.StartSeeder(b)
	c, err := cache.Open(b.TempDir(), cache.Options{Logger: fetchtest.Logger()})
	if err != nil {
		b.Fatal(err)
	}
	tt := s.Leech(b, c, fetch.Config{}, addr)
	h, err := tt.Open(0)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	p := make([]byte, chunk)
	for off := int64(0); off < size; off += chunk { // fetches the file
		if _, err := h.ReadAt(b.Context(), p, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := tt.WaitCached(b.Context(), 0, 0, size); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(chunk)
	var off int64
	for b.Loop() {
		if _, err := h.ReadAt(b.Context(), p, off); err != nil {
			b.Fatal(err)
		}
		off = (off + chunk) % size
	}
}
