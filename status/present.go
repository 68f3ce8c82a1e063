package status

import (
	"strconv"
	"strings"
	"time"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/internal/human"
)

// The presentation of the model for people, shared by the command line and the web page.

// Percent is n of total as a whole percentage, rounded down: "42%". Nothing of nothing is
// "100%".
func Percent(n, total int64) string {
	if total == 0 {
		return "100%"
	}
	return strconv.FormatInt(n*100/total, 10) + "%"
}

// Rate formats r bytes per second: "1.5 MiB/s".
func Rate(r float64) string { return human.Bytes(int64(r)) + "/s" }

// Cell is a cell of a piece map drawn in fewer cells than it has pieces.
type Cell struct {
	State  byte // fetch.PieceDownloading if one of its pieces is, else fetch.PieceWanted if one is, else fetch.PieceCached if half are, else fetch.PieceMissing
	Cached int  // how many quarters of its pieces are cached: 0 to 4
}

// Cells draws the piece map pm (see fetch.Torrent.PieceMap) in at most n cells, each
// standing for a run of pieces.
func Cells(pm string, n int) []Cell {
	n = min(len(pm), n)
	out := make([]Cell, n)
	for c := range n {
		from, to := c*len(pm)/n, (c+1)*len(pm)/n
		have, down, want := 0, false, false
		for _, b := range []byte(pm[from:to]) {
			switch b {
			case fetch.PieceCached:
				have++
			case fetch.PieceDownloading:
				down = true
			case fetch.PieceWanted:
				want = true
			}
		}
		cl := Cell{State: fetch.PieceMissing, Cached: have * 4 / (to - from)}
		switch {
		case down:
			cl.State = fetch.PieceDownloading
		case want:
			cl.State = fetch.PieceWanted
		case 2*have >= to-from:
			cl.State = fetch.PieceCached
		}
		out[c] = cl
	}
	return out
}

// Started says how the torrent's first contact with the swarm went, in time since it
// started: where a slow start waited (a tracker, a peer's answer, its first piece, and who
// sent that). Empty before any of it.
func (t Torrent) Started() string {
	fc := t.FirstContact
	if fc == nil {
		return ""
	}
	var parts []string
	add := func(what string, d time.Duration) {
		if d > 0 {
			parts = append(parts, what+" "+d.Round(time.Millisecond).String())
		}
	}
	add("tracker answered after", fc.Answer)
	add("first peer after", fc.Handshake)
	add("first piece after", fc.Piece)
	if len(parts) > 0 && fc.From != "" {
		parts[len(parts)-1] += " (from " + fc.From + ")"
	}
	return strings.Join(parts, ", ")
}
