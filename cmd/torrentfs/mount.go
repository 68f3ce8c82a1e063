package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/engine"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fs"
	"github.com/torrentfs/torrentfs/internal/human"
	"github.com/torrentfs/torrentfs/library"
)

// dhtNodesFile, in the cache directory, holds the DHT's routing table between runs.
const dhtNodesFile = "dht.nodes"

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
	dlna            dlnaFlags // --dlna…: dlna.go
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
			return runMount(c.Context(), &f, args[:len(args)-1], args[len(args)-1], "", c.ErrOrStderr())
		},
	}
	f.register(c)
	fl := c.Flags()
	fl.BoolVar(&f.allowOther, "allow-other", false, "let other users read the mount")
	fl.BoolVar(&f.directIO, "direct-io", false, "bypass the kernel page cache (reads reach torrentfs at the application's size)")
	fl.BoolVar(&f.debugFUSE, "debug-fuse", false, "log every FUSE request")
	registerMountOptions(c, &f) // -o, --uid, --gid, --umask: options.go
	return c
}

// register adds the flags mount and serve share: the swarm, the cache, reads, the library
// and --http. The FUSE flags are mount's alone.
func (f *mountFlags) register(c *cobra.Command) {
	f.swarmFlags.register(c)
	fl := c.Flags()
	f.cacheDir.register(fl)
	fl.Var(&f.maxSize, "cache-max-size", "most `bytes` the cache directory may take on disk; least recently read pieces are evicted (default 10G, at most half the cache's file system)")
	fl.Var(&f.readahead, "readahead", "most `bytes` fetched ahead of a sequential reader")
	fl.Var(&f.readTimeout, "read-timeout", "fail a read with EIO after this long with no data from any peer (0: wait forever)")
	fl.StringVar(&f.prefetch, "prefetch", fetch.PrefetchNone.String(), "what to download beyond what is read, a `mode`: none, file (the rest of an opened file) or all (the whole torrent)")
	fl.BoolVar(&f.noUpload, "no-upload", false, "do not seed cached pieces to other peers")
	fl.Var(&f.metadataTimeout, "metadata-timeout", "drop a magnet link whose metadata does not arrive in this time (default: wait for ever, saying so every 30 s)")
	f.http.register(fl)
	f.dlna.register(fl)
	c.RegisterFlagCompletionFunc("prefetch", cobra.FixedCompletions([]string{"none", "file", "all"}, cobra.ShellCompDirectiveNoFileComp))
}

// runMount mounts sources at mnt, or, with mnt empty, serves them as the serve instance
// called name (serve.go), until ctx is done or the mount is unmounted from outside.
func runMount(ctx context.Context, f *mountFlags, sources []string, mnt, name string, stderr io.Writer) error {
	cfg, log, err := f.config(stderr)
	if err != nil {
		return err
	}
	defer log.Close()
	// From Ctrl-C or SIGTERM on, every step of the way out is bounded: shutdown.go.
	sd := newShutdown(log.Logger, log.w, mnt)
	defer sd.stop()
	defer context.AfterFunc(ctx, sd.arm)()
	ec, err := f.engineConfig(cfg, log.Logger, sources, mnt, name, stderr)
	if err != nil {
		return err
	}
	ec.Step = sd.at
	e, err := engine.Open(ctx, ec)
	if err != nil {
		return cacheDirAdvice(err)
	}
	lib := e.Library()
	msg, args := "mounted", []any{"mountpoint", mnt}
	if mnt == "" {
		msg, args = "serving", []any{"name", serveRef(name), "url", "http://" + e.HTTPAddr().String() + "/"}
	}
	args = append(args, "torrents", len(lib.Torrents()), "port", e.Client().Port(), "cache", e.Cache().Dir(), "cache_max_size", e.CacheMaxSize())
	if ts := lib.Torrents(); len(ts) == 1 && len(sources) == 1 {
		args = append(args, "torrent", ts[0].Name(), "infohash", ts[0].InfoHash())
	}
	log.Info(msg, args...)
	notified := serviceReady(ctx, log) // background mount, systemd: notify.go
	stopStatus := serveStatus(e, log)
	select {
	case <-e.Unmounted():
		log.Info("unmounted from outside", "mountpoint", mnt)
	case <-ctx.Done():
	}
	sd.arm() // an unmount from outside too
	sd.at("stopping the status goroutines")
	stopStatus()
	notified()
	return e.Close()
}

