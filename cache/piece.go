package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/torrentfs/torrentfs/third_party/badger"
)

// Keys. Piece and block numbers are big-endian so that a piece's blocks sort together.
const (
	blockPrefix    = 'b' // 'b' piece block → block bytes
	completePrefix = 'c' // 'c' piece → empty: the piece passed its hash check
	infoKey        = 'i' // 'i' → the bencoded info dictionary
)

func blockKey(piece, block int) []byte {
	k := make([]byte, 9)
	k[0] = blockPrefix
	binary.BigEndian.PutUint32(k[1:], uint32(piece))
	binary.BigEndian.PutUint32(k[5:], uint32(block))
	return k
}

func pieceKey(prefix byte, piece int) []byte {
	k := make([]byte, 5)
	k[0] = prefix
	binary.BigEndian.PutUint32(k[1:], uint32(piece))
	return k
}

// markerPiece returns the piece a completion marker's key names, if it is one of n: the
// database is read back from disk, where anything may have happened to it.
func markerPiece(key []byte, n int) (int, bool) {
	if len(key) != 5 || key[0] != completePrefix {
		return 0, false
	}
	i := binary.BigEndian.Uint32(key[1:])
	return int(i), int(i) < n
}

// torrent is one torrent's database.
type torrent struct {
	// Immutable after acquireLocked.
	ih       metainfo.Hash
	dir      string
	db       *badger.DB
	w        *writer
	lock     *os.File
	log      *slog.Logger
	space    *space
	vlogSize int64
	// onClosing runs when close begins, onClose when it is done: the Cache's bookkeeping.
	onClosing, onClose func()

	// Immutable after setInfo, which comes before any piece is used.
	pieceLen int64
	length   int64          // where the last file ends, in the torrent's byte space
	short    map[int]int64  // the pieces shorter than pieceLen, by index: see layout
	lastUse  []atomic.Int64 // per piece, Unix nanoseconds of its last write, completion or read

	// dropMu is held for writing around DropPrefix, which fails every other write to the
	// database while it runs; writes hold it for reading.
	dropMu sync.RWMutex

	closeOnce sync.Once
	closeErr  error
	// closeMu is held for reading by every use of db and for writing by close. Badger does
	// not guard its own Close: a transaction begun during it panics ("DB Closed"), and a
	// value read from its mmapped log after it faults. anacrolix still hashes, reads and
	// marks pieces from goroutines its Client.Close does not wait for.
	closeMu sync.RWMutex
	closed  bool

	// Guarded by mu.
	mu       sync.RWMutex
	complete []bool
	// evicting marks pieces being evicted; chunk writes to them wait on evicted.
	evicting []bool
	// refetched marks evicted pieces until they are complete again: their blocks are
	// unverified, and reads of them fail even if the client still thinks them complete.
	refetched []bool
	evicted   sync.Cond

	// hashes keeps the SHA-1 of pieces as their blocks are written (runhash.go).
	hashes runningHashes
}

func openDB(dir string, log *slog.Logger, vlogSize int64, sp *space) (*torrent, error) {
	if err := makeTorrentDir(dir); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	db, err := badger.Open(badgerOptions(dir, log, vlogSize))
	if err != nil {
		if perr := refused(dir); perr != nil {
			err = fmt.Errorf("%w (%w)", err, perr)
		}
	}
	if err != nil && !errors.As(err, new(*refusal)) {
		// Not the system refusing (permissions, space, limits) but the files themselves: a
		// disk error, or someone's editing. It is a cache: start the torrent afresh, and its
		// pieces are fetched again.
		log.Warn("the cache of this torrent is damaged; starting it afresh", "dir", dir, "err", err)
		if rerr := removeDir(dir); rerr == nil {
			lock.Close()
			if err = makeTorrentDir(dir); err != nil {
				return nil, err
			}
			if lock, err = lockDir(dir); err != nil {
				return nil, err
			}
			db, err = badger.Open(badgerOptions(dir, log, vlogSize))
		}
	}
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("open the cache's database in %s: %w", dir, err)
	}
	t := &torrent{dir: dir, db: db, lock: lock, log: log, space: sp, vlogSize: vlogSize}
	t.w = newWriter(db, &t.dropMu, sp)
	t.evicted.L = &t.mu
	return t, nil
}

// refusal is the system refusing to let the cache write in its directory.
type refusal struct{ err error }

