package cache

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/torrentfs/torrentfs/third_party/badger"
)

// writer commits whole-block writes in batches on its own goroutine. A Badger transaction
// per chunk would hold the peer's connection while it commits, capping a download; a batch
// of many chunks costs little more than one (docs/measurements.md).
//
// A piece's writes are only waited for where they are needed: before it is hashed (WriteTo)
// and before it is marked complete, so a complete piece always has its verified bytes.
type writer struct {
	db     *badger.DB
	dropMu *sync.RWMutex // held for reading while committing; see torrent.dropMu
	space  *space
	ch     chan blockWrite

	done chan struct{} // closed when the goroutine has exited

	// Guarded by mu. Sends on ch happen under mu too, so close cannot race them.
	mu      sync.Mutex
	pending map[int]*pieceWrites
	closed  bool
}

type blockWrite struct {
	key   []byte
	value *block // released once committed
	pw    *pieceWrites
}

// blockPool holds block buffers. Badger keeps no reference to a value once its batch is
// committed, so a buffer is reused once that and the piece's running hash (runhash.go) are
// done with it, rather than a chunk's worth of garbage per chunk (docs/measurements.md).
var blockPool = sync.Pool{New: func() any { return &block{b: make([]byte, 0, blockSize)} }}

// block is a pooled copy of a chunk's bytes, shared by the writer and a running hash.
type block struct {
	b    []byte
	refs atomic.Int32
}

// newBlock returns a pooled copy of b, which is at most blockSize long, with one reference.
func newBlock(b []byte) *block {
	v := blockPool.Get().(*block)
	v.b = append(v.b[:0], b...)
	v.refs.Store(1)
	return v
}

// hold adds a reference to v.
func (v *block) hold() { v.refs.Add(1) }

// release drops a reference to v, and returns it to the pool after the last.
func (v *block) release() {
	if v.refs.Add(-1) == 0 {
		blockPool.Put(v)
	}
}

// pieceWrites counts a piece's writes not yet committed and keeps the first error.
type pieceWrites struct {
	wg  sync.WaitGroup
	err error // set before wg.Done, read after wg.Wait
}

// maxBatch bounds the bytes of one batch, so a piece's waiters are not held up long.
const maxBatch = 4 << 20

func newWriter(db *badger.DB, dropMu *sync.RWMutex, space *space) *writer {
	w := &writer{db: db, dropMu: dropMu, space: space, ch: make(chan blockWrite, 256), pending: make(map[int]*pieceWrites), done: make(chan struct{})}
	go w.run()
	return w
}

// errClosed is returned for writes after close: anacrolix may still deliver chunks from
// connections it is tearing down after the client has closed.
var errClosed = errors.New("cache: torrent closed")

// write queues value under key for piece, taking over the caller's reference to it.
func (w *writer) write(piece int, key []byte, value *block) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		value.release()
		return errClosed
	}
	pw := w.pending[piece]
	if pw == nil {
		pw = &pieceWrites{}
		w.pending[piece] = pw
	}
	pw.wg.Add(1)
	w.ch <- blockWrite{key, value, pw} // run never takes mu, so this cannot deadlock
	return nil
}

// wait waits until piece's queued writes are committed and returns the first error.
func (w *writer) wait(piece int) error {
	w.mu.Lock()
	pw := w.pending[piece]
	delete(w.pending, piece)
	w.mu.Unlock()
	if pw == nil {
		return nil
	}
	pw.wg.Wait()
	return pw.err
}

func (w *writer) run() {
	defer close(w.done)
	for first := range w.ch {
		batch := []blockWrite{first}
		size := len(first.value.b)
	more:
		for size < maxBatch {
			select {
			case bw, ok := <-w.ch:
				if !ok {
					break more
				}
				batch = append(batch, bw)
				size += len(bw.value.b)
			default:
				break more
			}
		}
		err := w.commit(batch)
		w.space.wrote(int64(size))
		for _, bw := range batch {
			if err != nil && bw.pw.err == nil {
				bw.pw.err = err
			}
			bw.pw.wg.Done()
			bw.value.release()
		}
	}
}

func (w *writer) commit(batch []blockWrite) error {
	if err := w.space.writable(); err != nil {
		return err
	}
	w.dropMu.RLock()
	defer w.dropMu.RUnlock()
	wb := w.db.NewWriteBatch()
	defer wb.Cancel()
	for _, bw := range batch {
		if err := wb.Set(bw.key, bw.value.b); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// close commits what is queued and stops the goroutine; later writes get errClosed.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
	w.mu.Unlock()
	<-w.done
}
