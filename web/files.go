package web

import (
	"context"
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/internal/human"
	"github.com/torrentfs/torrentfs/status"
)

// files serves the file at a path of the mount through a fetch.Handle, the mount's read
// path, with ranges and a strong ETag (etag); or a directory's listing.
//
// Torrent content is a stranger's: it is served sandboxed (Content-Security-Policy:
// sandbox), so a torrent's HTML page runs no script and has an origin of its own, not the
// status page's.
func (s *Server) files(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "sandbox")
	p := r.PathValue("path")
	t, i, ok := s.mnt.Lookup(p)
	if !ok {
		s.listing(w, r, p)
		return
	}
	h, err := t.Open(i)
	if err != nil {
		http.Error(w, err.Error(), errStatus(err))
		return
	}
	defer h.Close()
	if e, ok := s.mnt.Stat(p); ok {
		w.Header().Set("ETag", etag(e.Ino))
	}
	if ct := contentType(p); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	http.ServeContent(w, r, path.Base(p), t.ModTime(), &readSeeker{ctx: r.Context(), h: h})
}

// etag is the strong ETag of a file or directory of a torrent whose inode number is ino:
// the number itself, which is the same under the mount, a function of the torrent's
// info-hash and the file's place in it, and so of the bytes (a torrent's files never
// change).
func etag(ino uint64) string {
	return `"` + strconv.FormatUint(ino, 10) + `"`
}

// readSeeker reads a Handle with one context: a request's.
type readSeeker struct {
	ctx context.Context
	h   *fetch.Handle
	off int64
}

func (rs *readSeeker) Read(p []byte) (int, error) {
	n, err := rs.h.ReadAt(rs.ctx, p, rs.off)
	rs.off += int64(n)
	return n, err
}

func (rs *readSeeker) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += rs.off
	case io.SeekEnd:
		off += rs.h.Size()
	}
	if off < 0 {
		return 0, errors.New("seek before the start of the file")
	}
	rs.off = off
	return off, nil
}

// mediaTypes are content types of files torrents often hold that the system's MIME table
// may lack; anything else is left to it, then to sniffing.
var mediaTypes = map[string]string{
	".mkv": "video/x-matroska", ".mka": "audio/x-matroska", ".mp4": "video/mp4", ".m4v": "video/mp4",
	".m4a": "audio/mp4", ".webm": "video/webm", ".avi": "video/x-msvideo", ".mov": "video/quicktime",
	".ts": "video/mp2t", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg",
	".opus": "audio/ogg", ".wav": "audio/wav", ".srt": "application/x-subrip", ".vtt": "text/vtt",
	".iso": "application/x-iso9660-image", ".nfo": "text/plain; charset=utf-8", ".txt": "text/plain; charset=utf-8",
}

func contentType(p string) string {
	ext := strings.ToLower(path.Ext(p))
	if ct, ok := mediaTypes[ext]; ok {
		return ct
	}
	return mime.TypeByExtension(ext)
}

// listing serves the listing of the directory at p, or 404.
func (s *Server) listing(w http.ResponseWriter, r *http.Request, p string) {
	es, ok := s.mnt.ReadDir(p)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if p != "" && !strings.HasSuffix(p, "/") {
		// Relative links need the slash.
		http.Redirect(w, r, status.FileURL(p)+"/", http.StatusMovedPermanently)
		return
	}
	type row struct {
		Name, URL, Size string
	}
	var rows []row
	for _, e := range es {
		rw := row{Name: e.Name, URL: (&urlPath{e.Name}).String()}
		if e.Dir {
			rw.Name += "/"
			rw.URL += "/"
		} else {
			rw.Size = human.Bytes(e.Size)
		}
		rows = append(rows, rw)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	listingTmpl.Execute(w, struct {
		Dir  string
		Up   bool
		Rows []row
	}{"/" + p, p != "", rows})
}

// urlPath is one path element as a relative URL: "a:b" must not read as a scheme.
type urlPath struct{ name string }

func (u *urlPath) String() string {
	return "./" + strings.TrimPrefix(status.FileURL(u.name), "/files/")
}

var listingTmpl = template.Must(template.New("listing").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Dir}}</title>
<style>body{font:14px sans-serif;margin:1em 2em}td{padding:2px 1em 2px 0}td.s{text-align:right;color:#555}</style>
</head><body><h1>{{.Dir}}</h1><table>
{{if .Up}}<tr><td><a href="../">../</a></td><td></td></tr>{{end}}
{{range .Rows}}<tr><td><a href="{{.URL}}">{{.Name}}</a></td><td class="s">{{.Size}}</td></tr>
{{end}}</table><p><a href="/">status</a></p></body></html>
`))
