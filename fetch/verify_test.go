package fetch_test

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// TestVerifyCountsWhatTheHashDecided: once Verify returns, the torrent counts as complete
// exactly the pieces that passed their hash, however long the storage takes to record the
// last one. anacrolix counted a hash before the storage had marked the piece and before it
// set the piece's completion, with its client unlocked in between, and Verify could return
// in that window (anacrolix patch 95): a partial seeder whose file has its full size (so the
// file storage holds every piece complete until it is hashed) once counted a piece of zeros
// that had just failed its hash. Here the storage holds the last piece's marking until
// Verify returns, or markHold at most, so the window is always open.
func TestVerifyCountsWhatTheHashDecided(t *testing.T) {
	const pieces = 4
	data := fetchtest.Payload(pieces*pieceLen, 3)
	s := fetchtest.NewSwarm(t, "file.bin", []fetchtest.File{{Data: data}}, pieceLen)
	// The file has its full size, and its last piece is zeros, which fail their hash.
	onDisk := append([]byte(nil), data...)
	clear(onDisk[(pieces-1)*pieceLen:])
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file.bin"), onDisk, 0o644); err != nil {
		t.Fatal(err)
	}
	st := &markHolding{
		// The file storage with part files, its default: opening a file of full size marks
		// all its pieces complete. Not closed: its Close only empties its in-memory
		// completion, which anacrolix's hashers may still read after the client closes.
		ClientImpl: storage.NewFileOpts(storage.NewFileClientOpts{
			ClientBaseDir:   dir,
			PieceCompletion: storage.NewMapPieceCompletion(),
		}),
		last:     pieces - 1,
		verified: make(chan struct{}),
	}
	c := fetchtest.NewClient(t, fetch.Config{Storage: st})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	tt, err := c.Add(ctx, s.TorrentPath, fetch.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = tt.Verify(ctx)
	close(st.verified)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tt.BytesCompleted(), int64((pieces-1)*pieceLen); got != want {
		t.Fatalf("%d bytes complete once Verify returned, want %d: it counts the last piece, "+
			"which failed its hash", got, want)
	}
	if st.marked.Load() == 0 {
		t.Fatal("the storage was never asked to mark the last piece: the test held nothing")
	}
}

// markHolding is a storage whose marking of piece last (complete or not) waits until
// verified is closed, or markHold at most: Verify must wait for it, so in a correct client
// the wait ends by the bound.
type markHolding struct {
	storage.ClientImpl
	last     int
	verified chan struct{}
	marked   atomic.Int32
}

// markHold bounds a held marking; a correct client's Verify waits this long for it.
const markHold = 300 * time.Millisecond

func (s *markHolding) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	ti, err := s.ClientImpl.OpenTorrent(ctx, info, ih)
	if err != nil {
		return ti, err
	}
	piece := ti.Piece
	ti.Piece = func(p metainfo.Piece) storage.PieceImpl {
		if p.Index() != s.last {
			return piece(p)
		}
		return markHoldingPiece{piece(p), s}
	}
	return ti, nil
}

type markHoldingPiece struct {
	storage.PieceImpl
	s *markHolding
}

func (p markHoldingPiece) hold() {
	p.s.marked.Add(1)
	timer := time.NewTimer(markHold)
	defer timer.Stop()
	select {
	case <-p.s.verified:
	case <-timer.C:
	}
}

func (p markHoldingPiece) MarkComplete() error {
	p.hold()
	return p.PieceImpl.MarkComplete()
}

func (p markHoldingPiece) MarkNotComplete() error {
	p.hold()
	return p.PieceImpl.MarkNotComplete()
}
