package cache

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/internal/bencheck"
	"github.com/torrentfs/torrentfs/internal/infocheck"
)

// Entry is a torrent in a cache directory, as `torrentfs cache ls` shows it.
type Entry struct {
	InfoHash metainfo.Hash
	Name     string // empty if the cache never kept it
	Length   int64
	Cached   int64 // bytes in verified pieces; unknown (-1) while InUse
	DiskSize int64 // bytes on disk, as du counts them
	LastUsed time.Time
	InUse    bool  // a running process has the torrent open
	Err      error // the database could not be read
}

// List returns the torrents in the cache directory dir, most recently used first. It opens
// each database that no process has open, so it must not run inside a process serving dir.
func List(dir string) ([]Entry, error) {
	dirs, err := torrentDirs(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // nothing cached yet
	}
	if err != nil {
		return nil, err
	}
	var list []Entry
	for ih, tdir := range dirs {
		e := Entry{InfoHash: ih, LastUsed: lastUsed(tdir), Cached: -1}
		e.DiskSize, _ = diskUsage(tdir)
		if m, err := readMeta(tdir); err == nil {
			e.Name, e.Length = m.Name, m.Length
		}
		err = withClosed(dir, e.InfoHash, func(t *torrent, info *metainfo.Info) error {
			e.Name, e.Length = info.BestName(), info.TotalLength()
			e.Cached = 0
			for i, ok := range t.complete {
				if ok {
					e.Cached += t.pieceLength(i)
				}
			}
			return nil
		})
		switch {
		case errors.Is(err, ErrInUse):
			e.InUse = true
		case errors.Is(err, ErrNoInfo):
			e.Cached = 0 // metadata never arrived: nothing can be complete
		case err != nil:
			e.Err = err // one bad database does not hide the others
		}
		list = append(list, e)
	}
	slices.SortFunc(list, func(a, b Entry) int { return b.LastUsed.Compare(a.LastUsed) })
	return list, nil
}

// Find returns the info-hashes of the torrents in the cache that key names: an info-hash
// (40 hex digits), or a torrent name.
func Find(dir, key string) ([]metainfo.Hash, error) {
	list, err := List(dir)
	if err != nil {
		return nil, err
	}
	var found []metainfo.Hash
	for _, e := range list {
		if strings.EqualFold(e.InfoHash.HexString(), key) || e.Name == key {
			found = append(found, e.InfoHash)
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%q: no such torrent in the cache %s", key, dir)
	}
	return found, nil
}

// Remove deletes a torrent from the cache directory. It fails with ErrInUse while a
// process has the torrent open.
func Remove(dir string, ih metainfo.Hash) error {
	tdir := filepath.Join(dir, ih.HexString())
	if _, err := os.Lstat(tdir); err != nil {
		return err
	}
	return removeClosed(tdir)
}

// VerifyResult is what Verify found.
type VerifyResult struct {
	Checked, Bad int // complete pieces hashed, and those that failed and were dropped
}

// Verify hashes every complete piece of the torrent against its info dictionary, and drops
// the pieces that fail. It fails with ErrInUse while a process has the torrent open, and
// with ErrNoInfo when the cache never kept the torrent's metadata.
func Verify(dir string, ih metainfo.Hash) (VerifyResult, error) {
	var r VerifyResult
	err := withClosed(dir, ih, func(t *torrent, info *metainfo.Info) error {
		for i, ok := range t.complete {
			if !ok {
				continue
			}
			r.Checked++
			h := sha1.New()
			p := &piece{t: t, index: i, length: t.pieceLength(i)}
			_, err := p.WriteTo(h)
			h.Write(make([]byte, info.Piece(i).V1Length()-p.length)) // a hybrid's padding
			if err == nil && bytes.Equal(h.Sum(nil), info.Pieces[20*i:20*i+20]) {
				continue
			}
			r.Bad++
			if err := p.MarkNotComplete(); err != nil {
				return err
			}
		}
		return nil
	})
	return r, err
}

// withClosed opens the torrent's database in dir, which no process may have open, with its
// info dictionary, and calls fn.
func withClosed(dir string, ih metainfo.Hash, fn func(*torrent, *metainfo.Info) error) error {
	tdir := filepath.Join(dir, ih.HexString())
	if _, err := os.Lstat(tdir); err != nil {
		return err
	}
	lock, err := lockDir(tdir) // fail fast, before Badger's own lock and its log lines
	if err != nil {
		return err
	}
	lock.Close()
	// Looking is not using: keep the torrent's last-used time.
	used := lastUsed(tdir)
	defer setTimes(filepath.Join(tdir, metaFile), used)
	t, err := openDB(tdir, slog.New(slog.DiscardHandler), 4<<20, newSpace(tdir))
	if err != nil {
		return err
	}
	defer t.close()
	raw, err := t.loadInfo(ih)
	if err != nil {
		return err
	}
	info, err := decodeInfo(raw)
	if err != nil {
		return err
	}
	if err := t.setInfo(info); err != nil {
		return err
	}
	return fn(t, info)
}

// decodeInfo decodes and checks an info dictionary read back from the database: it hashes to
// its info-hash, but the database, and so the hash, may be anyone's.
func decodeInfo(raw []byte) (*metainfo.Info, error) {
	if err := bencheck.Check(raw); err != nil {
		return nil, fmt.Errorf("stored info dictionary: %w", err)
	}
	var info metainfo.Info
	if err := bencode.Unmarshal(raw, &info); err != nil {
		return nil, fmt.Errorf("stored info dictionary: %w", err)
	}
	if err := infocheck.Check(&info); err != nil {
		return nil, fmt.Errorf("stored info dictionary: %w", err)
	}
	return &info, nil
}
