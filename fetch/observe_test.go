package fetch_test

import (
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/fetch"
)

// The read observer sees every ReadAt with the bytes it gave, and the stats and the piece
// map follow what was fetched.
func TestReadObserver(t *testing.T) {
	var mu sync.Mutex
	var calls, bytes int
	var eofs int
	cfg := fetch.Config{ReadObserver: func(d time.Duration, n int, err error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		bytes += n
		if err == io.EOF {
			eofs++
		}
		if d < 0 {
			t.Errorf("negative duration %v", d)
		}
	}}
	size := 5*pieceLen + 123
	tt, h, data := seededFile(t, size, cfg)
	if got := readAt(t, h, 0, 1000); string(got) != string(data[:1000]) {
		t.Fatal("read differs from the source")
	}
	readAt(t, h, int64(size-10), 100) // across the end: io.EOF
	mu.Lock()
	if calls != 2 || bytes != 1010 || eofs != 1 {
		t.Errorf("observer: %d calls, %d bytes, %d EOF; want 2, 1010, 1", calls, bytes, eofs)
	}
	mu.Unlock()
	if n := tt.Client().ReadsWaiting(); n != 0 {
		t.Errorf("ReadsWaiting after the reads: %d", n)
	}
	st := tt.Stats()
	if st.Read != 1010 || st.Cached == 0 || st.Downloaded < st.Cached || st.Peers != 1 {
		t.Errorf("stats: %+v", st)
	}
	pm := tt.PieceMap()
	if len(pm) != 6 || pm[0] != '1' || pm[5] != '1' || strings.Trim(pm, "01dw") != "" {
		t.Errorf("piece map %q", pm)
	}
	if first, end := tt.FilePieces(0); first != 0 || end != 6 {
		t.Errorf("FilePieces(0) = %d, %d", first, end)
	}
}

// A first read's first contact is recorded step by step, in order, with the client that
// sent the first chunk: here a torrentfs seeder named as a peer, with no tracker.
func TestFirstContact(t *testing.T) {
	tt, h, data := seededFile(t, 3*pieceLen, fetch.Config{})
	if got := readAt(t, h, pieceLen, 1000); string(got) != string(data[pieceLen:pieceLen+1000]) {
		t.Fatal("read differs from the source")
	}
	fc := tt.FirstContact()
	steps := []struct {
		name string
		d    time.Duration
	}{
		{"dial", fc.Dial}, {"handshake", fc.Handshake}, {"message", fc.Message}, {"unchoke", fc.Unchoke},
		{"request", fc.Request}, {"chunk", fc.Chunk}, {"piece", fc.Piece}, {"read", fc.Read},
	}
	for i, s := range steps {
		if s.d <= 0 || (i > 0 && s.d < steps[i-1].d) {
			t.Errorf("%s at %v, after %s at %v: want each step recorded, in order (%+v)", s.name, s.d, steps[max(i-1, 0)].name, steps[max(i-1, 0)].d, fc)
		}
	}
	if fc.ReadBegan <= 0 || fc.ReadBegan > fc.Read {
		t.Errorf("read began at %v, returned at %v", fc.ReadBegan, fc.Read)
	}
	if fc.Announce != 0 || fc.Answer != 0 {
		t.Errorf("announce %v, answer %v: there is no tracker", fc.Announce, fc.Answer)
	}
	if !strings.HasPrefix(fc.From, "torrentfs/") {
		t.Errorf("first chunk from %q, want the torrentfs seeder", fc.From)
	}
}
