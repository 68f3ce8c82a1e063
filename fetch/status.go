package fetch

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/torrentfs/torrentfs/internal/human"
	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

// Stats are a torrent's numbers at one moment.
type Stats struct {
	Peers        int     // connected peers
	KnownPeers   int     // peers the torrent knows of, connected or not
	Seeders      int     // connected peers that have every piece
	Downloaded   int64   // useful data received from peers, in bytes
	Wasted       int64   // data received from peers that was not needed (a chunk that came twice), in bytes
	Uploaded     int64   // data sent to peers, in bytes
	Read         int64   // bytes readers of its files were given
	Cached       int64   // bytes of its files in verified pieces
	Evicted      int64   // bytes the cache evicted
	HashFailures int64   // pieces that failed their hash check
	DownloadRate float64 // bytes per second, over the last few seconds
	UploadRate   float64
	ReadRate     float64
	// Waits are its connections' waits, added up over every connection it had, open or
	// closed: peer-seconds, so that their rate is how many peers were in that state on average.
	Waits Waits
}

// Waits are how long a peer had what we wanted, and how long we waited for it. Each is the time
// since the connection opened during which:
//   - Wanted: the peer had a piece we wanted and did not have (BitTorrent's "interested");
//   - Choked: of Wanted, the peer choked us: it had what we wanted and took no requests. A
//     peer that keeps us choked has given its upload slots to others, or is a seed asked by
//     more peers than it serves at once;
//   - Requests: our requests to it were outstanding and it did not choke us: we were waiting
//     for its data. Downloaded over Requests is the peer's DownloadRate.
//
// Wanted less Choked less Requests is the time it had something we wanted, would have sent
// it, and we asked others. See docs/design.md, "Peers that do not share".
type Waits struct {
	Wanted   time.Duration `json:"wanted"`
	Choked   time.Duration `json:"choked"`
	Requests time.Duration `json:"requests"`
}

// waits reads the waits anacrolix counts (third_party patch 28).
func waits(cs *torrent.ConnStats) Waits {
	return Waits{
		Wanted:   time.Duration(cs.WaitWantedNanos.Int64()),
		Choked:   time.Duration(cs.WaitChokedNanos.Int64()),
		Requests: time.Duration(cs.WaitRequestsNanos.Int64()),
	}
}

// Stats returns the torrent's numbers now. It takes the anacrolix client's lock briefly; a
// dormant torrent's are all zero but Cached. The rates are the client's own Observer's, zero
// when Config.Observer has no Rates method.
func (t *Torrent) Stats() Stats {
	s := Stats{Read: t.read.Load(), Cached: t.BytesCompleted(), Evicted: t.evicted.Load()}
	if !t.live.Load() {
		return s
	}
	st := t.t.Stats()
	s.Peers, s.KnownPeers, s.Seeders = st.ActivePeers, st.TotalPeers, st.ConnectedSeeders
	s.Downloaded, s.Uploaded = st.BytesReadUsefulData.Int64(), st.BytesWrittenData.Int64()
	s.Wasted = st.BytesReadData.Int64() - s.Downloaded
	s.HashFailures = st.PiecesDirtiedBad.Int64()
	s.Waits = waits(&st.PeerConns)
	if r, ok := t.obs.(rater); ok {
		s.DownloadRate, s.UploadRate, s.ReadRate = r.Rates()
	}
	return s
}

// Peer is a connected peer of a torrent.
type Peer struct {
	Addr   string `json:"addr"`
	Client string `json:"client"` // what the peer calls its software, or its peer ID's prefix
	// Have is how much of the torrent the peer has, from 0 to 1.
	Have       float64 `json:"have"`
	Downloaded int64   `json:"downloaded"` // useful data it sent us
	Wasted     int64   `json:"wasted"`     // data it sent us that we did not need (a chunk another peer sent too)
	Uploaded   int64   `json:"uploaded"`   // data we sent it
	// DownloadRate is its rate while we expected data from it, in bytes per second.
	DownloadRate float64 `json:"download_rate"`
	// Source is how the peer was found: one of the Source constants.
	Source string `json:"source"`
	// Waits are how long this connection's peer had what we wanted, and how long we waited
	// for it, since the connection opened.
	Waits Waits `json:"waits"`
}

// How a peer was found, as Peer.Source says it.
const (
	SourceTracker  = "tracker"
	SourceDHT      = "dht"
	SourcePEX      = "pex"
	SourceWebSeed  = "web seed"
	SourceIncoming = "incoming" // it connected to us
	SourcePeer     = "peer"     // named by the user (--peer) or by a magnet link (x.pe)
	SourceOther    = "other"
)

