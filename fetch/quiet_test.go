package fetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/cache"
)

// records counts the records that reach it.
type records struct {
	slog.Handler
	n *atomic.Int64
}

func (r records) Handle(context.Context, slog.Record) error { r.n.Add(1); return nil }

// anacrolix's error records are dropped by their error's value or type, as anacrolix logs
// them (the error under "err"): a chunk the cache could not write, a read of an evicted
// piece, a cancelled read. Other errors, and records without one, are kept.
func TestQuietHandler(t *testing.T) {
	c, err := cache.Open(t.TempDir(), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const pieceLen = 16 << 10
	info := &metainfo.Info{Name: "x", PieceLength: pieceLen, Length: pieceLen, Pieces: make([]byte, 20)}
	ti, err := c.OpenTorrent(context.Background(), info, metainfo.HashBytes([]byte("quiet")))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, writeErr := ti.Piece(info.Piece(0)).WriteAt(make([]byte, pieceLen), 0)
	if writeErr == nil {
		t.Fatal("a write to a closed cache succeeded")
	}

	var n atomic.Int64
	h := quietHandler{records{slog.DiscardHandler, &n}, new(atomic.Bool)}
	for _, tc := range []struct {
		msg  string
		err  error
		kept bool
	}{
		{"writing received chunk", writeErr, false},
		{"error reading", cache.ErrEvicted, false},
		{"initial read failed", fmt.Errorf("reading: %w", context.Canceled), false},
		{"error reading", errors.New("disk on fire"), true},
		{"no error attribute", nil, true},
	} {
		r := slog.NewRecord(time.Now(), slog.LevelError, tc.msg, 0)
		if tc.err != nil {
			r.AddAttrs(slog.Any("err", tc.err))
		}
		before := n.Load()
		h.Handle(context.Background(), r)
		if kept := n.Load() > before; kept != tc.kept {
			t.Errorf("%s (%v): kept=%v, want %v", tc.msg, tc.err, kept, tc.kept)
		}
	}
}
