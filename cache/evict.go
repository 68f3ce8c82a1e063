package cache

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/torrentfs/torrentfs/third_party/badger"
)

// Watcher is the client side of eviction; *fetch.Client implements it. The cache asks it
// which bytes readers are using, so that it never evicts them, and tells it which pieces it
// evicted, so that the client fetches them again when they are read. With the reader the
// client takes from OpenTorrent's TorrentImpl.NewReader (reads that skip anacrolix, which
// fail with ErrEvicted for a piece evicted since), it is all the client and the cache know
// of each other: docs/read-path.md.
type Watcher interface {
	// Active returns the byte ranges [begin, end) of the torrent that readers are at or
	// reading ahead into.
	Active(ih metainfo.Hash) [][2]int64
	// Evicted is called after pieces of the torrent were dropped from the cache.
	Evicted(ih metainfo.Hash, pieces []int)
}

// Watch sets the Watcher that eviction consults. Set it before pieces arrive.
func (c *Cache) Watch(w Watcher) {
	c.mu.Lock()
	c.watcher = w
	c.mu.Unlock()
}

// evictInterval is how often the evictor measures the cache even when nothing is written,
// to notice the file system filling up from outside.
const evictInterval = time.Second

func (c *Cache) runEvictor() {
	defer close(c.evictorDone)
	t := time.NewTicker(evictInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.space.kick:
		case <-t.C:
		}
		for c.evictOnce(true) {
		}
	}
}

// evictOnce measures the cache and, if it is over its high mark and evict is set, evicts
// least recently used pieces down to its low mark. It reports whether it should run again
// at once.
func (c *Cache) evictOnce(evict bool) bool {
	free, err := freeSpace(c.dir)
	if err != nil {
		c.measureWarn.Do(func() { c.log.Warn("cannot measure free space", "dir", c.dir, "err", err) })
		return false
	}
	// The ballast is made or released before the cache is measured, so that the measurement
	// counts it: made after, it went unseen until the next one (8 MiB over a 64 MiB cap
	// while the first fill outran the evictor's first tick).
	switch keepBallast(c.dir, min(BallastSize, 2*c.vlogSize), free, c.reserve) {
	case ballastReleased:
		c.log.Warn("the cache's file system is full: released the ballast to make room for eviction", "dir", c.dir)
		fallthrough
	case ballastMade:
		if free, err = freeSpace(c.dir); err != nil {
			return false
		}
	}
	written := c.space.writtenSoFar()
	used, err := diskUsage(c.dir)
	if err != nil {
		c.measureWarn.Do(func() { c.log.Warn("cannot measure the cache", "dir", c.dir, "err", err) })
		return false
	}
	diskLimit := used + free - c.reserve
	limit := diskLimit
	if c.maxSize > 0 {
		limit = min(limit, c.maxSize)
	}
	c.logDiskLimit(diskLimit, free, used)
	high := limit - c.vlogSize
	if used+c.space.queued(written) < high || !evict {
		c.space.set(used, written, limit, high, diskLimit, false)
		return false
	}
	low := limit - 2*c.vlogSize - limit/16
	freed := c.evict(used + c.space.queued(written) - low)
	written = c.space.writtenSoFar()
	after, err := diskUsage(c.dir)
	if err != nil {
		after = used
	}
	q := c.space.queued(written)
	stuck := freed == 0 && after+q >= limit
	if stuck {
		c.stuckWarn.Do(func() {
			c.log.Warn("cache is full and nothing in it can be evicted (readers are using it all, or pieces are half downloaded): going over the cap",
				"dir", c.dir, "cache", after, "limit", limit)
		})
	}
	c.space.set(after, written, limit, high, diskLimit, stuck)
	return freed > 0 && after+q >= high
}

// logDiskLimit says when the file system rather than the cap starts limiting the cache, and
// when that limit moves by more than a value-log file: space taken or returned by others.
func (c *Cache) logDiskLimit(diskLimit, free, used int64) {
	logged := c.loggedLimit.Load()
	binds := c.maxSize == 0 || diskLimit < c.maxSize
	switch {
	case !binds && logged == 0:
	case !binds:
		c.loggedLimit.Store(0)
		c.log.Info("space returned on the cache's file system: the cap applies again", "dir", c.dir, "free", free)
	case logged == 0:
		c.loggedLimit.Store(diskLimit)
		c.log.Warn("the cache's file system has less room than the cache's cap: the cache keeps space free there",
			"dir", c.dir, "free", free, "cache", used, "limit", diskLimit)
	case diskLimit < logged-c.vlogSize:
		c.loggedLimit.Store(diskLimit)
		c.log.Warn("the cache's file system is filling up: evicting to keep space free there",
			"dir", c.dir, "free", free, "cache", used, "limit", diskLimit)
	case diskLimit > logged+c.vlogSize:
		c.loggedLimit.Store(diskLimit)
		c.log.Info("space returned on the cache's file system", "dir", c.dir, "free", free, "limit", diskLimit)
	}
}

