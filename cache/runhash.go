package cache

import (
	"crypto/sha1"
	"encoding"
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

// A piece's SHA-1 is kept running while its blocks are written, so that anacrolix's hash of
// the piece (WriteTo) need not read the piece back out of Badger: at a film's bitrate that
// read back cost more CPU than the SHA-1 itself (docs/measurements.md). Peers send a piece's
// blocks nearly in order; a block that comes early is held, as the writer's own pooled copy
// (no second copy), until the ones before it came. A piece whose blocks come too far out of
// order, in part, or twice is hashed from storage as before.
//
// The running hash stands for exactly the bytes queued for storage: a block is hashed after
// its write was queued, and any other write to the piece breaks the hash. A queued write
// that fails to commit fails WriteTo (writer.wait) before the hash is used.

// maxHeld is the most bytes of early blocks a torrent holds for their turn; a piece whose
// next early block would take it past is given up. A seed's blocks came in any order within
// a piece, 4 MiB pieces' too: a bound of 8 or 32 blocks a piece gave up most pieces
// (docs/measurements.md). What is held in practice is a few MiB.
const maxHeld = 16 << 20

// runningHash is one piece's hash of its blocks 0 to next-1, and the blocks after next
// that came early.
type runningHash struct {
	held   *atomic.Int64 // the torrent's bytes of early blocks
	mu     sync.Mutex
	h      hash.Hash
	next   int
	early  map[int]*block
	broken bool
}

// giveUp breaks rh and releases the blocks it held. rh.mu is held.
func (rh *runningHash) giveUp() {
	rh.broken, rh.h = true, nil
	for _, b := range rh.early {
		rh.held.Add(-int64(len(b.b)))
		b.release()
	}
	rh.early = nil
}

// runningHashes holds the running hashes of a torrent's pieces being written.
type runningHashes struct {
	held atomic.Int64 // bytes of early blocks, at most maxHeld
	mu   sync.Mutex
	m    map[int]*runningHash
	// skip counts the next pieces not to keep a hash for: a torrent whose pieces anacrolix
	// hashes with something other than a bare SHA-1 (a v2 torrent's merkle hash) cannot take
	// the hash, so one kept for it is wasted. After a kept hash anacrolix could not take,
	// the next skipAfterRefusal pieces go without; then one is tried again. (Before
	// anacrolix patch 30, a piece that several peers sent was hashed through a MultiWriter
	// with the smart-ban checker, and refused too.)
	skip int
}

// skipAfterRefusal is how many pieces go without a running hash after one anacrolix could
// not use.
const skipAfterRefusal = 64

// block records that whole block blk of piece, v, was queued for storage. It takes over
// the caller's reference to v.
func (r *runningHashes) block(piece, blk int, v *block) {
	r.mu.Lock()
	if r.m == nil {
		r.m = make(map[int]*runningHash)
	}
	rh := r.m[piece]
	if rh == nil {
		rh = &runningHash{held: &r.held, h: sha1.New()}
		if r.skip > 0 {
			r.skip--
			rh.broken, rh.h = true, nil
		}
		r.m[piece] = rh
	}
	r.mu.Unlock()
	rh.mu.Lock()
	defer rh.mu.Unlock()
	switch {
	case rh.broken:
		v.release()
	case blk < rh.next || rh.early[blk] != nil:
		// Written twice: the stored bytes are the last write's.
		v.release()
		rh.giveUp()
	case blk > rh.next:
		if rh.held.Add(int64(len(v.b))) > maxHeld {
			rh.held.Add(-int64(len(v.b)))
			v.release()
			rh.giveUp()
			return
		}
		if rh.early == nil {
			rh.early = make(map[int]*block)
		}
		rh.early[blk] = v
	default:
		rh.h.Write(v.b)
		v.release()
		rh.next++
		for {
			e := rh.early[rh.next]
			if e == nil {
				break
			}
			delete(rh.early, rh.next)
			rh.h.Write(e.b)
			rh.held.Add(-int64(len(e.b)))
			e.release()
			rh.next++
		}
	}
}

// breakPiece stops piece's running hash: a write to it that the hash does not cover.
func (r *runningHashes) breakPiece(piece int) {
	r.mu.Lock()
	if r.m == nil {
		r.m = make(map[int]*runningHash)
	}
	rh := r.m[piece]
	if rh == nil {
		rh = &runningHash{held: &r.held}
		r.m[piece] = rh
	}
	r.mu.Unlock()
	rh.mu.Lock()
	rh.giveUp()
	rh.mu.Unlock()
}

// forget drops piece's running hash: its blocks are hashed, deleted or about to be.
func (r *runningHashes) forget(piece int) {
	r.mu.Lock()
	rh := r.m[piece]
	delete(r.m, piece)
	r.mu.Unlock()
	if rh != nil {
		rh.mu.Lock()
		rh.giveUp()
		rh.mu.Unlock()
	}
}

// take forgets piece's running hash and, if it covers all of the piece's blocks and w is a
// fresh SHA-1 (anacrolix's hasher of a v1 piece), sets w to it and reports true.
func (r *runningHashes) take(piece, blocks int, w io.Writer) bool {
	r.mu.Lock()
	rh := r.m[piece]
	delete(r.m, piece)
	r.mu.Unlock()
	if rh == nil {
		return false
	}
	rh.mu.Lock()
	defer rh.mu.Unlock()
	defer rh.giveUp()
	if rh.broken || rh.next != blocks {
		return false
	}
	dst, ok := w.(encoding.BinaryUnmarshaler)
	if !ok {
		// Not a bare SHA-1 (a v2 torrent's merkle hash): it reads the piece whatever we
		// kept.
		r.mu.Lock()
		r.skip = skipAfterRefusal
		r.mu.Unlock()
		return false
	}
	state, err := rh.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return false
	}
	// A hasher of another kind refuses SHA-1's state (it checks its own magic prefix).
	return dst.UnmarshalBinary(state) == nil
}
