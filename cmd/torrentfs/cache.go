package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/internal/human"
)

const cacheUsage = "ls | rm TORRENT... | verify [TORRENT...]"

// runCache manages the cache directory: list, remove and verify torrents. TORRENT is an
// info-hash or a torrent's name.
func runCache(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("cache", cacheUsage, stderr)
	cacheDir := flags.String("cache-dir", defaultCacheDir(), "`dir`ectory of the piece cache")
	pos, err := parse(flags, args, -1)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		flags.Usage()
		return usagef("cache: want ls, rm or verify")
	}
	sub, keys := pos[0], pos[1:]
	switch {
	case sub == "ls" && len(keys) == 0:
		return cacheList(*cacheDir, stdout)
	case sub == "rm" && len(keys) > 0:
		return eachTorrent(*cacheDir, keys, func(ih metainfo.Hash) error {
			if err := cache.Remove(*cacheDir, ih); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "removed %s\n", ih.HexString())
			return nil
		})
	case sub == "verify":
		if len(keys) == 0 {
			list, err := cache.List(*cacheDir)
			if err != nil {
				return err
			}
			for _, e := range list {
				keys = append(keys, e.InfoHash.HexString())
			}
		}
		return eachTorrent(*cacheDir, keys, func(ih metainfo.Hash) error {
			r, err := cache.Verify(*cacheDir, ih)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s: %d pieces checked, %d bad and dropped\n", ih.HexString(), r.Checked, r.Bad)
			return nil
		})
	}
	flags.Usage()
	return usagef("cache: want %s", cacheUsage)
}

// eachTorrent calls fn for every torrent the keys name, going on after errors and
// returning them together.
func eachTorrent(dir string, keys []string, fn func(metainfo.Hash) error) error {
	var errs []error
	for _, k := range keys {
		ihs, err := cache.Find(dir, k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, ih := range ihs {
			err := fn(ih)
			switch {
			case errors.Is(err, cache.ErrInUse):
				err = fmt.Errorf("%s is in use by a running torrentfs mount: unmount it first", ih.HexString())
			case errors.Is(err, cache.ErrNoInfo):
				err = fmt.Errorf("%s: the cache has no metadata for it, so nothing to verify", ih.HexString())
			case err != nil:
				err = fmt.Errorf("%s: %w", ih.HexString(), err)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func cacheList(dir string, stdout io.Writer) error {
	list, err := cache.List(dir)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "INFOHASH\tCACHED\tON DISK\tLAST USED\tNAME")
	for _, e := range list {
		cached := fmt.Sprintf("%s of %s", human.Bytes(e.Cached), human.Bytes(e.Length))
		switch {
		case e.InUse:
			cached = "in use"
		case e.Err != nil:
			cached = "unreadable: " + e.Err.Error()
		}
		name := e.Name
		if name == "" {
			name = "(no metadata)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%q\n", e.InfoHash.HexString(), cached, human.Bytes(e.DiskSize),
			e.LastUsed.Local().Format(time.DateTime), name)
	}
	return w.Flush()
}
