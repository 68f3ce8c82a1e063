package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/internal/human"
	"github.com/torrentfs/torrentfs/status"
)

// The status report for people: each torrent with its numbers, its piece map, its peers and
// its files, then the cache.

const (
	maxReportFiles = 200 // keeps the report of a torrent with many files short
	mapWidth       = 64  // cells of a piece map's line
	mapLines       = 4   // the most lines a piece map takes
)

// colourful reports whether w is a terminal that wants colours (https://no-color.org).
func colourful(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd()) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}

// writeReport writes r for people; colour draws the piece maps with ANSI colours.
func writeReport(w io.Writer, r status.Report, colour bool) {
	first := true
	for _, t := range r.Torrents {
		if !first {
			fmt.Fprintln(w)
		}
		first = false
		if t.Name == "" {
			writePending(w, t)
			continue
		}
		writeTorrent(w, t, colour)
	}
	fmt.Fprintf(w, "\ncache:    %s on disk of at most %s, in %s\n", human.Bytes(r.CacheUsed), human.Bytes(r.CacheLimit), human.Text(r.CacheDir))
	if r.DHTNodes > 0 {
		fmt.Fprintf(w, "dht:      %d nodes\n", r.DHTNodes)
	}
}

func writeTorrent(w io.Writer, t status.Torrent, colour bool) {
	fmt.Fprintf(w, "torrent:  %s\ninfohash: %s\n", human.Text(t.Name), t.InfoHash)
	if t.Dormant {
		fmt.Fprintf(w, "dormant:  %s; starts when a file of it is opened\n", human.Bytes(t.Length))
		return
	}
	fmt.Fprintf(w, "cached:   %s of %s (%s)\n", human.Bytes(t.Cached), human.Bytes(t.Length), status.Percent(t.Cached, t.Length))
	if t.Evicted > 0 {
		fmt.Fprintf(w, "evicted:  %s (the cache is full)\n", human.Bytes(t.Evicted))
	}
	fmt.Fprintf(w, "peers:    %d connected, %d seeders; %d known\n", t.Peers, t.Seeders, t.KnownPeers)
	fmt.Fprintf(w, "rates:    %s down, %s up, %s read\n", status.Rate(t.DownloadRate), status.Rate(t.UploadRate), status.Rate(t.ReadRate))
	fmt.Fprintf(w, "transfer: %s down, %s up (ratio %.2f); %s read from its files\n",
		human.Bytes(t.Downloaded), human.Bytes(t.Uploaded), t.Ratio, human.Bytes(t.Read))
	if t.Wasted > 0 {
		fmt.Fprintf(w, "wasted:   %s received that was not needed (chunks that came twice)\n", human.Bytes(t.Wasted))
	}
	if ws := t.Waits; ws.Wanted > 0 {
		fmt.Fprintf(w, "waits:    peers had what it wanted for %s: they choked it %s, its requests were out %s (summed over peers)\n",
			seconds(ws.Wanted), seconds(ws.Choked), seconds(ws.Requests))
	}
	if line := t.Started(); line != "" {
		fmt.Fprintf(w, "started:  %s\n", human.Text(line))
	}
	if t.HashFailures > 0 {
		fmt.Fprintf(w, "hashes:   %d pieces failed their check (their data was thrown away)\n", t.HashFailures)
	}
	if t.Pieces > 0 {
		per := ""
		if n := min(t.Pieces, mapWidth*mapLines); n < t.Pieces {
			per = fmt.Sprintf(", %d a cell", (t.Pieces+n-1)/n)
		}
		fmt.Fprintf(w, "pieces:   %d of %s each%s\n", t.Pieces, human.Bytes(t.PieceLength), per)
		writePieceMap(w, t.PieceMap, colour)
	}
	if len(t.PeerList) > 0 {
		fmt.Fprintf(w, "connections:\n")
		for _, p := range t.PeerList {
			fmt.Fprintf(w, "  %-21s %-22s %-8s %4.0f%%  %s from it (%s), %s to it; choked %s, requests %s\n", p.Addr, human.Clip(p.Client, 22),
				human.Clip(p.Source, 8), p.Have*100, human.Bytes(p.Downloaded), status.Rate(p.DownloadRate), human.Bytes(p.Uploaded),
				seconds(p.Waits.Choked), seconds(p.Waits.Requests))
		}
	}
	if len(t.WebSeeds) > 0 {
		fmt.Fprintf(w, "web seeds:\n")
		for _, s := range t.WebSeeds {
			fmt.Fprintf(w, "  %s: %s from it (%s)", human.Text(s.URL), human.Bytes(s.Downloaded), status.Rate(s.DownloadRate))
			if s.Error != "" {
				fmt.Fprintf(w, "; last error: %s", human.Text(s.Error))
			}
			if !s.RetryAt.IsZero() {
				fmt.Fprintf(w, "; left out until %s", s.RetryAt.Local().Format(time.TimeOnly))
			}
			fmt.Fprintln(w)
		}
	}
	writeTrackers(w, t.Trackers)
	fmt.Fprintf(w, "files:\n")
	for i, f := range t.Files {
		if i == maxReportFiles {
			fmt.Fprintf(w, "  … %d more\n", len(t.Files)-i)
			break
		}
		fmt.Fprintf(w, "  %5s  %s (%s)\n", status.Percent(f.Cached, f.Length), human.Text(f.Path), human.Bytes(f.Length))
	}
}

