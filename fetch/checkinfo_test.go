package fetch

import (
	"strings"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
)

// checkInfo accepts v1 and hybrid torrents whose parts agree, and says what is wrong with
// the others. The hybrid is laid out as libtorrent makes them: files of 100 and 10 bytes in
// 64-byte pieces, the first padded to a piece boundary.
func TestCheckInfo(t *testing.T) {
	hashes := func(n int) []byte { return []byte(strings.Repeat("h", 20*n)) }
	tree := func(a, b int64) metainfo.FileTree {
		return metainfo.FileTree{Dir: map[string]metainfo.FileTree{
			"a": {File: metainfo.FileTreeFile{Length: a, PiecesRoot: strings.Repeat("r", 32)}},
			"b": {File: metainfo.FileTreeFile{Length: b}},
		}}
	}
	v1Files := []metainfo.FileInfo{
		{Path: []string{"a"}, Length: 100},
		{Path: []string{".pad", "28"}, Length: 28, ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"}},
		{Path: []string{"b"}, Length: 10},
	}
	for _, c := range []struct {
		name string
		info metainfo.Info
		want string // "" for no error
	}{
		{"v1", metainfo.Info{PieceLength: 64, Length: 130, Pieces: hashes(3)}, ""},
		{"v1, a hash short", metainfo.Info{PieceLength: 64, Length: 130, Pieces: hashes(2)}, "2 piece hashes for 130 bytes"},
		{"v1, bad hashes", metainfo.Info{PieceLength: 64, Length: 130, Pieces: []byte("abc")}, "not a multiple of 20"},
		{"v1, no piece length", metainfo.Info{Length: 130, Pieces: hashes(3)}, "piece length"},
		{"v1, negative length", metainfo.Info{PieceLength: 64, Files: []metainfo.FileInfo{{Path: []string{"a"}, Length: -1}}}, "negative"},
		{"hybrid", metainfo.Info{PieceLength: 64, MetaVersion: 2, Files: v1Files, FileTree: tree(100, 10), Pieces: hashes(3)}, ""},
		{"hybrid, v2 file longer", metainfo.Info{PieceLength: 64, MetaVersion: 2, Files: v1Files, FileTree: tree(100, 70), Pieces: hashes(3)}, "v1 and v2 parts disagree"},
		{"hybrid, v2 file shorter", metainfo.Info{PieceLength: 64, MetaVersion: 2, Files: v1Files, FileTree: tree(60, 10), Pieces: hashes(3)}, "v1 and v2 parts disagree"},
		{"v2 only", metainfo.Info{PieceLength: 64, MetaVersion: 2, FileTree: tree(100, 10)}, "v2-only"},
	} {
		err := checkInfo(&c.info)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
