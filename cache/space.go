package cache

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoSpace is returned for chunk writes when the cache's file system is too full to take
// them and nothing can be evicted. anacrolix requests the chunk again later.
var ErrNoSpace = errors.New("cache: no space left on the cache's file system")

// space is what the cache may still write. Chunk writes wait here while an eviction makes
// room, so the cache stays under its cap while a stream runs faster than eviction.
type space struct {
	dir  string
	kick chan struct{} // wakes the evictor; buffered, never blocks

	checked atomic.Int64 // when free space was last found sufficient, Unix nanoseconds

	mu   sync.Mutex
	cond sync.Cond
	// used estimates the cache's bytes on disk: measured by the evictor, plus what was
	// reserved for writes since and what was reserved but not yet written when it measured.
	used int64
	// reserved and written count the bytes of block writes ever reserved and ever committed
	// (or dropped). reserved-written is what is queued in the writers: on no disk yet, so
	// not in a measurement, but soon to be. Forgetting it at each measurement let a fast
	// stream go over the cap by the writers' queues.
	reserved, written int64
	// limit is the cap, lowered to leave reserve free on the file system; high is where
	// eviction starts.
	limit, high int64
	// diskLimit is where the file system would have less than the reserve free.
	diskLimit int64
	// stuck is set when nothing could be evicted: writes then go past the cap (never past
	// diskLimit) rather than wait for ever.
	stuck  bool
	closed bool
}

func newSpace(dir string) *space {
	s := &space{dir: dir, kick: make(chan struct{}, 1), limit: 1 << 62, high: 1 << 62, diskLimit: 1 << 62}
	s.cond.L = &s.mu
	return s
}

// minFree is the free space below which the cache writes nothing. Badger writes through
// mmapped, sparse files: a write the file system has no block for is a SIGBUS, which kills
// the process. Our own limits keep far more free; this is for a disk filled by others.
const minFree = 2 * maxBatch

// writable fails with ErrNoSpace when the file system has less than minFree left. It looks at
// most once per checkEvery while there is room.
func (s *space) writable() error {
	now := time.Now().UnixNano()
	if now-s.checked.Load() < int64(checkEvery) {
		return nil
	}
	free, err := freeSpace(s.dir)
	if err != nil || free >= minFree {
		s.checked.Store(now)
		return nil
	}
	s.checked.Store(0)
	s.poke()
	return ErrNoSpace
}

const checkEvery = 5 * time.Millisecond

// reserve waits until n more bytes fit and counts them as used, or fails with ErrNoSpace
// when they never will.
func (s *space) reserve(n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writable() != nil {
		// Give the evictor one pass to make room, rather than have the chunk requested
		// again at once.
		s.cond.Wait()
		if err := s.writable(); err != nil {
			return err
		}
	}
	for !s.closed {
		if s.used+n <= s.limit || s.stuck && s.used+n <= s.diskLimit {
			s.used += n
			s.reserved += n
			if s.used >= s.high {
				s.poke()
			}
			return nil
		}
		if s.stuck {
			return ErrNoSpace
		}
		s.poke()
		s.cond.Wait()
	}
	return nil // the writer reports errClosed
}

func (s *space) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// wrote records that n reserved bytes were committed to disk, or will never be.
func (s *space) wrote(n int64) {
	s.mu.Lock()
	s.written += n
	s.mu.Unlock()
}

// hold counts n bytes as used without waiting, for writes that bypass reserve: Badger's
// value-log GC copies a file's live values to the head of the log before it deletes the
// file. Chunk writes wait meanwhile if the copy could take the cache past its cap.
func (s *space) hold(n int64) {
	s.mu.Lock()
	s.used += n
	s.mu.Unlock()
}

// unhold ends a hold. The evictor measures the cache after it, which counts what the
// copy wrote.
func (s *space) unhold(n int64) {
	s.mu.Lock()
	s.used -= n
	s.cond.Broadcast()
	s.mu.Unlock()
}

// writtenSoFar is taken before a measurement, for set.
func (s *space) writtenSoFar() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written
}

// queued is what was reserved and not yet written since writtenSoFar returned written.
func (s *space) queued(written int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserved - written
}

// set records a measurement and releases waiting writers. written is writtenSoFar from
// before the measurement began: what was reserved and not written by then may be missing
// from it, so it is counted on top (twice, at worst, for what was written during the walk,
// until the next measurement).
func (s *space) set(measured, written, limit, high, diskLimit int64, stuck bool) {
	s.mu.Lock()
	used := measured + s.reserved - written
	s.used, s.limit, s.high, s.diskLimit, s.stuck = used, limit, high, diskLimit, stuck
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *space) close() {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
}

// diskUsage is what du reports for dir: the blocks allocated to the files under it. Badger
// preallocates its logs as sparse files, so their apparent sizes would overstate it.
func diskUsage(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked: a torrent evicted or a log file GCed
			}
			return err
		}
		size, err := allocated(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		n += size
		return err
	})
	return n, err
}

// ballast is a file of preallocated blocks kept in the cache directory. When the file system
// fills up from outside, deleting it gives Badger room for the writes that eviction itself
// needs (new tables), instead of a SIGBUS.
const ballastName = ".ballast"

// BallastSize is the largest ballast file the cache keeps in its directory: two value-log
// files, at most this.
const BallastSize = 16 << 20

// ballastChange is what keepBallast did.
type ballastChange int

const (
	ballastKept ballastChange = iota // left as it was
	ballastMade
	ballastReleased
)

// keepBallast creates the ballast when there is ample room, and deletes it when the file
// system is nearly full.
func keepBallast(dir string, size, free, reserve int64) ballastChange {
	path := filepath.Join(dir, ballastName)
	if free < 2*minFree {
		if os.Remove(path) == nil {
			return ballastReleased
		}
		return ballastKept
	}
	if free < size+reserve+2*minFree {
		return ballastKept
	}
	f, err := openNoFollow(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return ballastKept // there already, or cannot be: either way nothing to do
	}
	defer f.Close()
	if err := preallocate(f, size); err != nil {
		os.Remove(path)
		return ballastKept
	}
	return ballastMade
}
