// Package library serves many torrents under one mount: it takes sources in every way people
// name a torrent (.torrent files, magnet links, info-hashes, URLs, watched directories), gives
// each torrent one entry at the mount's root under a name that stays the same across
// remounts, and adds and removes torrents while mounted.
//
// All torrents share one fetch.Client (one listen port) and one cache (one cap). A magnet
// link's entry appears once its metadata arrives; the other torrents are served meanwhile.
// A removed torrent's open files keep reading until they are closed.
package library

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fs"
)

// Options configure a Library.
type Options struct {
	// Add is given to fetch for every torrent: peers and trackers beyond the source's.
	Add fetch.AddOptions
	// MetadataTimeout drops a magnet link whose metadata did not arrive in this time, with a
	// log line. Zero waits for ever.
	MetadataTimeout time.Duration
	// Logger receives the library's log. Nil discards.
	Logger *slog.Logger
}

// Library is the set of torrents of one mount. It is safe for concurrent use.
//
// The library is the one owner of each torrent's life; its entry's state says where it is:
//
//	pending ──attach──► attached ──Remove──► gone
//	   │  └──Remove──► removing ──adder gives up──┤
//	   └──────────── adder gives up ──────────────┘
//
// A pending entry is being added by the one call or goroutine that made it, its adder
// (opening its database, waiting for metadata). Attached, it is in the mount and holds its
// fetch.Torrent. Remove takes an attached entry out at once (the torrent drops once its open
// files close); a pending one it marks removing, stops its metadata wait, and waits for the
// adder to give it up. An adder gives an entry up (forget) after the client gave back its
// database (fetch.Pending), so
// its info-hash is not added again (ErrDuplicate until then) before that database is closed.
// Only the adder moves an entry out of pending or removing; every move is under mu.
//
// Lock order: a fetch.Torrent's wake lock (held while the woke function runs, which takes
// mu) → mu → fs.Mount's lock (mnt.Attach is called under mu). mu is held across no call into
// fetch or cache and no wait: Remove waits for an adder, and Close for wg, without it.
// Every goroutine the library starts is started under mu unless closed is set, so that
// none is added to wg once Close may be waiting for it (goLocked).
type Library struct {
	// Immutable after New.
	cl    *fetch.Client
	cache *cache.Cache
	mnt   *fs.Mount
	opts  Options
	log   *slog.Logger
	http  *http.Client // for .torrent URLs: leaves as the swarm's connections do

	// The library's goroutines (metadata waits, directory watchers) run under ctx; Close
	// cancels it and waits for them.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	entries map[metainfo.Hash]*entry // guarded by mu
	names   map[metainfo.Hash]string // guarded by mu: names given, kept across remounts
	watched map[string]*watcher      // guarded by mu: by directory
	closed  bool                     // guarded by mu
}

// entry is one torrent of the library.
type entry struct {
	// Immutable after add made it.
	ih     metainfo.Hash
	source string // as given
	origin string // the file of a watched directory it came from, if any
	// started: added dormant and started at once (addStarted), which logs it.
	started bool
	// done is closed once the adder is done with the entry: attached or given up.
	done chan struct{}

	// Guarded by Library.mu. name and t are written only while the entry is pending, so
	// whoever moved it on reads them without mu.
	state state
	// Set as the entry is attached.
	name string
	t    *fetch.Torrent
	// stop ends the wait for a magnet link's metadata.
	stop context.CancelFunc
}

// state is where an entry is in its life (see Library).
type state int

const (
	pending  state = iota // in entries, its adder at work
	attached              // in entries and the mount
	removing              // in entries; Remove waits for its adder to give it up
	gone                  // out of entries, for good
)

// New returns an empty library serving its torrents in mnt. The client's storage must be c.
func New(cl *fetch.Client, c *cache.Cache, mnt *fs.Mount, opts Options) *Library {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Library{cl: cl, cache: c, mnt: mnt, opts: opts, log: log, http: cl.HTTPClient(0),
		entries: make(map[metainfo.Hash]*entry), watched: make(map[string]*watcher)}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.names = l.loadNames()
	return l
}

