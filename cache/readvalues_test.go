package cache

import (
	"bytes"
	"crypto/sha1"
	"io"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
)

// A piece's hash through WriteTo, as anacrolix takes it, is the hash of what is stored,
// however its blocks came: in order, out of order, or a block written twice with other bytes
// (the hash kept as they came must not stand for bytes no longer stored; runhash.go).
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

	// Piece 1 again, after MarkNotComplete: a block that came early, written twice, first
	// with other bytes.
	p1 := data[pl : 2*pl]
	if err := ti.Piece(info.Piece(1)).MarkNotComplete(); err != nil {
		t.Fatal(err)
	}
	write(1, 2*blockSize, bytes.Repeat([]byte{0x5A}, blockSize))
	write(1, 2*blockSize, p1[2*blockSize:3*blockSize])
	write(1, 0, p1[:blockSize])
	write(1, blockSize, p1[blockSize:2*blockSize])
	write(1, 3*blockSize, p1[3*blockSize:])
	if got := hashOf(1); !bytes.Equal(got, info.Pieces[20:40]) {
		t.Errorf("piece 1 with an early block written twice: hash %x, want %x", got, info.Pieces[20:40])
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

// A piece hashed through a writer that is not a bare SHA-1 (a v2 torrent's merkle hash, or
// before anacrolix patch 30 the smart-ban checker) reads the piece back, and the next pieces
// keep no running hash: it would be SHA-1 done twice.
func TestRunningHashSkippedAfterRefusal(t *testing.T) {
	info, data := testInfo(t)
	c, ti := openTest(t, t.TempDir(), info)
	defer c.Close()
	pl := info.PieceLength
	for off := int64(0); off < pl; off += blockSize {
		if _, err := ti.Piece(info.Piece(0)).WriteAt(data[off:off+blockSize], off); err != nil {
			t.Fatal(err)
		}
	}
	h := sha1.New()
	if _, err := ti.Piece(info.Piece(0)).WriteTo(io.MultiWriter(h)); err != nil {
		t.Fatal(err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, info.Pieces[:20]) {
		t.Fatalf("piece 0 through a MultiWriter: hash %x, want %x", got, info.Pieces[:20])
	}
	tr, err := c.acquired(metainfo.HashBytes([]byte("test")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ti.Piece(info.Piece(1)).WriteAt(data[pl:pl+blockSize], 0); err != nil {
		t.Fatal(err)
	}
	tr.hashes.mu.Lock()
	rh, skip := tr.hashes.m[1], tr.hashes.skip
	tr.hashes.mu.Unlock()
	if rh == nil || !rh.broken || skip != skipAfterRefusal-1 {
		t.Errorf("after a refused hash: piece 1's running hash %+v, %d pieces left to skip; want none kept, %d", rh, skip, skipAfterRefusal-1)
	}
}
