package torrent

import (
	"cmp"
	"context"
	"encoding/gob"
	"fmt"
	"runtime/pprof"
	"slices"
	"time"
	"unsafe"

	"github.com/RoaringBitmap/roaring"
	g "github.com/anacrolix/generics"
	"github.com/anacrolix/log"
	"github.com/anacrolix/multiless"

	"github.com/anacrolix/torrent/metainfo"
	typedRoaring "github.com/anacrolix/torrent/typed-roaring"
	requestStrategy "github.com/torrentfs/torrentfs/third_party/anacrolix-torrent/internal/request-strategy"
)

type (
	// Since we have to store all the requests in memory, we can't reasonably exceed what could be
	// indexed with the memory space available.
	maxRequests = int
)

func (t *Torrent) requestStrategyPieceOrderState(i int) requestStrategy.PieceRequestOrderState {
	t.slogger().Debug("requestStrategyPieceOrderState", "pieceIndex", i)
	return requestStrategy.PieceRequestOrderState{
		Priority:     t.piece(i).purePriority(),
		Partial:      t.piecePartiallyDownloaded(i),
		Availability: t.piece(i).availability(),
	}
}

func init() {
	gob.Register(peerId{})
}

type peerId struct {
	*Peer
	ptr uintptr
}

func (p peerId) Uintptr() uintptr {
	return p.ptr
}

func (p peerId) GobEncode() (b []byte, _ error) {
	b = unsafe.Slice((*byte)(unsafe.Pointer(&p.ptr)), unsafe.Sizeof(p.ptr))
	return
}

func (p *peerId) GobDecode(b []byte) error {
	if uintptr(len(b)) != unsafe.Sizeof(p.ptr) {
		panic(len(b))
	}
	ptr := unsafe.Pointer(&b[0])
	p.ptr = *(*uintptr)(ptr)
	log.Printf("%p", ptr)
	dst := unsafe.Slice((*byte)(unsafe.Pointer(&p.Peer)), unsafe.Sizeof(p.Peer))
	copy(dst, b)
	return nil
}

type (
	// A request index is a chunk indexed across the entire torrent. It's a single integer and can
	// be converted to a protocol request. TODO: This should be private.
	RequestIndex = requestStrategy.RequestIndex
	// This is request index but per-piece.
	chunkIndexType    = requestStrategy.ChunkIndex
	webseedSliceIndex RequestIndex
)

type desiredPeerRequests struct {
	requestIndexes []RequestIndex
	peer           *PeerConn
	pieceStates    []g.Option[requestStrategy.PieceRequestOrderState]
}

