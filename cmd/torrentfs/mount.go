package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fs"
	"github.com/torrentfs/torrentfs/internal/human"
	"github.com/torrentfs/torrentfs/library"
	"github.com/torrentfs/torrentfs/web"
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
	// metadataTimeout drops a magnet link whose metadata does not come in time.
	metadataTimeout durationFlag
	ownerFlags                // --uid, --gid, --umask: options.go
	http            httpFlags // --http…: http.go
}

// fsOptions are the file system's options the flags ask for.
func (f *mountFlags) fsOptions(fsName string, log *slog.Logger) fs.Options {
	uid, gid := f.uid, f.gid
	if f.ownerSet() { // one of them given: the other stays ours
		if !f.set("uid") {
			uid = uint32(os.Getuid())
		}
		if !f.set("gid") {
			gid = uint32(os.Getgid())
		}
	}
	return fs.Options{AllowOther: f.allowOther, DirectIO: f.directIO, Debug: f.debugFUSE, Logger: log, FsName: fsName,
		UID: uid, GID: gid, OwnerSet: f.ownerSet(), Umask: uint32(f.umask)}
}

func newMountCmd() *cobra.Command {
	f := mountFlags{readahead: sizeFlag(fetch.DefaultReadahead), readTimeout: durationFlag(fetch.DefaultReadTimeout)}
	c := &cobra.Command{
		Use:   "mount [flags] SOURCE... MOUNTPOINT",
		Short: "Mount torrents read-only; Ctrl-C unmounts",
		Long: `Mount each SOURCE read-only at MOUNTPOINT, one entry per torrent at its root: a
.torrent file, a .magnet file, a magnet link, an info-hash (hex or base32) whose metadata
is in the cache, an http(s) URL of a .torrent, or a directory, watched while mounted:
its .torrent and .magnet files come and go with the mount's entries.

Reads fetch the pieces under them first, then a readahead window; verified pieces are
kept in the cache and seeded. A magnet link's entry appears once its metadata arrives.
'torrentfs add', 'remove' and 'ls' change and list a running mount. The mount runs in the
foreground until Ctrl-C, SIGTERM or fusermount3 -u MOUNTPOINT.`,
		Example: `  torrentfs mount file.torrent /mnt/x
  torrentfs mount --cache-max-size 20G 'magnet:?xt=urn:btih:...' /mnt/x
  torrentfs mount ~/torrents/ /mnt/library`,
		Args: nArgs(2, -1),
		RunE: func(c *cobra.Command, args []string) error {
			return runMount(c.Context(), &f, args[:len(args)-1], args[len(args)-1], c.ErrOrStderr())
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
	fl.Var(&f.metadataTimeout, "metadata-timeout", "drop a magnet link whose metadata does not arrive in this time (default: wait for ever, saying so every 30 s)")
	f.http.register(fl)
	registerMountOptions(c, &f) // -o, --uid, --gid, --umask: options.go
	c.RegisterFlagCompletionFunc("prefetch", cobra.FixedCompletions([]string{"none", "file", "all"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func runMount(ctx context.Context, f *mountFlags, sources []string, mnt string, stderr io.Writer) error {
	cfg, log, err := f.config(stderr)
	if err != nil {
		return err
	}
	defer log.Close()
	// From Ctrl-C or SIGTERM on, every step of the way out is bounded: shutdown.go.
	sd := newShutdown(log.Logger, log.w, mnt)
	defer sd.stop()
	defer context.AfterFunc(ctx, sd.arm)()
	if cfg.Prefetch, err = fetch.ParsePrefetch(f.prefetch); err != nil {
		return usageError{err.Error()}
	}
	cacheDir, err := f.cacheDir.dir()
	if err != nil {
		return err
	}
	maxSize := f.maxSize

	// Check everything local before touching the network: a bad source gets its line; a
	// mount of nothing but bad sources is an error.
	var good []string
	var bad error
	for _, s := range sources {
		if err := library.Check(s); err != nil {
			if len(sources) == 1 {
				return err
			}
			fmt.Fprintf(stderr, "torrentfs: %s\n", human.Text(err.Error()))
			bad = err
			continue
		}
		good = append(good, s)
	}
	if len(good) == 0 {
		return bad
	}
	if err := fs.CheckMountPoint(mnt, log.Logger); err != nil {
		return err
	}
	// Listen before mounting, so that a port taken fails the mount; serve once mounted.
	hs, err := f.http.listen()
	if err != nil {
		return err
	}
	defer hs.stop() // after the server below, or closes the listener
	var metrics *web.Metrics
	if hs != nil {
		metrics = web.NewMetrics()
		cfg.ReadObserver = metrics.ObserveRead
	}
	if maxSize == 0 {
		maxSize = sizeFlag(cache.DefaultMaxSize(cacheDir))
	}
	if maxSize < cache.MinSize {
		return usagef("--cache-max-size %s: the minimum is %dM", maxSize.String(), cache.MinSize>>20)
	}
	c, err := cache.Open(cacheDir, cache.Options{Logger: log.Logger, MaxSize: int64(maxSize)})
	if err != nil {
		return cacheDirAdvice(err)
	}
	defer func() { sd.at("closing the cache"); c.Close() }() // after the client

	cfg.Storage = c
	cfg.Readahead = fetch.ReadaheadFor(int64(f.readahead), int64(maxSize))
	cfg.MaxUnverified = fetch.MaxUnverifiedFor(int64(maxSize))
	cfg.ReadTimeout = time.Duration(f.readTimeout)
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = fetch.WaitForever
	}
	cfg.NoUpload = f.noUpload
	cl, err := fetch.New(cfg)
	if err != nil {
		return err
	}
	defer func() { sd.at("closing the torrent client"); cl.Close() }()
	c.Watch(cl)

	id := newMountID()
	m, err := fs.New(mnt, f.fsOptions(fsNamePrefix+id, log.Logger))
	if err != nil {
		return err
	}
	lib := library.New(cl, c, m, library.Options{Add: f.addOptions(), MetadataTimeout: time.Duration(f.metadataTimeout), Logger: log.Logger})
	defer func() { sd.at("closing the library"); lib.Close() }() // before the client
	stopControl, err := serveControl(id, lib.Handler())
	if err != nil {
		log.Warn("no control socket: add, remove, ls and status will not reach this mount", "err", err)
		stopControl = func() {}
	}
	defer func() { sd.at("closing the control socket"); stopControl() }()
	if hs != nil {
		hs.serve(web.New(lib, m, cl, c, metrics).Handler(), log.Logger)
		defer func() { sd.at("stopping the HTTP server"); hs.stop() }() // before the library and the client: requests hold handles
	}

	added := 0
	for _, s := range good {
		if err := lib.Add(ctx, s); err != nil {
			if len(good) == 1 {
				m.Unmount()
				return err
			}
			fmt.Fprintf(stderr, "torrentfs: %s\n", human.Text(err.Error()))
			continue
		}
		added++
	}
	if added == 0 {
		m.Unmount()
		return errors.New("no source could be mounted")
	}
	args := []any{"mountpoint", mnt, "torrents", len(lib.Torrents()), "port", cl.Port(), "cache", c.Dir(), "cache_max_size", int64(maxSize)}
	if ts := lib.Torrents(); len(ts) == 1 && len(sources) == 1 {
		args = append(args, "torrent", ts[0].Name(), "infohash", ts[0].InfoHash())
	}
	log.Info("mounted", args...)
	defer serviceReady(ctx, log)() // background mount, systemd: notify.go

	var wg sync.WaitGroup
	defer func() { sd.at("stopping the status goroutines"); wg.Wait() }()
	done := make(chan struct{})
	defer close(done)
	// This one ends when the kernel lets the file system go: at once on a clean unmount, and
	// after a lazy one when the last open file closes, which may be after we exit anyway.
	unmounted := make(chan struct{})
	go func() { m.Wait(); close(unmounted) }()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	if log.live != nil {
		wg.Go(func() { log.live.run(lib, done) })
	}
	wg.Go(func() {
		for {
			select {
			case <-usr1:
				cl.WriteStatus(log.w)
			case <-done:
				return
			}
		}
	})
	defer sd.arm() // an unmount from outside too
	select {
	case <-unmounted:
		log.Info("unmounted from outside", "mountpoint", mnt)
	case <-ctx.Done():
		sd.at("unmounting")
		if err := m.Unmount(); err != nil {
			return err
		}
		sd.at("the kernel to let the file system go")
		select {
		case <-unmounted:
		case <-time.After(unmountWait):
			log.Warn("file system still busy after unmount (files open, or requests waiting for peers); exiting anyway",
				"waited", unmountWait)
		}
		log.Info("unmounted", "mountpoint", mnt)
	}
	return nil
}

// unmountWait is how long a mount asked to stop waits for files still open and requests in
// progress, after detaching its mount point. What is still open then fails once the process
// has exited. It leaves most of shutdownBound to closing the HTTP server (httpStopWait),
// the library, the client and the cache.
const unmountWait = 3 * time.Second
