package fetch

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

// FirstContact is where a torrent's first read spent its time: when each step of its first
// contact with the swarm first happened, as a time since the torrent started (was added, or
// woke). Zero means not yet. The steps usually come in this order; a peer that dials us
// first has a handshake before any dial of ours.
type FirstContact struct {
	Announce  time.Duration `json:"announce,omitempty"`   // a tracker announce was sent
	Answer    time.Duration `json:"answer,omitempty"`     // a tracker answered it
	Dial      time.Duration `json:"dial,omitempty"`       // a dial to a peer started
	Handshake time.Duration `json:"handshake,omitempty"`  // a BitTorrent handshake completed
	Message   time.Duration `json:"message,omitempty"`    // a peer's first message arrived
	Unchoke   time.Duration `json:"unchoke,omitempty"`    // a peer unchoked us
	Request   time.Duration `json:"request,omitempty"`    // a chunk was requested
	Chunk     time.Duration `json:"chunk,omitempty"`      // a requested chunk arrived
	Piece     time.Duration `json:"piece,omitempty"`      // a piece passed its hash check
	ReadBegan time.Duration `json:"read_began,omitempty"` // a read of a file began
	Read      time.Duration `json:"read,omitempty"`       // a read returned data
	// From is the client of the peer that sent the first chunk ("aria2/1.36.0").
	From string `json:"from,omitempty"`
}

// contact records the first time of each step for one torrent, for the client's own
// Observer (diag.go). It is written from anacrolix's goroutines and readers' without a lock.
type contact struct {
	start time.Time
	at    [numSteps]atomic.Int64 // nanoseconds since start, at least 1; 0 until the step
	from  atomic.Pointer[string] // the client that sent the first chunk
}

// saw records step s now, if it is the first time; it reports whether it was.
func (ct *contact) saw(s Step) bool {
	if ct.at[s].Load() != 0 {
		return false
	}
	return ct.at[s].CompareAndSwap(0, max(int64(time.Since(ct.start)), 1))
}

// sawRead records that a read returned data, and reports whether it was the first. Once
// chunks have arrived, data a read returns comes from a piece that passed its hash check,
// which the piece-state subscription (Torrent.mirrorVerified) may not have told yet: that
// step is taken as done by now, so that the steps stay in order.
func (ct *contact) sawRead() bool {
	if ct.at[StepChunk].Load() != 0 {
		ct.saw(StepPiece)
	}
	return ct.saw(StepRead)
}

func (ct *contact) snapshot() FirstContact {
	d := func(s Step) time.Duration { return time.Duration(ct.at[s].Load()) }
	var from string
	if p := ct.from.Load(); p != nil {
		from = *p
	}
	return FirstContact{
		From:     from,
		Announce: d(StepAnnounce), Answer: d(StepAnswer), Dial: d(StepDial), Handshake: d(StepHandshake),
		Message: d(StepMessage), Unchoke: d(StepUnchoke), Request: d(StepRequest), Chunk: d(StepChunk),
		Piece: d(StepPiece), ReadBegan: d(StepReadBegan), Read: d(StepRead),
	}
}

// LogValue shows each step in milliseconds, for the "first contact" log line.
func (f FirstContact) LogValue() slog.Value {
	ms := func(d time.Duration) string {
		if d == 0 {
			return "-"
		}
		return d.Round(100 * time.Microsecond).String()
	}
	return slog.GroupValue(
		slog.String("announce", ms(f.Announce)), slog.String("answer", ms(f.Answer)),
		slog.String("dial", ms(f.Dial)), slog.String("handshake", ms(f.Handshake)),
		slog.String("message", ms(f.Message)), slog.String("unchoke", ms(f.Unchoke)),
		slog.String("request", ms(f.Request)), slog.String("chunk", ms(f.Chunk)),
		slog.String("piece", ms(f.Piece)), slog.String("read_began", ms(f.ReadBegan)),
		slog.String("read", ms(f.Read)), slog.String("from", f.From))
}

// FirstContact returns where the torrent's first contact with the swarm spent its time so
// far, as the client's own Observer recorded it. A dormant torrent's is all zero, as is
// every torrent's when Config.Observer has no FirstContact method.
func (t *Torrent) FirstContact() FirstContact {
	if !t.live.Load() {
		return FirstContact{}
	}
	if r, ok := t.obs.(contactRecorder); ok {
		return r.FirstContact()
	}
	return FirstContact{}
}

// contactCallbacks adds the anacrolix callbacks that tell the observer the steps of first
// contacts.
func (c *Client) contactCallbacks(cb *torrent.Callbacks) {
	cb.StatusUpdated = append(cb.StatusUpdated, func(ev torrent.StatusUpdatedEvent) {
		var s Step
		switch ev.Event {
		case torrent.TrackerAnnouncing:
			s = StepAnnounce
		case torrent.TrackerAnnounceSuccessful:
			s = StepAnswer
		case torrent.PeerDialing:
			s = StepDial
		default:
			return
		}
		var ih metainfo.Hash
		if ih.FromHexString(ev.InfoHash) == nil {
			c.obs.SawFor(ih, s)
		}
	})
	cb.CompletedHandshake = func(pc *torrent.PeerConn, ih torrent.InfoHash) {
		if pc.PeerID != c.cl.PeerID() { // a tracker can name us to ourselves
			c.obs.SawFor(ih, StepHandshake)
		}
	}
	cb.ReadMessage = func(pc *torrent.PeerConn, m *pp.Message) {
		if m.Keepalive {
			return
		}
		if ih, ok := peerTorrent(&pc.Peer); ok {
			c.obs.SawFor(ih, StepMessage)
			if m.Type == pp.Unchoke {
				c.obs.SawFor(ih, StepUnchoke)
			}
		}
	}
	cb.SentRequest = append(cb.SentRequest, func(ev torrent.PeerRequestEvent) {
		if ih, ok := peerTorrent(ev.Peer); ok {
			c.obs.SawFor(ih, StepRequest)
		}
	})
	cb.ReceivedUsefulData = append(cb.ReceivedUsefulData, func(ev torrent.ReceivedUsefulDataEvent) {
		if ih, ok := peerTorrent(ev.Peer); ok {
			c.obs.SawChunkFor(ih, func() string {
				if pc, ok := ev.Peer.TryAsPeerConn(); ok {
					return clientName(pc)
				}
				return ""
			})
		}
	})
}

// peerTorrent returns the info-hash of peer p's torrent, if it has one yet.
func peerTorrent(p *torrent.Peer) (metainfo.Hash, bool) {
	if t := p.Torrent(); t != nil {
		return t.InfoHash(), true
	}
	return metainfo.Hash{}, false
}