func (p *desiredPeerRequests) lessByValue(leftRequest, rightRequest RequestIndex) bool {
	t := p.peer.t
	leftPieceIndex := t.pieceIndexOfRequestIndex(leftRequest)
	rightPieceIndex := t.pieceIndexOfRequestIndex(rightRequest)
	ml := multiless.New()
	// Push requests that can't be served right now to the end. But we don't throw them away unless
	// there's a better alternative. This is for when we're using the fast extension and get choked
	// but our requests could still be good when we get unchoked.
	if p.peer.peerChoking {
		ml = ml.Bool(
			!p.peer.peerAllowedFast.Contains(leftPieceIndex),
			!p.peer.peerAllowedFast.Contains(rightPieceIndex),
		)
	}
	leftPiece := p.pieceStates[leftPieceIndex].UnwrapPtr()
	rightPiece := p.pieceStates[rightPieceIndex].UnwrapPtr()
	// Putting this first means we can steal requests from lesser-performing peers for our first few
	// new requests.
	priority := func() PiecePriority {
		// Technically we would be happy with the cached priority here, except we don't actually
		// cache it anymore, and Torrent.PiecePriority just does another lookup of *Piece to resolve
		// the priority through Piece.purePriority, which is probably slower.
		leftPriority := leftPiece.Priority
		rightPriority := rightPiece.Priority
		ml = ml.Int(
			-int(leftPriority),
			-int(rightPriority),
		)
		if !ml.Ok() {
			if leftPriority != rightPriority {
				panic("expected equal")
			}
		}
		return leftPriority
	}()
	if ml.Ok() {
		return ml.MustLess()
	}
	leftRequestState := t.requestState[leftRequest]
	rightRequestState := t.requestState[rightRequest]
	leftPeer := leftRequestState.peer.Value()
	rightPeer := rightRequestState.peer.Value()
	// Prefer chunks already requested from this peer.
	ml = ml.Bool(rightPeer == p.peer, leftPeer == p.peer)
	// Prefer unrequested chunks.
	ml = ml.Bool(rightPeer == nil, leftPeer == nil)
	if ml.Ok() {
		return ml.MustLess()
	}
	if leftPeer != nil {
		// The right peer should also be set, or we'd have resolved the computation by now.
		ml = ml.Uint64(
			rightPeer.requestState.Requests.GetCardinality(),
			leftPeer.requestState.Requests.GetCardinality(),
		)
		// Could either of the lastRequested be Zero? That's what checking an existing peer is for.
		leftLast := leftRequestState.when
		rightLast := rightRequestState.when
		if leftLast.IsZero() || rightLast.IsZero() {
			panic("expected non-zero last requested times")
		}
		// We want the most-recently requested on the left. Clients like Transmission serve requests
		// in received order, so the most recently-requested is the one that has the longest until
		// it will be served and therefore is the best candidate to cancel.
		ml = ml.CmpInt64(rightLast.Sub(leftLast).Nanoseconds())
	}
	// Just trigger on any webseed requests present on the Torrent. That suggests that the Torrent
	// or files are prioritized enough to compete with PeerConn requests. Later we could filter on
	// webseeds actually requesting or supporting requests for the pieces we're comparing.
	if t.hasActiveWebseedRequests() {
		// Prefer the highest possible request index, since webseeds prefer the lowest. Additionally,
		// this should mean remote clients serve in reverse order so we meet webseeds responses in
		// the middle.
		ml = ml.Cmp(-cmp.Compare(leftRequest, rightRequest))
	} else {
		ml = ml.Int(
			leftPiece.Availability,
			rightPiece.Availability)
		if priority == PiecePriorityReadahead && !t.spreadSeedRequests(p.peer) {
			// TODO: For readahead in particular, it would be even better to consider distance from the
			// reader position so that reads earlier in a torrent don't starve reads later in the
			// torrent. This would probably require reconsideration of how readahead priority works.
			ml = ml.Int(leftPieceIndex, rightPieceIndex)
		} else {
			ml = ml.Int(t.pieceRequestOrder[leftPieceIndex], t.pieceRequestOrder[rightPieceIndex])
		}
		ml = multiless.EagerOrdered(ml, leftRequest, rightRequest)
	}
	// Prefer request indexes in order for storage write performance. Since the heap request heap
	// does not contain duplicates, if we order at the request index level we should never have any
	// ambiguity.
	return ml.MustLess()
}

// torrentfs: several readers of one torrent (mounts on a LAN, or a household's players) read
// the same pieces at about the same time. Each asked the seed for every piece of its read
// window, in index order, so the seed sent each piece once per reader, and the readers had
// nothing to give each other that the seed was not already sending. Now a seed is asked only
// for pieces no other peer can give (leaveToLeechers), and, while such peers are connected, a
// seed's share of the readahead window is asked in this client's random piece order
// (spreadSeedRequests), so that readers ask the seed for different pieces and pass them on.
// A lone reader, with only seeds connected, keeps index order.

// leaveToLeechers reports whether piece i should not be asked of p, a seed, because another
// connected peer that is not a seed has it and does not choke us.
func (t *Torrent) leaveToLeechers(p *PeerConn, i pieceIndex) bool {
	if all, known := p.peerHasAllPieces(); !all || !known {
		return false
	}
	if t.piece(i).relativeAvailability == 0 {
		return false
	}
	for c := range t.conns {
		if c == p || c.refusesUs() {
			continue
		}
		if all, known := c.peerHasAllPieces(); all && known {
			continue
		}
		if c.peerHasPiece(i) {
			if c.peerChoking {
				t.wakeSeedsIn(c.chokeGraceLeft()) // torrentfs
			}
			return true
		}
	}
	return false
}

// torrentfs: a peer that uploads unchokes us when we become interested, which we do only once
// it has a piece we want: in the round trip of the HAVE, our interest and its unchoke, the seed
// was asked for the piece. A peer chokes us for real only if it still does a while after we
// became interested.
const chokeGrace = time.Second

// refusesUs reports whether c chokes us for real: it chokes us although we have been interested
// in it for longer than chokeGrace, now or since it last unchoked us. A peer that never
// unchokes us (one that does not upload) so stays refused when our interest in it lapses, and
// is not taken again for a peer that will pass pieces on (leaveToLeechers, pieceSharer).
func (c *PeerConn) refusesUs() bool {
	if !c.peerChoking {
		return false
	}
	if c.requestState.Interested && time.Since(c.lastBecameInterested) > chokeGrace {
		c.refused = true
	}
	return c.refused
}

