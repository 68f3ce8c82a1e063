package web

import (
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/internal/human"
	"github.com/torrentfs/torrentfs/status"
)

// maxCells is the most cells a piece map shows; above it, each cell stands for a run of
// pieces and is shaded by how many of them are cached.
const maxCells = 800

// maxPageFiles keeps the page of a torrent with many files short; maxFileCells, the map of
// each file's pieces in the file list.
const (
	maxPageFiles = 100
	maxFileCells = 100
)

// status serves the status page: every torrent with its numbers, piece map, peers, web seeds
// and files.
// A small script fetches the page's main part again every second (?part=main) and puts it
// in place, so the piece maps move while files are read; without scripts the page reloads
// itself every 3 seconds.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	type cell struct{ Class string }
	type file struct {
		Path, URL, Size, Percent string
		Cells                    []cell // its pieces' part of the map
	}
	type peer struct {
		Addr, Client, Source, Have, Down, Up, Rate, Choked, Requests string
	}
	type webSeed struct {
		URL, Down, Rate, Error, RetryAt string
		Requests                        int
	}
	type tracker struct {
		URL, Last, Error string
		Peers            int
	}
	type source struct{ URL, Error string }
	type row struct {
		Name, InfoHash, Size, Cached, Percent, Down, Up, Read, DownRate, UpRate, ReadRate, Ratio, Evicted, Started string
		Peers, KnownPeers, Seeders                                                                                 int
		Pending, Dormant                                                                                           bool
		HashFailures                                                                                               int64
		Cells                                                                                                      []cell
		PeerList                                                                                                   []peer
		WebSeeds                                                                                                   []webSeed
		Trackers                                                                                                   []tracker
		Peerlinks                                                                                                  []string // a pending magnet link's peers
		Sources                                                                                                    []source // its xs= and as= URLs
		Refused                                                                                                    string   // its last refused metadata
		Files                                                                                                      []file
		MoreFiles                                                                                                  int
	}
	rep := s.api.Report()
	var rows []row
	for _, t := range rep.Torrents {
		rw := row{Name: t.Name, InfoHash: t.InfoHash, Pending: t.Name == "", Dormant: t.Dormant}
		trs := t.Trackers
		if src := t.Sources; src != nil {
			trs = src.Trackers
			rw.Peerlinks, rw.Refused = src.Peers, src.Error
			for _, u := range src.URLs {
				rw.Sources = append(rw.Sources, source(u))
			}
		}
		for _, tr := range trs {
			tw := tracker{URL: tr.URL, Peers: tr.Peers, Error: tr.Error}
			if !tr.LastAnnounce.IsZero() {
				tw.Last = tr.LastAnnounce.Local().Format(time.TimeOnly)
			}
			if tr.Error != "" {
				tw.Error += " (at " + tr.ErrorAt.Local().Format(time.TimeOnly) + ")"
			}
			rw.Trackers = append(rw.Trackers, tw)
		}
		if !rw.Pending {
			rw.Size, rw.Cached, rw.Read = human.Bytes(t.Length), human.Bytes(t.Cached), human.Bytes(t.Read)
			rw.Percent = status.Percent(t.Cached, t.Length)
			rw.Down, rw.Up, rw.Evicted = human.Bytes(t.Downloaded), human.Bytes(t.Uploaded), human.Bytes(t.Evicted)
			rw.DownRate, rw.UpRate, rw.ReadRate = status.Rate(t.DownloadRate), status.Rate(t.UploadRate), status.Rate(t.ReadRate)
			rw.Ratio = fmt.Sprintf("%.2f", t.Ratio)
			rw.Started = t.Started()
			rw.Peers, rw.KnownPeers, rw.Seeders, rw.HashFailures = t.Peers, t.KnownPeers, t.Seeders, t.HashFailures
			for _, c := range status.Cells(t.PieceMap, maxCells) {
				rw.Cells = append(rw.Cells, cell{cellClass(c)})
			}
			for _, p := range t.PeerList {
				rw.PeerList = append(rw.PeerList, peer{p.Addr, p.Client, p.Source, fmt.Sprintf("%.0f%%", p.Have*100),
					human.Bytes(p.Downloaded), human.Bytes(p.Uploaded), status.Rate(p.DownloadRate),
					seconds(p.Waits.Choked), seconds(p.Waits.Requests)})
			}
			for _, ws := range t.WebSeeds {
				wr := webSeed{URL: ws.URL, Down: human.Bytes(ws.Downloaded), Rate: status.Rate(ws.DownloadRate),
					Error: ws.Error, Requests: ws.Requests}
				if !ws.RetryAt.IsZero() {
					wr.RetryAt = ws.RetryAt.Local().Format(time.TimeOnly)
				}
				rw.WebSeeds = append(rw.WebSeeds, wr)
			}
			for k, f := range t.Files {
				if k == maxPageFiles {
					rw.MoreFiles = len(t.Files) - k
					break
				}
				fl := file{Path: f.Path, URL: f.URL, Size: human.Bytes(f.Length), Percent: status.Percent(f.Cached, f.Length)}
				if len(t.Files) > 1 && f.EndPiece <= len(t.PieceMap) {
					for _, c := range status.Cells(t.PieceMap[f.FirstPiece:f.EndPiece], maxFileCells) {
						fl.Cells = append(fl.Cells, cell{cellClass(c)})
					}
				}
				rw.Files = append(rw.Files, fl)
			}
		}
		rows = append(rows, rw)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	name := "page"
	if r.URL.Query().Get("part") == "main" {
		name = "main"
	}
	statusTmpl.ExecuteTemplate(w, name, struct {
		Rows           []row
		CacheUsed, Max string
		DHTNodes       int
	}{rows, human.Bytes(rep.CacheUsed), human.Bytes(rep.CacheLimit), rep.DHTNodes})
}

