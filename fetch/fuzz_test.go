package fetch_test

import (
	"bytes"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/fetch"
)

// torrentBytes bencodes a metainfo around info, with synthetic piece hashes when info has
// none: nothing is downloaded.
func torrentBytes(tb testing.TB, info metainfo.Info) []byte {
	tb.Helper()
	if info.Pieces == nil && info.PieceLength > 0 {
		var total int64
		for f := range info.UpvertedV1Files() {
			total += f.Length
		}
		info.Pieces = make([]byte, 20*((total+info.PieceLength-1)/info.PieceLength))
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := bencode.Marshal(metainfo.MetaInfo{InfoBytes: ib, Announce: "http://127.0.0.1:1/announce"})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzParseTorrent feeds ParseTorrent whatever a stranger's .torrent may hold. A torrent it
// accepts must have what checkInfo promises: a positive piece length, non-negative file
// lengths whose sum does not overflow, and one 20-byte hash per piece of that sum; a hybrid's
// v2 part agrees with its v1 part. Seeds: testdata/*.torrent and a few well-formed torrents.
func FuzzParseTorrent(f *testing.F) {
	paths, _ := filepath.Glob("../testdata/*.torrent")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(torrentBytes(f, metainfo.Info{Name: "single", PieceLength: 16 << 10, Length: 100 << 10}))
	f.Add(torrentBytes(f, metainfo.Info{Name: "dir", PieceLength: 3000, Files: []metainfo.FileInfo{
		{Path: []string{"a", "b"}, Length: 5000},
		{Path: []string{"..", "c"}, Length: 1},
		{Path: []string{"a/b", "\x00"}, Length: 0},
		{Path: []string{".pad", "7"}, Length: 7, ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"}},
	}}))
	f.Add(torrentBytes(f, metainfo.Info{Name: "empty", PieceLength: 1 << 14}))
	// Deep nesting, which once overflowed the decoder's stack (issue #21), at the top and
	// inside the info dictionary, and an absurd string length.
	f.Add(bytes.Repeat([]byte("l"), 4096))
	f.Add([]byte("d4:infod4:name1:a5:filesl" + strings.Repeat("d4:pathl", 150)))
	f.Add([]byte("d4:infod4:name4000000000:a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mi, info, err := fetch.ParseTorrent(data, "fuzz.torrent")
		if err != nil {
			if mi != nil || info != nil {
				t.Fatalf("an error (%v) with a result", err)
			}
			return
		}
		checkLoaded(t, info)
		if _, err := metainfo.Load(strings.NewReader(string(data))); err != nil {
			t.Fatalf("accepted, but metainfo.Load fails: %v", err)
		}
	})
}

// checkLoaded fails t unless info is consistent, as an accepted torrent must be.
func checkLoaded(t testing.TB, info *metainfo.Info) {
	t.Helper()
	if info.PieceLength <= 0 {
		t.Fatalf("accepted a piece length of %d", info.PieceLength)
	}
	if len(info.Pieces)%20 != 0 {
		t.Fatalf("accepted %d bytes of piece hashes", len(info.Pieces))
	}
	var total, data int64
	for fi := range info.UpvertedV1Files() {
		if fi.Length < 0 {
			t.Fatalf("accepted a file of %d bytes", fi.Length)
		}
		sum, carry := bits.Add64(uint64(total), uint64(fi.Length), 0)
		if carry != 0 || sum > 1<<63-1 {
			t.Fatalf("accepted files whose lengths overflow int64")
		}
		total = int64(sum)
		if !strings.Contains(fi.Attr, "p") {
			data += fi.Length
		}
	}
	n := int64(len(info.Pieces) / 20)
	// ceil(total/pl) without overflow.
	want := total / info.PieceLength
	if total%info.PieceLength != 0 {
		want++
	}
	if n != want {
		t.Fatalf("accepted %d pieces for %d bytes in pieces of %d", n, total, info.PieceLength)
	}
	if n > fetch.MaxPieces {
		t.Fatalf("accepted %d pieces, more than MaxPieces", n)
	}
	if info.HasV2() && (int64(info.NumPieces()) != n || info.TotalLength() != data) {
		t.Fatalf("accepted a hybrid whose parts disagree")
	}
}
