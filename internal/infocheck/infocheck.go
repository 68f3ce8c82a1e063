// Package infocheck checks a torrent's info dictionary, from a stranger or read back from the
// cache, before anything sizes itself by it.
package infocheck

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"strings"

	"github.com/anacrolix/torrent/metainfo"
)

// Limits on what a torrent may ask of torrentfs. Ten million pieces would be 200 MB of
// hashes, and anacrolix keeps a few hundred bytes per piece besides: far beyond anything
// people share, and a way for a stranger to make a mount take gigabytes.
const (
	// MaxTorrentSize bounds a .torrent file: MaxPieces hashes and a long file list fit.
	MaxTorrentSize = 64 << 20
	// MaxPieces bounds a torrent's pieces: 20 MiB of hashes; at the usual piece sizes of
	// 256 KiB to 16 MiB, torrents of 256 GiB to 16 TiB. A mount of that many pieces peaks at
	// about 700 MiB resident (cmd/torrentfs TestCrafted, 2^50-bytes), most of it anacrolix's
	// per-piece state.
	MaxPieces = 1 << 20

	// A torrent's shape is bounded too: a mount keeps an inode for each file and directory
	// (about 250 and 600 bytes), and fetch a record of each file (about 350 bytes), and a
	// few kilobytes of .torrent can name millions of directories with empty or repeated
	// path elements. At the caps, the tree takes about 400 MiB (docs/design.md).

	// MaxFiles bounds a torrent's files, padding files included: far more than people
	// share in one torrent, which can hold at most a few million file entries in
	// MaxTorrentSize anyway.
	MaxFiles = 1 << 20
	// MaxDirs bounds the directories of a torrent's tree: the distinct paths that lead to
	// its files.
	MaxDirs = 1 << 18
	// MaxPathDepth bounds the elements of one file's path: as deep as a path the kernel
	// resolves in one go can reach (PATH_MAX is 4096 bytes: 2048 names of one byte).
	MaxPathDepth = 2048
	// MaxPathBytes bounds the bytes of all the files' paths together, each element counted
	// with one byte more, as if joined by slashes: the paths of a million files 32 bytes
	// long. Listing a torrent's files (status, the web side) holds them all.
	MaxPathBytes = 32 << 20
)

// ErrTooLarge is wrapped by the errors of a torrent beyond one of the limits above.
var ErrTooLarge = errors.New("too large for torrentfs")

// Check rejects what anacrolix, and the cache, would choke on. Pieces are counted over the
// v1 file list, padding files included: a hybrid torrent's v2 file tree leaves them out.
func Check(info *metainfo.Info) error {
	switch {
	case !info.HasV1():
		return errors.New("a v2-only torrent (BitTorrent v2 without v1 piece hashes): torrentfs reads v1 and hybrid torrents only")
	case info.PieceLength <= 0:
		return errors.New("missing or bad piece length")
	case len(info.Pieces)%20 != 0:
		return fmt.Errorf("piece hashes are %d bytes, not a multiple of 20", len(info.Pieces))
	}
	if err := checkShape(info.UpvertedV1Files()); err != nil {
		return err
	}
	if info.HasV2() { // a hybrid torrent's tree is built from its v2 file tree
		if err := checkShape(info.UpvertedFilesIter()); err != nil {
			return err
		}
	}
	var length, data int64
	for f := range info.UpvertedV1Files() {
		if f.Length < 0 {
			return errors.New("negative file length")
		}
		if f.Length > math.MaxInt64-length {
			return errors.New("the files' lengths add up to more than 2^63 bytes")
		}
		length += f.Length
		if !strings.Contains(f.Attr, "p") {
			data += f.Length
		}
	}
	n := int64(len(info.Pieces) / 20)
	if n > MaxPieces {
		return fmt.Errorf("%d pieces: %w (at most %d)", n, ErrTooLarge, MaxPieces)
	}
	want := length / info.PieceLength
	if length%info.PieceLength != 0 {
		want++
	}
	if n != want {
		return fmt.Errorf("%d piece hashes for %d bytes in pieces of %d (want %d)", n, length, info.PieceLength, want)
	}
	if info.HasV2() {
		var v2 int64 // the v2 tree's own lengths, which NumPieces rounds up without a check
		for f := range info.UpvertedFilesIter() {
			if f.Length < 0 || f.Length > math.MaxInt64-info.PieceLength-v2 {
				return errors.New("a hybrid torrent whose v2 file lengths are negative or overflow")
			}
			v2 += f.Length
		}
	}
	if info.HasV2() && (int64(info.NumPieces()) != n || info.TotalLength() != data) {
		return fmt.Errorf("a hybrid torrent whose v1 and v2 parts disagree: %d pieces and %d bytes against %d and %d",
			n, data, info.NumPieces(), info.TotalLength())
	}
	return nil
}

// checkShape checks files against MaxFiles, MaxDirs, MaxPathDepth and MaxPathBytes. It
// stops at the first limit passed, so its own cost is bounded by them.
func checkShape(files iter.Seq[metainfo.FileInfo]) error {
	type dir struct {
		parent int32 // 0: the torrent's top directory
		name   string
	}
	var (
		n     int
		bytes int64
		dirs  = make(map[dir]int32)
	)
	for f := range files {
		if n++; n > MaxFiles {
			return fmt.Errorf("more than %d files: %w", MaxFiles, ErrTooLarge)
		}
		p := f.BestPath()
		if len(p) > MaxPathDepth {
			return fmt.Errorf("a path %d elements deep: %w (at most %d)", len(p), ErrTooLarge, MaxPathDepth)
		}
		for _, e := range p {
			bytes += int64(len(e)) + 1
		}
		if bytes > MaxPathBytes {
			return fmt.Errorf("more than %d MiB of file paths: %w", MaxPathBytes>>20, ErrTooLarge)
		}
		var parent int32
		for _, e := range p[:max(len(p)-1, 0)] {
			id, ok := dirs[dir{parent, e}]
			if !ok {
				if len(dirs) == MaxDirs {
					return fmt.Errorf("more than %d directories: %w", MaxDirs, ErrTooLarge)
				}
				id = int32(len(dirs) + 1)
				dirs[dir{parent, e}] = id
			}
			parent = id
		}
	}
	return nil
}
