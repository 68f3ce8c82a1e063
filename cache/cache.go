// Package cache keeps torrent pieces in Badger and serves them to anacrolix/torrent as its
// storage (storage.ClientImpl).
//
// Each torrent gets its own Badger database, in a directory named by its info-hash under the
// cache directory, so two processes serving two different torrents can share one cache
// directory. A database is locked by the process that opened it: opening the same torrent
// from a second process fails with ErrInUse.
//
// Piece data is stored in blocks of blockSize bytes as they arrive from peers. A piece becomes
// complete only when anacrolix has checked its hash and called MarkComplete: a marker key is
// written after every block of the piece is known to be present, and pieces without the marker
// are never reported complete, so nothing unverified is ever served, also after a crash.
//
// The package knows nothing of FUSE or of the swarm.
package cache

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/torrentfs/torrentfs/internal/bencheck"
	"github.com/torrentfs/torrentfs/third_party/badger"
	"golang.org/x/time/rate"
)

// blockSize is the size of the values piece data is stored in. It matches the chunk size
// that BitTorrent peers send, so a chunk from the wire is written as one value.
const blockSize = 16 << 10

// ErrInUse is returned by OpenTorrent when another process holds the torrent's database.
var ErrInUse = errors.New("cache: torrent is in use by another torrentfs process")

// Options configure a Cache. The zero value is usable.
type Options struct {
	// Logger receives Badger's log and the cache's own. Nil discards.
	Logger *slog.Logger
	// MaxSize caps the bytes the cache directory takes on disk, Badger's files included, as
	// du counts them. Least recently used pieces are evicted to stay under it. Zero means no
	// cap but the file system's: whatever the cap, the cache leaves some space free there.
	MaxSize int64
}

// MinSize is the smallest MaxSize: room for a few readahead windows and Badger's logs.
const MinSize = 64 << 20

// Cache is a storage.ClientImplCloser backed by Badger. It is safe for concurrent use.
type Cache struct {
	// Immutable after Open.
	dir      string
	log      *slog.Logger
	maxSize  int64
	vlogSize int64 // Badger's value-log file size: the unit in which space is reclaimed
	reserve  int64 // bytes always left free on the file system

	space       *space
	stop        chan struct{}
	evictorDone chan struct{}
	// stuckWarn and measureWarn log going over the cap and failing to measure the cache at
	// most once a minute: the evictor runs every second.
	stuckWarn, measureWarn rate.Sometimes
	loggedLimit            atomic.Int64 // the file system's limit last logged; 0 while the cap applies

	// hookClosing, if set (by tests only, before any torrent is acquired), runs in a
	// torrent's close once the torrent is closing and before its database closes.
	hookClosing func(metainfo.Hash)

	// Guarded by mu.
	mu sync.Mutex
	// torrents holds the open databases. A database being closed leaves it when its close
	// begins, for closing, and closing when the close is done: an Acquire of its torrent
	// waits on settled until then, so it never gets a database that is closing, and never
	// opens a second one while the first still holds the directory's lock.
	torrents map[metainfo.Hash]*torrent
	closing  map[metainfo.Hash]bool
	settled  sync.Cond // L is &mu; broadcast when a close is done
	waiting  int       // Acquires waiting on settled
	// released holds the torrents this process opened and closed: it is exiting, or dropped
	// them. Eviction leaves them to the next process, rather than drop the torrent just read.
	released map[metainfo.Hash]bool
	watcher  Watcher
	closed   bool
}

var _ storage.ClientImplCloser = (*Cache)(nil)

// OwnerError is the error of a cache directory that belongs to another user than the
// process's: that user could read what this one reads, or plant pieces marked complete.
type OwnerError struct {
	Dir   string
	Owner int // the directory's uid
	Uid   int // the process's (effective) uid
}

func (e *OwnerError) Error() string {
	return fmt.Sprintf("cache dir %s belongs to uid %d, not you (uid %d)", e.Dir, e.Owner, e.Uid)
}

// Open returns a cache rooted at dir, creating it if needed with mode 0700: what a user
// reads is theirs alone. A directory that exists keeps its mode, but must belong to the
// process's user (else an *OwnerError) and be writable by nobody else (else a *ModeError);
// the directories and files Open makes inside it are its user's alone too. It fails at once if dir cannot be written, rather than when the
// first piece arrives.
func Open(dir string, opts Options) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	if err := CheckDir(dir); err != nil {
		return nil, err
	}
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("cache dir not writable: %w", err)
	}
	probe.Close()
	os.Remove(probe.Name())
	if opts.MaxSize < 0 || opts.MaxSize > 0 && opts.MaxSize < MinSize {
		return nil, fmt.Errorf("cache size %d is below the minimum of %d MiB", opts.MaxSize, MinSize>>20)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	removeTrash(dir)
	c := &Cache{
		dir: dir, log: log, maxSize: opts.MaxSize,
		torrents: make(map[metainfo.Hash]*torrent), released: make(map[metainfo.Hash]bool),
		closing: make(map[metainfo.Hash]bool), space: newSpace(dir),
		stop: make(chan struct{}), evictorDone: make(chan struct{}),
		stuckWarn: rate.Sometimes{Interval: time.Minute}, measureWarn: rate.Sometimes{Interval: time.Minute},
	}
	// Space is reclaimed a value-log file at a time, so the files are small against the cap
	// (or the file system, if smaller): at most 1/16 of it.
	room := opts.MaxSize
	if used, err := diskUsage(dir); err == nil {
		if free, err := freeSpace(dir); err == nil && (room == 0 || used+free < room) {
			room = used + free
		}
	}
	c.vlogSize = min(max(room/16>>20<<20, 4<<20), 64<<20)
	c.reserve = 2*c.vlogSize + 16<<20
	// Limits now; eviction from the evictor's first tick, after the caller has acquired the
	// torrent it opened the cache for, which would otherwise count as closed and evictable.
	c.settled.L = &c.mu
	c.evictOnce(false)
	go c.runEvictor()
	return c, nil
}

