package cache

import (
	"bytes"
	"crypto/sha1"
	"testing"
)

// A piece's hash through WriteTo, as anacrolix takes it, is the hash of what is stored,
// however its blocks came: in order (read back in one run), out of order, or a block written
// twice with other bytes (its first value lies in the run, its last elsewhere).
func TestWriteToHashesWhatIsStored(t *testing.T) {
	info, data := testInfo(t)
	_, ti := openTest(t, t.TempDir(), info)
	pl := info.PieceLength
	sum := func(b []byte) []byte { h := sha1.Sum(b); return h[:] }
	hashOf := func(i int) []byte {
		h := sha1.New()
		if _, err := ti.Piece(info.Piece(i)).WriteTo(h); err != nil {
			t.Fatal(err)
		}
		return h.Sum(nil)
	}
	write := func(i int, off int64, b []byte) {
		if _, err := ti.Piece(info.Piece(i)).WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}

	// Piece 0 in order.
	for off := int64(0); off < pl; off += blockSize {
		write(0, off, data[off:off+blockSize])
	}
	if got := hashOf(0); !bytes.Equal(got, info.Pieces[:20]) {
		t.Errorf("piece 0 written in order: hash %x, want %x", got, info.Pieces[:20])
	}

	// Piece 1 in reverse order.
	writePiece(t, ti, info, data, 1)
	if got := hashOf(1); !bytes.Equal(got, info.Pieces[20:40]) {
		t.Errorf("piece 1 written in reverse: hash %x, want %x", got, info.Pieces[20:40])
	}

	// Piece 2 in order, then its second block again with other bytes: the hash is of those.
	p2 := data[2*pl : 3*pl]
	for off := int64(0); off < pl; off += blockSize {
		write(2, off, p2[off:off+blockSize])
	}
	bad := bytes.Repeat([]byte{0xA5}, blockSize)
	write(2, blockSize, bad)
	stored := append(append(append([]byte(nil), p2[:blockSize]...), bad...), p2[2*blockSize:]...)
	if got := hashOf(2); !bytes.Equal(got, sum(stored)) {
		t.Errorf("piece 2 with a block rewritten: hash %x, want the stored bytes' %x", got, sum(stored))
	}

}
