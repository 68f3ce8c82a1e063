// Package web serves a mount over HTTP: a JSON API of its torrents, Prometheus metrics, the
// files themselves (with ranges, through the same read path as the mount) and a status page
// for people.
//
//	GET /                          the status page
//	GET /api/torrents              the torrents, with stats and per-file progress: []Torrent
//	GET /api/torrents/{key}        one torrent by info-hash (or name), with its piece map
//	GET /metrics                   Prometheus metrics
//	GET /files/{path...}           a file or a directory listing, by its path in the mount
package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fs"
	"github.com/torrentfs/torrentfs/library"
)

// Server serves one mount's library. It is safe for concurrent use.
type Server struct {
	// Immutable after New.
	lib     *library.Library
	mnt     *fs.Mount
	cache   *cache.Cache
	metrics *Metrics

	rates rates
}

// New returns a server of lib's torrents, found by path in mnt. metrics, from NewMetrics, get
// the library's collectors.
func New(lib *library.Library, mnt *fs.Mount, cl *fetch.Client, c *cache.Cache, metrics *Metrics) *Server {
	metrics.Watch(lib, cl, c)
	return &Server{lib: lib, mnt: mnt, cache: c, metrics: metrics, rates: rates{last: map[string]sample{}}}
}

// Handler serves the endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.status)
	mux.HandleFunc("GET /api/torrents", func(w http.ResponseWriter, r *http.Request) {
		ts := []Torrent{}
		for _, i := range s.lib.List() {
			ts = append(ts, s.torrent(i, false))
		}
		writeJSON(w, http.StatusOK, ts)
	})
	mux.HandleFunc("GET /api/torrents/{key}", func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		i, _, ok := s.lib.Get(key)
		if !ok {
			writeJSON(w, http.StatusNotFound, apiError{"no such torrent in this mount: " + key})
			return
		}
		writeJSON(w, http.StatusOK, s.torrent(i, true))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /files/{path...}", s.files)
	return mux
}

// Torrent is a torrent of the API.
type Torrent struct {
	library.Info
	Peers        int     `json:"peers"`
	Seeders      int     `json:"seeders"`
	Downloaded   int64   `json:"downloaded"`
	Uploaded     int64   `json:"uploaded"`
	DownloadRate float64 `json:"download_rate"` // bytes per second, since the previous request
	UploadRate   float64 `json:"upload_rate"`
	Evicted      int64   `json:"evicted"`
	HashFailures int64   `json:"hash_failures"`
	PieceLength  int64   `json:"piece_length,omitempty"`
	Pieces       int     `json:"pieces,omitempty"`
	// PieceMap has one character per piece: '1' cached, '0' missing. Only for one torrent.
	PieceMap string `json:"piece_map,omitempty"`
	Files    []File `json:"files,omitempty"`
}

// File is a file of a torrent.
type File struct {
	Path   string `json:"path"` // in the mount
	URL    string `json:"url"`  // under /files/
	Length int64  `json:"length"`
	Cached int64  `json:"cached"`
	// The pieces holding the file: [FirstPiece, EndPiece).
	FirstPiece int `json:"first_piece"`
	EndPiece   int `json:"end_piece"`
}

type apiError struct {
	Error string `json:"error"`
}

// torrent describes the torrent of i; pieces adds its piece map.
func (s *Server) torrent(i library.Info, pieces bool) Torrent {
	r := Torrent{Info: i}
	_, t, ok := s.lib.Get(i.InfoHash)
	if !ok || t == nil {
		return r
	}
	st := t.Stats()
	r.Peers, r.Seeders, r.Downloaded, r.Uploaded = st.Peers, st.Seeders, st.Downloaded, st.Uploaded
	r.Evicted, r.HashFailures = st.Evicted, st.HashFailures
	r.DownloadRate, r.UploadRate = s.rates.update(i.InfoHash, st)
	r.PieceLength = t.PieceLength()
	pm := t.PieceMap()
	r.Pieces = len(pm)
	if pieces {
		r.PieceMap = pm
	}
	paths, _ := s.mnt.Paths(i.Name)
	for k, f := range t.Files() {
		first, end := t.FilePieces(k)
		fj := File{Length: f.Length, Cached: t.BytesCached(k), FirstPiece: first, EndPiece: end}
		if k < len(paths) {
			fj.Path, fj.URL = paths[k], fileURL(paths[k])
		}
		r.Files = append(r.Files, fj)
	}
	return r
}

// fileURL is the URL path of a file at path p of the mount.
func fileURL(p string) string {
	return (&url.URL{Path: "/files/" + p}).EscapedPath()
}

// rates turns the transfer totals of successive requests into rates: each torrent's
// previous sample, at least rateEvery old, is kept.
type rates struct {
	mu   sync.Mutex
	last map[string]sample // by info-hash
}

type sample struct {
	at         time.Time
	down, up   int64
	rDown, rUp float64 // the rates computed when it was taken
}

const rateEvery = time.Second

func (r *rates) update(ih string, st fetch.Stats) (down, up float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	prev, ok := r.last[ih]
	if ok && now.Sub(prev.at) < rateEvery {
		return prev.rDown, prev.rUp
	}
	if ok {
		dt := now.Sub(prev.at).Seconds()
		down, up = float64(st.Downloaded-prev.down)/dt, float64(st.Uploaded-prev.up)/dt
	}
	r.last[ih] = sample{at: now, down: st.Downloaded, up: st.Uploaded, rDown: down, rUp: up}
	if len(r.last) > 10000 { // torrents come and go: forget them all now and then
		clear(r.last)
	}
	return down, up
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// errStatus is the HTTP status of a read error.
func errStatus(err error) int {
	switch {
	case errors.Is(err, fetch.ErrDropped):
		return http.StatusNotFound
	case errors.Is(err, fetch.ErrTimeout):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// trimSlash is p without a trailing slash.
func trimSlash(p string) string { return strings.TrimSuffix(p, "/") }
