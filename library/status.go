package library

import (
	"cmp"
	"path"
	"strings"
	"time"

	"github.com/torrentfs/torrentfs/fetch"
)

// Status is a torrent's state, for `torrentfs status`, the web page and the JSON API.
type Status struct {
	Info
	Dormant      bool    `json:"dormant,omitempty"` // not started until a file of it is opened
	Peers        int     `json:"peers"`
	KnownPeers   int     `json:"known_peers"`
	Seeders      int     `json:"seeders"`
	Downloaded   int64   `json:"downloaded"`
	Uploaded     int64   `json:"uploaded"`
	DownloadRate float64 `json:"download_rate"` // bytes per second, over the last few seconds
	UploadRate   float64 `json:"upload_rate"`
	ReadRate     float64 `json:"read_rate"`
	// Ratio is uploaded over downloaded, 0 before anything was downloaded.
	Ratio        float64 `json:"ratio"`
	Evicted      int64   `json:"evicted"`
	HashFailures int64   `json:"hash_failures"`
	PieceLength  int64   `json:"piece_length,omitempty"`
	// FirstContact is where the first read's time went: each step of the torrent's first
	// contact with the swarm, in nanoseconds since it started (fetch.FirstContact).
	FirstContact *fetch.FirstContact `json:"first_contact,omitempty"`
	Pieces       int                 `json:"pieces,omitempty"`
	// With detail only: the piece map (see fetch.Torrent.PieceMap) and the connected peers.
	PieceMap string       `json:"piece_map,omitempty"`
	PeerList []fetch.Peer `json:"peer_list,omitempty"`
	Files    []File       `json:"files,omitempty"`
}

// File is a file of a torrent.
type File struct {
	Path   string `json:"path"`          // in the torrent; a one-file torrent's is its name
	URL    string `json:"url,omitempty"` // under the web server's /files/
	Length int64  `json:"length"`
	Cached int64  `json:"cached"`
	// The pieces holding the file: [FirstPiece, EndPiece).
	FirstPiece int `json:"first_piece"`
	EndPiece   int `json:"end_piece"`
}

// Report is what GET /status of the control API answers.
type Report struct {
	Torrents   []Status `json:"torrents"`
	CacheUsed  int64    `json:"cache_used"`
	CacheLimit int64    `json:"cache_limit"`
	CacheDir   string   `json:"cache_dir"`
}

// Status describes the torrent of i; detail adds its piece map and peers.
func (l *Library) Status(i Info, detail bool) Status {
	s := Status{Info: i}
	_, t, ok := l.Get(i.InfoHash)
	if !ok || t == nil {
		return s
	}
	st := t.Stats()
	s.Dormant = t.Dormant()
	s.Peers, s.KnownPeers, s.Seeders = st.Peers, st.KnownPeers, st.Seeders
	s.Downloaded, s.Uploaded, s.Evicted, s.HashFailures = st.Downloaded, st.Uploaded, st.Evicted, st.HashFailures
	s.DownloadRate, s.UploadRate, s.ReadRate = st.DownloadRate, st.UploadRate, st.ReadRate
	if st.Downloaded > 0 {
		s.Ratio = float64(st.Uploaded) / float64(st.Downloaded)
	}
	s.PieceLength = t.PieceLength()
	if !s.Dormant {
		fc := t.FirstContact()
		s.FirstContact = &fc
	}
	pm := t.PieceMap()
	s.Pieces = len(pm)
	if detail {
		s.PieceMap, s.PeerList = pm, t.Peers()
	}
	for k, f := range t.Files() {
		first, end := t.FilePieces(k)
		s.Files = append(s.Files, File{
			Path:   cmp.Or(path.Join(f.Path...), t.Name()),
			Length: f.Length, Cached: t.BytesCached(k), FirstPiece: first, EndPiece: end,
		})
	}
	return s
}

// Report describes every torrent, with detail, and the cache.
func (l *Library) Report() Report {
	r := Report{Torrents: []Status{}, CacheDir: l.cache.Dir()}
	for _, i := range l.List() {
		r.Torrents = append(r.Torrents, l.Status(i, true))
	}
	r.CacheUsed, r.CacheLimit = l.cache.Usage()
	return r
}

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
func (s Status) Started() string {
	fc := s.FirstContact
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