// seconds formats a wait to a tenth of a second: "4.1 s".
func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// cellClass is the CSS class of a piece map's cell: "d" downloading, "w" wanted, else
// "c0" to "c4" by how much of it is cached.
func cellClass(c status.Cell) string {
	switch c.State {
	case fetch.PieceDownloading:
		return "d"
	case fetch.PieceWanted:
		return "w"
	}
	return "c" + strconv.Itoa(c.Cached)
}

var statusTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>torrentfs</title>
<noscript><meta http-equiv="refresh" content="3"></noscript>
<style>
body{font:14px sans-serif;margin:1em 2em;color:#222}h2{font-size:16px;margin:1.4em 0 .2em}
.m{display:flex;flex-wrap:wrap;max-width:960px;margin:.4em 0}.m i{width:8px;height:12px;margin:0 1px 1px 0}
.c0{background:#ddd}.c1{background:#bcd}.c2{background:#9bd}.c3{background:#69c}.c4{background:#36a}
.d{background:#e90}.w{background:#fd8}.m.f{margin:0;max-width:none;flex-wrap:nowrap}.m.f i{width:3px;height:10px;margin:0}
.k i{display:inline-block;width:10px;height:10px;margin:0 3px 0 10px}
table{border-collapse:collapse;font-size:13px;margin-top:.5em}td,th{padding:1px 10px 1px 0;text-align:left}
small{color:#555}
</style></head><body>
<h1>torrentfs</h1>
<main id="live">{{template "main" .}}</main>
<script>
setInterval(async () => {
	try {
		const r = await fetch("?part=main", {cache: "no-store"});
		if (r.ok) document.getElementById("live").innerHTML = await r.text();
	} catch (e) {}
}, 1000);
</script>
</body></html>
{{define "main"}}
<p>cache: {{.CacheUsed}} of at most {{.Max}}{{if .DHTNodes}} · DHT: {{.DHTNodes}} nodes{{end}} · <a href="/files/">files</a> · <a href="/api/torrents">api</a> · <a href="/metrics">metrics</a></p>
<p class="k"><i class="c4"></i>cached<i class="d"></i>downloading<i class="w"></i>wanted<i class="c0"></i>missing</p>
{{range .Rows}}<section class="torrent">{{if .Pending}}<h2>awaiting metadata</h2><small>{{.InfoHash}}</small>
{{if .Peerlinks}}<p class="peerlinks">from peers: {{range $i, $p := .Peerlinks}}{{if $i}}, {{end}}{{$p}}{{end}}</p>{{end}}
{{if .Sources}}<table class="sources"><tr><th>source</th><th>last error</th></tr>
{{range .Sources}}<tr><td>{{.URL}}</td><td>{{.Error}}</td></tr>
{{end}}</table>{{end}}
{{if .Refused}}<p class="refused">refused: {{.Refused}}</p>{{end}}
{{template "trackers" .Trackers}}
{{else}}<h2>{{.Name}}</h2><small>{{.InfoHash}}</small>
<p>{{.Cached}} of {{.Size}} cached (<span class="pct">{{.Percent}}</span>){{if .Dormant}} · dormant until a file is opened{{end}} · {{.Peers}} peers of {{.KnownPeers}} known, {{.Seeders}} seeders<br>
down {{.Down}} ({{.DownRate}}) · up {{.Up}} ({{.UpRate}}) · ratio {{.Ratio}} · read {{.Read}} ({{.ReadRate}}) · evicted {{.Evicted}} · hash failures {{.HashFailures}}{{if .Started}}<br>
<span class="started">started: {{.Started}}</span>{{end}}</p>
<div class="m">{{range .Cells}}<i class="{{.Class}}"></i>{{end}}</div>
{{if .PeerList}}<table class="peers"><tr><th>peer</th><th>client</th><th>found by</th><th>has</th><th>from it</th><th>rate</th><th>to it</th><th title="how long it had what we wanted and choked us">choked</th><th title="how long our requests to it were out">requests</th></tr>
{{range .PeerList}}<tr><td>{{.Addr}}</td><td>{{.Client}}</td><td>{{.Source}}</td><td>{{.Have}}</td><td>{{.Down}}</td><td>{{.Rate}}</td><td>{{.Up}}</td><td>{{.Choked}}</td><td>{{.Requests}}</td></tr>
{{end}}</table>{{end}}
{{if .WebSeeds}}<table class="webseeds"><tr><th>web seed</th><th>from it</th><th>rate</th><th>requests</th><th>last error</th></tr>
{{range .WebSeeds}}<tr><td>{{.URL}}</td><td>{{.Down}}</td><td>{{.Rate}}</td><td>{{.Requests}}</td><td>{{.Error}}{{if .RetryAt}} (left out until {{.RetryAt}}){{end}}</td></tr>
{{end}}</table>{{end}}
{{template "trackers" .Trackers}}
<table class="files">{{range .Files}}<tr><td>{{.Percent}}</td><td><a href="{{.URL}}">{{.Path}}</a></td><td>{{.Size}}</td><td>{{if .Cells}}<div class="m f">{{range .Cells}}<i class="{{.Class}}"></i>{{end}}</div>{{end}}</td></tr>
{{end}}{{if .MoreFiles}}<tr><td></td><td>… {{.MoreFiles}} more</td></tr>{{end}}</table>
{{end}}</section>
{{else}}<p>No torrents.</p>{{end}}
{{end}}
{{define "trackers"}}{{if .}}<table class="trackers"><tr><th>tracker</th><th>last answer</th><th>peers</th><th>last error</th></tr>
{{range .}}<tr><td>{{.URL}}</td><td>{{.Last}}</td><td>{{if .Last}}{{.Peers}}{{end}}</td><td>{{.Error}}</td></tr>
{{end}}</table>{{end}}{{end}}
`))
