// Package author makes torrents and serves local data to seed them: Create hashes a file or
// directory into a torrent as mktorrent does, and NewLocalStorage is anacrolix storage over
// the data it was made from, for `torrentfs create` and `torrentfs seed`. It knows nothing of
// the cache, the mount or the streaming client (fetch).
package author

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	// WebSeeds are the torrent's url-list (BEP 19): HTTP or HTTPS URLs of servers holding the
	// data. A URL ending in "/" is a directory that holds the torrent's name; any other names
	// the file itself (for a single-file torrent).
	WebSeeds []string
	// PieceLength is a power of two of at least 16 KiB; zero picks one from the data's size.
	PieceLength int64
	Private     bool
	Comment     string
	// LeftOut, if set, is told each path under the data that is not shared, and why (see
	// sharedFiles), before hashing starts.
	LeftOut func(path, why string)
	// Hashing, if set, is told what is about to be hashed.
	Hashing func(files int, bytes int64)
}

// Create hashes the file or directory at path and returns its torrent. It stops when ctx is
// done.
func Create(ctx context.Context, path string, opts CreateOptions) (*metainfo.MetaInfo, error) {
	files, err := sharedFiles(path, opts.LeftOut)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, f := range files {
		total += f.Length
	}
	for _, u := range opts.WebSeeds {
		if err := checkWebSeed(u); err != nil {
			return nil, err
		}
	}
	pl := opts.PieceLength
	if pl == 0 {
		pl = autoPieceLength(total)
	}
	if pl < 16<<10 || bits.OnesCount64(uint64(pl)) != 1 {
		return nil, fmt.Errorf("piece length %d: must be a power of two of at least 16 KiB", pl)
	}
	info := metainfo.Info{PieceLength: pl, Name: metainfo.NoName}
	if abs, err := filepath.Abs(path); err == nil && filepath.Base(abs) != string(filepath.Separator) {
		info.Name = filepath.Base(abs) // "create ." is named after the directory
	}
	if opts.Private {
		private := true
		info.Private = &private
	}
	if len(files) == 1 && files[0].Path == nil {
		info.Length = files[0].Length
	} else {
		info.Files = files
	}
	if opts.Hashing != nil {
		opts.Hashing(len(files), total)
	}
	err = info.GeneratePieces(func(f metainfo.FileInfo) (io.ReadCloser, error) {
		file, err := os.Open(filepath.Join(append([]string{path}, f.Path...)...))
		return ctxReader{ctx, file}, err
	})
	if ctx.Err() != nil {
		return nil, errors.New("interrupted: no torrent written")
	}
	if err != nil {
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
	mi.UrlList = opts.WebSeeds
	mi.InfoBytes, err = bencode.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("encode info: %w", err)
	}
	return mi, nil
}

// checkWebSeed reports whether u can be a web seed: an absolute http or https URL.
func checkWebSeed(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("web seed %q: %w", u, err)
	}
	if (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("web seed %q: not an http:// or https:// URL", u)
	}
	return nil
}

// sharedFiles returns what a torrent of path holds, in the order anacrolix gives files:
// regular files, and symlinks to regular files as the files they point to (mktorrent and
// transmission-create do the same). A single file has a nil Path. What cannot be shared is
// told to leftOut, if set, with the reason: FIFOs, sockets and devices (hashing a FIFO would
// wait for a writer for ever), and symlinks that dangle or lead to directories (not followed,
// so there are no loops). It fails if nothing is left.
func sharedFiles(path string, leftOut func(path, why string)) (files []metainfo.FileInfo, err error) {
	if leftOut == nil {
		leftOut = func(string, string) {}
	}
	st, err := os.Stat(path) // a symlink given as path is followed
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: not a regular file or directory", path)
		}
		return []metainfo.FileInfo{{Length: st.Size()}}, nil
	}
	err = filepath.WalkDir(path+string(filepath.Separator), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(path, p)
		if err != nil {
			return err
		}
		var size int64
		switch t := d.Type(); {
		case t.IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			size = fi.Size()
		case t&fs.ModeSymlink != 0:
			fi, err := os.Stat(p)
			switch {
			case err != nil:
				leftOut(rel, "a symlink to nothing")
				return nil
			case !fi.Mode().IsRegular():
				leftOut(rel, "a symlink to a directory or a special file")
				return nil
			}
			size = fi.Size()
		default:
			leftOut(rel, "not a regular file")
			return nil
		}
		files = append(files, metainfo.FileInfo{Path: strings.Split(rel, string(filepath.Separator)), Length: size})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no files to share", path)
	}
	slices.SortFunc(files, func(a, b metainfo.FileInfo) int {
		return strings.Compare(strings.Join(a.Path, "/"), strings.Join(b.Path, "/"))
	})
	return files, nil
}

// ctxReader fails reads once ctx is done, so that hashing stops on Ctrl-C.
type ctxReader struct {
	ctx context.Context
	io.ReadCloser
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.ReadCloser.Read(p)
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