func (r *refusal) Error() string { return "the directory cannot be written: " + r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// refused tries to write and sync a file in dir, and returns a *refusal if the system does
// not let it (permissions, a read-only or full file system, a limit on open files): then a
// database that Badger cannot open is not damaged, only out of reach. Badger's errors keep
// their cause only as text, so the directory is asked directly.
func refused(dir string) error {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return &refusal{err}
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(make([]byte, 64<<10)); err != nil {
		return &refusal{err}
	}
	if err := f.Sync(); err != nil {
		return &refusal{err}
	}
	return nil
}

// use runs fn while the database is open; after close it returns errClosed. Lock order:
// dropMu before closeMu.
func (t *torrent) use(fn func() error) error {
	t.closeMu.RLock()
	defer t.closeMu.RUnlock()
	if t.closed {
		return errClosed
	}
	return fn()
}

// view runs fn in a read-only transaction.
func (t *torrent) view(fn func(*badger.Txn) error) error {
	return t.use(func() error { return t.db.View(fn) })
}

// update runs fn in a read-write transaction, never during a DropPrefix.
func (t *torrent) update(fn func(*badger.Txn) error) error {
	if err := t.space.writable(); err != nil {
		return err
	}
	t.dropMu.RLock()
	defer t.dropMu.RUnlock()
	return t.use(func() error { return t.db.Update(fn) })
}

// setInfo sizes the torrent and loads which pieces are complete. A torrent is opened by one
// client once.
func (t *torrent) setInfo(info *metainfo.Info) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.complete != nil {
		return ErrInUse
	}
	t.pieceLen = info.PieceLength
	t.length, t.short = layout(info)
	n := info.NumPieces()
	complete := make([]bool, n)
	t.lastUse = make([]atomic.Int64, n)
	err := t.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{completePrefix}, PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			i, ok := markerPiece(it.Item().Key(), n)
			if !ok {
				continue
			}
			complete[i] = true
			// The marker's value is when the piece was completed (empty before eviction
			// existed: those count as oldest).
			it.Item().Value(func(v []byte) error {
				if len(v) == 8 {
					t.lastUse[i].Store(int64(binary.BigEndian.Uint64(v)))
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load completion: %w", err)
	}
	t.complete = complete
	t.evicting = make([]bool, n)
	t.refetched = make([]bool, n)
	m := meta{Name: info.BestName(), Length: t.length, PieceLength: t.pieceLen}
	if old, err := readMeta(t.dir); err == nil && old == m {
		touchMeta(t.dir)
	} else if err := writeMeta(t.dir, m); err != nil {
		t.log.Warn("cannot write cache metadata", "dir", t.dir, "err", err)
	}
	return nil
}

func (t *torrent) close() error {
	t.closeOnce.Do(func() {
		if t.onClosing != nil {
			t.onClosing()
		}
		t.w.close()
		t.closeMu.Lock()
		t.closed = true
		t.closeErr = t.db.Close()
		t.closeMu.Unlock()
		touchMeta(t.dir)
		t.lock.Close()
		if t.onClose != nil {
			t.onClose()
		}
	})
	return t.closeErr
}

func (t *torrent) isComplete(i int) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.complete[i]
}

// completeAfterEviction waits while piece i is being evicted and reports whether it is
// complete.
func (t *torrent) completeAfterEviction(i int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.evicting[i] {
		t.evicted.Wait()
	}
	return t.complete[i]
}

// readable reports whether piece i may be read: not evicted, or complete again since.
func (t *torrent) readable(i int) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return !t.refetched[i] && !t.evicting[i]
}

func (t *torrent) touch(i int) { t.lastUse[i].Store(time.Now().UnixNano()) }

func (t *torrent) setComplete(i int, c bool) {
	t.mu.Lock()
	t.complete[i] = c
	t.mu.Unlock()
}

// pieceLength returns the length of piece i.
func (t *torrent) pieceLength(i int) int64 {
	if n, ok := t.short[i]; ok {
		return n
	}
	return t.pieceLen
}

