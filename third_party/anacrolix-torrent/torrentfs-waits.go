package torrent

import (
	"time"
)

// torrentfs: how long a connection's peer had what we wanted, and how long we waited for it,
// so that a status page can show a swarm that does not share (issue 25). Three intervals, each
// on or off, are followed for every PeerConn:
//   - wanted: we are interested in the peer (requestState.Interested) and it has a piece we
//     want (peerHasWantedPieces). Interest alone goes stale: a peer that chokes us gets no
//     request updates, so we stay interested in it after we got everything elsewhere; the
//     pending pieces changing updates every connection's waits (pendingPiecesChanged);
//   - choked: wanted, and the peer chokes us: it has what we want and takes no requests;
//   - requests: our requests to it are outstanding and it does not choke us (anacrolix's
//     "expecting chunks", whose time its download rate is measured over).
//
// An interval that ends is added to the connection's ConnStats (WaitWantedNanos,
// WaitChokedNanos, WaitRequestsNanos), and so to its torrent's and client's; Peer.Stats and
// Torrent.Stats add the intervals under way, so their totals grow without jumps and never
// shrink when a connection closes.

// peerWaits are the starts of a connection's intervals under way, zero when not under way.
type peerWaits struct {
	wanted, choked, requests time.Time
}

// updateExpectingChunks shadows Peer's: every change of our interest, the peer's choke or our
// requests on a PeerConn calls it, and so updates the connection's waits.
func (cn *PeerConn) updateExpectingChunks() {
	cn.Peer.updateExpectingChunks()
	cn.updateWaits(time.Now())
}

// updateWaits starts or ends the connection's intervals as its state is now. A closed
// connection's intervals end.
func (cn *PeerConn) updateWaits(now time.Time) {
	open := !cn.closed.IsSet()
	wanted := open && cn.requestState.Interested && cn.peerHasWantedPieces()
	cn.waitInterval(now, &cn.waits.wanted, wanted, func(cs *ConnStats) *Count { return &cs.WaitWantedNanos })
	cn.waitInterval(now, &cn.waits.choked, wanted && cn.peerChoking, func(cs *ConnStats) *Count { return &cs.WaitChokedNanos })
	requests := open && !cn.lastStartedExpectingToReceiveChunks.IsZero() && !cn.peerChoking
	cn.waitInterval(now, &cn.waits.requests, requests, func(cs *ConnStats) *Count { return &cs.WaitRequestsNanos })
}

// pendingPiecesChanged updates the waits of the torrent's connections, once the client lock
// is let go, or now when it is being let go.
func (t *Torrent) pendingPiecesChanged() {
	if mu := t.cl.locker(); mu.allowDefers {
		mu.DeferUniqueUnaryFunc(t, t.updateConnWaits)
		return
	}
	t.updateConnWaits()
}

func (t *Torrent) updateConnWaits() {
	now := time.Now()
	for c := range t.conns {
		c.updateWaits(now)
	}
}

// waitInterval starts the interval that *since starts if on, or ends it and counts it if off.
func (cn *PeerConn) waitInterval(now time.Time, since *time.Time, on bool, count func(*ConnStats) *Count) {
	switch {
	case on && since.IsZero():
		*since = now
	case !on && !since.IsZero():
		cn.modifyRelevantConnStats(add(int64(now.Sub(*since)), count))
		*since = time.Time{}
	}
}

// addWaitsUnderway adds to cs the connection's intervals under way at now.
func (cn *PeerConn) addWaitsUnderway(cs *ConnStats, now time.Time) {
	for _, w := range []struct {
		since time.Time
		n     *Count
	}{
		{cn.waits.wanted, &cs.WaitWantedNanos},
		{cn.waits.choked, &cs.WaitChokedNanos},
		{cn.waits.requests, &cs.WaitRequestsNanos},
	} {
		if !w.since.IsZero() {
			w.n.Add(int64(now.Sub(w.since)))
		}
	}
}
