package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/spf13/cobra"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fs"
)

// mountFlags are the flags of mount.
type mountFlags struct {
	swarmFlags
	cacheDir    cacheDirFlag
	maxSize     sizeFlag
	readahead   sizeFlag
	readTimeout durationFlag
	prefetch    string
	noUpload    bool
	allowOther  bool
	directIO    bool
	debugFUSE   bool
	ownerFlags  // --uid, --gid, --umask: options.go
}

func newMountCmd() *cobra.Command {
	f := mountFlags{readahead: sizeFlag(fetch.DefaultReadahead), readTimeout: durationFlag(fetch.DefaultReadTimeout)}
	c := &cobra.Command{
		Use:   "mount [flags] SOURCE MOUNTPOINT",
		Short: "Mount a .torrent file or magnet link; Ctrl-C unmounts",
		Long: `Mount SOURCE, a .torrent file, a magnet link or the info-hash of a torrent whose
metadata is in the cache, read-only at MOUNTPOINT. Reads fetch the pieces under them
first, then a readahead window; verified pieces are kept in the cache and seeded.
The mount runs in the foreground until Ctrl-C, SIGTERM or fusermount3 -u MOUNTPOINT.`,
		Example: `  torrentfs mount file.torrent /mnt/x
  torrentfs mount --cache-max-size 20G 'magnet:?xt=urn:btih:...' /mnt/x`,
		Args: nArgs(2, 2),
		RunE: func(c *cobra.Command, args []string) error {
			return runMount(c.Context(), &f, args[0], args[1], c.ErrOrStderr())
		},
	}
	f.swarmFlags.register(c)
	fl := c.Flags()
	f.cacheDir.register(fl)
	fl.Var(&f.maxSize, "cache-max-size", "most `bytes` the cache directory may take on disk; least recently read pieces are evicted (default 10G, at most half the cache's file system)")
	fl.Var(&f.readahead, "readahead", "most `bytes` fetched ahead of a sequential reader")
	fl.Var(&f.readTimeout, "read-timeout", "fail a read with EIO after this long with no data from any peer (0: wait forever)")
	fl.StringVar(&f.prefetch, "prefetch", fetch.PrefetchNone.String(), "what to download beyond what is read, a `mode`: none, file (the rest of an opened file) or all (the whole torrent)")
	fl.BoolVar(&f.noUpload, "no-upload", false, "do not seed cached pieces to other peers")
	fl.BoolVar(&f.allowOther, "allow-other", false, "let other users read the mount")
	fl.BoolVar(&f.directIO, "direct-io", false, "bypass the kernel page cache (reads reach torrentfs at the application's size)")
	fl.BoolVar(&f.debugFUSE, "debug-fuse", false, "log every FUSE request")
	registerMountOptions(c, &f) // -o, --uid, --gid, --umask: options.go
	c.RegisterFlagCompletionFunc("prefetch", cobra.FixedCompletions([]string{"none", "file", "all"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func runMount(ctx context.Context, f *mountFlags, source, mnt string, stderr io.Writer) error {
	cfg, log, err := f.config(stderr)
	if err != nil {
		return err
	}
	defer log.Close()
	if cfg.Prefetch, err = fetch.ParsePrefetch(f.prefetch); err != nil {
		return usageError{err.Error()}
	}
	cacheDir, maxSize := f.cacheDir.path(), f.maxSize

	// Check everything local before touching the network.
	if isInfoHash(source) {
		source = "magnet:?xt=urn:btih:" + source
	}
	ih, mi, err := loadSource(source)
	if err != nil {
		return err
	}
	if err := fs.CheckMountPoint(mnt, log.Logger); err != nil {
		return err
	}
	if maxSize == 0 {
		maxSize = sizeFlag(cache.DefaultMaxSize(cacheDir))
	}
	if maxSize < cache.MinSize {
		return usagef("--cache-max-size %s: the minimum is %dM", maxSize.String(), cache.MinSize>>20)
	}
	c, err := cache.Open(cacheDir, cache.Options{Logger: log.Logger, MaxSize: int64(maxSize)})
	if err != nil {
		return err
	}
	defer c.Close() // after the client
	if err := c.Acquire(ih); err != nil {
		if errors.Is(err, cache.ErrInUse) {
			return fmt.Errorf("%s is already mounted by another torrentfs process (cache %s)", source, c.Dir())
		}
		return err
	}

	cfg.Storage = c
	// A quarter of the cache at most, so that eviction always has pieces outside the
	// readers' windows to drop.
	cfg.Readahead = min(int64(f.readahead), int64(maxSize)/4)
	cfg.ReadTimeout = time.Duration(f.readTimeout)
	if f.readTimeout == 0 {
		cfg.ReadTimeout = -1
	}
	cfg.NoUpload = f.noUpload
	cl, err := fetch.New(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	c.Watch(cl)
	addOpts := f.addOptions()
	addOpts.MetaInfo = mi
	if fetch.IsMagnet(source) {
		if info, err := c.LoadInfo(ih); err == nil {
			addOpts.InfoBytes = info
			log.Info("metadata from the cache", "infohash", ih.HexString())
		} else {
			log.Info("fetching metadata from peers", "infohash", ih.HexString())
		}
	}
	t, err := cl.Add(ctx, source, addOpts)
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while waiting for metadata
		}
		return err
	}
	if err := c.SaveInfo(ih, t.InfoBytes()); err != nil {
		log.Warn("cannot keep the metadata in the cache", "err", err)
	}
	m, err := fs.New(mnt, t, fs.Options{AllowOther: f.allowOther, DirectIO: f.directIO, Debug: f.debugFUSE, Logger: log.Logger})
	if err != nil {
		return err
	}
	statusCtx, stopStatus := context.WithCancel(ctx)
	defer stopStatus()
	serveStatus(statusCtx, statusSocket(c.Dir(), t.InfoHash()), t, c, log.Logger)
	log.Info("mounted", "torrent", t.Name(), "mountpoint", mnt, "infohash", t.InfoHash(), "port", cl.Port(),
		"cache", c.Dir(), "cache_max_size", int64(maxSize))
	defer serviceReady(ctx, log)() // background mount, systemd: notify.go

	go func() {
		select {
		case <-t.Complete():
			log.Info("every piece is cached: the torrent reads without peers", "torrent", t.Name())
		case <-statusCtx.Done():
		}
	}()

	unmounted := make(chan struct{})
	go func() { m.Wait(); close(unmounted) }()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		for range usr1 {
			cl.WriteStatus(log.w)
		}
	}()
	select {
	case <-unmounted:
		log.Info("unmounted from outside", "mountpoint", mnt)
	case <-ctx.Done():
		if err := m.Unmount(); err != nil {
			return err
		}
		select {
		case <-unmounted:
		case <-time.After(10 * time.Second):
			log.Warn("file system still busy after unmount; exiting anyway")
		}
		log.Info("unmounted", "mountpoint", mnt)
	}
	return nil
}

// isInfoHash reports whether s is a bare v1 info-hash (40 hex digits).
func isInfoHash(s string) bool {
	_, err := hex.DecodeString(s)
	return len(s) == 40 && err == nil
}

// loadSource checks a source and returns its info-hash, and for a .torrent file its
// contents.
func loadSource(source string) (metainfo.Hash, *metainfo.MetaInfo, error) {
	if fetch.IsMagnet(source) {
		m, err := metainfo.ParseMagnetV2Uri(source)
		switch {
		case err != nil:
			return metainfo.Hash{}, nil, fmt.Errorf("bad magnet link: %w", err)
		case !m.InfoHash.Ok && m.V2InfoHash.Ok:
			return metainfo.Hash{}, nil, errors.New("a v2-only magnet link (urn:btmh, no urn:btih): torrentfs reads v1 and hybrid torrents only")
		case !m.InfoHash.Ok:
			return metainfo.Hash{}, nil, errors.New("bad magnet link: no info-hash (xt=urn:btih:…)")
		}
		return m.InfoHash.Value, nil, nil
	}
	mi, _, err := fetch.LoadTorrentFile(source)
	if err != nil {
		return metainfo.Hash{}, nil, err
	}
	return mi.HashInfoBytes(), mi, nil
}