// layout returns where the torrent's last file ends and its short pieces. In a v1 torrent
// only the last piece can be short. A hybrid (v1 and v2) torrent is laid out as v2 has it,
// and as anacrolix stores it: every file starts on a piece boundary, and the last piece of
// each file ends with the file. Its v1 piece hashes cover the padding files in between,
// which hold zeros and are not stored.
func layout(info *metainfo.Info) (length int64, short map[int]int64) {
	pl := info.PieceLength
	short = make(map[int]int64)
	fileEnd := func(end int64) {
		length = max(length, end)
		if last := (end - 1) / pl; end > 0 && end-last*pl < pl {
			short[int(last)] = end - last*pl
		}
	}
	if !info.HasV2() {
		fileEnd(info.TotalLength())
		return length, short
	}
	for f := range info.UpvertedFilesIter() {
		if f.Length > 0 {
			fileEnd(f.TorrentOffset + f.Length)
		}
	}
	return length, short
}

func (t *torrent) piece(p metainfo.Piece) storage.PieceImpl {
	return &piece{t: t, index: p.Index(), length: p.Length()}
}

// piece implements storage.PieceImpl and io.WriterTo.
type piece struct {
	t      *torrent
	index  int
	length int64
}

var (
	_ storage.PieceImpl = (*piece)(nil)
	_ io.WriterTo       = (*piece)(nil)
)

func (p *piece) blocks() int { return int((p.length + blockSize - 1) / blockSize) }

func (p *piece) blockLen(b int) int64 { return min(blockSize, p.length-int64(b)*blockSize) }

// WriteError is the error of a chunk write the cache could not store: it is full, closing, or
// the write failed. The chunk is lost; the client fetches it again. Every error WriteAt
// returns is one.
type WriteError struct {
	Piece int
	Err   error
}

func (e *WriteError) Error() string { return fmt.Sprintf("write piece %d: %v", e.Piece, e.Err) }
func (e *WriteError) Unwrap() error { return e.Err }

// WriteAt stores chunk data. anacrolix reuses its buffer, so the data is copied. A whole block
// is a blind write; a part of a block (only seen with unusual chunk sizes) is merged with what
// is stored. Writes to a complete piece are dropped: its bytes are verified and final.
func (p *piece) WriteAt(b []byte, off int64) (int, error) {
	if p.t.completeAfterEviction(p.index) {
		return len(b), nil
	}
	p.t.touch(p.index)
	n := 0
	for n < len(b) {
		pos := off + int64(n)
		blk := int(pos / blockSize)
		inBlk := pos - int64(blk)*blockSize
		bl := p.blockLen(blk)
		m := int(min(int64(len(b)-n), bl-inBlk))
		var err error
		if inBlk == 0 && int64(m) == bl {
			if err = p.t.space.reserve(bl); err != nil {
				return n, &WriteError{p.index, err}
			}
			v := newBlock(b[n : n+m])
			v.hold() // for the running hash
			if err = p.t.w.write(p.index, blockKey(p.index, blk), v); err != nil {
				p.t.space.wrote(bl) // never will be
				v.release()
				p.t.hashes.breakPiece(p.index)
			} else {
				p.t.hashes.block(p.index, blk, v)
			}
		} else {
			p.t.hashes.breakPiece(p.index)
			// A part of a block (only seen with unusual chunk sizes): merge it with what is
			// stored, after the piece's queued whole-block writes.
			if err = p.t.w.wait(p.index); err == nil {
				err = p.mergeBlock(blk, inBlk, b[n:n+m])
			}
		}
		if err != nil {
			return n, &WriteError{p.index, err}
		}
		n += m
	}
	return n, nil
}

