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

// step is one step of a first contact.
type step int

const (
	stepAnnounce step = iota
	stepAnswer
	stepDial
	stepHandshake
	stepMessage
	stepUnchoke
	stepRequest
	stepChunk
	stepPiece
	stepReadBegan
	stepRead
	numSteps
)

// contact records the first time of each step for one torrent. It is made before the
// torrent joins anacrolix, whose callbacks find it by info-hash (Client.contacts), and is
// written from anacrolix's goroutines and readers' without a lock.
type contact struct {
	start time.Time
	at    [numSteps]atomic.Int64 // nanoseconds since start, at least 1; 0 until the step
	from  atomic.Pointer[string] // the client that sent the first chunk
}

// saw records step s now, if it is the first time; it reports whether it was.
func (ct *contact) saw(s step) bool {
	if ct == nil || ct.at[s].Load() != 0 {
		return false
	}
	return ct.at[s].CompareAndSwap(0, max(int64(time.Since(ct.start)), 1))
}

// sawRead records that a read returned data, and reports whether it was the first. Once
// chunks have arrived, data a read returns comes from a piece that passed its hash check,
// which the piece-state subscription (Torrent.mirrorVerified) may not have told yet: that
// step is taken as done by now, so that the steps stay in order.
func (ct *contact) sawRead() bool {
	if ct == nil {
		return false
	}
	if ct.at[stepChunk].Load() != 0 {
		ct.saw(stepPiece)
	}
	return ct.saw(stepRead)
}

func (ct *contact) snapshot() FirstContact {
	if ct == nil {
		return FirstContact{}
	}
	d := func(s step) time.Duration { return time.Duration(ct.at[s].Load()) }
	var from string
	if p := ct.from.Load(); p != nil {
		from = *p
	}
	return FirstContact{
		From:     from,
		Announce: d(stepAnnounce), Answer: d(stepAnswer), Dial: d(stepDial), Handshake: d(stepHandshake),
		Message: d(stepMessage), Unchoke: d(stepUnchoke), Request: d(stepRequest), Chunk: d(stepChunk),
		Piece: d(stepPiece), ReadBegan: d(stepReadBegan), Read: d(stepRead),
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
// far. A dormant torrent's is all zero.
func (t *Torrent) FirstContact() FirstContact {
	if !t.live.Load() {
		return FirstContact{}
	}
	return t.contact.snapshot()
}

// newContact starts the first-contact record of torrent ih, replacing any earlier one.
func (c *Client) newContact(ih metainfo.Hash) *contact {
	ct := &contact{start: time.Now()}
	c.contacts.Store(ih, ct)
	return ct
}

// sawFor records step s of torrent ih.
func (c *Client) sawFor(ih metainfo.Hash, s step) {
	if v, ok := c.contacts.Load(ih); ok {
		v.(*contact).saw(s)
	}
}

// contactOf returns the first-contact record of the torrent of peer p, or nil; saw and
// sawRead take a nil record.
func (c *Client) contactOf(p *torrent.Peer) *contact {
	if t := p.Torrent(); t != nil {
		if v, ok := c.contacts.Load(t.InfoHash()); ok {
			return v.(*contact)
		}
	}
	return nil
}

func (c *Client) sawForPeer(p *torrent.Peer, s step) { c.contactOf(p).saw(s) }

// contactCallbacks adds the anacrolix callbacks that record first contacts.
func (c *Client) contactCallbacks(cb *torrent.Callbacks) {
	cb.StatusUpdated = append(cb.StatusUpdated, func(ev torrent.StatusUpdatedEvent) {
		var s step
		switch ev.Event {
		case torrent.TrackerAnnouncing:
			s = stepAnnounce
		case torrent.TrackerAnnounceSuccessful:
			s = stepAnswer
		case torrent.PeerDialing:
			s = stepDial
		default:
			return
		}
		var ih metainfo.Hash
		if ih.FromHexString(ev.InfoHash) == nil {
			c.sawFor(ih, s)
		}
	})
	cb.CompletedHandshake = func(pc *torrent.PeerConn, ih torrent.InfoHash) {
		if pc.PeerID != c.cl.PeerID() { // a tracker can name us to ourselves
			c.sawFor(ih, stepHandshake)
		}
	}
	cb.ReadMessage = func(pc *torrent.PeerConn, m *pp.Message) {
		if m.Keepalive {
			return
		}
		c.sawForPeer(&pc.Peer, stepMessage)
		if m.Type == pp.Unchoke {
			c.sawForPeer(&pc.Peer, stepUnchoke)
		}
	}
	cb.SentRequest = append(cb.SentRequest, func(ev torrent.PeerRequestEvent) { c.sawForPeer(ev.Peer, stepRequest) })
	cb.ReceivedUsefulData = append(cb.ReceivedUsefulData, func(ev torrent.ReceivedUsefulDataEvent) {
		if ct := c.contactOf(ev.Peer); ct.saw(stepChunk) {
			if pc, ok := ev.Peer.TryAsPeerConn(); ok {
				name := clientName(pc)
				ct.from.Store(&name)
			}
		}
	})
}