// Close stops watching directories and waiting for metadata, and waits for those
// goroutines. The torrents stay in the client, which its owner closes.
func (l *Library) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
}

// errClosed is returned by Add once Close has begun.
var errClosed = errors.New("library closed")

// goLocked runs f in a goroutine that Close waits for, unless Close has begun; it reports
// whether it did. Guarded by mu: Close sets closed under mu before it waits, so no goroutine
// is added to wg while Close waits.
func (l *Library) goLocked(f func()) bool {
	if l.closed {
		return false
	}
	l.wg.Go(f)
	return true
}

// ErrDuplicate is returned when a source names a torrent the library already has.
var ErrDuplicate = errors.New("already in this mount")

// Add adds a source: a directory is watched (its .torrent and .magnet files are added, and
// removed when they go); anything else is one torrent. A magnet link without cached metadata
// returns at once and its entry appears when the metadata arrives.
func (l *Library) Add(ctx context.Context, s string) error {
	if st, err := os.Stat(s); err == nil && st.IsDir() {
		return l.watch(s)
	}
	return l.add(ctx, s, "")
}

// add adds one torrent; origin is the watched file it came from, if any.
func (l *Library) add(ctx context.Context, s, origin string) error {
	src, err := resolve(ctx, l.http, s)
	if err != nil {
		return err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errClosed
	}
	if e, ok := l.entries[src.ih]; ok {
		what := e.name
		switch {
		case e.state == removing:
			what = "being removed"
		case what == "":
			what = "awaiting metadata"
		}
		l.mu.Unlock()
		return fmt.Errorf("%s: %w (%s, %s)", s, ErrDuplicate, what, src.ih.HexString())
	}
	e := &entry{ih: src.ih, source: s, origin: origin, started: origin == "" && src.mi != nil, done: make(chan struct{})}
	l.entries[src.ih] = e
	l.mu.Unlock()

	waiting, err := l.fill(ctx, e, src)
	if !waiting {
		close(e.done)
	}
	return err
}

// fill attaches the pending entry e of src, or gives it up; it reports whether it left that
// to a goroutine waiting for the metadata, which closes e.done.
func (l *Library) fill(ctx context.Context, e *entry, src source) (waiting bool, _ error) {
	if src.mi != nil {
		if e.origin != "" {
			return false, l.addDormant(e, src)
		}
		return false, l.addStarted(e, src)
	}
	// A magnet link: the client opens its database and finds its metadata there if it came
	// once (fetch.Acquirer, fetch.InfoStore), and gives the database back if it fails.
	p, err := l.cl.Prepare(src.add, l.opts.Add)
	if err != nil {
		l.forget(e)
		return false, l.inUse(e, err)
	}
	if p.Known() {
		t, err := p.Wait(ctx) // returns at once
		if err != nil {
			l.forget(e)
			return false, err
		}
		return false, l.attach(e, t)
	}

	l.log.Info("fetching metadata from peers", "infohash", src.ih.HexString())
	wctx, stop := context.WithCancel(l.ctx)
	if l.opts.MetadataTimeout > 0 {
		wctx, stop = context.WithTimeout(l.ctx, l.opts.MetadataTimeout)
	}
	l.mu.Lock()
	e.stop = stop // called by takeLocked from now on, or below
	removed := e.state != pending
	if !removed {
		waiting = l.goLocked(func() {
			defer stop()
			l.wait(wctx, e, src, p)
		})
	}
	l.mu.Unlock()
	if waiting {
		return true, nil
	}
	stop()
	p.Cancel()
	l.forget(e)
	if removed {
		return false, nil
	}
	return false, errClosed
}

