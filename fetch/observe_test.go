package fetch_test

import (
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

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

// recorder is an Observer of the test's own: it records what it is told.
type recorder struct {
	mu      sync.Mutex
	joining []metainfo.Hash
	started []*fetch.Torrent
	steps   map[fetch.Step]int
	from    []string
	read    int
	sampled chan fetch.Totals // each Sample, without waiting
	left    chan struct{}     // closed by Left
}

func (r *recorder) Joining(ih metainfo.Hash) fetch.TorrentObserver {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.joining = append(r.joining, ih)
	return r
}

func (r *recorder) SawFor(ih metainfo.Hash, s fetch.Step) { r.Saw(s) }

func (r *recorder) SawChunkFor(ih metainfo.Hash, from func() string) {
	r.Saw(fetch.StepChunk)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.from = append(r.from, from())
}

func (r *recorder) Started(t *fetch.Torrent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = append(r.started, t)
}

func (r *recorder) Saw(s fetch.Step) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps[s]++
}

func (r *recorder) Read(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.read += n
}

func (r *recorder) Sample(s fetch.Totals) {
	select {
	case r.sampled <- s:
	default:
	}
}

func (r *recorder) Left() { close(r.left) }

// An Observer in Config replaces the client's own: it is told the torrent joins and starts,
// the steps of its first contact, its reads and its totals, and that it left as it is
// dropped. FirstContact and the rates, which the client's own keeps, are then zero.
func TestObserver(t *testing.T) {
	r := &recorder{steps: make(map[fetch.Step]int), sampled: make(chan fetch.Totals, 1), left: make(chan struct{})}
	tt, h, data := seededFile(t, 3*pieceLen, fetch.Config{Observer: r})
	if got := readAt(t, h, pieceLen, 1000); string(got) != string(data[pieceLen:pieceLen+1000]) {
		t.Fatal("read differs from the source")
	}
	// A sample taken before the read may wait in the channel: the next ones follow.
	deadline := time.After(10 * time.Second)
	for s := (fetch.Totals{}); s.Read != 1000 || s.Downloaded < pieceLen || s.At.IsZero(); {
		select {
		case s = <-r.sampled:
		case <-deadline:
			t.Fatalf("totals %+v after 10 s: want 1000 read, a piece downloaded", s)
		}
	}
	r.mu.Lock()
	if len(r.joining) != 1 || r.joining[0].HexString() != tt.InfoHash() || len(r.started) != 1 || r.started[0] != tt {
		t.Errorf("joining %v, started %v: want the torrent once each", r.joining, r.started)
	}
	for _, s := range []fetch.Step{fetch.StepDial, fetch.StepHandshake, fetch.StepMessage, fetch.StepUnchoke,
		fetch.StepRequest, fetch.StepChunk, fetch.StepPiece, fetch.StepReadBegan} {
		if r.steps[s] == 0 {
			t.Errorf("step %d not seen: %v", s, r.steps)
		}
	}
	if len(r.from) == 0 || !strings.HasPrefix(r.from[0], "torrentfs/") {
		t.Errorf("chunks from %q, want the torrentfs seeder", r.from)
	}
	if r.read != 1000 {
		t.Errorf("reads gave %d bytes, want 1000", r.read)
	}
	r.mu.Unlock()
	if fc := tt.FirstContact(); fc != (fetch.FirstContact{}) {
		t.Errorf("first contact %+v without the client's own observer", fc)
	}
	if st := tt.Stats(); st.ReadRate != 0 || st.Read != 1000 {
		t.Errorf("stats %+v: want 1000 read, and no rate without the client's own observer", st)
	}
	h.Close()
	tt.Drop()
	select {
	case <-r.left:
	case <-time.After(10 * time.Second):
		t.Fatal("dropped, but the observer was not told it left in 10 s")
	}
}
