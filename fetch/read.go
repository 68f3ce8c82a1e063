package fetch

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/storage"
	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

var (
	// ErrTimeout is returned by a read that waited Config.ReadTimeout while no data arrived
	// from any peer.
	ErrTimeout = errors.New("fetch: timed out waiting for peers to send data")
	// ErrClosed is returned by reads on a closed Handle.
	ErrClosed = errors.New("fetch: handle closed")
)

const (
	// maxIdleHeads is how many read heads a handle keeps between reads.
	maxIdleHeads = 4
	// seqGap is how far from a head's position a read may start and still count as the same
	// stream. The kernel's readahead sends two concurrent, sometimes reordered, reads.
	seqGap = 2 << 20
	// minReadahead is the readahead of a fresh read head: the piece under the read and a
	// little more. It grows by the distance read sequentially. Small, because a probe of a
	// file (a media server's scan, file(1)) reads a little at a few places: each would
	// fetch its readahead for nothing (docs/measurements.md).
	minReadahead = 128 << 10
	// refillDiv sets when a head reading from the storage alone opens its anacrolix reader to
	// fetch again: once the verified run ahead of it fell below its window by a refillDiv-th
	// of the window. The reader then asks for the whole window and closes once all of it is
	// verified. Without the slack, a stream slower than the swarm opened a reader for every
	// piece its window's end crossed, each open and close updating the priorities of the
	// whole window and waking every peer for one piece (docs/measurements.md, issue #26).
	refillDiv = 4
)

// Handle reads one file of a torrent. It is safe for concurrent use; each concurrent stream
// of reads gets its own read head.
type Handle struct {
	// Immutable after Open.
	t    *Torrent
	file *torrent.File

	// credit is what the stream this file continues had read in sequence (Torrent.continues),
	// for the heads that start near the file's start: the kernel's second concurrent read
	// gets a head of its own.
	credit atomic.Int64

	// Guarded by mu.
	mu     sync.Mutex
	idle   []*head // most recently used last
	closed bool
}

// head is the position of one stream of reads, with the anacrolix Reader that fetches for it
// while it reads what is not yet verified. A head is used by one read at a time.
type head struct {
	r     torrent.Reader // opened, and moved to pos, only when a read goes through anacrolix
	rpos  int64          // where r is
	rbase int64          // the torrent offset of r's 0: the file's (a file reader), or 0
	pos   int64          // where the next read will start
	start int64          // where sequential reading started; immutable
	base  int64          // the file's offset in the torrent; immutable
	// credit is what the stream this head continues read in sequence in the files before
	// (Torrent.continues); immutable.
	credit int64
	// spill is set when the stream started near its file's start, as a copy reads: its window
	// runs on past the file's end into the next files of the torrent; immutable.
	spill bool
	store storage.TorrentReader // the torrent's storage, for readCached; opened on first use

	// window is the torrent's bytes [begin, end) this head reads and reads ahead into, for
	// Client.Active, which runs on other goroutines.
	begin, end atomic.Int64
}

// readahead is how far ahead of pos the head asks for pieces: a little at first, growing by
// what was read in sequence, in its file and, for a head that continues a stream, in the files
// before (credit), up to limit. A head reused for a read behind where its stream started (take
// accepts up to seqGap behind) has read nothing in sequence from there.
func (hd *head) readahead(pos, limit int64) int64 {
	return min(limit, minReadahead+hd.credit+max(0, pos-hd.start))
}

// windowEnd is the end, in torrent bytes, of the window of a head at file offset pos: its
// readahead, stopped at its file's end unless the head spills into the next files.
func (h *Handle) windowEnd(hd *head, pos int64) int64 {
	end := hd.base + pos + hd.readahead(pos, h.t.c.cfg.Readahead)
	if !hd.spill {
		end = min(end, hd.base+h.Size())
	}
	return min(end, h.t.size)
}

// publish records the head's window after it moved.
func (h *Handle) publish(hd *head) {
	hd.begin.Store(hd.base + hd.pos)
	hd.end.Store(h.windowEnd(hd, hd.pos))
}

// Open returns a handle for file i, to be closed. The first open of a file starts its
// prefetch. It fails with ErrDropped once the torrent left the client after Drop.
func (t *Torrent) Open(i int) (*Handle, error) {
	if err := t.openHandle(); err != nil {
		return nil, err
	}
	if err := t.wake(); err != nil {
		t.closeHandle()
		return nil, err
	}
	t.opened[i].Do(func() { t.prefetch(i) })
	return &Handle{t: t, file: t.tfiles[i]}, nil
}

// Size is the file's length.
func (h *Handle) Size() int64 { return h.file.Length() }