// candidate is something eviction can drop: a piece of an open torrent, or a whole torrent
// no process has open.
type candidate struct {
	used  int64 // last use, Unix nanoseconds
	size  int64
	t     *torrent // nil for a closed torrent
	piece int
	dir   string        // closed torrent
	ih    metainfo.Hash // closed torrent
}

// evict drops the least recently used pieces and closed torrents until about need bytes are
// freed, never pieces readers are using. It returns the bytes it dropped.
func (c *Cache) evict(need int64) int64 {
	c.mu.Lock()
	w := c.watcher
	open := make(map[metainfo.Hash]*torrent, len(c.torrents))
	ours := make(map[metainfo.Hash]bool, len(c.torrents)+len(c.released))
	for ih, t := range c.torrents {
		open[ih], ours[ih] = t, true
	}
	for ih := range c.released {
		ours[ih] = true
	}
	c.mu.Unlock()

	var cands []candidate
	for ih, t := range open {
		var active [][2]int64
		if w != nil {
			active = w.Active(ih)
		}
		cands = t.candidates(active, cands)
	}
	cands = append(cands, c.closedTorrents(ours)...)
	slices.SortFunc(cands, func(a, b candidate) int { return cmp.Compare(a.used, b.used) })

	var freed int64
	byTorrent := make(map[*torrent][]int)
	for _, cd := range cands {
		if freed >= need {
			break
		}
		if cd.t == nil {
			if err := c.evictClosed(cd.ih, cd.dir); err != nil {
				if !errors.Is(err, ErrInUse) {
					c.log.Warn("cannot evict torrent", "dir", cd.dir, "err", err)
				}
				continue
			}
			c.log.Info("evicted a torrent no one has used for longest", "dir", cd.dir, "size", cd.size)
		} else {
			byTorrent[cd.t] = append(byTorrent[cd.t], cd.piece)
		}
		freed += cd.size
	}
	for t, pieces := range byTorrent {
		if err := t.evict(pieces, w); err != nil {
			c.log.Warn("eviction failed", "err", err)
		}
	}
	return freed
}

// candidates appends the torrent's complete pieces outside the active ranges.
func (t *torrent) candidates(active [][2]int64, cands []candidate) []candidate {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.complete == nil {
		return cands
	}
	pinned := make(map[int]bool)
	for _, r := range active {
		for p := r[0] / t.pieceLen; p*t.pieceLen < r[1] && p < int64(len(t.complete)); p++ {
			pinned[int(p)] = true
		}
	}
	for i, ok := range t.complete {
		if ok && !pinned[i] {
			cands = append(cands, candidate{used: t.lastUse[i].Load(), size: t.pieceLength(i), t: t, piece: i})
		}
	}
	return cands
}

