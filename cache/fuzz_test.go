package cache

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/third_party/badger"
)

// FuzzReadMeta: whatever torrent.json holds, readMeta returns an error or a record that
// writes and reads back the same.
func FuzzReadMeta(f *testing.F) {
	f.Add([]byte(`{"name":"x","length":10,"piece_length":16384}` + "\n"))
	f.Add([]byte(`{"name":"\ud800","length":-1,"piece_length":1e300}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, metaFile), b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := readMeta(dir)
		if err != nil {
			return
		}
		if err := writeMeta(dir, m); err != nil {
			t.Fatal(err)
		}
		if m2, err := readMeta(dir); err != nil || m2 != m {
			t.Fatalf("%q: read %+v, then %+v (%v)", b, m, m2, err)
		}
	})
}

// FuzzMarkerPiece: a key read back from the database names a piece of the torrent only if
// it is a completion marker, as pieceKey makes them, of one of its pieces.
func FuzzMarkerPiece(f *testing.F) {
	f.Add([]byte{completePrefix}, 10)
	f.Add(pieceKey(completePrefix, 3), 10)
	f.Add(pieceKey(completePrefix, 10), 10)
	f.Add(blockKey(3, 1), 10)
	f.Add(pieceKey(completePrefix, -1), 1<<40)
	f.Fuzz(func(t *testing.T, key []byte, n int) {
		i, ok := markerPiece(key, n)
		if ok && (i < 0 || i >= n || !bytes.Equal(key, pieceKey(completePrefix, i))) {
			t.Fatalf("%x, %d pieces: piece %d", key, n, i)
		}
	})
}

// FuzzStoredInfo: an info dictionary read back from the cache that decodeInfo accepts can
// size a torrent's database (setInfo) and be verified against (Verify) without panicking:
// as many hashes as pieces, pieces no longer than their v1 extent.
func FuzzStoredInfo(f *testing.F) {
	for _, info := range []metainfo.Info{
		{Name: "a", PieceLength: 16384, Length: 40000, Pieces: make([]byte, 60)},
		{Name: "z", PieceLength: 0, Length: 40000, Pieces: make([]byte, 60)},
		{Name: "d", PieceLength: 1000, Files: []metainfo.FileInfo{{Path: []string{"a"}, Length: 1500}, {Path: []string{"b"}, Length: 1}}, Pieces: make([]byte, 40)},
	} {
		b, err := bencode.Marshal(info)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Deep nesting, which once overflowed the decoder's stack (issue #21).
	f.Add(bytes.Repeat([]byte("l"), 4096))
	f.Add([]byte("d5:filesl" + strings.Repeat("d4:pathl", 150)))
	f.Fuzz(func(t *testing.T, raw []byte) {
		info, err := decodeInfo(raw)
		if err != nil {
			return
		}
		n := info.NumPieces()
		if n < 0 || len(info.Pieces) != 20*n {
			t.Fatalf("%d pieces, %d bytes of hashes", n, len(info.Pieces))
		}
		tt := &torrent{pieceLen: info.PieceLength}
		tt.length, tt.short = layout(info)
		for i := range min(n, 1<<16) {
			if l := tt.pieceLength(i); l <= 0 || l > info.Piece(i).V1Length() {
				t.Fatalf("piece %d: %d bytes stored, %d in v1", i, l, info.Piece(i).V1Length())
			}
		}
	})
}

// A database edited by someone: a completion marker's key cut short, and an info dictionary
// (hashing to its directory's name, as anyone can make it) with no piece length. List and
// Verify report the torrent's error instead of panicking (they did: an index out of range
// reading the key, a division by zero sizing the pieces).
func TestHostileDatabase(t *testing.T) {
	dir := t.TempDir()
	put := func(info metainfo.Info) metainfo.Hash {
		raw, err := bencode.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		ih := metainfo.HashBytes(raw)
		db, err := openDB(filepath.Join(dir, ih.HexString()), slog.New(slog.DiscardHandler), 4<<20, newSpace(dir))
		if err != nil {
			t.Fatal(err)
		}
		err = db.update(func(txn *badger.Txn) error {
			if err := txn.Set([]byte{infoKey}, raw); err != nil {
				return err
			}
			return txn.Set([]byte{completePrefix}, nil)
		})
		if err != nil {
			t.Fatal(err)
		}
		db.close()
		return ih
	}
	good := put(metainfo.Info{Name: "good", PieceLength: 16384, Length: 20000, Pieces: make([]byte, 40)})
	bad := put(metainfo.Info{Name: "bad", Length: 20000, Pieces: make([]byte, 40)})
	list, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if (e.Err != nil) != (e.InfoHash == bad) || e.Cached > 0 {
			t.Errorf("%s: %+v", e.Name, e)
		}
	}
	if r, err := Verify(dir, good); err != nil || r.Checked != 0 {
		t.Errorf("verify: %+v, %v", r, err)
	}
	if _, err := Verify(dir, bad); err == nil {
		t.Error("verify of an info dictionary without piece length: no error")
	}
}