// maxReportFailing is how many failing trackers or sources the report details, per torrent.
const maxReportFailing = 10

// writePending writes a torrent awaiting its metadata: where it may come from, and what
// went wrong so far.
func writePending(w io.Writer, t status.Torrent) {
	fmt.Fprintf(w, "awaiting: metadata of %s\n", t.InfoHash)
	src := t.Sources
	if src == nil {
		return
	}
	fmt.Fprintf(w, "sources:  %d peers, %d URLs, %d trackers\n", len(src.Peers), len(src.URLs), len(src.Trackers))
	for i, u := range src.URLs {
		if i == maxReportFailing {
			fmt.Fprintf(w, "  … %d more\n", len(src.URLs)-i)
			break
		}
		fmt.Fprintf(w, "  %s", human.Text(u.URL))
		if u.Error != "" {
			fmt.Fprintf(w, ": last error: %s", human.Text(u.Error))
		}
		fmt.Fprintln(w)
	}
	if src.Error != "" {
		fmt.Fprintf(w, "refused:  %s\n", human.Text(src.Error))
	}
	writeTrackers(w, src.Trackers)
}

// writeTrackers writes one line of a torrent's trackers, then one for each failing one.
func writeTrackers(w io.Writer, trs []fetch.Tracker) {
	if len(trs) == 0 {
		return
	}
	var answered, failing int
	var last fetch.Tracker
	for _, tr := range trs {
		switch {
		case tr.Error != "":
			failing++
		case !tr.LastAnnounce.IsZero():
			answered++
			if tr.LastAnnounce.After(last.LastAnnounce) {
				last = tr
			}
		}
	}
	fmt.Fprintf(w, "trackers: %d, %d answered", len(trs), answered)
	if answered > 0 {
		fmt.Fprintf(w, " (last at %s: %d peers)", last.LastAnnounce.Local().Format(time.TimeOnly), last.Peers)
	}
	fmt.Fprintf(w, ", %d failing\n", failing)
	n := 0
	for _, tr := range trs {
		if tr.Error == "" {
			continue
		}
		if n == maxReportFailing {
			fmt.Fprintf(w, "  … %d more failing\n", failing-n)
			break
		}
		n++
		fmt.Fprintf(w, "  %s: %s (at %s)\n", human.Text(tr.URL), human.Text(tr.Error), tr.ErrorAt.Local().Format(time.TimeOnly))
	}
}

// seconds formats a wait to a tenth of a second: "4.1s".
func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// The cells of a piece map: plain characters, or a block in a colour.
var (
	plainCells  = map[byte]string{fetch.PieceCached: "#", fetch.PieceDownloading: "=", fetch.PieceWanted: "-", fetch.PieceMissing: "."}
	colourCells = map[byte]string{
		fetch.PieceCached:      "\x1b[32m█",
		fetch.PieceDownloading: "\x1b[33m█",
		fetch.PieceWanted:      "\x1b[36m▒",
		fetch.PieceMissing:     "\x1b[90m░",
	}
)

// writePieceMap draws a piece map in lines of mapWidth cells, then its key.
func writePieceMap(w io.Writer, pm string, colour bool) {
	draw, reset := plainCells, ""
	if colour {
		draw, reset = colourCells, "\x1b[0m"
	}
	cells := status.Cells(pm, mapWidth*mapLines)
	for len(cells) > 0 {
		n := min(len(cells), mapWidth)
		var b strings.Builder
		b.WriteString("  ")
		for _, c := range cells[:n] {
			b.WriteString(draw[c.State])
		}
		b.WriteString(reset)
		fmt.Fprintln(w, b.String())
		cells = cells[n:]
	}
	fmt.Fprintf(w, "  %s cached  %s downloading  %s wanted  %s missing%s\n", draw[fetch.PieceCached]+reset,
		draw[fetch.PieceDownloading]+reset, draw[fetch.PieceWanted]+reset, draw[fetch.PieceMissing]+reset, reset)
}