// wait waits for the metadata of e's magnet link and attaches e, or gives it up.
func (l *Library) wait(ctx context.Context, e *entry, src source, p *fetch.Pending) {
	defer close(e.done)
	t, err := p.Wait(ctx)
	if err != nil {
		removed := l.forget(e)
		if l.ctx.Err() == nil && !removed {
			if errors.Is(err, context.DeadlineExceeded) {
				l.log.Warn("no metadata from peers in time: the magnet link is dropped", "source", e.source,
					"infohash", src.ih.HexString(), "metadata_timeout", l.opts.MetadataTimeout)
			} else {
				l.log.Warn("cannot add torrent", "source", e.source, "err", err)
			}
		}
		return
	}
	if err := l.attach(e, t); err != nil {
		l.log.Warn("cannot add torrent", "source", e.source, "err", err)
	}
}

// inUse says which process has e's database when err is that it is in use.
func (l *Library) inUse(e *entry, err error) error {
	if errors.Is(err, cache.ErrInUse) {
		return fmt.Errorf("%s is already mounted by another torrentfs process (cache %s)", e.source, l.cache.Dir())
	}
	return err
}

// addDormant adds the torrent of a watched directory's .torrent file dormant: its entry is
// in the mount, but its database is not opened and no peer hears of it until a file of it
// is first opened. A directory of a thousand torrents then costs little more than their
// file lists; those read become active, and stay so.
func (l *Library) addDormant(e *entry, src source) error {
	// The client acquires the torrent's database from the cache as it wakes (fetch.Acquirer).
	t, err := l.cl.AddDormant(src.add, src.mi, l.opts.Add, func() { l.woke(e) })
	if err != nil {
		l.forget(e)
		return err
	}
	return l.attach(e, t)
}

// addStarted adds the torrent of a .torrent file the user named. Its entry is in the mount as
// soon as the file is parsed: the torrent is added dormant, then started before addStarted
// returns, so that opening its database and joining the swarm do not hold up the first
// listing of a mount (issue #13). If it cannot start, its entry leaves the mount and the
// error is returned, as if it had never been added.
func (l *Library) addStarted(e *entry, src source) error {
	if err := l.addDormant(e, src); err != nil {
		return err
	}
	l.mu.Lock()
	t, name := e.t, e.name
	l.mu.Unlock()
	if t == nil { // removed meanwhile
		return nil
	}
	if err := t.Start(); err != nil {
		l.mu.Lock()
		removed := e.state != attached
		if !removed {
			l.leaveLocked(e)
		}
		l.mu.Unlock()
		if removed { // a Remove dropped it while it started: as if removed after
			return nil
		}
		l.mnt.Remove(name)
		t.Drop()
		return l.inUse(e, err)
	}
	l.log.Info("added", "torrent", name, "infohash", e.ih.HexString(), "files", len(t.Files()), "size", t.Length(), "dormant", false)
	return nil
}

// woke finishes what attach leaves to a dormant torrent's waking.
func (l *Library) woke(e *entry) {
	l.mu.Lock()
	name, t, closed := e.name, e.t, l.closed
	l.mu.Unlock()
	if t == nil || closed {
		return
	}
	if !e.started {
		l.log.Info("started", "torrent", name, "infohash", e.ih.HexString())
	}
	l.watchComplete(name, t)
}

// watchComplete logs when every piece of t is cached.
func (l *Library) watchComplete(name string, t *fetch.Torrent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.goLocked(func() {
		select {
		case <-t.Complete():
			l.log.Info("every piece is cached: the torrent reads without peers", "torrent", name)
		case <-t.Dropped():
		case <-l.ctx.Done():
		}
	})
}

// attach puts a torrent whose metadata is known into the mount.
func (l *Library) attach(e *entry, t *fetch.Torrent) error {
	dormant := t.Dormant()
	tree := l.mnt.Build(t) // outside mu: a torrent of many files holds up no other
	l.mu.Lock()
	if l.givenUpLocked(e) { // removed meanwhile
		l.mu.Unlock()
		t.Drop()
		return nil
	}
	want := t.Name()
	if n, ok := l.names[e.ih]; ok {
		want = n
	}
	name := l.mnt.Attach(want, tree)
	e.name, e.t, e.state = name, t, attached
	changed := l.names[e.ih] != name
	l.names[e.ih] = name
	l.mu.Unlock()
	if changed {
		l.saveNames()
	}
	if !e.started {
		l.log.Info("added", "torrent", name, "infohash", e.ih.HexString(), "files", len(t.Files()), "size", t.Length(), "dormant", dormant)
	}
	if !dormant {
		l.watchComplete(name, t)
	}
	return nil
}

