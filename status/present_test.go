package status_test

import (
	"slices"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/status"
)

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		n, total int64
		want     string
	}{{0, 0, "100%"}, {0, 10, "0%"}, {9, 10, "90%"}, {999, 1000, "99%"}, {10, 10, "100%"}} {
		if got := status.Percent(c.n, c.total); got != c.want {
			t.Errorf("Percent(%d, %d) = %q, want %q", c.n, c.total, got, c.want)
		}
	}
}

func TestRate(t *testing.T) {
	if got := status.Rate(1.5 * (1 << 20)); got != "1.5 MiB/s" {
		t.Errorf("Rate(1.5 MiB) = %q", got)
	}
	if got := status.Rate(0); got != "0 B/s" {
		t.Errorf("Rate(0) = %q", got)
	}
}

func TestCells(t *testing.T) {
	c, d, w, m := byte(fetch.PieceCached), byte(fetch.PieceDownloading), byte(fetch.PieceWanted), byte(fetch.PieceMissing)
	pm := string([]byte{c, c, c, c, c, m, m, m, c, d, m, m, w, m, m, m}) // a quarter of the second run is cached: not enough
	got := status.Cells(pm, 4)
	want := []status.Cell{{c, 4}, {m, 1}, {d, 1}, {w, 0}}
	if !slices.Equal(got, want) {
		t.Errorf("Cells(%q, 4) = %v, want %v", pm, got, want)
	}
	// Fewer pieces than cells: a cell a piece.
	if got := status.Cells(string([]byte{c, m}), 10); !slices.Equal(got, []status.Cell{{c, 4}, {m, 0}}) {
		t.Errorf("Cells of two pieces in 10 = %v", got)
	}
	if got := status.Cells("", 10); len(got) != 0 {
		t.Errorf("Cells of no pieces = %v", got)
	}
}

func TestStarted(t *testing.T) {
	if got := (status.Torrent{}).Started(); got != "" {
		t.Errorf("Started with no first contact = %q", got)
	}
	fc := &fetch.FirstContact{Handshake: 12 * time.Millisecond, Piece: 1500 * time.Millisecond, From: "torrentfs/1"}
	want := "first peer after 12ms, first piece after 1.5s (from torrentfs/1)"
	if got := (status.Torrent{FirstContact: fc}).Started(); got != want {
		t.Errorf("Started = %q, want %q", got, want)
	}
}