// DefaultMaxSize is the cap a user gets without asking: 10 GiB, but at most half of what the
// cache could take on its file system (its size now plus the free space).
func DefaultMaxSize(dir string) int64 {
	const def = 10 << 30
	for d := dir; ; d = filepath.Dir(d) {
		free, err := freeSpace(d)
		if err != nil {
			if d == filepath.Dir(d) {
				return def
			}
			continue
		}
		used, _ := diskUsage(dir)
		return max(MinSize, min(def, (used+free)/2))
	}
}

// removeTrash finishes removals a crash interrupted.
func removeTrash(dir string) {
	trash, _ := filepath.Glob(filepath.Join(dir, ".trash-*"))
	for _, t := range trash {
		os.RemoveAll(t)
	}
}

// Usage returns the cache directory's size on disk, as last measured plus what was written
// since, and the most it may take now: the cap, or less when its file system is short.
func (c *Cache) Usage() (used, limit int64) {
	c.space.mu.Lock()
	defer c.space.mu.Unlock()
	return c.space.used, c.space.limit
}

// Dir returns the directory the cache lives in.
func (c *Cache) Dir() string { return c.dir }

// Acquire opens the torrent's database ahead of OpenTorrent, so that errors such as ErrInUse
// or a corrupt database are reported before the client starts: anacrolix does not report a
// storage error for a torrent added from a file. OpenTorrent then uses this database. If
// the torrent's database is being closed (its torrent dropped, or released), Acquire waits
// for the close to finish and opens it again.
func (c *Cache) Acquire(ih metainfo.Hash) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.acquireLocked(ih)
	return err
}

// Release closes a torrent's database that Acquire opened for a torrent the client never
// opened (a source that failed, or a magnet link dropped while waiting for metadata). A
// database the client opened is closed with the client's torrent, and Release leaves it.
func (c *Cache) Release(ih metainfo.Hash) {
	c.mu.Lock()
	t, ok := c.torrents[ih]
	c.mu.Unlock()
	if !ok {
		return
	}
	t.mu.RLock()
	opened := t.complete != nil
	t.mu.RUnlock()
	if !opened {
		t.close()
	}
}

// acquireLocked returns the torrent's open database, opening it if needed; it waits for a
// close of it under way. Guarded by mu, which it releases while it waits. A close never
// takes anacrolix's client lock, so OpenTorrent may wait here under it.
func (c *Cache) acquireLocked(ih metainfo.Hash) (*torrent, error) {
	for c.closing[ih] && !c.closed {
		c.waiting++
		c.settled.Wait()
		c.waiting--
	}
	if c.closed {
		return nil, errors.New("cache: closed")
	}
	if t, ok := c.torrents[ih]; ok {
		return t, nil
	}
	t, err := openDB(filepath.Join(c.dir, hex.EncodeToString(ih[:])), c.log, c.vlogSize, c.space)
	if err != nil {
		return nil, err
	}
	t.ih = ih
	t.onClosing = func() {
		c.mu.Lock()
		if c.torrents[ih] == t {
			delete(c.torrents, ih)
		}
		c.closing[ih] = true
		c.released[ih] = true
		c.mu.Unlock()
		if c.hookClosing != nil {
			c.hookClosing(ih)
		}
	}
	t.onClose = func() {
		c.mu.Lock()
		delete(c.closing, ih)
		c.settled.Broadcast()
		c.mu.Unlock()
	}
	c.torrents[ih] = t
	return t, nil
}

// SaveInfo keeps the torrent's info dictionary (bencoded, as its info-hash hashes it), so it
// can be mounted again from a magnet link or info-hash with no peer online. Acquire first.
// Info already kept is not written again: Badger starts a value-log file at every open, and
// a write would keep it.
func (c *Cache) SaveInfo(ih metainfo.Hash, info []byte) error {
	t, err := c.acquired(ih)
	if err != nil {
		return err
	}
	if old, err := t.loadInfo(ih); err == nil && bytes.Equal(old, info) {
		return nil
	}
	return t.update(func(txn *badger.Txn) error {
		return txn.Set([]byte{infoKey}, append([]byte(nil), info...))
	})
}

