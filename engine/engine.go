// Package engine is torrentfs's composition root: it owns one running set of torrents and
// everything that serves them. Open builds, in order, the piece cache, the torrent client
// that stores its pieces there, the tree of torrents (mounted with FUSE, or not), the
// library, its control server and sources, and the optional HTTP server; Close tears them
// down in exactly the reverse order and waits for the goroutines it started.
//
// The rules that tie the parts together live here and nowhere else: the client's storage is
// the cache; the cache watches the client before any piece arrives; readahead is at most a
// quarter of the cache and the bytes of unverified pieces at most an eighth.
//
// The engine knows nothing of flags, exit codes, signals or terminals: the command line maps
// its flags to a Config and the engine's errors to exit codes.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/dlna"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fs"
	"github.com/torrentfs/torrentfs/library"
	"github.com/torrentfs/torrentfs/status"
	"github.com/torrentfs/torrentfs/web"
)

// The cache is the client's storage, how a torrent acquires it before anacrolix opens it,
// and where a magnet link's metadata is kept; the client is the cache's eviction Watcher.
var (
	_ fetch.Acquirer  = (*cache.Cache)(nil)
	_ fetch.InfoStore = (*cache.Cache)(nil)
	_ cache.Watcher   = (*fetch.Client)(nil)
)

// Config configures an Engine. The zero value with a CacheDir is usable: no mount, no HTTP,
// no sources, the public swarm.
type Config struct {
	// CacheDir is the piece cache's directory. Required.
	CacheDir string
	// CacheMaxSize caps the cache on disk. Zero means cache.DefaultMaxSize(CacheDir); below
	// cache.MinSize is an error.
	CacheMaxSize int64

	// Client configures the torrent client. Its Storage must be nil: the engine's cache is
	// the storage. Readahead and MaxUnverified are capped for the cache's size (zero takes
	// fetch's defaults, capped). A nil Logger takes the engine's.
	Client fetch.Config

	// MountPoint is where the torrents are mounted with FUSE. Empty means no mount: the
	// torrents are served by HTTP and the control server only.
	MountPoint string
	// Mount configures the file system. A nil Logger takes the engine's.
	Mount fs.Options

	// Library configures the library. A nil Logger takes the engine's.
	Library library.Options
	// Sources are added to the library by Open, in order (library.Library.Add). With one
	// source, its error fails Open; with more, a source that fails is given to SourceFailed
	// and Open fails only if none was added (ErrNoSources).
	Sources      []string
	SourceFailed func(source string, err error)

	// Control, if set, serves the control API (status.Server.ControlHandler: the status and
	// the library's orders) from Open to Close. The engine owns it from Open on, failed or not, and closes it.
	Control net.Listener

	// HTTP, if set, serves the web interface (package web) once the sources are added. The
	// engine owns its Listener from Open on, failed or not, and closes it.
	HTTP *HTTPConfig
	// DLNA, if set, serves the torrents to TVs as a UPnP MediaServer (package dlna) through
	// the HTTP server, which it needs.
	DLNA *DLNAConfig

	// UnmountWait bounds how long Close waits for the kernel to let the file system go after
	// unmounting it (files still open, requests waiting for peers). Zero means
	// DefaultUnmountWait.
	UnmountWait time.Duration
	// Step, if set, is told each step of Close as it begins, so that a watchdog can say what
	// hung. It must be quick.
	Step func(step string)
	// Logger receives the engine's log and its parts'. Nil discards.
	Logger *slog.Logger
}

// DefaultUnmountWait is the default Config.UnmountWait.
const DefaultUnmountWait = 3 * time.Second

// ErrNoSources is returned by Open when none of several sources could be added.
var ErrNoSources = errors.New("no source could be mounted")

// ErrDLNANeedsHTTP is returned by Open for a Config with DLNA and without HTTP: players
// fetch the files from the HTTP server.
var ErrDLNANeedsHTTP = errors.New("engine: DLNA needs the HTTP server: players fetch the files from it")

// ErrStorageSet is returned by Open for a Config.Client with a Storage: the cache is the
// client's storage.
var ErrStorageSet = errors.New("engine: the client's storage is the engine's cache; leave Client.Storage nil")

// Engine is a running set of torrents: cache, client, library, the optional mount and HTTP
// server. Its methods are safe for concurrent use.
type Engine struct {
	// Immutable after Open.
	cfg       Config
	log       *slog.Logger
	maxSize   int64
	cache     *cache.Cache
	client    *fetch.Client
	mount     *fs.Mount
	lib       *library.Library
	httpL     net.Listener  // nil without HTTP
	unmounted chan struct{} // closed once the kernel lets the mount go; nil without a mount
	metrics   *web.Metrics  // nil without HTTP

	// closers undo what Open built, in the order built; Close runs them backwards.
	closers   []closer
	closeOnce sync.Once
	closeErr  error
	opened    bool // set by closeAll: Open had succeeded
}

// closer undoes one step of Open.
type closer struct {
	step  string // as Config.Step hears it
	close func() error
}

