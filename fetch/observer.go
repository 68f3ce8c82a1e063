package fetch

import (
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// Observer is told, for diagnostics, what a client's torrents go through: the steps of each
// one's first contact with the swarm, what its readers were given, and its transfer totals
// every second. The streaming core keeps no diagnostics of its own: it tells the observer
// and goes on. The client's own, used when Config.Observer is nil, makes of the events the
// torrents' FirstContact, the rates in their Stats and the "first contact" log line (diag.go).
//
// Its methods and its TorrentObservers' are called from readers' goroutines and from
// anacrolix's callbacks, some with anacrolix's client lock held: they must be quick, must
// not block, and must not call into the Client, its Torrents or anacrolix.
type Observer interface {
	// Joining is called as torrent ih starts to join the swarm (Add, or a dormant torrent
	// waking), before anacrolix knows of it, and returns the observer of that torrent's
	// events, which must not be nil. It replaces an earlier one of the same info-hash.
	Joining(ih metainfo.Hash) TorrentObserver
	// SawFor is told, by anacrolix's callbacks, that step s of torrent ih's first contact
	// happened now: again each time it happens, the first time counts. A torrent that is
	// not joining (or no longer) is ignored.
	SawFor(ih metainfo.Hash, s Step)
	// SawChunkFor is SawFor of StepChunk; from names the client of the peer that sent it
	// (the name is made only if the observer calls from).
	SawChunkFor(ih metainfo.Hash, from func() string)
}

// TorrentObserver is told the events of one torrent, from its Joining on.
type TorrentObserver interface {
	// Started is called once the torrent is in anacrolix with its metadata, before it is
	// live; t's methods that only read what Add fixed (Name, InfoHash, BytesRead) may be
	// called from now on.
	Started(t *Torrent)
	// Saw is told that step s of its first contact happened now (StepReadBegan as a read
	// begins, StepPiece as a piece is verified); the first time counts.
	Saw(s Step)
	// Read is told that a read returned n > 0 bytes.
	Read(n int)
	// Sample is given the torrent's totals, once a second while it is live, by one
	// goroutine, the client's; the first after Started.
	Sample(Totals)
	// Left is called once, as the torrent leaves the client after Drop, or fails to join
	// it: nothing more is told of it. Client.Close does not call it.
	Left()
}

// Totals are a torrent's transfer totals at one moment.
type Totals struct {
	At         time.Time
	Downloaded int64 // useful data received from peers, in bytes
	Uploaded   int64 // data sent to peers, in bytes
	Read       int64 // bytes readers of its files were given
}

// Step is one step of a torrent's first contact with the swarm (FirstContact).
type Step int

// The steps of a first contact, in the order they usually come.
const (
	StepAnnounce  Step = iota // a tracker announce was sent
	StepAnswer                // a tracker answered it
	StepDial                  // a dial to a peer started
	StepHandshake             // a BitTorrent handshake completed
	StepMessage               // a peer's first message arrived
	StepUnchoke               // a peer unchoked us
	StepRequest               // a chunk was requested
	StepChunk                 // a requested chunk arrived
	StepPiece                 // a piece passed its hash check
	StepReadBegan             // a read of a file began
	StepRead                  // a read returned data
	numSteps
)

// rater is an observer that reports rates: the client's own (diag.go).
type rater interface {
	Rates() (down, up, read float64)
}

// contactRecorder is an observer that reports a first contact: the client's own.
type contactRecorder interface {
	FirstContact() FirstContact
}

// sampleTotals gives the observers of the live torrents their totals every second until
// the client closes. Dormant torrents are skipped, so a library of idle torrents costs
// nothing.
func (c *Client) sampleTotals() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-c.bgCtx.Done():
			return
		case now := <-tick.C:
			for _, t := range c.Torrents() {
				if !t.live.Load() {
					continue
				}
				st := t.t.Stats()
				t.obs.Sample(Totals{now, st.BytesReadUsefulData.Int64(), st.BytesWrittenData.Int64(), t.read.Load()})
			}
		}
	}
}
