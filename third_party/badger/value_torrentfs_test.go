package badger

import (
	"bytes"
	"fmt"
	"testing"
)

// torrentfs: the value log is written from a buffer of vlogWriteBatch bytes (patches 7 and
// 8). Requests of more entries than the buffer holds are each read back as written, and the
// process's buffer is the one it was made, at its capacity still: with a pooled buffer that
// grew (to 1.5 MiB) and was made again, a mount's resident memory rose by 4-5 MiB.
func TestValueLogWriteBuffer(t *testing.T) {
	db, err := Open(DefaultOptions(t.TempDir()).WithLogger(nil).WithValueThreshold(1 << 10))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	val := func(i int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8), 0}, 16<<10/3+1) }
	const n = 200 // 3.2 MiB: three buffers full and some
	for round := range 8 {
		wb := db.NewWriteBatch()
		for i := range n {
			if err := wb.Set(fmt.Appendf(nil, "k%d-%04d", round, i), val(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := wb.Flush(); err != nil {
			t.Fatal(err)
		}
		vlogBufMu.Lock()
		c := -1
		if vlogBuf != nil {
			c = vlogBuf.Cap()
		}
		vlogBufMu.Unlock()
		if c != vlogWriteBatch {
			t.Fatalf("round %d: the value log's write buffer has a capacity of %d bytes, not %d", round, c, vlogWriteBatch)
		}
	}
	err = db.View(func(txn *Txn) error {
		for round := range 8 {
			for i := range n {
				item, err := txn.Get(fmt.Appendf(nil, "k%d-%04d", round, i))
				if err != nil {
					return err
				}
				v, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				if !bytes.Equal(v, val(i)) {
					return fmt.Errorf("value %d of round %d: %d bytes read back differ from the %d written", i, round, len(v), len(val(i)))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