// chokeGraceLeft returns how long c, which chokes us, has left to unchoke us before it refuses
// us: the rest of chokeGrace if we are interested in it, all of it if we are not yet. A piece
// left to c is asked of the seeds when it runs out (wakeSeedsIn): nothing else updates their
// requests if they have none outstanding, and a read would wait for its timeout.
func (c *PeerConn) chokeGraceLeft() time.Duration {
	if !c.requestState.Interested {
		return chokeGrace
	}
	return max(chokeGrace-time.Since(c.lastBecameInterested), time.Millisecond)
}

// torrentfs: readers that read the same region at the same time (mounts reading one file from
// the start) all want the pieces at the front of their read windows, which no peer has yet,
// and each asked the seed for them: the seed sent a copy to each. Now the peers that run this
// same rule (the same client version) share those pieces out without a message: a piece is
// asked of a seed by the one of them that its index and their peer IDs pick (rendezvous
// hashing, pieceSharer); the others wait for its HAVE, and ask the seed anyway after
// seedShareWait, or seedShareUrgentWait once a reader is in the piece. A peer takes part only
// while it reads near the piece (sharerNear) and fetches from a seed (lastFirstHave): readers
// apart, and peers the seed does not serve, are not waited for. A lone reader, with no such
// peer connected, asks the seed for everything at once.

// seedShareWait bounds how long a piece is left to another peer to fetch from a seed while
// no reader is in it yet; seedShareUrgentWait, once a reader is in it and waits for it: what
// a reader may lose. A 16-mount swarm on 2 cores passes a piece on in over a second: with
// 96 MiB, the seed sent 4 mounts 1.5 / 1.1 / 1.1 copies and 16 mounts 1.8 / 1.5 / 1.2 with
// 0.5 / 1 / 2 s (docs/measurements.md). On shaped links the seed's uplink is shared by every
// sharer, and a sharer's part of a 32 MiB read window takes it several seconds: after 2 s,
// the others asked the seed for most pieces of the window themselves (torrentfs patch 26).
// A piece ahead of the readers now waits until a reader is in it, or 10 s; then 500 ms,
// about what a piece takes to come from the seed and its HAVE to go round on such a link.
const (
	seedShareWait       = 10 * time.Second
	seedShareUrgentWait = 500 * time.Millisecond
)

// leaveToSharer reports whether piece i should not be asked of p, a seed, yet: a peer running
// the same rule is to fetch it from a seed, and has had less than the wait to do so.
func (t *Torrent) leaveToSharer(p *PeerConn, i pieceIndex) bool {
	if all, known := p.peerHasAllPieces(); !all || !known {
		return false
	}
	if len(t.conns) == len(t.connsWithAllPieces) {
		return false
	}
	left, recheck := t.sharerWaitLeft(i)
	if left <= 0 {
		return false
	}
	t.wakeSeedsIn(recheck)
	return true
}

// sharerWaitLeft returns how much longer piece i is left to another peer to fetch from a
// seed, or 0 if it is not: nothing of it has come or been asked for, a peer running the same
// rule is to fetch it (pieceSharer), and it has had less than the wait to do so. recheck is
// when to look again: when the wait ends, or sooner when the sharer stops qualifying.
func (t *Torrent) sharerWaitLeft(i pieceIndex) (left, recheck time.Duration) {
	if !t.pieceUntouched(i) {
		return 0, 0
	}
	sharer, qualifies := t.pieceSharer(i)
	if sharer == nil {
		return 0, 0
	}
	if t.piece(i).purePriority() < PiecePriorityReadahead {
		// Only a prefetch wants it: it waits for as long as its sharer fetches from a seed,
		// looked at again when the sharer would stop qualifying. Its wait starts when a
		// reader nears it.
		return sourceAge, max(min(sourceAge, qualifies), time.Millisecond)
	}
	now := time.Now()
	left = seedShareWait - now.Sub(t.seedShareStart(&t.seedShareSince, i, now))
	if t.piece(i).purePriority() >= PiecePriorityNow {
		left = min(left, seedShareUrgentWait-now.Sub(t.seedShareStart(&t.seedShareUrgent, i, now)))
	}
	// torrentfs: a sharer the seed chokes, or that reads elsewhere, stops qualifying long
	// before the wait ends, and nothing else has the seeds' requests looked at again while
	// the readers wait on the piece: look again then (issue #25's stall).
	return max(left, 0), max(min(left, qualifies), time.Millisecond)
}