// evict drops pieces: their completion markers first, so that a crash at any point leaves
// them incomplete, then their blocks. Chunk writes to the pieces wait until the client has
// been told, so that no new, unverified block of theirs can be read as if still verified.
func (t *torrent) evict(pieces []int, w Watcher) error {
	start := time.Now()
	t.mu.Lock()
	for _, i := range pieces {
		t.complete[i] = false
		t.evicting[i] = true
	}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		for _, i := range pieces {
			t.evicting[i] = false
			t.refetched[i] = true
		}
		t.evicted.Broadcast()
		t.mu.Unlock()
	}()

	prefixes := make([][]byte, 0, 2*len(pieces))
	err := t.update(func(txn *badger.Txn) error {
		for _, i := range pieces {
			if err := txn.Delete(pieceKey(completePrefix, i)); err != nil {
				return err
			}
			prefixes = append(prefixes, pieceKey(completePrefix, i), pieceKey(blockPrefix, i))
		}
		return nil
	})
	marked := time.Since(start)
	if err == nil {
		// Badger frees nothing on delete: dropping the keys counts their values as garbage
		// in the value log, and the GC below rewrites or removes the files that hold them.
		t.dropMu.Lock()
		err = t.use(func() error { return t.db.DropPrefix(prefixes...) })
		t.dropMu.Unlock()
	}
	dropped := time.Since(start)
	// Chunk writes to the pieces wait meanwhile, inside anacrolix's storage write; Evicted
	// takes anacrolix's client lock. anacrolix does not hold that lock around storage writes:
	// fetch's TestEvictedDuringStorageWrite pins it, so that an upgrade that changes it
	// fails there rather than deadlock here.
	if w != nil {
		w.Evicted(t.ih, pieces)
	}
	if err != nil {
		return fmt.Errorf("evict %d pieces: %w", len(pieces), err)
	}
	// The GC runs alone too: Badger v4.9.6's rewrite reads the memtable's max version
	// without the lock its writers hold (the race detector reports it).
	// A rewrite copies what is live in a file (at most 1-ratio of it; a file can be a batch
	// over its size) before it deletes the file, one file at a time: that copy is held
	// against the cap, which chunk writes could otherwise fill meanwhile (by half a
	// value-log file, 32 MiB, for caps of 1 GiB and more).
	ratio := t.gcRatio()
	copyMax := int64((1 - ratio) * float64(t.vlogSize+maxBatch))
	t.space.hold(copyMax)
	defer t.space.unhold(copyMax)
	t.dropMu.Lock()
	defer t.dropMu.Unlock()
	files := 0
	t.use(func() error {
		for t.db.RunValueLogGC(ratio) == nil {
			files++
		}
		return nil
	})
	t.log.Debug("evicted", "pieces", len(pieces), "marked", marked, "dropped", dropped-marked,
		"gc", time.Since(start)-dropped, "files", files)
	return nil
}

// gcRatio is the share of a value-log file that must be garbage for the GC to rewrite it.
// The rewrite copies the rest to the head of the log: with little space free, only files
// (almost) wholly garbage are taken, which are deleted without writing anything.
func (t *torrent) gcRatio() float64 {
	if free, err := freeSpace(t.dir); err == nil && free < 2*t.vlogSize+minFree {
		return 0.99
	}
	return 0.5
}

// closedTorrents lists the torrents in the cache directory other than ours (those this
// process opened), each as one candidate last used when its directory was.
func (c *Cache) closedTorrents(ours map[metainfo.Hash]bool) []candidate {
	dirs, err := torrentDirs(c.dir)
	if err != nil {
		return nil
	}
	var cands []candidate
	for ih, dir := range dirs {
		if ours[ih] {
			continue
		}
		size, err := diskUsage(dir)
		if err != nil || size == 0 {
			continue
		}
		cands = append(cands, candidate{used: lastUsed(dir).UnixNano(), size: size, dir: dir, ih: ih})
	}
	return cands
}

// evictClosed deletes a closed torrent's directory, unless this process acquired it since
// the candidates were listed (a torrent added dormant opens its database when first read)
// or another process has it open (ErrInUse). It is moved away under c.mu, so that Acquire
// never opens a directory being deleted.
func (c *Cache) evictClosed(ih metainfo.Hash, dir string) error {
	c.mu.Lock()
	if _, ok := c.torrents[ih]; ok || c.released[ih] {
		c.mu.Unlock()
		return ErrInUse
	}
	lock, err := lockDir(dir)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	trash, err := trashDir(dir)
	lock.Close()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

// removeClosed deletes a torrent's directory unless a process has it open. The directory
// is renamed away under the torrent's lock first, so no process can open it half deleted.
func removeClosed(dir string) error {
	lock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer lock.Close()
	return removeDir(dir)
}

// removeDir deletes a torrent's directory. It is renamed away first, in one step, so that
// no process finds it half deleted; removeTrash finishes a removal a crash interrupted.
func removeDir(dir string) error {
	trash, err := trashDir(dir)
	if err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

// trashDir renames a torrent's directory away for removal, and returns its new name.
func trashDir(dir string) (string, error) {
	trash := filepath.Join(filepath.Dir(dir), fmt.Sprintf(".trash-%s-%d", filepath.Base(dir), time.Now().UnixNano()))
	return trash, os.Rename(dir, trash)
}

// torrentDirs returns the torrents' directories in the cache directory dir, by info-hash:
// the subdirectories named by one in hex.
func torrentDirs(dir string) (map[metainfo.Hash]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	dirs := make(map[metainfo.Hash]string)
	for _, e := range entries {
		var ih metainfo.Hash
		if b, err := hex.DecodeString(e.Name()); err == nil && len(b) == len(ih) && e.IsDir() {
			dirs[metainfo.Hash(b)] = filepath.Join(dir, e.Name())
		}
	}
	return dirs, nil
}