// LoadInfo returns the info dictionary SaveInfo kept, or ErrNoInfo. Acquire first.
func (c *Cache) LoadInfo(ih metainfo.Hash) ([]byte, error) {
	t, err := c.acquired(ih)
	if err != nil {
		return nil, err
	}
	return t.loadInfo(ih)
}

// loadInfo returns the info dictionary stored in the torrent's database, checked against
// its info-hash, or ErrNoInfo.
func (t *torrent) loadInfo(ih metainfo.Hash) ([]byte, error) {
	var info []byte
	err := t.view(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte{infoKey})
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNoInfo
		}
		if err != nil {
			return err
		}
		info, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	if metainfo.HashBytes(info) != ih {
		return nil, fmt.Errorf("cache: stored info of %s does not match its info-hash", ih.HexString())
	}
	// The hash binds the record to the info-hash, not to a sane shape: whoever made the
	// torrent chose its info dictionary.
	if err := bencheck.Check(info); err != nil {
		return nil, fmt.Errorf("cache: stored info of %s: %w", ih.HexString(), err)
	}
	return info, nil
}

// ErrNoInfo is returned by LoadInfo for a torrent whose info dictionary was never saved.
var ErrNoInfo = errors.New("cache: no info dictionary for this torrent")

func (c *Cache) acquired(ih metainfo.Hash) (*torrent, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.torrents[ih]
	if !ok {
		return nil, errors.New("cache: torrent not acquired")
	}
	return t, nil
}

// OpenTorrent implements storage.ClientImpl. It opens (or creates) the torrent's database,
// unless Acquire did, and loads which pieces are complete, so a restart hashes nothing.
func (c *Cache) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.acquireLocked(ih)
	if err != nil {
		return storage.TorrentImpl{}, err
	}
	if err := t.setInfo(info); err != nil {
		return storage.TorrentImpl{}, err
	}
	ti := storage.TorrentImpl{
		Piece:     t.piece,
		Close:     t.close,
		NewReader: t.newReader,
	}
	return ti, nil
}

// Close closes every torrent database still open. Call it after the anacrolix client is
// closed: the client does not close its storage.
func (c *Cache) Close() error {
	c.mu.Lock()
	if !c.closed {
		close(c.stop)
	}
	c.closed = true
	c.settled.Broadcast() // an Acquire waiting for a close fails now
	open := make([]*torrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		open = append(open, t)
	}
	c.mu.Unlock()
	c.space.close()
	<-c.evictorDone
	var errs []error
	for _, t := range open {
		errs = append(errs, t.close())
	}
	return errors.Join(errs...)
}

// lockDir takes an exclusive flock on dir/torrentfs.lock, dir being a torrent's directory.
// The kernel drops it when the process dies, so a kill -9 leaves no stale lock. Every use of
// a torrent's directory (open, list, verify, evict, remove) takes it first, so it first
// checks that the directory is the cache's own (checkTorrentDir): a *PlantedError if not.
func lockDir(dir string) (*os.File, error) {
	if err := checkTorrentDir(dir); err != nil {
		return nil, err
	}
	f, err := openNoFollow(filepath.Join(dir, "torrentfs.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock cache: %w", err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, ErrInUse
		}
		return nil, fmt.Errorf("lock cache: %w", err)
	}
	return f, nil
}

func badgerOptions(dir string, log *slog.Logger, vlogSize int64) badger.Options {
	// Values above 4 KiB go to the value log, so the LSM stays small and reads are pread
	// copies out of the value-log files (Badger patch 0004); see docs/measurements.md.
	return badger.DefaultOptions(dir).
		WithLogger(badgerLogger{log}).
		WithValueThreshold(4 << 10).
		WithBlockCacheSize(0).
		WithCompression(0).
		// A memtable holds keys and value pointers only: a stream of 512 MiB fills 1 MiB
		// of it about once (one level-0 table of 1.3 MB). Its arena (the size and 30% more) is
		// allocated whole on the Go heap, and again at every eviction, which flushes it
		// (DropPrefix): at 16 MiB the mount's anonymous memory reached 108 MiB with a
		// 128 MiB cap, and 63 MiB without one; at 1 MiB, 54 and 46 MiB.
		WithMemTableSize(1 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithValueLogFileSize(vlogSize).
		WithNumCompactors(2).
		// Badger's compaction workers wake every 50 ms by default, idle or not: 40 times a
		// second per torrent, a quarter of a core for a mount of 1,000 active torrents.
		// Values go to the value log, so the LSM takes keys only and fills slowly: a
		// check a second keeps up (a write stalls only at eight level-0 tables).
		WithCompactionInterval(time.Second).
		// Each value read is checked against its CRC32C: a damaged block is found and its
		// piece fetched again, rather than served. It costs reads little.
		WithVerifyValueChecksum(true)
}

// badgerLogger bridges Badger's printf logger to slog. Badger's INFO lines are chatter for a
// user, so they go to debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(fmt.Sprintf(f, a...), "src", "badger") }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(fmt.Sprintf(f, a...), "src", "badger") }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug(fmt.Sprintf(f, a...), "src", "badger") }
func (b badgerLogger) Debugf(f string, a ...any)   { b.l.Debug(fmt.Sprintf(f, a...), "src", "badger") }