// connAvailability is how many connected peers (not web seeds) that are not seeds have piece
// i. A web seed's pieces count in relativeAvailability, so with a web seed that was never 0,
// and no peer was seen to fetch from a seed (lastFirstHave).
func (t *Torrent) connAvailability(i pieceIndex) int {
	n := t.piece(i).relativeAvailability
	for _, ws := range t.webSeeds {
		if ws.peer.peerHasPiece(i) {
			n--
		}
	}
	return n
}

// torrentfs: readerCameToLeftPiece looks again at once at the requests to seeds, and the web
// seeds' plan, when a reader comes into piece i while it is left to a sharer: its shorter
// wait, seedShareUrgentWait, starts then. A piece already wanted changes no pending piece,
// and nothing else had them looked at again while the readers waited on it.
func (t *Torrent) readerCameToLeftPiece(i pieceIndex) {
	if _, left := t.seedShareSince[i]; !left {
		return
	}
	if _, urgent := t.seedShareUrgent[i]; urgent {
		return
	}
	if t.pieceComplete(i) || t.piece(i).purePriority() < PiecePriorityNow || !t.pieceUntouched(i) {
		return
	}
	for c := range t.conns {
		if all, known := c.peerHasAllPieces(); all && known {
			c.onNeedUpdateRequests("reader in a piece left to a sharer")
		}
	}
	if len(t.webSeeds) > 0 {
		t.cl.scheduleImmediateWebseedRequestUpdate("reader in a piece left to a sharer")
	}
}

// seedShareStart returns when piece i was first left to another peer, as recorded in *m, and
// records now if it was not. An entry stays after the piece completes: a piece fetched again
// (evicted from the cache) is asked of the seed at once.
func (t *Torrent) seedShareStart(m *map[pieceIndex]time.Time, i pieceIndex, now time.Time) time.Time {
	if since, ok := (*m)[i]; ok {
		return since
	}
	if *m == nil {
		*m = make(map[pieceIndex]time.Time)
	}
	(*m)[i] = now
	return now
}

// pieceSharer returns the peer that is to fetch piece i from a seed, or nil if it is this
// client: the highest shareScore of the piece's index and the peer ID among this client and
// its connected peers of the same client version that are not seeds, do not refuse us, have
// fetched from a seed lately and read near the piece. A piece no reader wants yet, only a
// prefetch, is shared out among all of those peers, near or not: hosts that each fetch a
// whole torrent in the background split it, and the seed sends each piece once. qualifies
// is how long that peer goes on qualifying if nothing more comes from it (sharerQualifies).
func (t *Torrent) pieceSharer(i pieceIndex) (sharer *PeerConn, qualifies time.Duration) {
	version := t.cl.config.ExtendedHandshakeClientVersion
	window := pieceIndex(t.readerReadaheadPieces().Len())
	background := t.piece(i).purePriority() < PiecePriorityReadahead
	best := shareScore(t.cl.peerID, i)
	now := time.Now()
	for c := range t.conns {
		if all, known := c.peerHasAllPieces(); all || !known || c.refusesUs() {
			continue
		}
		q := c.sharerQualifies(i, window, background, now)
		if q <= 0 {
			continue
		}
		if v, _ := c.PeerClientName.Load().(string); v != version {
			continue
		}
		if s := shareScore(c.PeerID, i); s > best {
			best, sharer, qualifies = s, c, q
		}
	}
	return
}

// sharerQualifies returns how long c, which does not refuse us, goes on qualifying as the
// sharer of piece i from now if nothing more comes from it, or 0 if it does not: until its
// last first HAVE is sourceAge old, its last HAVE near i nearAge old (unless background: only
// a prefetch wants i), and, if it chokes us, its chokeGrace ends.
func (c *PeerConn) sharerQualifies(i, window pieceIndex, background bool, now time.Time) time.Duration {
	q := sourceAge - now.Sub(c.lastFirstHave)
	if background {
		// torrentfs: a peer new to us has had no time to announce what it fetches: it
		// counts for sourceAge after its handshake. Hosts that start together all fetch
		// from the seed, and none was seen to yet, so each asked it for every piece.
		q = max(q, sourceAge-now.Sub(c.completedHandshake))
	} else {
		q = min(q, c.sharerNearLeft(i, window, now))
	}
	if c.peerChoking {
		q = min(q, c.chokeGraceLeft())
	}
	return max(q, 0)
}