// Open builds an engine. ctx bounds the adding of sources (a URL's download, say); the
// engine does not keep it. On an error, what was built is closed in reverse and the error
// is returned as its part gave it.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	e := &Engine{cfg: cfg, log: cfg.Logger}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if err := e.open(ctx); err != nil {
		e.closeAll(false)
		return nil, err
	}
	return e, nil
}

// open builds the parts in order, pushing a closer for each.
func (e *Engine) open(ctx context.Context) error {
	e.own(e.cfg.Control)
	if e.cfg.DLNA != nil && e.cfg.HTTP == nil {
		return ErrDLNANeedsHTTP
	}
	if h := e.cfg.HTTP; h != nil {
		if err := e.listenHTTP(h); err != nil {
			return err
		}
	}
	for _, step := range []func() error{e.openCache, e.openClient, e.openMount, e.openLibrary} {
		if err := step(); err != nil {
			return err
		}
	}
	if l := e.cfg.Control; l != nil {
		s := serveControl(l, status.New(e.lib, e.cache, status.Options{DHT: e.client, Adding: e.client}).ControlHandler())
		e.push("closing the control socket", s.stop)
	}
	if err := e.addSources(ctx); err != nil {
		return err
	}
	if e.httpL != nil {
		h := web.New(e.lib, e.mount, e.client, e.cache, e.metrics).Handler()
		opts := e.cfg.HTTP.Options
		var d *dlna.Server
		if dc := e.cfg.DLNA; dc != nil {
			var err error
			if d, err = e.newDLNA(dc); err != nil {
				return err
			}
			h, opts.Public = d.Handler(h), d.Public
		}
		s := serveHTTP(e.httpL, h, opts, e.log)
		e.push("stopping the HTTP server", s.stop)
		if d != nil {
			d.Start()
			e.push("saying goodbye to DLNA players", d.Close)
		}
	}
	return nil
}

// newDLNA makes the DLNA server of the tree of torrents, listening for searches but not yet
// announced.
func (e *Engine) newDLNA(dc *DLNAConfig) (*dlna.Server, error) {
	addr, _ := e.httpL.Addr().(*net.TCPAddr)
	if addr == nil {
		return nil, fmt.Errorf("dlna: the HTTP server listens on %s, not TCP", e.httpL.Addr())
	}
	return dlna.New(e.mount, dlna.Options{FriendlyName: dc.FriendlyName, ID: dc.ID, Interfaces: dc.Interfaces,
		HTTPAddr: addr, NotifyInterval: dc.NotifyInterval, Logger: e.log})
}

// own closes l, if any, last of all: serving it closes it earlier, and this is for an Open
// that fails before then. A second Close of a listener does nothing but fail.
func (e *Engine) own(l net.Listener) {
	if l != nil {
		e.push("", func() error { l.Close(); return nil })
	}
}

// push records how to undo the step just built.
func (e *Engine) push(step string, close func() error) {
	e.closers = append(e.closers, closer{step, close})
}

// listenHTTP listens first of all, so that an address taken fails Open before anything
// else is built.
func (e *Engine) listenHTTP(h *HTTPConfig) error {
	e.httpL = h.Listener
	if e.httpL == nil {
		l, err := net.Listen("tcp", h.Addr)
		if err != nil {
			return fmt.Errorf("http: %w", err)
		}
		e.httpL = l
	}
	e.own(e.httpL)
	e.metrics = web.NewMetrics()
	return nil
}

func (e *Engine) openCache() error {
	e.maxSize = e.cfg.CacheMaxSize
	if e.maxSize == 0 {
		e.maxSize = cache.DefaultMaxSize(e.cfg.CacheDir)
	}
	if e.maxSize < cache.MinSize {
		return fmt.Errorf("cache max size %d: the minimum is %d", e.maxSize, cache.MinSize)
	}
	c, err := cache.Open(e.cfg.CacheDir, cache.Options{Logger: e.log, MaxSize: e.maxSize})
	if err != nil {
		return err
	}
	e.cache = c
	e.push("closing the cache", c.Close)
	return nil
}

// openClient starts the client on the cache, with the limits the cache's size sets, and
// has the cache watch it before any piece can arrive.
func (e *Engine) openClient() error {
	cfg := e.cfg.Client
	if cfg.Storage != nil {
		return ErrStorageSet
	}
	cfg.Storage = e.cache
	if cfg.Readahead <= 0 {
		cfg.Readahead = fetch.DefaultReadahead
	}
	cfg.Readahead = fetch.ReadaheadFor(cfg.Readahead, e.maxSize)
	if most := fetch.MaxUnverifiedFor(e.maxSize); cfg.MaxUnverified <= 0 || cfg.MaxUnverified > most {
		cfg.MaxUnverified = most
	}
	if cfg.Logger == nil {
		cfg.Logger = e.log
	}
	if e.metrics != nil {
		cfg.ReadObserver = chainObservers(cfg.ReadObserver, e.metrics.ObserveRead)
	}
	cl, err := fetch.New(cfg)
	if err != nil {
		return err
	}
	e.client = cl
	e.push("closing the torrent client", cl.Close)
	e.cache.Watch(cl)
	return nil
}

