package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/spf13/cobra"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/internal/human"
)

// newCacheCmd manages the cache directory: list, remove and verify torrents. TORRENT is an
// info-hash or a torrent's name.
func newCacheCmd() *cobra.Command {
	var cacheDir cacheDirFlag
	c := &cobra.Command{
		Use:   "cache [flags] ls | rm TORRENT... | verify [TORRENT...]",
		Short: "List, remove or verify the torrents in the cache",
		Long: `List, remove or verify the torrents in the cache. TORRENT is an info-hash or a
torrent's name. rm and verify refuse a torrent that a running mount has open.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("cache: want ls, rm or verify; see 'torrentfs cache --help'")
			}
			return usagef("cache: unknown subcommand %q: want ls, rm or verify", args[0])
		},
	}
	cacheDir.register(c.PersistentFlags())
	c.AddCommand(&cobra.Command{
		Use:   "ls [flags]",
		Short: "List the torrents in the cache",
		Args:  nArgs(0, 0),
		RunE: func(c *cobra.Command, args []string) error {
			dir, err := cacheDir.dir()
			if err != nil {
				return err
			}
			return cacheList(dir, c.OutOrStdout())
		},
	}, &cobra.Command{
		Use:   "rm [flags] TORRENT...",
		Short: "Remove torrents (info-hash or name) from the cache",
		Args:  nArgs(1, -1),
		RunE: func(c *cobra.Command, args []string) error {
			dir, err := cacheDir.dir()
			if err != nil {
				return err
			}
			return eachTorrent(dir, args, func(ih metainfo.Hash) error {
				if err := cache.Remove(dir, ih); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "removed %s\n", ih.HexString())
				return nil
			})
		},
	}, &cobra.Command{
		Use:   "verify [flags] [TORRENT...]",
		Short: "Rehash cached pieces and drop those that fail (every torrent by default)",
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			dir, err := cacheDir.dir()
			if err != nil {
				return err
			}
			return cacheVerify(dir, args, c.OutOrStdout())
		},
	})
	return c
}

// cacheVerify verifies the torrents keys name, or all of them.
func cacheVerify(dir string, keys []string, stdout io.Writer) error {
	if len(keys) == 0 {
		list, err := cache.List(dir)
		if err != nil {
			return err
		}
		for _, e := range list {
			keys = append(keys, e.InfoHash.HexString())
		}
	}
	return eachTorrent(dir, keys, func(ih metainfo.Hash) error {
		r, err := cache.Verify(dir, ih)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d pieces checked, %d bad and dropped\n", ih.HexString(), r.Checked, r.Bad)
		return nil
	})
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
