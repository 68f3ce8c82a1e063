package badger

import (
	"bytes"
	"fmt"
	"testing"
)

// torrentfs: the value log is written from a buffer of vlogWriteBatch bytes (patches 7 and
// 8). A request's entries, more than the buffer holds, are each read back as written, and
// the buffer went back to the pool at the capacity it was made with: one grown past it
// (2 MiB, as it was) raised a mount's resident memory by 5-6 MiB.
func TestValueLogWriteBuffer(t *testing.T) {
	db, err := Open(DefaultOptions(t.TempDir()).WithLogger(nil).WithValueThreshold(1 << 10))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	val := func(i int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8), 0}, 16<<10/3+1) }
	const n = 200 // 3.2 MiB: three buffers full and some
	// sync.Pool drops a quarter of what is put back under the race detector, so that the
	// buffer looked at may be a new one; more rounds look at the used one at least once.
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
		buf := vlogBufs.Get().(*bytes.Buffer)
		c := buf.Cap()
		vlogBufs.Put(buf)
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