// forget gives up an entry that never made it into the mount, and reports whether it was
// removed meanwhile. Only e's adder calls it, after the client gave back the database of a
// torrent that failed (fetch.Pending): e is in entries until then, so a new add of e.ih
// (ErrDuplicate until then) opens the database after it was closed.
func (l *Library) forget(e *entry) bool {
	l.mu.Lock()
	removed := l.givenUpLocked(e)
	if !removed {
		l.leaveLocked(e)
	}
	l.mu.Unlock()
	return removed
}

// givenUpLocked reports whether the pending entry e was removed while being added, and then
// takes it out of entries. Only e's adder calls it. Guarded by mu.
func (l *Library) givenUpLocked(e *entry) bool {
	if e.state == removing {
		l.leaveLocked(e)
		return true
	}
	return false
}

// leaveLocked takes e out of entries: it is gone. Guarded by mu.
func (l *Library) leaveLocked(e *entry) {
	if l.entries[e.ih] == e {
		delete(l.entries, e.ih)
	}
	e.state = gone
}

// ErrNotFound is returned by Remove for a name or info-hash the library does not have.
var ErrNotFound = errors.New("no such torrent in this mount")

// Remove removes the torrent named key (its entry's name or its info-hash). Its open files
// keep reading until closed. Its cached pieces stay, for the cap's eviction to reclaim, and
// its name is kept for the next time it is added, unless purge is set: then they are
// deleted once its files are closed, and the name is forgotten.
func (l *Library) Remove(key string, purge bool) error {
	l.mu.Lock()
	e := l.find(key)
	if e == nil {
		l.mu.Unlock()
		return fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	l.takeLocked(e)
	l.mu.Unlock()
	return l.remove(e, purge)
}

// find returns the entry of key, or nil; entries being removed are not found. Guarded by
// mu.
func (l *Library) find(key string) *entry {
	if ih, ok := ParseInfoHash(key); ok {
		if e, ok := l.entries[ih]; ok && e.state != removing {
			return e
		}
	}
	for _, e := range l.entries {
		if e.name != "" && e.name == key {
			return e
		}
	}
	return nil
}

// takeLocked starts removing e: an attached entry leaves entries at once; a pending one is
// marked removing and its metadata wait stopped, and its adder takes it out. Guarded by mu.
func (l *Library) takeLocked(e *entry) {
	if e.state == attached {
		l.leaveLocked(e)
		return
	}
	e.state = removing
	if e.stop != nil {
		e.stop()
	}
}

// remove finishes removing e, which takeLocked took: it waits for a pending entry's adder
// to give it up, or takes an attached one out of the mount. e's fields no longer change.
func (l *Library) remove(e *entry, purge bool) error {
	if e.t == nil { // awaiting metadata
		<-e.done
		l.log.Info("removed", "source", e.source, "infohash", e.ih.HexString())
		return nil
	}
	err := l.mnt.Remove(e.name)
	e.t.Drop()
	dropped := e.t.Dropped()
	l.log.Info("removed", "torrent", e.name, "infohash", e.ih.HexString())
	if !purge {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.goLocked(func() {
		select {
		case <-dropped:
		case <-l.ctx.Done():
			return
		}
		if err := cache.Remove(l.cache.Dir(), e.ih); err != nil {
			l.log.Warn("cannot purge the torrent's cache", "torrent", e.name, "err", err)
			return
		}
		l.forgetName(e.ih)
		l.log.Info("purged from the cache", "torrent", e.name, "infohash", e.ih.HexString())
	})
	return err
}

// Info describes one torrent of the library.
type Info struct {
	Name     string `json:"name,omitempty"` // empty while awaiting metadata
	InfoHash string `json:"infohash"`
	Source   string `json:"source"`
	Length   int64  `json:"length"`
	Cached   int64  `json:"cached"`
	Read     int64  `json:"read"` // bytes readers of its files were given
}

// List describes the library's torrents, by name; those awaiting metadata last.
func (l *Library) List() []Info {
	type listed struct {
		i Info
		t *fetch.Torrent
	}
	l.mu.Lock()
	var es []listed
	for _, e := range l.entries {
		if e.state != removing {
			es = append(es, listed{Info{InfoHash: e.ih.HexString(), Source: e.source, Name: e.name}, e.t})
		}
	}
	l.mu.Unlock()
	var r []Info
	for _, e := range es {
		i := e.i
		if e.t != nil { // outside mu: fetch takes locks of its own
			i.Length, i.Cached, i.Read = e.t.Length(), e.t.BytesCompleted(), e.t.BytesRead()
		}
		r = append(r, i)
	}
	slices.SortFunc(r, func(a, b Info) int {
		switch {
		case a.Name == "" && b.Name != "":
			return 1
		case a.Name != "" && b.Name == "":
			return -1
		case a.Name != b.Name:
			return cmp.Compare(a.Name, b.Name)
		}
		return cmp.Compare(a.InfoHash, b.InfoHash)
	})
	return r
}

// Get returns the Info of the torrent named key (its entry's name or its info-hash) and the
// torrent, nil while awaiting metadata. It reports false if the library has no such torrent.
func (l *Library) Get(key string) (Info, *fetch.Torrent, bool) {
	l.mu.Lock()
	e := l.find(key)
	if e == nil {
		l.mu.Unlock()
		return Info{}, nil, false
	}
	i := Info{InfoHash: e.ih.HexString(), Source: e.source, Name: e.name}
	t := e.t
	l.mu.Unlock()
	if t != nil {
		i.Length, i.Cached, i.Read = t.Length(), t.BytesCompleted(), t.BytesRead()
	}
	return i, t, true
}

// Torrents returns the torrents in the mount, by name.
func (l *Library) Torrents() []*fetch.Torrent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var es []*entry
	for _, e := range l.entries {
		if e.state == attached {
			es = append(es, e)
		}
	}
	slices.SortFunc(es, func(a, b *entry) int { return cmp.Compare(a.name, b.name) })
	ts := make([]*fetch.Torrent, len(es))
	for i, e := range es {
		ts[i] = e.t
	}
	return ts
}

// namesFile keeps the names entries were given, so that a torrent whose name clashed keeps
// its unique name at the next mount whatever order the torrents come in.
const namesFile = "names.json"

func (l *Library) loadNames() map[metainfo.Hash]string {
	names := make(map[metainfo.Hash]string)
	b, err := cache.ReadRecord(l.cache.Dir(), namesFile)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			l.log.Warn("cannot read the entries' names", "err", err)
		}
		return names
	}
	var m map[string]string
	if json.Unmarshal(b, &m) != nil {
		return names
	}
	for k, v := range m {
		if ih, ok := ParseInfoHash(k); ok && v != "" {
			names[ih] = v
		}
	}
	return names
}

// forgetName drops the name kept for ih, unless the torrent was added again meanwhile.
func (l *Library) forgetName(ih metainfo.Hash) {
	l.mu.Lock()
	_, back := l.entries[ih]
	_, named := l.names[ih]
	if !back {
		delete(l.names, ih)
	}
	l.mu.Unlock()
	if named && !back {
		l.saveNames()
	}
}

// saveNames writes the names, atomically; another mount of the same cache may write them
// too, and the last one wins, which costs at most a name's stability.
func (l *Library) saveNames() {
	l.mu.Lock()
	m := make(map[string]string, len(l.names))
	for ih, n := range l.names {
		m[ih.HexString()] = n
	}
	l.mu.Unlock()
	b, err := json.MarshalIndent(m, "", "\t")
	if err != nil {
		return
	}
	if err := cache.WriteRecord(l.cache.Dir(), namesFile, b); err != nil {
		l.log.Debug("cannot keep the entries' names", "err", err)
	}
}
