package fetch_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
)

// The cache's evictor tells the client of pieces it evicted (cache.Watcher.Evicted, which
// calls anacrolix's Piece.UpdateCompletion and so takes anacrolix's client lock) while chunk
// writes to those pieces wait in the storage for the eviction to end. That is safe only
// because anacrolix releases its client lock around storage writes (Peer.receiveChunk's
// "lock dance"). This test pins that contract: a storage write is held, and Evicted of its
// piece must return meanwhile. If an anacrolix upgrade writes chunks under the client lock,
// it fails here rather than deadlock a full cache in the field.
func TestEvictedDuringStorageWrite(t *testing.T) {
	s, data := singleFile(t, 4*pieceLen+99)
	_, addr := s.StartSeeder(t)
	st := &holdingStorage{Cache: newCache(t), held: make(chan int), release: make(chan struct{})}
	tt := s.Leech(t, st, fetch.Config{}, addr)
	h := open(t, tt, 0)
	defer h.Close()

	read := readAsync(t, h, len(data))
	var piece int
	select {
	case piece = <-st.held:
	case <-t.Context().Done():
		t.Fatal("no chunk was written")
	}

	// A storage write is held. Evicted must not need anything it holds.
	evicted := make(chan struct{})
	go func() {
		defer close(evicted)
		tt.Client().Evicted(metainfo.NewHashFromHex(tt.InfoHash()), []int{piece})
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	select {
	case <-evicted:
	case <-ctx.Done():
		close(st.release) // let the write go, so the test can end
		<-evicted
		t.Fatal("Evicted waited for a storage write to return: anacrolix holds its client lock " +
			"while it writes chunks, and the cache's evictor would deadlock (cache/evict.go)")
	}
	close(st.release)
	select {
	case got := <-read:
		if string(got) != string(data) {
			t.Fatalf("read %d bytes that differ from the source's %d", len(got), len(data))
		}
	case <-t.Context().Done():
		t.Fatal("the read did not finish once the write went on")
	}
}

// holdingStorage is the cache, but its first chunk write waits for release after sending
// its piece on held.
type holdingStorage struct {
	*cache.Cache
	held    chan int
	release chan struct{}
	once    sync.Once
}

func (s *holdingStorage) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	ti, err := s.Cache.OpenTorrent(ctx, info, ih)
	if err != nil {
		return ti, err
	}
	piece := ti.Piece
	ti.Piece = func(p metainfo.Piece) storage.PieceImpl {
		return holdingPiece{piece(p), s, p.Index()}
	}
	return ti, nil
}

type holdingPiece struct {
	storage.PieceImpl
	s     *holdingStorage
	index int
}

func (p holdingPiece) WriteAt(b []byte, off int64) (int, error) {
	p.s.once.Do(func() {
		p.s.held <- p.index
		<-p.s.release
	})
	return p.PieceImpl.WriteAt(b, off)
}
