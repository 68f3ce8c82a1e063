package cache

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// watcher records evictions and pins a window, as fetch.Client does for its readers.
type watcher struct {
	mu      sync.Mutex
	window  [2]int64
	evicted map[int]bool
}

func (w *watcher) Active(metainfo.Hash) [][2]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return [][2]int64{w.window}
}

func (w *watcher) wasEvicted(p int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.evicted[p]
}

func (w *watcher) Evicted(_ metainfo.Hash, pieces []int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range pieces {
		w.evicted[p] = true
	}
}

func bigInfo(t testing.TB, size, pieceLen int64) (*metainfo.Info, []byte) {
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < len(data); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < len(data); j++ {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	info := &metainfo.Info{Name: "big", PieceLength: pieceLen, Length: size}
	for off := int64(0); off < size; off += pieceLen {
		h := sha1.Sum(data[off:min(off+pieceLen, size)])
		info.Pieces = append(info.Pieces, h[:]...)
	}
	return info, data
}

// TestEvictionHoldsTheCap streams a torrent four times the cache's cap through it, as a
// sequential reader would, and checks what du would see after every piece, that the
// reader's window is never evicted, that the client hears of every eviction, and that an
// evicted piece can be fetched and served again.
func TestEvictionHoldsTheCap(t *testing.T) {
	const maxSize = MinSize
	const pieceLen = 256 << 10
	info, data := bigInfo(t, 4*maxSize, pieceLen)
	dir := t.TempDir()
	c, err := Open(dir, Options{MaxSize: maxSize})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := &watcher{evicted: make(map[int]bool)}
	c.Watch(w)
	ih := metainfo.HashBytes([]byte("big"))
	ti, err := storage.NewClient(c).OpenTorrent(context.Background(), info, ih)
	if err != nil {
		t.Fatal(err)
	}

	// A reader sits on the first 8 MiB, the least recently used pieces of all, for the
	// whole stream: they must never go.
	const window = 8 << 20
	w.window = [2]int64{0, window}
	var maxDu int64
	for i := range info.NumPieces() {
		if err := writePiece(t, ti, info, data, i).MarkComplete(); err != nil {
			t.Fatal(err)
		}
		du, err := diskUsage(dir)
		if err != nil {
			t.Fatal(err)
		}
		maxDu = max(maxDu, du)
	}
	for j := range window / pieceLen {
		if w.wasEvicted(j) || !ti.Piece(info.Piece(j)).Completion().Complete {
			t.Fatalf("piece %d, in the reader's window, was evicted", j)
		}
	}
	// The reader moves on; its old window is evicted like anything else.
	w.mu.Lock()
	w.window = [2]int64{}
	w.mu.Unlock()
	for i := info.NumPieces() - 1; i >= 0 && !w.wasEvicted(0); i-- {
		if err := writePiece(t, ti, info, data, i).MarkComplete(); err != nil {
			t.Fatal(err)
		}
	}
	if !w.wasEvicted(0) {
		t.Fatal("piece 0 was never evicted after the reader left it")
	}
	w.mu.Lock()
	nEvicted := len(w.evicted)
	w.mu.Unlock()
	t.Logf("streamed %d MiB through a %d MiB cache: max du %.1f MiB (%.2f of the cap); %d pieces evicted",
		len(data)>>20, maxSize>>20, float64(maxDu)/(1<<20), float64(maxDu)/maxSize, nEvicted)
	if maxDu > maxSize+bound {
		t.Errorf("du reached %d bytes, over the cap %d by more than %d", maxDu, maxSize, bound)
	}
	if nEvicted < info.NumPieces()/2 {
		t.Fatalf("only %d of %d pieces evicted", nEvicted, info.NumPieces())
	}

	// Every piece is either complete with its own bytes or evicted, and the client was told.
	for i := range info.NumPieces() {
		p := ti.Piece(info.Piece(i))
		if !p.Completion().Complete {
			if !w.wasEvicted(i) {
				t.Fatalf("piece %d incomplete but the client was not told", i)
			}
			continue
		}
		start := int64(i) * pieceLen
		if got := readPiece(t, p); !bytes.Equal(got, data[start:start+pieceLen]) {
			t.Fatalf("piece %d: bytes differ", i)
		}
	}

	// An evicted piece is not served, even by the torrent-wide reader the client uses for
	// pieces it thinks complete, until it is fetched and verified again.
	r := ti.NewReader()
	defer r.Close()
	buf := make([]byte, 1000)
	if n, err := r.ReadAt(buf, 0); n != 0 || !errors.Is(err, ErrEvicted) {
		t.Fatalf("read of evicted piece 0: n=%d err=%v, want ErrEvicted", n, err)
	}
	p := writePiece(t, ti, info, data, 0)
	if n, err := r.ReadAt(buf, 0); n != 0 || !errors.Is(err, ErrEvicted) {
		t.Fatalf("read of refetched, unverified piece 0: n=%d err=%v, want ErrEvicted", n, err)
	}
	if err := p.MarkComplete(); err != nil {
		t.Fatal(err)
	}
	if n, err := r.ReadAt(buf, 0); n != len(buf) || err != nil || !bytes.Equal(buf, data[:len(buf)]) {
		t.Fatalf("read of piece 0 fetched again: n=%d err=%v", n, err)
	}
}

// bound is how far over its cap the cache may go: see README.md.
const bound = 8 << 20

// The cap covers every torrent in the cache directory: pieces of two open torrents are
// evicted least recently used first whichever torrent they belong to, and a torrent no
// process has open goes whole, before pieces used since.
func TestCapAcrossTorrents(t *testing.T) {
	const maxSize = MinSize
	const pieceLen = 256 << 10
	dir := t.TempDir()
	infoA, dataA := bigInfo(t, 24<<20, pieceLen)
	infoA.Name = "a"
	ihA := metainfo.HashBytes([]byte("a"))

	// A torrent cached earlier, now closed.
	c, err := Open(dir, Options{MaxSize: maxSize})
	if err != nil {
		t.Fatal(err)
	}
	ti, err := storage.NewClient(c).OpenTorrent(context.Background(), infoA, ihA)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, ti, infoA, dataA)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// Two torrents open in one process, written in turn.
	c, err = Open(dir, Options{MaxSize: maxSize})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := &watcher{evicted: make(map[int]bool)}
	c.Watch(w)
	var tis []*storage.Torrent
	var infos []*metainfo.Info
	var datas [][]byte
	for _, name := range []string{"b", "c"} {
		info, data := bigInfo(t, 40<<20, pieceLen)
		info.Name = name
		ti, err := storage.NewClient(c).OpenTorrent(context.Background(), info, metainfo.HashBytes([]byte(name)))
		if err != nil {
			t.Fatal(err)
		}
		tis, infos, datas = append(tis, ti), append(infos, info), append(datas, data)
	}
	for i := range infos[0].NumPieces() {
		for k := range tis {
			if err := writePiece(t, tis[k], infos[k], datas[k], i).MarkComplete(); err != nil {
				t.Fatal(err)
			}
		}
		if du, _ := diskUsage(dir); du > maxSize+bound {
			t.Fatalf("du %d over the cap %d", du, maxSize)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ihA.HexString())); !os.IsNotExist(err) {
		t.Fatalf("the closed torrent was not evicted: %v", err)
	}
	// Both open torrents lost their oldest pieces and kept their newest.
	for k := range tis {
		n := infos[k].NumPieces()
		if tis[k].Piece(infos[k].Piece(0)).Completion().Complete {
			t.Errorf("torrent %d: oldest piece kept", k)
		}
		if !tis[k].Piece(infos[k].Piece(n - 1)).Completion().Complete {
			t.Errorf("torrent %d: newest piece evicted", k)
		}
	}
}