// ReadAt reads len(p) bytes at off, or up to the end of the file, waiting for the pieces to
// arrive and be verified. It returns io.EOF only when it read less than len(p) because the
// file ended. When ctx is done the read ends with ctx.Err() but the pieces stay wanted, so the
// download goes on. It fails with ErrTimeout when no data at all came from the swarm for
// Config.ReadTimeout.
func (h *Handle) ReadAt(ctx context.Context, p []byte, off int64) (n int, err error) {
	if obs := h.t.c.cfg.ReadObserver; obs != nil {
		start := time.Now()
		defer func() { obs(time.Since(start), n, err) }()
	}
	if off >= h.Size() {
		return 0, io.EOF
	}
	obs := h.t.obs
	obs.Saw(StepReadBegan)
	hd, err := h.take(off)
	if err != nil {
		return 0, err
	}
	if hd.r == nil && hd.start == off && !h.t.allVerified(hd.base+off, hd.base+min(off+int64(len(p)), h.Size())) {
		// A new head (a seek, or a file's first read) that must wait for the swarm.
		h.t.holdPrefetch()
		defer h.t.releasePrefetch()
	}
	n, err = h.fill(ctx, hd, p)
	h.t.read.Add(int64(n))
	if n > 0 {
		obs.Read(n)
	}
	h.put(hd)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// fill reads into p from the head's position until p is full or the file ends.
func (h *Handle) fill(ctx context.Context, hd *head, p []byte) (int, error) {
	n := 0
	for n < len(p) && hd.pos < h.Size() {
		var err error
		// Not past the file's end: anacrolix's reader bounds a read by what is available,
		// which goes on into the next file of the torrent.
		q := p[n:min(int64(len(p)), int64(n)+h.Size()-hd.pos)]
		m := h.readCached(hd, q)
		if m == 0 {
			m, err = h.readOnce(ctx, hd, q)
		}
		h.t.sawVerified(h.file.Offset()+hd.pos, int64(m))
		n += m
		hd.pos += int64(m)
		h.publish(hd)
		if hd.spill && hd.pos == h.Size() {
			h.t.endStream(hd.base+hd.pos, hd.credit+hd.pos-hd.start)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readCached reads from the storage without anacrolix when every piece from the head's
// position to the end of its readahead window is verified: then there is nothing to fetch,
// and an anacrolix reader (its client lock, its priority updates) has nothing to do. A head
// already without a reader needs only the window less its refill slack (refillDiv). It
// returns 0 when that is not the case or the storage refused (the piece was just evicted);
// the read then goes through anacrolix.
func (h *Handle) readCached(hd *head, p []byte) int {
	t := h.t
	off, end := hd.base+hd.pos, hd.base+h.Size()
	need := min(off+int64(len(p)), end)
	window := h.windowEnd(hd, hd.pos)
	if hd.r == nil {
		window -= (window - off) / refillDiv
	}
	if !t.allVerified(off, max(need, window)) {
		return 0
	}
	if hd.store == nil {
		open, ok := t.c.storages.Load(t.ih)
		if !ok {
			return 0
		}
		hd.store = open.(func() storage.TorrentReader)()
	}
	n, _ := hd.store.ReadAt(p[:need-off], off)
	if n > 0 && hd.r != nil {
		// Its priorities would hold pieces behind the stream; it opens again when needed.
		hd.r.Close()
		hd.r = nil
	}
	return n
}

// readOnce is one Read on the head. It waits in slices of progressCheck and fails with
// ErrTimeout once the swarm made no progress for ReadTimeout: a slow swarm is not a dead
// one, but a peer that sends only bad data is.
func (h *Handle) readOnce(ctx context.Context, hd *head, p []byte) (int, error) {
	timeout := h.t.c.cfg.ReadTimeout
	slice := progressCheck
	if timeout > 0 {
		slice = min(slice, timeout)
	}
	if hd.r == nil {
		// A head that spills reads through a reader of the whole torrent, so that its window
		// may run on into the next files; reads stop at the file's end all the same (fill).
		// Others read through a reader of their file. A new reader is moved to pos before
		// its first read (rpos -1): readCached closes the head's reader and moves the head
		// on without it.
		if hd.spill {
			hd.r, hd.rbase = h.t.t.NewReader(), 0
		} else {
			hd.r, hd.rbase = h.file.NewReader(), hd.base
		}
		hd.rpos = -1
		hd.r.SetReadaheadFunc(func(rc torrent.ReadaheadContext) int64 {
			at := hd.rbase + rc.CurrentPos // in the torrent
			return h.windowEnd(hd, at-hd.base) - at
		})
	}
	if hd.rpos != hd.pos {
		if _, err := hd.r.Seek(hd.base+hd.pos-hd.rbase, io.SeekStart); err != nil {
			return 0, err
		}
		hd.rpos = hd.pos
	}
	h.t.c.waiting.Add(1)
	defer h.t.c.waiting.Add(-1)
	piece := int((hd.base + hd.pos) / h.t.info.PieceLength)
	if !h.t.verified[piece].Load() {
		h.t.lookForPeers(piece)
	}
	start := h.t.c.progress()
	last, lastChange := start, time.Now()
	for {
		rctx, cancel := context.WithTimeout(ctx, slice)
		hd.r.SetContext(rctx)
		n, err := hd.r.Read(p)
		cancel()
		hd.rpos += int64(n)
		switch {
		case ctx.Err() != nil && n == 0:
			return 0, ctx.Err()
		case n > 0 || err == nil:
			return n, err
		case !errors.Is(err, context.DeadlineExceeded):
			return n, err
		}
		now := h.t.c.progress()
		if now.since(last) {
			last, lastChange = now, time.Now()
			continue
		}
		h.t.lookForPeers(piece)
		if timeout > 0 && time.Since(lastChange) >= timeout {
			msg := "read timed out: no data from any peer"
			if now.bad != start.bad {
				msg = "read timed out: peers sent only data that failed its hash check"
			}
			args := []any{"torrent", h.t.Name(), "file", h.file.DisplayPath(), "offset", hd.pos, "timeout", timeout}
			if n := len(h.t.c.cl.BadPeerIPs()); n > 0 {
				args = append(args, "banned_for_bad_data", n)
			}
			h.t.c.log.Warn(msg, args...)
			return 0, ErrTimeout
		}
	}
}

// progressCheck is how often a waiting read checks whether the client still receives data.
const progressCheck = 2 * time.Second

// take returns the idle head nearest to off within seqGap, positioned at off, or a new head.
// A read far from every head is a seek: the idle heads are closed so that their readahead
// windows stop competing with the new position.
func (h *Handle) take(off int64) (*head, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	best := -1
	for i, hd := range h.idle {
		d := off - hd.pos
		if d < -seqGap || d > seqGap {
			continue
		}
		if best < 0 || abs(d) < abs(off-h.idle[best].pos) {
			best = i
		}
	}
	if best >= 0 {
		hd := h.idle[best]
		h.idle = append(h.idle[:best], h.idle[best+1:]...)
		h.mu.Unlock()
		if hd.pos != off {
			// A small gap: keep the stream's start so readahead keeps its size.
			hd.pos = off
			h.publish(hd)
		}
		return hd, nil
	}
	stale := h.idle
	h.idle = nil
	h.mu.Unlock()
	for _, hd := range stale {
		h.t.closeHead(hd)
	}
	return h.newHead(off), nil
}

// spillable reports whether a head may read through a reader of the whole torrent: only
// where anacrolix lays the files end to end. A hybrid v1/v2 torrent's files start on piece
// boundaries (padding files, or its v2 layout where the metadata came from peers), and the
// last of them lie past the end of anacrolix's whole-torrent reader, whose length leaves the
// gaps out: it would end early and cut those files short (TestLibtorrent's f.gz was).
func (t *Torrent) spillable() bool { return !t.gapped }

// newHead starts a head at off. One at the file's start that continues a stream which read
// the files before to their end (Torrent.continues) keeps that stream's readahead, and so do
// the other heads of its handle near the file's start.
func (h *Handle) newHead(off int64) *head {
	hd := &head{pos: off, start: off, base: h.file.Offset(), spill: off < seqGap && h.t.spillable()}
	if off == 0 {
		if run, ok := h.t.continues(hd.base, true); ok {
			h.credit.Store(run)
		}
	}
	if hd.spill {
		hd.credit = h.credit.Load()
	}
	h.publish(hd)
	h.t.heads.Store(hd, struct{}{})
	return hd
}

// put returns a head to the idle list, closing the oldest beyond maxIdleHeads.
func (h *Handle) put(hd *head) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.t.closeHead(hd)
		return
	}
	h.idle = append(h.idle, hd)
	var drop []*head
	if len(h.idle) > maxIdleHeads {
		drop = append(drop, h.idle[:len(h.idle)-maxIdleHeads]...)
		h.idle = append([]*head(nil), h.idle[len(h.idle)-maxIdleHeads:]...)
	}
	h.mu.Unlock()
	for _, d := range drop {
		h.t.closeHead(d)
	}
}

// Close closes the handle's read heads; reads in progress end with their own context. The
// last Close of a dropped torrent's handles removes it from the client. Closing twice does
// nothing.
func (h *Handle) Close() error {
	h.mu.Lock()
	was := h.closed
	h.closed = true
	idle := h.idle
	h.idle = nil
	h.mu.Unlock()
	for _, hd := range idle {
		h.t.closeHead(hd)
	}
	if !was {
		h.t.closeHandle()
	}
	return nil
}

// closeHead closes a head's reader; its window no longer counts as active.
func (t *Torrent) closeHead(hd *head) {
	t.heads.Delete(hd)
	if hd.r != nil {
		hd.r.Close()
	}
	if hd.store != nil {
		hd.store.Close()
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
