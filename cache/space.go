package cache

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
)

// ErrNoSpace is returned for chunk writes when the cache's file system is too full to take
// them and nothing can be evicted. anacrolix requests the chunk again later.
var ErrNoSpace = errors.New("cache: no space left on the cache's file system")

// space is what the cache may still write. Chunk writes wait here while an eviction makes
// room, so the cache stays under its cap while a stream runs faster than eviction.
type space struct {
	kick chan struct{} // wakes the evictor; buffered, never blocks

	mu   sync.Mutex
	cond sync.Cond
	// used estimates the cache's bytes on disk: measured by the evictor, plus what was
	// committed since.
	used int64
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

func newSpace() *space {
	s := &space{kick: make(chan struct{}, 1), limit: 1 << 62, high: 1 << 62, diskLimit: 1 << 62}
	s.cond.L = &s.mu
	return s
}

// reserve waits until n more bytes fit, or fails with ErrNoSpace when they never will.
func (s *space) reserve(n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.closed {
		switch {
		case s.used+n <= s.limit:
			return nil
		case s.stuck && s.used+n <= s.diskLimit:
			return nil
		case s.stuck:
			return ErrNoSpace
		}
		s.poke()
		s.cond.Wait()
	}
	return nil // the writer reports errClosed
}

// add counts n bytes committed and wakes the evictor when they cross the high mark.
func (s *space) add(n int64) {
	s.mu.Lock()
	s.used += n
	if s.used >= s.high {
		s.poke()
	}
	s.mu.Unlock()
}

func (s *space) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// set records a measurement and releases waiting writers.
func (s *space) set(used, limit, high, diskLimit int64, stuck bool) {
	s.mu.Lock()
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
		var st syscall.Stat_t
		if err := syscall.Lstat(path, &st); err != nil {
			if errors.Is(err, syscall.ENOENT) {
				return nil
			}
			return err
		}
		n += st.Blocks * 512
		return nil
	})
	return n, err
}

// freeSpace is the bytes an unprivileged user may still write on dir's file system.
func freeSpace(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}
