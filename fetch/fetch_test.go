package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
	"golang.org/x/time/rate"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

const pieceLen = 64 << 10

// newCache opens a Badger cache in a temporary directory.
func newCache(t *testing.T) *cache.Cache {
	t.Helper()
	c, err := cache.Open(t.TempDir(), cache.Options{Logger: fetchtest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// singleFile is a one-file swarm whose length is not a multiple of the piece length.
func singleFile(t *testing.T, size int) (*fetchtest.Swarm, []byte) {
	data := fetchtest.Payload(size, 1)
	s := fetchtest.NewSwarm(t, "file.bin", []fetchtest.File{{Data: data}}, pieceLen)
	return s, data
}

// seededFile starts a one-file swarm of size bytes with a seeder, and a leecher with cfg
// that has the file open until the test ends.
func seededFile(t *testing.T, size int, cfg fetch.Config) (*fetch.Torrent, *fetch.Handle, []byte) {
	s, data := singleFile(t, size)
	_, addr := s.StartSeeder(t)
	tt := s.Leech(t, newCache(t), cfg, addr)
	h := open(t, tt, 0)
	t.Cleanup(func() { h.Close() })
	return tt, h, data
}

// open opens file i of tt.
func open(t *testing.T, tt *fetch.Torrent, i int) *fetch.Handle {
	t.Helper()
	h, err := tt.Open(i)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func readAt(t *testing.T, h *fetch.Handle, off int64, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	m, err := h.ReadAt(t.Context(), b, off)
	if err != nil && !(err == io.EOF && off+int64(m) == h.Size()) {
		t.Fatalf("ReadAt(%d, %d): n=%d err=%v", off, n, m, err)
	}
	return b[:m]
}

// readAsync reads the first n bytes of h in a goroutine of its own; the channel gets what it
// read, for the test to wait on and compare. The read ends with the test at the latest (its
// context is the test's), and the test's cleanup waits for it.
func readAsync(t *testing.T, h *fetch.Handle, n int) <-chan []byte {
	got := make(chan []byte, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, n)
		m, _ := h.ReadAt(t.Context(), b, 0)
		got <- b[:m]
	}()
	t.Cleanup(func() { <-done })
	return got
}

// Random reads return the source's bytes, also while PrefetchFile downloads the rest of the
// file in the background: a read of a piece nothing was asked for yet then cancels the
// background requests queued ahead of it (third_party/anacrolix-torrent/TORRENTFS.md, 5).
// TestRandomReads reads at random offsets, with and without a background download of the
// file. A read that seeks cancels the background requests queued at the seeder; the slow
// seeders keep the download going while the reads run, one of them without the fast
// extension (BEP 6), like Transmission 3: a cancelled request is then dropped at once
// rather than awaiting a reject.
func TestRandomReads(t *testing.T) {
	for _, pf := range []fetch.Prefetch{fetch.PrefetchNone, fetch.PrefetchFile} {
		t.Run(pf.String(), func(t *testing.T) { testRandomReads(t, pf, fetch.Config{}) })
	}
	for _, fast := range []bool{true, false} {
		t.Run(fmt.Sprintf("file,slow-seeder,fast=%v", fast), func(t *testing.T) {
			testRandomReads(t, fetch.PrefetchFile, fetch.Tune(fetch.Config{}, func(c *torrent.ClientConfig) {
				c.Extensions.SetBit(pp.ExtensionBitFast, fast)
				c.UploadRateLimiter = rate.NewLimiter(16<<20, 256<<10)
			}))
		})
	}
}

func testRandomReads(t *testing.T, pf fetch.Prefetch, seeder fetch.Config) {
	s, data := singleFile(t, 24<<20+12345)
	_, addr := s.StartSeederConfig(t, seeder)
	tt := s.Leech(t, newCache(t), fetch.Config{Prefetch: pf}, addr)
	h := open(t, tt, 0)
	defer h.Close()
	r := rand.New(rand.NewPCG(3, 4))
	for range 60 {
		off := r.Int64N(int64(len(data)))
		n := 1 + r.IntN(300<<10)
		got := readAt(t, h, off, n)
		want := data[off:min(off+int64(n), int64(len(data)))]
		if !bytes.Equal(got, want) {
			t.Fatalf("ReadAt(%d, %d): %d bytes differ from the source", off, n, len(got))
		}
	}
	if got := readAt(t, h, 0, len(data)+10); !bytes.Equal(got, data) {
		t.Fatal("whole-file read differs from the source")
	}
	if n, err := h.ReadAt(t.Context(), make([]byte, 1), int64(len(data))); n != 0 || err != io.EOF {
		t.Fatalf("read at end of file: n=%d err=%v, want 0 EOF", n, err)
	}
}

func TestConcurrentReaders(t *testing.T) {
	s, data := singleFile(t, 4<<20+777)
	_, addr := s.StartSeeder(t)
	tt := s.Leech(t, newCache(t), fetch.Config{}, addr)
	shared := open(t, tt, 0)
	defer shared.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := shared
			if g%2 == 0 { // half on their own handle, half sharing one
				var err error
				if h, err = tt.Open(0); err != nil {
					errs <- err
					return
				}
				defer h.Close()
			}
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for range 20 {
				off := r.Int64N(int64(len(data)))
				b := make([]byte, 1+r.IntN(256<<10))
				n, err := h.ReadAt(context.Background(), b, off)
				if err != nil && err != io.EOF {
					errs <- err
					return
				}
				if !bytes.Equal(b[:n], data[off:off+int64(n)]) {
					errs <- errors.New("bytes differ from the source")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A read whose reader goes away ends at once, and the pieces it asked for still arrive.
func TestCancelledReadKeepsDownloading(t *testing.T) {
	s, data := singleFile(t, 1<<20)
	tt := s.Leech(t, newCache(t), fetch.Config{Prefetch: fetch.PrefetchNone})
	h := open(t, tt, 0)
	defer h.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := h.ReadAt(ctx, make([]byte, 100), 500<<10); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v, want context.Canceled", err)
	}
	_, addr := s.StartSeeder(t)
	tt.AddPeers(addr)
	if err := tt.WaitCached(t.Context(), 0, 500<<10, 100); err != nil {
		t.Fatal(err)
	}
	if got := readAt(t, h, 500<<10, 100); !bytes.Equal(got, data[500<<10:500<<10+100]) {
		t.Fatal("bytes differ from the source")
	}
}

// A head that read from the cache, past its anacrolix reader's position, and then went back
// to that position through anacrolix again read what the new reader was at: the file's
// first bytes, not the ones asked for (found streaming: cmp differed at byte 3145729).
func TestReadBackAfterCachedRead(t *testing.T) {
	tt, h, data := seededFile(t, 8<<20, fetch.Config{})
	const a = 3 << 20
	check := func(off int64, n int) {
		t.Helper()
		if got := readAt(t, h, off, n); !bytes.Equal(got, data[off:off+int64(n)]) {
			t.Fatalf("ReadAt(%d, %d) differs from the source", off, n)
		}
	}
	check(a, 64<<10) // through anacrolix, whose reader is left at a+64K
	// The read ahead of it arrives: the next read comes from the cache, and the head
	// moves on without its reader.
	if err := tt.WaitCached(t.Context(), 0, a+64<<10, fetch.MinReadahead+64<<10); err != nil {
		t.Fatal(err)
	}
	check(a+64<<10, 64<<10)
	// Back to where the reader was, for more than is cached: through anacrolix.
	check(a+64<<10, 2<<20)
}

// With no peer, a read fails with ErrTimeout; once a peer comes, the same handle reads.
func TestReadTimeoutThenRecovery(t *testing.T) {
	s, data := singleFile(t, 1<<20)
	tt := s.Leech(t, newCache(t), fetch.Config{ReadTimeout: 300 * time.Millisecond})
	h := open(t, tt, 0)
	defer h.Close()
	if _, err := h.ReadAt(t.Context(), make([]byte, 100), 0); !errors.Is(err, fetch.ErrTimeout) {
		t.Fatalf("read with no peers: %v, want ErrTimeout", err)
	}
	_, addr := s.StartSeeder(t)
	tt.AddPeers(addr)
	if got := readAt(t, h, 0, len(data)); !bytes.Equal(got, data) {
		t.Fatal("bytes differ from the source")
	}
}

// Opening a file fetches its head and tail, and with PrefetchFile all of it, with no read.
func TestPrefetch(t *testing.T) {
	s, _ := singleFile(t, 3<<20+5)
	_, addr := s.StartSeeder(t)
	size := int64(3<<20 + 5)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	tt := s.Leech(t, newCache(t), fetch.Config{Prefetch: fetch.PrefetchNone}, addr)
	open(t, tt, 0).Close()
	if err := tt.WaitCached(ctx, 0, 0, fetch.HeadTail); err != nil {
		t.Fatal(err)
	}
	if err := tt.WaitCached(ctx, 0, size-fetch.HeadTail, fetch.HeadTail); err != nil {
		t.Fatal(err)
	}

	tt = s.Leech(t, newCache(t), fetch.Config{Prefetch: fetch.PrefetchFile}, addr)
	open(t, tt, 0).Close()
	if err := tt.WaitCached(ctx, 0, 0, size); err != nil {
		t.Fatal(err)
	}

	tt = s.Leech(t, newCache(t), fetch.Config{Prefetch: fetch.PrefetchAll}, addr)
	select {
	case <-tt.Complete():
	case <-ctx.Done():
		t.Fatal("PrefetchAll did not download the torrent")
	}
}

// Reads that seek pause the background prefetch (it would queue ahead of them at the
// seeder), and it resumes once they stop: after random reads, with no read going on, the
// whole file, or torrent, still arrives.
func TestPrefetchResumesAfterSeeks(t *testing.T) {
	for _, pf := range []fetch.Prefetch{fetch.PrefetchFile, fetch.PrefetchAll} {
		t.Run(pf.String(), func(t *testing.T) {
			s, data := singleFile(t, 24<<20+77)
			_, addr := s.StartSeederConfig(t, fetch.Tune(fetch.Config{}, func(c *torrent.ClientConfig) {
				c.UploadRateLimiter = rate.NewLimiter(16<<20, 256<<10)
			}))
			tt := s.Leech(t, newCache(t), fetch.Config{Prefetch: pf}, addr)
			h := open(t, tt, 0)
			r := rand.New(rand.NewPCG(5, 6))
			for range 8 {
				off := r.Int64N(int64(len(data)))
				if got := readAt(t, h, off, 64<<10); !bytes.Equal(got, data[off:min(off+64<<10, int64(len(data)))]) {
					t.Fatalf("ReadAt(%d) differs from the source", off)
				}
			}
			h.Close()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			if err := tt.WaitCached(ctx, 0, 0, int64(len(data))); err != nil {
				t.Fatalf("the prefetch did not resume after the reads: %v", err)
			}
		})
	}
}

func TestBadTorrentFiles(t *testing.T) {
	for name, want := range map[string]string{
		"not-bencode":          "not a valid .torrent file",
		"empty":                "empty file",
		"truncated":            "not a valid .torrent file",
		"bad-piece-hashes":     "not a multiple of 20",
		"wrong-piece-count":    "piece hashes for",
		"missing-piece-length": "piece length",
		"missing-info":         "no info dictionary",
		"does-not-exist":       "no such file",
	} {
		_, _, err := fetch.LoadTorrentFile("../testdata/" + name + ".torrent")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, want)
		}
	}
}

// A read a little behind a head (the kernel reorders its readahead reads) reuses the head.
// Its window, which eviction leaves alone (Client.Active), still starts at the head and
// reaches ahead of it, also when the read starts before where the head's stream started.
func TestReuseBehindKeepsWindow(t *testing.T) {
	tt, h, data := seededFile(t, 8<<20, fetch.Config{})
	const a, back, n = 4 << 20, 3 << 19, 4 << 10 // back: 1.5 MiB, within a head's reach
	readAt(t, h, a, n)
	off := int64(a - back)
	if got := readAt(t, h, off, n); !bytes.Equal(got, data[off:off+n]) {
		t.Fatalf("ReadAt(%d) differs from the source", off)
	}
	active := tt.Active()
	if len(active) != 1 {
		t.Fatalf("%d read heads after two nearby reads, want 1 reused: %v", len(active), active)
	}
	pos := off + n // where the head is now
	if w := active[0]; w[0] != pos || w[1] <= pos {
		t.Fatalf("the head at %d publishes the window [%d, %d): it protects nothing ahead of the head", pos, w[0], w[1])
	}
}

// A stream slower than the swarm fetches its window in bursts: a head reading verified pieces
// from the cache opens its anacrolix reader again only once its verified run fell a quarter
// of its window short (readCached). Wherever the head is, what lies three quarters of its
// window ahead arrives without another read, and every read returns the source's bytes.
func TestSlowStreamRefillsWindow(t *testing.T) {
	const size, ra, step = 6<<20 + 4321, 1 << 20, 48 << 10
	tt, h, data := seededFile(t, size, fetch.Config{Readahead: ra})
	for off := int64(0); off < size; off += step {
		got := readAt(t, h, off, step)
		if !bytes.Equal(got, data[off:off+int64(len(got))]) {
			t.Fatalf("ReadAt(%d) differs from the source", off)
		}
		pos := off + int64(len(got))
		if pos < ra { // the head's readahead is still growing
			continue
		}
		// The run a read leaves: at least three quarters of the window from where it started.
		end := min(off+ra*3/4, size)
		if end <= pos {
			continue
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		err := tt.WaitCached(ctx, 0, pos, end-pos)
		cancel()
		if err != nil {
			t.Fatalf("after a read to %d, bytes [%d, %d) never arrived: %v", pos, pos, end, err)
		}
	}
}

// Close stops the goroutines each torrent runs, the mirror of verified pieces and the timer
// that resumes a paused prefetch, and waits for them: none is left once it returns.
func TestCloseStopsGoroutines(t *testing.T) {
	s, data := singleFile(t, 4<<20)
	seeder, addr := s.StartSeeder(t)
	tt := s.Leech(t, newCache(t), fetch.Config{Prefetch: fetch.PrefetchFile}, addr)
	h := open(t, tt, 0)
	off := int64(3 << 20) // a seek to a piece not fetched yet: the prefetch pauses, then a timer resumes it
	if got := readAt(t, h, off, 1000); !bytes.Equal(got, data[off:off+1000]) {
		t.Fatal("bytes differ from the source")
	}
	h.Close()
	for _, c := range []*fetch.Client{tt.Client(), seeder} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	stacks := fetchtest.Stacks()
	for _, fn := range []string{"fetch.(*Torrent).mirrorVerified", "fetch.(*Torrent).releasePrefetch"} {
		if strings.Contains(stacks, fn) {
			t.Errorf("a goroutine of %s runs after Close", fn)
		}
	}
}

// A read that goes past the end of a file returns the file's bytes only, not those of the
// next file in the same piece, whether it goes through anacrolix (nothing verified yet) or
// the storage (all verified).
func TestReadStopsAtFileEnd(t *testing.T) {
	files := []fetchtest.File{
		{Path: []string{"a"}, Data: fetchtest.Payload(3*pieceLen+100, 1)},
		{Path: []string{"b"}, Data: fetchtest.Payload(pieceLen, 2)},
	}
	s := fetchtest.NewSwarm(t, "two", files, pieceLen)
	_, addr := s.StartSeeder(t)
	tt := s.Leech(t, newCache(t), fetch.Config{}, addr)
	size := int64(len(files[0].Data))
	for _, pass := range []string{"through anacrolix", "from the storage"} {
		h := open(t, tt, 0)
		b := make([]byte, 20000)
		n, err := h.ReadAt(t.Context(), b, size-10)
		h.Close()
		if n != 10 || err != io.EOF || !bytes.Equal(b[:n], files[0].Data[size-10:]) {
			t.Fatalf("%s: read across the end: n=%d err=%v, want the last 10 bytes and EOF", pass, n, err)
		}
	}
}
