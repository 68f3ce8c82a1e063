package web

import (
	"html/template"
	"net/http"
	"strconv"

	"github.com/torrentfs/torrentfs/internal/human"
)

// maxCells is the most cells a piece map shows; above it, each cell stands for a run of
// pieces and is shaded by how many of them are cached.
const maxCells = 800

// status serves the status page: every torrent, its progress and rates, and its piece map,
// refreshed every few seconds. No script and no external assets.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	type cell struct{ Level int } // 0 missing … 4 cached
	type row struct {
		Name, InfoHash, Size, Cached, Percent, Down, Up, Read, DownRate, UpRate string
		Peers, Seeders                                                          int
		Pending                                                                 bool
		Cells                                                                   []cell
	}
	var rows []row
	for _, i := range s.lib.List() {
		t := s.torrent(i, true)
		rw := row{Name: i.Name, InfoHash: i.InfoHash, Pending: i.Name == ""}
		if !rw.Pending {
			rw.Size, rw.Cached, rw.Read = human.Bytes(i.Length), human.Bytes(i.Cached), human.Bytes(i.Read)
			rw.Percent = percent(i.Cached, i.Length)
			rw.Down, rw.Up = human.Bytes(t.Downloaded), human.Bytes(t.Uploaded)
			rw.DownRate, rw.UpRate = human.Bytes(int64(t.DownloadRate))+"/s", human.Bytes(int64(t.UploadRate))+"/s"
			rw.Peers, rw.Seeders = t.Peers, t.Seeders
			pm := t.PieceMap
			n := min(len(pm), maxCells)
			for c := range n {
				from, to := c*len(pm)/n, (c+1)*len(pm)/n
				have := 0
				for _, b := range pm[from:to] {
					if b == '1' {
						have++
					}
				}
				rw.Cells = append(rw.Cells, cell{have * 4 / (to - from)})
			}
		}
		rows = append(rows, rw)
	}
	used, limit := s.cache.Usage()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	statusTmpl.Execute(w, struct {
		Rows           []row
		CacheUsed, Max string
	}{rows, human.Bytes(used), human.Bytes(limit)})
}

func percent(n, total int64) string {
	if total == 0 {
		return "100%"
	}
	return strconv.FormatInt(n*100/total, 10) + "%"
}

var statusTmpl = template.Must(template.New("status").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="3"><title>torrentfs</title>
<style>
body{font:14px sans-serif;margin:1em 2em}h2{font-size:16px;margin:1.2em 0 .2em}
.m{display:flex;flex-wrap:wrap;max-width:960px}.m i{width:8px;height:10px;margin:0 1px 1px 0}
.l0{background:#ddd}.l1{background:#bcd}.l2{background:#9bd}.l3{background:#69c}.l4{background:#36a}
small{color:#555}
</style></head><body>
<h1>torrentfs</h1>
<p>cache: {{.CacheUsed}} of at most {{.Max}} · <a href="/files/">files</a> · <a href="/api/torrents">api</a> · <a href="/metrics">metrics</a></p>
{{range .Rows}}{{if .Pending}}<h2>awaiting metadata</h2><small>{{.InfoHash}}</small>
{{else}}<h2>{{.Name}}</h2><small>{{.InfoHash}}</small>
<p>{{.Cached}} of {{.Size}} cached ({{.Percent}}) · {{.Peers}} peers, {{.Seeders}} seeders ·
down {{.Down}} ({{.DownRate}}) · up {{.Up}} ({{.UpRate}}) · read {{.Read}}</p>
<div class="m">{{range .Cells}}<i class="l{{.Level}}"></i>{{end}}</div>
{{end}}{{else}}<p>No torrents.</p>{{end}}
</body></html>
`))
