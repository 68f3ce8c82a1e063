package status

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/torrentfs/torrentfs/library"
)

// The control socket, which only the mount's user can reach, also takes orders:
//
//	POST   /torrents                  add sources: JSON {"sources": [...]}; answers []Result
//	DELETE /torrents?key=K[&purge=1]  remove the torrent named K (name or info-hash)

// AddRequest is the body of POST /torrents.
type AddRequest struct {
	Sources []string `json:"sources"`
}

// Result is what became of one source or key.
type Result struct {
	Source string `json:"source"`
	Error  string `json:"error,omitempty"`
}

// RegisterOrders adds the handlers of the orders to mux. Only the control socket serves
// them: the web server changes nothing.
func (s *Server) RegisterOrders(mux *http.ServeMux) {
	mux.HandleFunc("POST /torrents", func(w http.ResponseWriter, r *http.Request) {
		var req AddRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		res := make([]Result, len(req.Sources))
		for i, src := range req.Sources {
			res[i].Source = src
			if err := s.lib.Add(r.Context(), src); err != nil {
				res[i].Error = err.Error()
			}
		}
		WriteJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("DELETE /torrents", func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		res, code := Result{Source: key}, http.StatusOK
		if err := s.lib.Remove(key, r.URL.Query().Get("purge") == "1"); err != nil {
			res.Error = err.Error()
			if errors.Is(err, library.ErrNotFound) {
				code = http.StatusNotFound
			}
		}
		WriteJSON(w, code, res)
	})
}

// ControlHandler serves the control socket: the routes of Register and the orders.
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	s.Register(mux)
	s.RegisterOrders(mux)
	return mux
}
