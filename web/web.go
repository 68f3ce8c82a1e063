// Package web serves a mount over HTTP: the JSON API of its torrents (package status, the
// same handlers as the control socket's), Prometheus metrics, the files themselves (with
// ranges, through the same read path as the mount) and a status page for people.
//
//	GET /                          the status page
//	GET /api/torrents              the torrents, with stats and per-file progress: []Torrent
//	GET /api/torrents/{key}        one torrent by info-hash (or name), with its piece map and peers
//	GET /torrents, GET /status     as on the control socket (see package status)
//	GET /metrics                   Prometheus metrics
//	GET /files/{path...}           a file or a directory listing, by its path in the mount
//	/dav/{path...}                 the mount's tree over WebDAV, read-only (dav.go)
//
// Protect puts the protections a server on the network needs around the handler: nosniff
// and a sandbox for torrent content, a Host check against DNS rebinding, a cap on requests,
// write deadlines that cut off stalled clients, and basic authentication.
package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fs"
	"github.com/torrentfs/torrentfs/library"
	"github.com/torrentfs/torrentfs/status"
)

// Server serves one mount's library. It is safe for concurrent use.
type Server struct {
	// Immutable after New.
	mnt     *fs.Mount
	metrics *Metrics
	api     *status.Server // files by their paths in mnt, with their URLs
}

// New returns a server of lib's torrents, found by path in mnt. metrics, from NewMetrics, get
// the library's collectors.
func New(lib *library.Library, mnt *fs.Mount, cl *fetch.Client, c *cache.Cache, metrics *Metrics) *Server {
	metrics.Watch(lib, cl, c)
	return &Server{mnt: mnt, metrics: metrics, api: status.New(lib, c, status.Options{Mount: mnt, DHT: cl, Adding: cl})}
}

// Handler serves the endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.status)
	s.api.RegisterAPI(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /files/{path...}", s.files)
	dav := s.dav()
	// /dav/ bypasses the mux, which would answer a path with ".." by redirecting it to its
	// clean form: dav answers it 404 itself. /files/ gets 404 for it before the mux sees
	// it.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case under(r, davPrefix):
			dav.ServeHTTP(w, r)
			return
		case under(r, filesPrefix):
			if _, ok := treePath(r, filesPrefix); !ok {
				http.NotFound(w, r)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// Torrent is a torrent of the API: its Files have their paths in the mount and their URLs.
type Torrent = status.Torrent

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

// filesPrefix is where files are served.
const filesPrefix = "/files"

// under reports whether r's path is prefix or under it.
func under(r *http.Request, prefix string) bool {
	return r.URL.Path == prefix || strings.HasPrefix(r.URL.Path, prefix+"/")
}

// trimSlash is p without a trailing slash.
func trimSlash(p string) string { return strings.TrimSuffix(p, "/") }
