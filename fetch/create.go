package fetch

import (
	"fmt"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// CreateOptions describe a torrent to create. The zero value makes a public torrent with no
// trackers and an automatic piece length.
type CreateOptions struct {
	Trackers []string
	// PieceLength is a power of two of at least 16 KiB; zero picks one from the data's size.
	PieceLength int64
	Private     bool
	Comment     string
}

// Create hashes the file or directory at path and returns its torrent.
func Create(path string, opts CreateOptions) (*metainfo.MetaInfo, error) {
	total, err := dataSize(path)
	if err != nil {
		return nil, err
	}
	pl := opts.PieceLength
	if pl == 0 {
		pl = autoPieceLength(total)
	}
	if pl < 16<<10 || bits.OnesCount64(uint64(pl)) != 1 {
		return nil, fmt.Errorf("piece length %d: must be a power of two of at least 16 KiB", pl)
	}
	info := metainfo.Info{PieceLength: pl}
	if opts.Private {
		private := true
		info.Private = &private
	}
	if err := info.BuildFromFilePath(path); err != nil {
		return nil, fmt.Errorf("hash %s: %w", path, err)
	}
	mi := &metainfo.MetaInfo{
		CreatedBy:    "torrentfs",
		CreationDate: time.Now().Unix(),
		Comment:      opts.Comment,
	}
	if len(opts.Trackers) > 0 {
		mi.Announce = opts.Trackers[0]
		for _, tr := range opts.Trackers {
			mi.AnnounceList = append(mi.AnnounceList, []string{tr})
		}
	}
	mi.InfoBytes, err = bencode.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("encode info: %w", err)
	}
	return mi, nil
}

// dataSize is the size of the regular files at path; it fails if there are none.
func dataSize(path string) (int64, error) {
	var total int64
	files := 0
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			total += fi.Size()
			files++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if files == 0 {
		return 0, fmt.Errorf("%s: no files to share", path)
	}
	return total, nil
}

// autoPieceLength aims at about 1500 pieces, between 16 KiB and 16 MiB, as mktorrent and
// transmission do.
func autoPieceLength(total int64) int64 {
	pl := int64(16 << 10)
	for pl < 16<<20 && total/pl > 1500 {
		pl *= 2
	}
	return pl
}

// NewLocalStorage returns storage that serves a torrent's data from path: the file itself for
// a single-file torrent, the directory holding its files otherwise (the torrent's name need
// not match). Completion is kept in memory, so the data must be verified after adding. It needs
// no closing: the client closes each torrent's files.
func NewLocalStorage(path string) (storage.ClientImpl, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	base := path
	var single string
	if !st.IsDir() {
		base, single = filepath.Dir(path), filepath.Base(path)
	}
	return storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir: base,
		FilePathMaker: func(o storage.FilePathMakerOpts) string {
			if !o.Info.IsDir() {
				return single
			}
			return filepath.Join(o.File.BestPath()...)
		},
		PieceCompletion: storage.NewMapPieceCompletion(),
		UsePartFiles:    g.Some(false),
	}), nil
}