// chainObservers calls a, if set, then b.
func chainObservers(a, b func(time.Duration, int, error)) func(time.Duration, int, error) {
	if a == nil {
		return b
	}
	return func(d time.Duration, n int, err error) { a(d, n, err); b(d, n, err) }
}

// openMount mounts the tree of torrents on MountPoint, or builds it unmounted.
func (e *Engine) openMount() error {
	opts := e.cfg.Mount
	if opts.Logger == nil {
		opts.Logger = e.log
	}
	if e.cfg.MountPoint == "" {
		e.mount = fs.NewUnmounted(opts)
		return nil
	}
	m, err := fs.New(e.cfg.MountPoint, opts)
	if err != nil {
		return err
	}
	e.mount = m
	e.unmounted = make(chan struct{})
	// Not waited for past UnmountWait: it ends when the kernel lets the file system go,
	// which after a lazy unmount is when the last open file closes.
	go func() { m.Wait(); close(e.unmounted) }()
	e.push("unmounting", e.unmount)
	return nil
}

func (e *Engine) openLibrary() error {
	opts := e.cfg.Library
	if opts.Logger == nil {
		opts.Logger = e.log
	}
	e.lib = library.New(e.client, e.cache, e.mount, opts)
	e.push("closing the library", func() error { e.lib.Close(); return nil })
	return nil
}

// addSources adds Config.Sources to the library.
func (e *Engine) addSources(ctx context.Context) error {
	srcs := e.cfg.Sources
	added := 0
	for _, s := range srcs {
		if err := e.lib.Add(ctx, s); err != nil {
			if len(srcs) == 1 {
				return err
			}
			if e.cfg.SourceFailed != nil {
				e.cfg.SourceFailed(s, err)
			}
			continue
		}
		added++
	}
	if len(srcs) > 0 && added == 0 {
		return ErrNoSources
	}
	return nil
}

// Close tears the engine down in the reverse order of Open: the DLNA server (saying
// goodbye to players), the HTTP server (waiting up to
// HTTPStopWait for requests), the control server, the library, the mount (waiting up to
// Config.UnmountWait for the kernel to let it go; files still open then fail once the
// process ends), the client and the cache. It waits for every goroutine the engine started
// but the one waiting for the kernel past that bound. Later calls return the first's error.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() { e.closeErr = e.closeAll(true) })
	return e.closeErr
}

// closeAll runs the closers backwards; opened says Open succeeded, so that an unmount is
// logged.
func (e *Engine) closeAll(opened bool) error {
	e.opened = opened
	var errs []error
	for i := len(e.closers) - 1; i >= 0; i-- {
		c := e.closers[i]
		if c.step != "" && e.cfg.Step != nil {
			e.cfg.Step(c.step)
		}
		errs = append(errs, c.close())
	}
	e.closers = nil
	return errors.Join(errs...)
}

// unmount unmounts the file system, unless the kernel let it go already (an unmount from
// outside), and waits up to UnmountWait for the kernel to let it go.
func (e *Engine) unmount() error {
	select {
	case <-e.unmounted:
		return nil
	default:
	}
	if err := e.mount.Unmount(); err != nil {
		return err
	}
	if e.cfg.Step != nil {
		e.cfg.Step("the kernel to let the file system go")
	}
	wait := e.cfg.UnmountWait
	if wait <= 0 {
		wait = DefaultUnmountWait
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-e.unmounted:
	case <-t.C:
		e.log.Warn("file system still busy after unmount (files open, or requests waiting for peers); exiting anyway",
			"waited", wait)
	}
	if e.opened {
		e.log.Info("unmounted", "mountpoint", e.cfg.MountPoint)
	}
	return nil
}

// Library returns the engine's library.
func (e *Engine) Library() *library.Library { return e.lib }

// Mount returns the tree of torrents: mounted on Config.MountPoint, or unmounted without one.
func (e *Engine) Mount() *fs.Mount { return e.mount }

// Client returns the torrent client.
func (e *Engine) Client() *fetch.Client { return e.client }

// Cache returns the piece cache.
func (e *Engine) Cache() *cache.Cache { return e.cache }

// CacheMaxSize returns the cache's cap on disk: Config.CacheMaxSize or its default.
func (e *Engine) CacheMaxSize() int64 { return e.maxSize }

// HTTPAddr returns the HTTP server's address, or nil without one.
func (e *Engine) HTTPAddr() net.Addr {
	if e.httpL == nil {
		return nil
	}
	return e.httpL.Addr()
}

// Unmounted returns a channel closed once the kernel lets the mount go, whether Close or
// someone else unmounted it. Without a mount it is nil: it never closes.
func (e *Engine) Unmounted() <-chan struct{} { return e.unmounted }