// A torrent this process closed is not evicted whole by this process: anacrolix closes its
// torrents before the cache on exit, and the evictor, still running, found the torrent just
// read to be the only thing it could drop (CI: cache ls empty after a mount's exit). A
// later process evicts it like any torrent no one has open.
func TestClosingKeepsTheTorrent(t *testing.T) {
	dir := t.TempDir()
	info, data := bigInfo(t, 32<<20, 256<<10)
	ih := metainfo.HashBytes([]byte("closing"))
	c, err := Open(dir, Options{MaxSize: MinSize})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ti, err := storage.NewClient(c).OpenTorrent(context.Background(), info, ih)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, ti, info, data)
	if err := ti.Close(); err != nil {
		t.Fatal(err)
	}
	// Something else in the directory takes the cache over its cap.
	if err := os.WriteFile(filepath.Join(dir, "other"), make([]byte, MinSize/2), 0o644); err != nil {
		t.Fatal(err)
	}
	c.evictOnce(true)
	if _, err := os.Stat(filepath.Join(dir, ih.HexString())); err != nil {
		t.Fatalf("the torrent just closed was evicted: %v", err)
	}
}

// Verify rehashes what the cache holds: a piece whose bytes went bad on disk is dropped, the
// others stay, and the torrent's last use is not changed by looking.
func TestVerifyDropsBadPieces(t *testing.T) {
	info, data := testInfo(t)
	dir := t.TempDir()
	infoBytes := mustBencode(t, info)
	ih := metainfo.HashBytes(infoBytes)
	open := func() (*Cache, *storage.Torrent) {
		c, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		ti, err := storage.NewClient(c).OpenTorrent(context.Background(), info, ih)
		if err != nil {
			t.Fatal(err)
		}
		return c, ti
	}
	c, ti := open()
	if err := c.SaveInfo(ih, infoBytes); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), data...)
	bad[testPieceLen+5] ^= 1 // piece 1 rots
	writeAll(t, ti, info, bad)
	c.Close()
	used := lastUsed(filepath.Join(dir, ih.HexString()))

	r, err := Verify(dir, ih)
	if err != nil || r.Checked != 4 || r.Bad != 1 {
		t.Fatalf("verify: %+v, %v; want 4 checked, 1 bad", r, err)
	}
	list, err := List(dir)
	if err != nil || len(list) != 1 || list[0].Cached != info.TotalLength()-testPieceLen || list[0].Name != "x" {
		t.Fatalf("list after verify: %+v, %v", list, err)
	}
	if !list[0].LastUsed.Equal(used) {
		t.Errorf("verify and list changed the last use from %v to %v", used, list[0].LastUsed)
	}
	c, ti = open()
	defer c.Close()
	for i, want := range []bool{true, false, true, true} {
		if got := ti.Piece(info.Piece(i)).Completion().Complete; got != want {
			t.Errorf("piece %d complete=%v after verify, want %v", i, got, want)
		}
	}
	// In use: verify and rm refuse.
	if _, err := Verify(dir, ih); !errors.Is(err, ErrInUse) {
		t.Errorf("verify while open: %v, want ErrInUse", err)
	}
	if err := Remove(dir, ih); !errors.Is(err, ErrInUse) {
		t.Errorf("remove while open: %v, want ErrInUse", err)
	}
}

func mustBencode(t *testing.T, v any) []byte {
	b, err := bencode.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The evictor measures the cache every second; when it cannot (the directory was deleted
// under a running mount), it says so once a minute, not every second.
func TestMeasureFailureLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "log") // an *os.File takes concurrent writes
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	c, err := Open(dir, Options{Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c.evictOnce(true)
	}
	got, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(got), "cannot measure"); n != 1 {
		t.Fatalf("%d warnings about measuring the cache, want 1:\n%s", n, got)
	}
}