// engineConfig maps the flags to the engine's configuration, checking everything local
// before anything touches the network: a bad source gets its line on stderr, and a mount
// of nothing but bad sources is an error. It listens for --http and on the control socket
// last, and the engine owns those listeners from then on. With mnt empty it configures
// the serve instance called name: no FUSE, and a control socket found by its name.
func (f *mountFlags) engineConfig(cfg fetch.Config, log *slog.Logger, sources []string, mnt, name string, stderr io.Writer) (engine.Config, error) {
	var err error
	if cfg.Prefetch, err = fetch.ParsePrefetch(f.prefetch); err != nil {
		return engine.Config{}, usageError{err.Error()}
	}
	good, err := checkSources(sources, stderr)
	if err != nil {
		return engine.Config{}, err
	}
	if mnt != "" {
		if err := fs.CheckMountPoint(mnt, log); err != nil {
			return engine.Config{}, err
		}
	}
	cacheDir, err := f.cacheDir.dir()
	if err != nil {
		return engine.Config{}, err
	}
	// The DHT's routing table, so a restart asks the nodes it knew (fetch/dht.go).
	cfg.DHTNodesFile = filepath.Join(cacheDir, dhtNodesFile)
	maxSize := int64(f.maxSize)
	if maxSize == 0 {
		maxSize = cache.DefaultMaxSize(cacheDir)
	}
	if maxSize < cache.MinSize {
		ms := sizeFlag(maxSize)
		return engine.Config{}, usagef("--cache-max-size %s: the minimum is %dM", ms.String(), cache.MinSize>>20)
	}
	cfg.Readahead = int64(f.readahead)
	cfg.ReadTimeout = time.Duration(f.readTimeout)
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = fetch.WaitForever
	}
	cfg.NoUpload = f.noUpload
	dlnaID := mnt
	if mnt == "" {
		dlnaID = serveRef(name)
	}
	dc, err := f.dlna.config(f.http.addr, dlnaID)
	if err != nil {
		return engine.Config{}, err
	}
	hc, err := f.http.listen()
	if err != nil {
		return engine.Config{}, err
	}
	id := newMountID()
	var control net.Listener
	if mnt == "" {
		if control, err = listenServeControl(name); err != nil {
			if hc != nil {
				hc.Listener.Close()
			}
			return engine.Config{}, err
		}
	} else if control, err = listenControl(id); err != nil {
		log.Warn("no control socket: add, remove, ls and status will not reach this mount", "err", err)
	}
	return engine.Config{
		CacheDir: cacheDir, CacheMaxSize: maxSize, Client: cfg,
		MountPoint: mnt, Mount: f.fsOptions(fsNamePrefix+id, log),
		Library: library.Options{Add: f.addOptions(), MetadataTimeout: time.Duration(f.metadataTimeout)},
		Sources: good,
		SourceFailed: func(_ string, err error) {
			fmt.Fprintf(stderr, "torrentfs: %s\n", human.Text(err.Error()))
		},
		Control: control, HTTP: hc, DLNA: dc, UnmountWait: unmountWait, Logger: log,
	}, nil
}

// checkSources checks each source locally (library.Check) and returns the good ones. With
// one source, its error is returned; with more, each bad one gets its line on stderr, and
// the last error is returned only if none is good.
func checkSources(sources []string, stderr io.Writer) ([]string, error) {
	var good []string
	var bad error
	for _, s := range sources {
		if err := library.Check(s); err != nil {
			if len(sources) == 1 {
				return nil, err
			}
			fmt.Fprintf(stderr, "torrentfs: %s\n", human.Text(err.Error()))
			bad = err
			continue
		}
		good = append(good, s)
	}
	if len(good) == 0 {
		return nil, bad
	}
	return good, nil
}

// serveStatus runs the mount's status goroutines until the function it returns is called:
// the live line on a terminal, and the client's status on stderr at each SIGUSR1.
func serveStatus(e *engine.Engine, log *logSink) (stop func()) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	usr1 := make(chan os.Signal, 1)
	if len(statusSignals) > 0 { // none would mean all
		signal.Notify(usr1, statusSignals...)
	}
	if log.live != nil {
		wg.Go(func() { log.live.run(e.Library(), done) })
	}
	wg.Go(func() {
		for {
			select {
			case <-usr1:
				e.Client().WriteStatus(log.w)
			case <-done:
				return
			}
		}
	})
	return func() {
		signal.Stop(usr1)
		close(done)
		wg.Wait()
	}
}

// unmountWait is how long a mount asked to stop waits for files still open and requests in
// progress, after detaching its mount point. What is still open then fails once the process
// has exited. It leaves most of shutdownBound to closing the HTTP server
// (engine.HTTPStopWait), the library, the client and the cache.
const unmountWait = 3 * time.Second
