package badger

import (
	"hash/crc32"

	"github.com/dgraph-io/badger/v4/y"
)

// torrentfs: ReadValues, for a caller that reads many values that were written together (the
// blocks of a piece), reads them with one pread(2) and one lock of the value-log file rather
// than one each.

// ReadValues calls fn with the value of each of items in turn, as items[i].Value(fn) would,
// within the items' transaction. Values that lie one after another in one value-log file, as
// a batch of writes leaves them, are read together: up to maxSpan bytes with one pread(2).
// A value that cannot be read that way (its entry fails its checksum, say) is read alone with
// Item.Value, which does what it always does. fn must not keep the value after it returns.
func ReadValues(items []*Item, maxSpan int, fn func(i int, val []byte) error) error {
	for i := 0; i < len(items); {
		j := i + 1
		if first, ok := spanVptr(items[i]); ok {
			end := first.Offset + first.Len
			for j < len(items) {
				vp, ok := spanVptr(items[j])
				if !ok || vp.Fid != first.Fid || vp.Offset != end || int(vp.Offset+vp.Len-first.Offset) > maxSpan {
					break
				}
				end = vp.Offset + vp.Len
				j++
			}
		}
		if j == i+1 {
			k := i
			if err := items[i].Value(func(v []byte) error { return fn(k, v) }); err != nil {
				return err
			}
		} else if err := readSpan(items[i:j], i, fn); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// spanVptr returns where item's value lies in the value log, if it lies there and has not
// been read yet.
func spanVptr(item *Item) (valuePointer, bool) {
	var vp valuePointer
	if item.txn == nil || item.status == prefetched || item.meta&bitValuePointer == 0 || len(item.vptr) != int(vptrSize) {
		return vp, false
	}
	vp.Decode(item.vptr)
	return vp, true
}

// readSpan reads items, whose values lie one after another in one value-log file, with one
// pread(2), and calls fn with each value; base is the index of items[0] for fn.
func readSpan(items []*Item, base int, fn func(int, []byte) error) error {
	vlog := &items[0].txn.db.vlog
	first, _ := spanVptr(items[0])
	last, _ := spanVptr(items[len(items)-1])
	span := valuePointer{Fid: first.Fid, Offset: first.Offset, Len: last.Offset + last.Len - first.Offset}
	var buf []byte
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	if lf, err := vlog.getFileRLocked(span); err == nil {
		if !lf.encryptionEnabled() {
			buf, err = lf.read(span, bp)
			if err != nil {
				buf = nil
			}
		}
		lf.lock.RUnlock()
	}
	for k, item := range items {
		var v []byte
		ok := false
		if buf != nil {
			vp, _ := spanVptr(item)
			v, ok = entryValue(buf[vp.Offset-first.Offset:vp.Offset-first.Offset+vp.Len], vlog.opt.VerifyValueChecksum)
		}
		var err error
		if ok {
			err = fn(base+k, v)
		} else {
			i := base + k
			err = item.Value(func(v []byte) error { return fn(i, v) })
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// entryValue returns the value of an unencrypted value-log entry, checked against its CRC if
// verify is set, as valueLog.Read does.
func entryValue(e []byte, verify bool) ([]byte, bool) {
	if len(e) < crc32.Size {
		return nil, false
	}
	if verify && crc32.Checksum(e[:len(e)-crc32.Size], y.CastagnoliCrcTable) != y.BytesToU32(e[len(e)-crc32.Size:]) {
		return nil, false
	}
	var h header
	if len(e) < maxHeaderSize+crc32.Size {
		// Decode reads up to maxHeaderSize bytes; an entry this short is damaged.
		return nil, false
	}
	n := h.Decode(e)
	if n < 5 || n > len(e) {
		return nil, false
	}
	kv := e[n:]
	if uint64(len(kv)) < uint64(h.klen)+uint64(h.vlen) {
		return nil, false
	}
	return kv[h.klen : h.klen+h.vlen], true
}
