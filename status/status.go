// Package status describes a library's torrents for people and programs: one model (Torrent,
// File, Report), produced here and nowhere else, served as JSON by one set of handlers that
// both the control socket and the web server mount, and the helpers that present it (Percent,
// Rate, Cells, Torrent.Started) to the command line and the web page.
//
// It reads the library, its torrents and the cache, and changes nothing, but for the control
// socket's orders (RegisterOrders), which it passes to the library as they come: add and
// remove. The web server never serves those.
//
//	GET /torrents              the torrents, as JSON []library.Info
//	GET /status                every torrent with its peers and piece map, and the cache: Report
//	GET /api/torrents          the torrents, with stats and per-file progress: []Torrent
//	GET /api/torrents/{key}    one torrent by info-hash (or name), with its piece map and peers
package status

import (
	"cmp"
	"path"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fs"
	"github.com/torrentfs/torrentfs/library"
)

// Torrent is a torrent's state, for `torrentfs status`, the web page and the JSON API.
type Torrent struct {
	library.Info
	Dormant    bool  `json:"dormant,omitempty"` // not started until a file of it is opened
	Peers      int   `json:"peers"`
	KnownPeers int   `json:"known_peers"`
	Seeders    int   `json:"seeders"`
	Downloaded int64 `json:"downloaded"`
	// Wasted is data received that was not needed: a chunk that came twice.
	Wasted       int64   `json:"wasted"`
	Uploaded     int64   `json:"uploaded"`
	DownloadRate float64 `json:"download_rate"` // bytes per second, over the last few seconds
	UploadRate   float64 `json:"upload_rate"`
	ReadRate     float64 `json:"read_rate"`
	// Ratio is uploaded over downloaded, 0 before anything was downloaded.
	Ratio        float64 `json:"ratio"`
	Evicted      int64   `json:"evicted"`
	HashFailures int64   `json:"hash_failures"`
	// Waits are how long its peers had what it wanted, and how long it waited for them, added
	// up over every connection it had (fetch.Waits), in nanoseconds.
	Waits       fetch.Waits `json:"waits"`
	PieceLength int64       `json:"piece_length,omitempty"`
	// FirstContact is where the first read's time went: each step of the torrent's first
	// contact with the swarm, in nanoseconds since it started (fetch.FirstContact).
	FirstContact *fetch.FirstContact `json:"first_contact,omitempty"`
	Pieces       int                 `json:"pieces,omitempty"`
	// With detail only: the piece map (see fetch.Torrent.PieceMap) and the connected peers.
	PieceMap string       `json:"piece_map,omitempty"`
	PeerList []fetch.Peer `json:"peer_list,omitempty"`
	// WebSeeds are its HTTP sources (BEP 19), with their last errors.
	WebSeeds []fetch.WebSeed `json:"web_seeds,omitempty"`
	// Trackers are its trackers, each with its last announce (when, and the peers it named)
	// and its last error if it is failing.
	Trackers []fetch.Tracker `json:"trackers,omitempty"`
	// Sources, for a torrent whose metadata is awaited (a magnet link), are where it may come
	// from (peers, xs=/as= URLs, trackers), with what each last said, and the last error a
	// peer's metadata was refused with.
	Sources *fetch.Sources `json:"sources,omitempty"`
	Files   []File         `json:"files,omitempty"`
}

// File is a file of a torrent.
type File struct {
	// Path is the file's path in the torrent (a one-file torrent's is its name), or, from a
	// Server with Options.Mount, its path in the mount.
	Path string `json:"path"`
	// URL is the file's URL path under the web server's /files/, from a Server with
	// Options.Mount only.
	URL    string `json:"url,omitempty"`
	Length int64  `json:"length"`
	Cached int64  `json:"cached"`
	// The pieces holding the file: [FirstPiece, EndPiece).
	FirstPiece int `json:"first_piece"`
	EndPiece   int `json:"end_piece"`
}

// Report is every torrent, with detail, and the cache: what GET /status answers.
type Report struct {
	Torrents   []Torrent `json:"torrents"`
	CacheUsed  int64     `json:"cache_used"`
	CacheLimit int64     `json:"cache_limit"`
	CacheDir   string    `json:"cache_dir"`
	// DHTNodes is how many nodes the client's DHT routing table holds; 0 with the DHT off.
	DHTNodes int `json:"dht_nodes"`
}