func (p *piece) mergeBlock(blk int, off int64, b []byte) error {
	key := blockKey(p.index, blk)
	for {
		err := p.t.update(func(txn *badger.Txn) error {
			v := make([]byte, p.blockLen(blk))
			item, err := txn.Get(key)
			switch {
			case err == nil:
				if _, err := item.ValueCopy(v[:0:len(v)]); err != nil {
					return err
				}
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			}
			copy(v[off:], b)
			return txn.Set(key, v)
		})
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
}

// ReadAt reads stored bytes of the piece. A block that is not stored ends the read with
// io.ErrUnexpectedEOF.
func (p *piece) ReadAt(b []byte, off int64) (int, error) {
	n, err := p.t.readAt(b, int64(p.index)*p.t.pieceLen+off)
	if err == nil && n < len(b) {
		err = io.EOF
	}
	return n, err
}

// WriteTo writes the piece's bytes to w, read out of Badger. anacrolix uses it to hash the
// piece: if w is a fresh SHA-1 and the piece's hash was kept as its blocks were written
// (runhash.go), w is given that hash instead, and nothing is read.
func (p *piece) WriteTo(w io.Writer) (int64, error) {
	if err := p.t.w.wait(p.index); err != nil {
		p.t.hashes.forget(p.index)
		return 0, fmt.Errorf("write piece %d: %w", p.index, err)
	}
	if p.t.hashes.take(p.index, p.blocks(), w) {
		return p.length, nil
	}
	var n int64
	err := p.t.view(func(txn *badger.Txn) error {
		items, err := getBlocks(txn, p.index, 0, p.blocks())
		if err != nil {
			return err
		}
		return badger.ReadValues(items, maxSpan, func(_ int, v []byte) error {
			m, err := w.Write(v)
			n += int64(m)
			return err
		})
	})
	return n, err
}

// maxSpan is the most one read of adjacent blocks takes from Badger's value log at once
// (badger.ReadValues): a piece's blocks, written in one batch, lie one after another, and a
// pread(2) of a run of them costs less than one each. 256 KiB hashed a little cheaper than
// 1 MiB, which no longer fits the CPU's cache between the read and the hash
// (docs/measurements.md).
const maxSpan = 256 << 10

// getBlocks looks up blocks [from, to) of piece, and fails with the first that is missing.
func getBlocks(txn *badger.Txn, piece, from, to int) ([]*badger.Item, error) {
	items := make([]*badger.Item, 0, to-from)
	for blk := from; blk < to; blk++ {
		item, err := txn.Get(blockKey(piece, blk))
		if err != nil {
			return items, fmt.Errorf("block %d: %w", blk, err)
		}
		items = append(items, item)
	}
	return items, nil
}

// MarkComplete records that the piece passed its hash check. The blocks are checked to be
// present first, in a read-only transaction so that concurrent chunk writes to other pieces
// cannot make it fail with a conflict.
func (p *piece) MarkComplete() error {
	p.t.hashes.forget(p.index)
	if err := p.t.w.wait(p.index); err != nil {
		return fmt.Errorf("mark piece %d complete: %w", p.index, err)
	}
	var have int
	err := p.t.view(func(txn *badger.Txn) error {
		prefix := pieceKey(blockPrefix, p.index)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			have++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark piece %d complete: %w", p.index, err)
	}
	if have != p.blocks() {
		return fmt.Errorf("mark piece %d complete: %d of %d blocks stored", p.index, have, p.blocks())
	}
	now := time.Now().UnixNano()
	err = p.t.update(func(txn *badger.Txn) error {
		return txn.Set(pieceKey(completePrefix, p.index), binary.BigEndian.AppendUint64(nil, uint64(now)))
	})
	if err != nil {
		return fmt.Errorf("mark piece %d complete: %w", p.index, err)
	}
	p.t.lastUse[p.index].Store(now)
	p.t.mu.Lock()
	p.t.complete[p.index] = true
	p.t.refetched[p.index] = false
	p.t.mu.Unlock()
	return nil
}

// MarkNotComplete forgets the piece: its marker and its blocks.
func (p *piece) MarkNotComplete() error {
	p.t.setComplete(p.index, false)
	p.t.w.wait(p.index) // queued writes must not land after the deletes
	p.t.hashes.forget(p.index)
	p.t.dropMu.RLock()
	defer p.t.dropMu.RUnlock()
	return p.t.use(func() error {
		wb := p.t.db.NewWriteBatch()
		defer wb.Cancel()
		if err := wb.Delete(pieceKey(completePrefix, p.index)); err != nil {
			return err
		}
		for blk := range p.blocks() {
			if err := wb.Delete(blockKey(p.index, blk)); err != nil {
				return err
			}
		}
		return wb.Flush()
	})
}

// Completion is always known (Ok): pieces without a marker are simply not complete. anacrolix
// would otherwise rehash them at start and skip them when requesting.
func (p *piece) Completion() storage.Completion {
	return storage.Completion{Ok: true, Complete: p.t.isComplete(p.index)}
}

// readAt copies torrent bytes at off into b, across pieces and blocks, in one read-only
// transaction. It stops at the first block not stored. A complete piece that cannot be read
// whole is damaged, and dropped (see dropDamaged).
func (t *torrent) readAt(b []byte, off int64) (int, error) {
	if off >= t.length {
		return 0, io.EOF
	}
	want := len(b)
	b = b[:min(int64(len(b)), t.length-off)]
	n := 0
	last := -1
	var plen int64  // piece last's length
	var cause error // why piece last could not be read
	err := t.view(func(txn *badger.Txn) error {
		for n < len(b) {
			pos := off + int64(n)
			pc := int(pos / t.pieceLen)
			if pc != last {
				if !t.readable(pc) {
					return ErrEvicted
				}
				t.touch(pc)
				last, plen = pc, t.pieceLength(pc)
			}
			inPiece := pos - int64(pc)*t.pieceLen
			if inPiece >= plen {
				// A hybrid torrent's padding after a file's last piece: never stored.
				return io.ErrUnexpectedEOF
			}
			// The blocks of this piece that the rest of b covers, read together.
			blk := int(inPiece / blockSize)
			end := min(plen, inPiece+int64(len(b)-n))
			items, err := getBlocks(txn, pc, blk, int((end+blockSize-1)/blockSize))
			if err == nil || len(items) > 0 {
				// What is there is read first; a missing block ends the read after it.
				missing := err
				err = badger.ReadValues(items, maxSpan, func(i int, v []byte) error {
					bi := blk + i
					if want := min(blockSize, plen-int64(bi)*blockSize); int64(len(v)) != want {
						return fmt.Errorf("block %d is %d bytes, not %d", bi, len(v), want)
					}
					start := max(0, off+int64(n)-int64(pc)*t.pieceLen-int64(bi)*blockSize)
					n += copy(b[n:], v[start:]) // at least one byte: start < len(v)
					return nil
				})
				if err == nil {
					err = missing
				}
			}
			if err != nil {
				cause = fmt.Errorf("piece %d: %w", pc, err)
				return io.ErrUnexpectedEOF
			}
		}
		return nil
	})
	if cause != nil && t.isComplete(last) {
		t.dropDamaged(last, cause)
		n = int(max(0, int64(last)*t.pieceLen-off)) // nothing of the damaged piece
		err = fmt.Errorf("%w: %v", errDamaged, cause)
	}
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

func (t *torrent) pieceAt(i int) *piece { return &piece{t: t, index: i, length: t.pieceLength(i)} }

// dropDamaged forgets piece i, complete but unreadable: a block of it is missing, short or
// fails Badger's checksum (a damaged disk or file, or someone's editing). The piece was
// verified once; its bytes no longer are, and readAt returns none of them. anacrolix rereads a
// piece's completion after a failed read, finds it incomplete, and fetches it again.
func (t *torrent) dropDamaged(i int, cause error) {
	t.mu.Lock()
	was := t.complete[i]
	if was {
		t.complete[i] = false
		t.refetched[i] = true // until complete again
	}
	t.mu.Unlock()
	if !was {
		return
	}
	t.log.Warn("a cached piece is damaged: dropped, it will be fetched again", "err", cause)
	if err := t.pieceAt(i).MarkNotComplete(); err != nil {
		t.log.Warn("cannot drop a damaged piece", "piece", i, "err", err)
	}
}

// errDamaged fails a read of a piece found damaged.
var errDamaged = errors.New("cache: piece damaged")

func (t *torrent) newReader() storage.TorrentReader { return torrentReader{t} }

// torrentReader reads across the whole torrent; anacrolix uses it for reads and for uploads,
// and fetch for reads of verified pieces that skip anacrolix (docs/read-path.md).
type torrentReader struct{ t *torrent }

// ReadAt reads within one piece at a time. anacrolix waits for pending chunk writes only on
// the piece at off (its storage.go asks "Should waitNoPendingWrites take a region?"), so
// bytes in the next piece may be mid-write; its Reader comes back for them after a short
// read. (Reading across made anacrolix's conformance suite fail one run in five, with
// responsive readers.)
func (r torrentReader) ReadAt(b []byte, off int64) (int, error) {
	var err error
	if end := (off/r.t.pieceLen + 1) * r.t.pieceLen; off+int64(len(b)) > end && end < r.t.length {
		b, err = b[:end-off], errPieceEnd
	}
	n, rerr := r.t.readAt(b, off)
	if n < len(b) {
		return n, rerr
	}
	return n, err
}

// ErrEvicted fails a read of a piece evicted since the client last heard it was complete.
// The client is told (Watcher.Evicted) and fetches the piece again.
var ErrEvicted = errors.New("cache: piece was evicted")

// errPieceEnd ends a short read at a piece boundary.
var errPieceEnd = errors.New("cache: read stops at the end of a piece")

func (torrentReader) Close() error { return nil }
