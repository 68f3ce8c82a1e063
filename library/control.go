package library

import (
	"encoding/json"
	"errors"
	"net/http"
)

// The control API, served by a mount on a unix socket only its user can reach:
//
//	GET    /torrents                  the torrents, as JSON []Info
//	POST   /torrents                  add sources: JSON {"sources": [...]}; answers []Result
//	DELETE /torrents?key=K[&purge=1]  remove the torrent named K (name or info-hash)
//	GET    /status                    every torrent with its peers and piece map, and the cache: Report

// AddRequest is the body of POST /torrents.
type AddRequest struct {
	Sources []string `json:"sources"`
}

// Result is what became of one source or key.
type Result struct {
	Source string `json:"source"`
	Error  string `json:"error,omitempty"`
}

// Handler serves the control API.
func (l *Library) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /torrents", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, l.List())
	})
	mux.HandleFunc("POST /torrents", func(w http.ResponseWriter, r *http.Request) {
		var req AddRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		res := make([]Result, len(req.Sources))
		for i, s := range req.Sources {
			res[i].Source = s
			if err := l.Add(r.Context(), s); err != nil {
				res[i].Error = err.Error()
			}
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("DELETE /torrents", func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		res, status := Result{Source: key}, http.StatusOK
		if err := l.Remove(key, r.URL.Query().Get("purge") == "1"); err != nil {
			res.Error = err.Error()
			if errors.Is(err, ErrNotFound) {
				status = http.StatusNotFound
			}
		}
		writeJSON(w, status, res)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, l.Report())
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