// DHT is what a Report tells of the DHT; *fetch.Client is one.
type DHT interface {
	DHTNodes() int
}

// Adding is what a Torrent tells of a torrent awaiting its metadata; *fetch.Client is one.
type Adding interface {
	Pending(ih metainfo.Hash) (fetch.Sources, bool)
}

// Cache is what a Report tells of the piece cache; *cache.Cache is one.
type Cache interface {
	Dir() string
	Usage() (used, limit int64)
}

// Options say how a Server describes files. The zero value describes them by their paths in
// the torrent, as `torrentfs status` prints them.
type Options struct {
	// Mount, if set, is where the library's torrents are: each file is described by its path
	// there and by its URL under the web server's /files/.
	Mount *fs.Mount
	// DHT, if set, is the client whose DHT a Report counts the nodes of.
	DHT DHT
	// Adding, if set, is the client that tells the sources of a torrent awaiting metadata.
	Adding Adding
}

// Server describes a library's torrents and serves them as JSON. It is safe for concurrent
// use.
type Server struct {
	// Immutable after New.
	lib   *library.Library
	cache Cache
	mnt   *fs.Mount
	dht   DHT
	add   Adding
}

// New returns a server of the torrents of lib, whose pieces are in c.
func New(lib *library.Library, c Cache, opts Options) *Server {
	return &Server{lib: lib, cache: c, mnt: opts.Mount, dht: opts.DHT, add: opts.Adding}
}

// Torrent describes the torrent of i; detail adds its piece map and peers. A torrent
// awaiting metadata has its Info and its Sources only (with Options.Adding); one gone since i
// was listed, its Info only.
func (s *Server) Torrent(i library.Info, detail bool) Torrent {
	r := Torrent{Info: i}
	_, t, ok := s.lib.Get(i.InfoHash)
	if !ok {
		return r
	}
	if t == nil {
		var ih metainfo.Hash
		if s.add != nil && ih.FromHexString(i.InfoHash) == nil {
			if src, ok := s.add.Pending(ih); ok {
				r.Sources = &src
			}
		}
		return r
	}
	st := t.Stats()
	r.Dormant = t.Dormant()
	r.Peers, r.KnownPeers, r.Seeders = st.Peers, st.KnownPeers, st.Seeders
	r.Downloaded, r.Uploaded, r.Evicted, r.HashFailures = st.Downloaded, st.Uploaded, st.Evicted, st.HashFailures
	r.DownloadRate, r.UploadRate, r.ReadRate = st.DownloadRate, st.UploadRate, st.ReadRate
	r.Waits, r.Wasted = st.Waits, st.Wasted
	if st.Downloaded > 0 {
		r.Ratio = float64(st.Uploaded) / float64(st.Downloaded)
	}
	r.PieceLength = t.PieceLength()
	if !r.Dormant {
		fc := t.FirstContact()
		r.FirstContact = &fc
	}
	r.WebSeeds = t.WebSeeds()
	r.Trackers = t.Trackers()
	pm := t.PieceMap()
	r.Pieces = len(pm)
	if detail {
		r.PieceMap, r.PeerList = pm, t.Peers()
	}
	for k, f := range t.Files() {
		first, end := t.FilePieces(k)
		r.Files = append(r.Files, File{
			Path:   cmp.Or(path.Join(f.Path...), t.Name()),
			Length: f.Length, Cached: t.BytesCached(k), FirstPiece: first, EndPiece: end,
		})
	}
	if s.mnt != nil {
		paths, _ := s.mnt.Paths(i.Name)
		for k := range r.Files {
			if k < len(paths) {
				r.Files[k].Path, r.Files[k].URL = paths[k], FileURL(paths[k])
			}
		}
	}
	return r
}

// Torrents describes every torrent, without detail, in the library's order.
func (s *Server) Torrents() []Torrent {
	ts := []Torrent{}
	for _, i := range s.lib.List() {
		ts = append(ts, s.Torrent(i, false))
	}
	return ts
}

// Report describes every torrent, with detail, and the cache.
func (s *Server) Report() Report {
	r := Report{Torrents: []Torrent{}, CacheDir: s.cache.Dir()}
	for _, i := range s.lib.List() {
		r.Torrents = append(r.Torrents, s.Torrent(i, true))
	}
	r.CacheUsed, r.CacheLimit = s.cache.Usage()
	if s.dht != nil {
		r.DHTNodes = s.dht.DHTNodes()
	}
	return r
}
