package fetchtest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/fetch"
)

// Crafted is a .torrent made to strain whoever loads it: a stranger's. Its piece hashes are
// synthetic (zeros): nothing is downloaded, only loaded, checked and listed.
type Crafted struct {
	Name string
	// Refused says that loading it must fail, with fetch.ErrTooLarge if TooLarge.
	Refused, TooLarge bool
	// Entries is how many entries a walk of its mounted tree finds, the torrent's own
	// (its root directory or file) included, when it is accepted.
	Entries int

	info      *metainfo.Info
	rawPieces int64 // if set, info.Pieces is left out and this many zero hashes written
}

// CraftedTorrents are the hostile torrents torrentfs must mount in bounded memory and time,
// or refuse with a clear message.
func CraftedTorrents() []Crafted {
	const kib, mib = 1 << 10, 1 << 20
	var cs []Crafted

	// 100,000 one-byte files in 100 directories.
	many := &metainfo.Info{Name: "many", PieceLength: 16 * kib}
	for i := range 100_000 {
		many.Files = append(many.Files, metainfo.FileInfo{Path: []string{fmt.Sprintf("d%02d", i/1000), fmt.Sprintf("f%05d", i)}, Length: 1})
	}
	cs = append(cs, Crafted{Name: "100k-files", info: many, Entries: 1 + 100 + 100_000})

	// A file 200 directories deep, and one at each level on the way.
	deep := &metainfo.Info{Name: "deep", PieceLength: 16 * kib}
	var path []string
	for range 200 {
		path = append(path, "d")
		deep.Files = append(deep.Files, metainfo.FileInfo{Path: append(append([]string(nil), path...), "f"), Length: 10})
	}
	cs = append(cs, Crafted{Name: "200-deep", info: deep, Entries: 1 + 200 + 200})

	// Ten million pieces, 200 MB of hashes: beyond fetch.MaxTorrentSize and MaxPieces.
	cs = append(cs, Crafted{Name: "10M-pieces", Refused: true, TooLarge: true, rawPieces: 10_000_000,
		info: &metainfo.Info{Name: "pieces", PieceLength: 16 * kib, Length: 10_000_000 * 16 * kib}})

	// 2^50 bytes (1 PiB) in four files, in pieces of 1 GiB: 2^20 pieces, fetch.MaxPieces.
	huge := &metainfo.Info{Name: "petabyte", PieceLength: 1 << 30}
	for i := range 4 {
		huge.Files = append(huge.Files, metainfo.FileInfo{Path: []string{fmt.Sprint("quarter", i)}, Length: 1 << 48})
	}
	cs = append(cs, Crafted{Name: "2^50-bytes", info: huge, Entries: 1 + 4})

	// File lengths adding up past 2^63 with no pieces at all: an overflow made this look
	// like an empty torrent.
	over := &metainfo.Info{Name: "overflow", PieceLength: 16 * kib, Pieces: []byte{}}
	for i := range 4 {
		over.Files = append(over.Files, metainfo.FileInfo{Path: []string{fmt.Sprint(i)}, Length: 1 << 62})
	}
	cs = append(cs, Crafted{Name: "2^64-bytes", Refused: true, info: over})

	// Names that are not UTF-8, or are not names: cut or replaced, every one kept.
	bad := &metainfo.Info{Name: "bad\xffnames\x00/..", PieceLength: 16 * kib}
	for _, n := range [][]string{
		{"\xff\xfe"}, {"a\xc3"}, {"\xc3\xa9t\xe9"}, {strings.Repeat("é", 200)}, {strings.Repeat("\xff", 300)},
		{"."}, {".."}, {""}, {"a/b"}, {"nul\x00"}, {"..", "..", "etc", "passwd"}, {"/", "abs"},
	} {
		bad.Files = append(bad.Files, metainfo.FileInfo{Path: n, Length: 3})
	}
	cs = append(cs, Crafted{Name: "invalid-utf8", info: bad, Entries: 1 + 10 + 4 + 2})

	// Pieces of 1,000,003 bytes (a prime): BitTorrent allows any piece length.
	cs = append(cs, Crafted{Name: "odd-piece-length", Entries: 1,
		info: &metainfo.Info{Name: "odd", PieceLength: 1_000_003, Length: 5_000_000}})

	// The same path three times, a file and a directory of the same name, and names that
	// clash once cleaned.
	dup := &metainfo.Info{Name: "dup", PieceLength: 16 * kib}
	for _, n := range [][]string{{"a"}, {"a"}, {"a"}, {"a", "b"}, {"a", "b"}, {"c/"}, {"c_"}, {"c\x00"}} {
		dup.Files = append(dup.Files, metainfo.FileInfo{Path: n, Length: 1})
	}
	// root: a, a (2), a (3), a (4)/ [b, b (2)], c_, c_ (2), c_ (3)
	cs = append(cs, Crafted{Name: "duplicate-paths", info: dup, Entries: 1 + 7 + 2})

	// 50,000 files of one name in one directory: named a.txt, a (2).txt… a (50000).txt,
	// each found with one look, not after all those before it.
	same := &metainfo.Info{Name: "same", PieceLength: 1 << 20}
	for range 50_000 {
		same.Files = append(same.Files, metainfo.FileInfo{Path: []string{"a.txt"}, Length: 1})
	}
	cs = append(cs, Crafted{Name: "50k-same-name", info: same, Entries: 1 + 50_000})

	// One past each limit of a torrent's shape (fetch.MaxFiles and the others), each made as
	// cheaply as it can be.
	files := &metainfo.Info{Name: "files", PieceLength: 1 << 30}
	for range fetch.MaxFiles + 1 {
		files.Files = append(files.Files, metainfo.FileInfo{Path: []string{"f"}, Length: 0})
	}
	cs = append(cs, Crafted{Name: "too-many-files", Refused: true, TooLarge: true, info: files})
	dirs := &metainfo.Info{Name: "dirs", PieceLength: 1 << 30}
	for i := range fetch.MaxDirs/2 + 1 { // d/, d/"" : two directories a file
		dirs.Files = append(dirs.Files, metainfo.FileInfo{Path: []string{strconv.Itoa(i), "", "f"}, Length: 0})
	}
	cs = append(cs, Crafted{Name: "too-many-dirs", Refused: true, TooLarge: true, info: dirs})
	tooDeep := &metainfo.Info{Name: "too-deep", PieceLength: 16 * kib,
		Files: []metainfo.FileInfo{{Path: make([]string, fetch.MaxPathDepth+1), Length: 1}}}
	cs = append(cs, Crafted{Name: "too-deep", Refused: true, TooLarge: true, info: tooDeep})
	long := &metainfo.Info{Name: "long-paths", PieceLength: 1 << 30}
	name := strings.Repeat("x", 64<<10)
	for range fetch.MaxPathBytes/len(name) + 1 {
		long.Files = append(long.Files, metainfo.FileInfo{Path: []string{name}, Length: 0})
	}
	cs = append(cs, Crafted{Name: "too-long-paths", Refused: true, TooLarge: true, info: long})
	return cs
}

// Write writes the .torrent to path.
func (c Crafted) Write(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = c.write(w)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// write bencodes the torrent. The info dictionary's keys are sorted, as bencode requires;
// "pieces" sorts last, so a huge hash string is streamed after the rest.
func (c Crafted) write(w io.Writer) error {
	info := *c.info
	n := c.rawPieces
	if n == 0 && info.Pieces == nil {
		var total int64
		for f := range info.UpvertedV1Files() {
			total += f.Length
		}
		n = (total + info.PieceLength - 1) / info.PieceLength
	}
	if info.Pieces != nil {
		n = 0
	}
	info.Pieces = nil
	ib, err := bencode.Marshal(info)
	if err != nil {
		return err
	}
	// ib is "d…e" without pieces when Pieces is empty; put pieces last.
	if _, err := fmt.Fprintf(w, "d13:creation datei1700000000e4:info%s6:pieces%d:", ib[:len(ib)-1], 20*n); err != nil {
		return err
	}
	zeros := make([]byte, 1<<20)
	for left := 20 * n; left > 0; {
		m := min(left, int64(len(zeros)))
		if _, err := w.Write(zeros[:m]); err != nil {
			return err
		}
		left -= m
	}
	_, err = io.WriteString(w, "ee")
	return err
}