// torrentfs: a peer fetches from a seed if it announced, within sourceAge, a piece that
// neither we nor our other peers that are not seeds had (PeerConn.lastFirstHave). A peer reads
// near piece i if one of its last recentHaves HAVEs came within nearAge and lies between i
// less our read window (a reader behind us whose window will reach i) and i plus nearPieces.
// With readers apart, in random blocks, the read windows are short and few pieces qualify.
const (
	sourceAge   = 2 * time.Second
	recentHaves = 32
	nearPieces  = 4
	nearAge     = 500 * time.Millisecond
)

type recentHave struct {
	piece pieceIndex
	at    time.Time
}

// sharerNearLeft returns how long c goes on reading near piece i, for a read window of window
// pieces, if no HAVE more comes from it: until its last HAVE near i is nearAge old; 0 if it
// does not read near i.
func (c *PeerConn) sharerNearLeft(i, window pieceIndex, now time.Time) (left time.Duration) {
	for _, h := range c.recentHaves {
		if !h.at.IsZero() && h.piece >= i-max(window, nearPieces) && h.piece <= i+nearPieces {
			left = max(left, nearAge-now.Sub(h.at))
		}
	}
	return left
}

// shareScore is a rendezvous hash of a peer ID and a piece index: FNV-1a of the ID, mixed with
// the index by splitmix64's finaliser. Every peer computes the same.
func shareScore(id PeerID, i pieceIndex) uint64 {
	h := uint64(14695981039346656037)
	for _, b := range id {
		h ^= uint64(b)
		h *= 1099511628211
	}
	z := h + uint64(i)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// wakeSeedsIn has the requests to seeds updated in d, when a piece left to another peer may
// be asked of them, unless such an update is due sooner.
func (t *Torrent) wakeSeedsIn(d time.Duration) {
	when := time.Now().Add(d)
	if !t.seedShareDue.IsZero() && !t.seedShareDue.After(when) {
		return
	}
	t.seedShareDue = when
	if t.seedShareTimer == nil {
		t.seedShareTimer = time.AfterFunc(d, t.seedShareWake)
		return
	}
	t.seedShareTimer.Reset(d)
}

// seedShareWake runs on the timer of wakeSeedsIn.
func (t *Torrent) seedShareWake() {
	t.cl.lock()
	defer t.cl.unlock()
	t.seedShareDue = time.Time{}
	if t.closed.IsSet() {
		return
	}
	for c := range t.conns {
		if all, known := c.peerHasAllPieces(); all && known {
			c.onNeedUpdateRequests("seed share wait")
		}
	}
}

// spreadSeedRequests reports whether readahead pieces asked of p should go in the client's
// random piece order rather than index order: p is a seed, and peers that are not seeds are
// connected, with whom the pieces can be shared.
func (t *Torrent) spreadSeedRequests(p *PeerConn) bool {
	if all, known := p.peerHasAllPieces(); !all || !known {
		return false
	}
	return len(t.conns) > len(t.connsWithAllPieces)
}

type desiredRequestState struct {
	Requests   desiredPeerRequests
	Interested bool
}

func (cl *Client) getRequestablePieces(key clientPieceRequestOrderKeySumType, f requestStrategy.TakePieceFunc) {
	input := key.getRequestStrategyInput(cl)
	order := cl.pieceRequestOrder[key].pieces
	requestStrategy.ScanRequestablePieces(input, order, f) // torrentfs
}

func (t *Torrent) getRequestablePieces(f requestStrategy.TakePieceFunc) {
	t.cl.getRequestablePieces(t.clientPieceRequestOrderKey(), f)
}

// This gets the best-case request state. That means handling pieces limited by capacity, preferring
// earlier pieces, low availability etc. It pays no attention to existing requests on the peer or
// other peers. Those are handled later.
func (p *PeerConn) getDesiredRequestState() (desired desiredRequestState) {
	t := p.t
	if !t.haveInfo() {
		return
	}
	if t.closed.IsSet() {
		return
	}
	if t.dataDownloadDisallowed.Bool() {
		return
	}
	requestHeap := desiredPeerRequests{
		peer:           p,
		pieceStates:    t.requestPieceStates,
		requestIndexes: t.requestIndexes,
	}
	clear(requestHeap.pieceStates)
	// torrentfs: a peer with none of the pieces we want gets no requests; the scan below,
	// which may go through every wanted piece since patch 67, would find none.
	if !p.peerHasWantedPieces() {
		desired.Requests = requestHeap
		return
	}
	t.logPieceRequestOrder()
	// Caller-provided allocation for roaring bitmap iteration.
	var it typedRoaring.Iterator[RequestIndex]
	t.getRequestablePieces(
		func(ih metainfo.Hash, pieceIndex int, pieceExtra requestStrategy.PieceRequestOrderState) (bool, bool) {
			if ih != *t.canonicalShortInfohash() {
				return true, true
			}
			if !p.peerHasPiece(pieceIndex) {
				return true, false // torrentfs
			}
			if t.leaveToLeechers(p, pieceIndex) || t.leaveToSharer(p, pieceIndex) {
				return true, false // torrentfs
			}
			requestHeap.pieceStates[pieceIndex].Set(pieceExtra)
			allowedFast := p.peerAllowedFast.Contains(pieceIndex)
			t.iterUndirtiedRequestIndexesInPiece(&it, pieceIndex, func(r requestStrategy.RequestIndex) {
				if !allowedFast {
					// We must signal interest to request this. TODO: We could set interested if the
					// peers pieces (minus the allowed fast set) overlap with our missing pieces if
					// there are any readers, or any pending pieces.
					desired.Interested = true
					// We can make or will allow sustaining a request here if we're not choked, or
					// have made the request previously (presumably while unchoked), and haven't had
					// the peer respond yet (and the request was retained because we are using the
					// fast extension).
					if p.peerChoking && !p.requestState.Requests.Contains(r) {
						// We can't request this right now.
						return
					}
				}
				cancelled := &p.requestState.Cancelled
				if !cancelled.IsEmpty() && cancelled.Contains(r) {
					// Can't re-request while awaiting acknowledgement.
					return
				}
				requestHeap.requestIndexes = append(requestHeap.requestIndexes, r)
			})
			return true, true
		},
	)
	t.assertPendingRequests()
	desired.Requests = requestHeap
	return
}

// Update requests if there's a reason assigned.
func (p *PeerConn) maybeUpdateActualRequestState() {
	if p.needRequestUpdate == "" {
		return
	}
	p.updateRequestsWithReason(p.needRequestUpdate)
}

// Updates requests right now with the given reason. Clobbers any deferred reason if there was one.
// Does all the necessary checks and includes profiler tags to assign the overhead.
func (p *PeerConn) updateRequestsWithReason(reason updateRequestReason) {
	if p.closed.IsSet() {
		return
	}
	if reason == peerUpdateRequestsTimerReason {
		since := time.Since(p.lastRequestUpdate)
		if since < updateRequestsTimerDuration {
			panic(since)
		}
	}
	if p.t.cl.config.Debug {
		p.logger.Slogger().Debug("updating requests", "reason", p.needRequestUpdate)
	}
	pprof.Do(
		context.Background(),
		pprof.Labels("update request", string(reason)),
		func(_ context.Context) {
			p.updateRequests()
		},
	)
	// Is there any chance we should leave this to run again, and have the caller clear it if they
	// called with this reason?
	p.needRequestUpdate = ""
	p.lastRequestUpdate = time.Now()
	if enableUpdateRequestsTimer {
		p.updateRequestsTimer.Reset(updateRequestsTimerDuration)
	}
}

func (p *PeerConn) updateRequests() {
	next := p.getDesiredRequestState()
	p.applyRequestState(next)
	p.t.cacheNextRequestIndexesForReuse(next.Requests.requestIndexes)
}

func (t *Torrent) cacheNextRequestIndexesForReuse(slice []RequestIndex) {
	// The incoming slice can be smaller when getDesiredRequestState short circuits on some
	// conditions.
	if cap(slice) > cap(t.requestIndexes) {
		t.requestIndexes = slice[:0]
	}
}

// Whether we should allow sending not interested ("losing interest") to the peer. I noticed
// qBitTorrent seems to punish us for sending not interested when we're streaming and don't
// currently need anything.
func (p *Peer) allowSendNotInterested() bool {
	// Except for caching, we're not likely to lose pieces very soon.
	if p.t.haveAllPieces() {
		return true
	}
	all, known := p.peerHasAllPieces()
	if all || !known {
		return false
	}
	// Allow losing interest if we have all the pieces the peer has.
	return roaring.AndNot(p.peerPieces(), &p.t._completedPieces).IsEmpty()
}

// Transmit/action the request state to the peer. This includes work-stealing from other peers and
// some piece order randomization within the preferred state calculated earlier in next. Cancels are
// not done here, those are handled synchronously. We only track pending cancel acknowledgements.
func (p *PeerConn) applyRequestState(next desiredRequestState) {
	current := &p.requestState
	// Make interest sticky
	if !next.Interested && p.requestState.Interested {
		if !p.allowSendNotInterested() {
			next.Interested = true
		}
	}
	if !p.setInterested(next.Interested) {
		return
	}
	more := true
	t := p.t
	requestHeap := t.desiredRequestHeap(&next.Requests)

	p.updateWindow() // torrentfs
	originalRequestCount := current.Requests.GetCardinality()
	awaitingReject, triedPreempt := 0, false // torrentfs
	for {
		if requestHeap.Len() == 0 {
			break
		}
		// torrentfs: a piece a reader waits on that nothing was asked for yet (a seek) would be
		// served after every request already queued at the peer, which serves in order.
		// Background requests (below readahead) are cancelled to make way; they are asked again
		// behind it. They do not count against the window: the peer drops them before it sees
		// the new requests, though with the fast extension they stay pending until it rejects
		// them. A sequential reader's pieces were asked for as readahead, and do not preempt:
		// that only churned the queue of a stream.
		top := requestHeap.top()
		topNow := t.piece(t.pieceIndexOfRequestIndex(top)).purePriority() >= PiecePriorityNow
		if topNow && !triedPreempt && t.pieceUntouched(t.pieceIndexOfRequestIndex(top)) {
			triedPreempt = true
			awaitingReject = p.cancelBackgroundRequests()
		}
		numPending := maxRequests(current.Requests.GetCardinality()+current.Cancelled.GetCardinality()) - awaitingReject
		if numPending >= p.nominalMaxRequests() && !(topNow && current.Requests.Contains(top)) {
			break
		}
		req := requestHeap.pop()
		if awaitingReject != 0 && current.Cancelled.Contains(req) {
			continue // torrentfs: cancelled above, awaiting the peer's reject
		}

		// don't add requests on receipt of a reject - because this causes request back
		// to potentially permanently unresponsive peers - which just adds network noise.  If
		// the peer can handle more requests it will send an "unchoked" message - which
		// will cause it to get added back to the request queue
		if p.needRequestUpdate == peerUpdateRequestsRemoteRejectReason {
			continue
		}

		existing := t.requestingPeer(req)
		if existing != nil && existing != p {
			// don't steal on cancel - because this is triggered by t.cancelRequest below
			// which means that the cancelled can immediately try to steal back a request
			// it has lost which can lead to circular cancel/add processing
			if p.needRequestUpdate == peerUpdateRequestsPeerCancelReason {
				continue
			}

			// Don't steal from the poor.
			diff := int64(current.Requests.GetCardinality()) + 1 - (int64(existing.uncancelledRequests()) - 1)
			// Steal a request that leaves us with one more request than the existing peer
			// connection if the stealer more recently received a chunk.
			if diff > 1 || (diff == 1 && !p.lastUsefulChunkReceived.After(existing.lastUsefulChunkReceived)) {
				continue
			}
			t.cancelRequest(req)
		}
		more = p.mustRequest(req)
		if !more {
			break
		}
	}
	if !more {
		// This might fail if we incorrectly determine that we can fit up to the maximum allowed
		// requests into the available write buffer space. We don't want that to happen because it
		// makes our peak requests dependent on how much was already in the buffer.
		panic(fmt.Sprintf(
			"couldn't fill apply entire request state [newRequests=%v]",
			current.Requests.GetCardinality()-originalRequestCount))
	}
	newPeakRequests := maxRequests(current.Requests.GetCardinality() - originalRequestCount)
	// log.Printf(
	// 	"requests %v->%v (peak %v->%v) reason %q (peer %v)",
	// 	originalRequestCount, current.Requests.GetCardinality(), p.peakRequests, newPeakRequests, p.needRequestUpdate, p)
	p.peakRequests = newPeakRequests
	p.filled = p.numPending() // torrentfs
}

// torrentfs: pieceUntouched reports whether nothing of piece has arrived or been asked for.
func (t *Torrent) pieceUntouched(piece pieceIndex) bool {
	if t.pieces[piece].hasDirtyChunks() {
		return false
	}
	begin := t.pieceRequestIndexBegin(piece)
	for r := begin; r < begin+t.pieceNumChunks(piece); r++ {
		if t.requestingPeer(r) != nil {
			return false
		}
	}
	return true
}

// torrentfs: cancelBackgroundRequests cancels the requests outstanding for pieces wanted below
// readahead, the most recently made first, and returns how many of them await the peer's
// reject (with the fast extension; without it they are dropped at once). It cancels at most
// half of what is pending, so that the cancels and the requests that replace them fit the
// write buffer together with the window.
func (p *PeerConn) cancelBackgroundRequests() int {
	t := p.t
	before := p.requestState.Cancelled.GetCardinality()
	var bg []RequestIndex
	p.requestState.Requests.Iterate(func(r RequestIndex) bool {
		if t.piece(t.pieceIndexOfRequestIndex(r)).purePriority() < PiecePriorityReadahead {
			bg = append(bg, r)
		}
		return true
	})
	slices.SortFunc(bg, func(a, b RequestIndex) int {
		return t.requestState[b].when.Compare(t.requestState[a].when)
	})
	bg = bg[:min(len(bg), p.numPending()/2)]
	for _, r := range bg {
		p.cancel(r)
	}
	return int(p.requestState.Cancelled.GetCardinality() - before)
}

// This could be set to 10s to match the unchoke/request update interval recommended by some
// specifications. I've set it shorter to trigger it more often for testing for now.
const (
	updateRequestsTimerDuration = 3 * time.Second
	enableUpdateRequestsTimer   = false
)

// torrentfs: desiredRequest is a request of the desired set with the keys lessByValue
// compares, looked up once per update. lessByValue looked them up on every comparison of
// the heap (two map lookups of Torrent.requestState, the pieces' states, whether web seeds
// are active), and an update sifts a heap of every requestable chunk of the read window:
// the comparisons were 5-7% of a stream's CPU (issue #26). The order is lessByValue's, taken
// when the update starts; lessByValue read the holders' request counts as they changed
// during the pops, where the heap's order was already stale.
type desiredRequest struct {
	notFast    bool  // the peer chokes us and the piece is not allowed fast
	priority   int   // the piece's priority, negated
	holder     int8  // who holds the request: 0 this peer, 1 nobody, 2 another peer
	holderReqs int64 // the holder's outstanding requests, negated
	age        int64 // how long the holder has held it, ns
	avail      int   // the piece's availability; 0 while web seeds are active
	order      int   // the piece's place in the request order; -r while web seeds are active
	r          RequestIndex
}

func (a *desiredRequest) less(b *desiredRequest) bool {
	switch {
	case a.notFast != b.notFast:
		return !a.notFast
	case a.priority != b.priority:
		return a.priority < b.priority
	case a.holder != b.holder:
		return a.holder < b.holder
	case a.holderReqs != b.holderReqs:
		return a.holderReqs < b.holderReqs
	case a.age != b.age:
		return a.age < b.age
	case a.avail != b.avail:
		return a.avail < b.avail
	case a.order != b.order:
		return a.order < b.order
	}
	return a.r < b.r
}

// desiredRequestHeap is a min-heap of desiredRequest by less.
type desiredRequestHeap []desiredRequest

func (h desiredRequestHeap) Len() int { return len(h) }

func (h desiredRequestHeap) top() RequestIndex { return h[0].r }

func (h desiredRequestHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && h[r].less(&h[l]) {
			j = r
		}
		if !h[j].less(&h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

func (h *desiredRequestHeap) pop() RequestIndex {
	old := *h
	n := len(old) - 1
	r := old[0].r
	old[0] = old[n]
	*h = old[:n]
	h.down(0)
	return r
}

// desiredRequestHeap returns d's requests as a heap in lessByValue's order, in a buffer the
// torrent reuses.
func (t *Torrent) desiredRequestHeap(d *desiredPeerRequests) desiredRequestHeap {
	p := d.peer
	webseeds := t.hasActiveWebseedRequests()
	spread := t.spreadSeedRequests(p)
	now := time.Now()
	h := desiredRequestHeap(t.desiredRequests[:0])
	for _, r := range d.requestIndexes {
		i := t.pieceIndexOfRequestIndex(r)
		ps := d.pieceStates[i].UnwrapPtr()
		dr := desiredRequest{
			notFast:  p.peerChoking && !p.peerAllowedFast.Contains(i),
			priority: -int(ps.Priority),
			holder:   1,
			r:        r,
		}
		if rs, ok := t.requestState[r]; ok {
			holder := rs.peer.Value()
			dr.holder = 2
			if holder == p {
				dr.holder = 0
			}
			dr.holderReqs = -int64(holder.requestState.Requests.GetCardinality())
			dr.age = int64(now.Sub(rs.when))
		}
		switch {
		case webseeds:
			dr.order = -int(r)
		case ps.Priority == PiecePriorityReadahead && !spread:
			dr.avail, dr.order = ps.Availability, i
		default:
			dr.avail, dr.order = ps.Availability, t.pieceRequestOrder[i]
		}
		h = append(h, dr)
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	t.desiredRequests = h[:0]
	return h
}