// peerSource names anacrolix's peer source.
func peerSource(s torrent.PeerSource) string {
	switch s {
	case torrent.PeerSourceTracker:
		return SourceTracker
	case torrent.PeerSourceDhtGetPeers, torrent.PeerSourceDhtAnnouncePeer:
		return SourceDHT
	case torrent.PeerSourcePex:
		return SourcePEX
	case torrent.PeerSourceIncoming:
		return SourceIncoming
	case torrent.PeerSourceDirect, torrent.PeerSourceMagnet:
		return SourcePeer
	}
	return SourceOther
}

// Peers returns the torrent's connected peers, the fastest first.
func (t *Torrent) Peers() []Peer {
	if !t.live.Load() {
		return nil
	}
	n := float64(max(len(t.verified), 1))
	var ps []Peer
	for _, pc := range t.t.PeerConns() {
		st := pc.Stats()
		ps = append(ps, Peer{
			Addr:         pc.RemoteAddr.String(),
			Client:       clientName(pc),
			Have:         float64(st.RemotePieceCount) / n,
			Downloaded:   st.BytesReadUsefulData.Int64(),
			Wasted:       st.BytesReadData.Int64() - st.BytesReadUsefulData.Int64(),
			Uploaded:     st.BytesWrittenData.Int64(),
			DownloadRate: st.DownloadRate,
			Source:       peerSource(pc.Discovery),
			Waits:        waits(&st.ConnStats),
		})
	}
	slices.SortFunc(ps, func(a, b Peer) int {
		if c := cmp.Compare(b.DownloadRate, a.DownloadRate); c != 0 {
			return c
		}
		return strings.Compare(a.Addr, b.Addr)
	})
	return ps
}

// WebSeed is an HTTP server a torrent names as a source of its data (BEP 19 url-list).
type WebSeed struct {
	URL          string  `json:"url"`
	Downloaded   int64   `json:"downloaded"`    // useful data it sent us
	DownloadRate float64 `json:"download_rate"` // while requests to it were under way
	Requests     int     `json:"requests"`      // HTTP requests to it under way
	// Error is its last failure (an HTTP status, a short body, a piece that failed its
	// hash), empty if it never failed.
	Error string `json:"error,omitempty"`
	// RetryAt, if set, is when it is asked again: until then it is left out for its Error.
	RetryAt time.Time `json:"retry_at,omitzero"`
}

// maxWebSeedError is how many characters of a web seed's error status shows.
const maxWebSeedError = 300

// WebSeeds returns the torrent's web seeds by URL.
func (t *Torrent) WebSeeds() []WebSeed {
	if !t.live.Load() {
		return nil
	}
	var ws []WebSeed
	for _, s := range t.t.WebSeeds() {
		w := WebSeed{URL: s.URL, Downloaded: s.Downloaded, DownloadRate: s.DownloadRate, Requests: s.Requests}
		if s.Err != nil {
			// The server chose its status line's text: kept short and printable.
			w.Error = human.Clip(s.Err.Error(), maxWebSeedError)
		}
		if s.Suspended {
			w.RetryAt = s.RetryAt
		}
		ws = append(ws, w)
	}
	slices.SortFunc(ws, func(a, b WebSeed) int { return strings.Compare(a.URL, b.URL) })
	return ws
}

// clientName is what a peer calls its software in its extended handshake ("Transmission
// 3.00", "libtorrent/2.0.8"), else the printable start of its peer ID ("-TR3000-").
func clientName(pc *torrent.PeerConn) string {
	if v, ok := pc.PeerClientName.Load().(string); ok && v != "" {
		return v
	}
	id := pc.PeerID[:]
	end := 0
	for end < 8 && id[end] >= 0x20 && id[end] < 0x7f {
		end++
	}
	return string(id[:end])
}

// The states of a piece in a PieceMap.
const (
	PieceCached      = '1' // verified, in the cache
	PieceDownloading = 'd' // some of it has arrived, or it is being verified
	PieceWanted      = 'w' // a reader or the prefetch wants it; nothing of it has arrived
	PieceMissing     = '0'
)

// PieceMap returns one byte per piece, giving its state: PieceCached, PieceDownloading,
// PieceWanted or PieceMissing. It takes the anacrolix client's lock once.
func (t *Torrent) PieceMap() string {
	b := make([]byte, len(t.verified))
	for p := range t.verified {
		b[p] = PieceMissing
		if t.verified[p].Load() {
			b[p] = PieceCached
		}
	}
	if !t.live.Load() {
		return string(b)
	}
	p := 0
	for _, r := range t.t.PieceStateRuns() {
		var c byte
		switch {
		case r.Complete:
		case r.Partial || r.Hashing || r.QueuedForHash || r.Marking:
			c = PieceDownloading
		case r.Priority != torrent.PiecePriorityNone:
			c = PieceWanted
		}
		for end := min(p+r.Length, len(b)); p < end; p++ {
			if c != 0 && b[p] != PieceCached {
				b[p] = c
			}
		}
	}
	return string(b)
}

// PieceLength is the length of the torrent's pieces; the last may be shorter.
func (t *Torrent) PieceLength() int64 { return t.info.PieceLength }
