package status

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/torrentfs/torrentfs/library"
)

// Register adds the handlers of the package doc's read routes to mux: the API, which the
// control socket and the web server both serve, and the socket's own /torrents and
// /status, which name the cache's directory and the torrents' sources, paths of this
// machine that the web server does not give away.
func (s *Server) Register(mux *http.ServeMux) {
	s.RegisterAPI(mux)
	mux.HandleFunc("GET /torrents", func(w http.ResponseWriter, r *http.Request) {
		list := s.lib.List()
		if list == nil {
			list = []library.Info{}
		}
		WriteJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, s.Report())
	})
}

// RegisterAPI adds the handlers of /api/torrents and /api/torrents/{key} to mux.
func (s *Server) RegisterAPI(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/torrents", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, s.Torrents())
	})
	mux.HandleFunc("GET /api/torrents/{key}", func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		i, _, ok := s.lib.Get(key)
		if !ok {
			WriteJSON(w, http.StatusNotFound, Error{"no such torrent in this mount: " + key})
			return
		}
		WriteJSON(w, http.StatusOK, s.Torrent(i, true))
	})
}

// Handler serves the routes of Register.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

// Error is the JSON answer of a request that failed.
type Error struct {
	Error string `json:"error"`
}

// WriteJSON answers with status and v as indented JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// FileURL is the URL path of the file at path p of the mount, under the web server's /files/.
func FileURL(p string) string {
	return (&url.URL{Path: "/files/" + p}).EscapedPath()
}
