package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"

	"github.com/torrentfs/torrentfs/internal/bencheck"
	"github.com/torrentfs/torrentfs/internal/human"
	"github.com/torrentfs/torrentfs/internal/infocheck"
)

// AddOptions say where to find peers for a torrent beyond what the source names.
type AddOptions struct {
	// Peers are host:port addresses to connect to.
	Peers []string
	// Trackers are announce URLs added to the source's own.
	Trackers []string
	// InfoBytes is the torrent's info dictionary, if known (say, cached): a magnet link then
	// needs no peer to send it.
	InfoBytes []byte
	// MetaInfo is the .torrent source as LoadTorrentFile returned it, if the caller has
	// loaded it already: a big torrent then is not read and parsed again.
	MetaInfo *metainfo.MetaInfo
}

// Torrent is a torrent in a Client whose metadata (info dictionary) is known. It is active
// (in anacrolix: seeding, announcing, fetching) from Add, or dormant from AddDormant until a
// file of it is first opened.
//
// Lock order: wmu, then pmu, then anacrolix's client lock, then swarm.mu; the rest is
// atomics (docs/design.md, "Lock order").
type Torrent struct {
	// Immutable after Add or AddDormant.
	c         *Client
	ih        metainfo.Hash
	info      *metainfo.Info
	size      int64 // info.TotalLength(), padding included
	infoBytes []byte
	modTime   time.Time
	files     []File
	opened    []sync.Once // per file: the first open starts its prefetch

	// verified mirrors which pieces anacrolix holds verified, so that getattr, which the
	// kernel sends for every entry of a directory listing, takes no client lock. All false
	// while dormant.
	verified []atomic.Bool
	// mirrorMu makes reading pieces' states from anacrolix and storing them in verified one
	// step, for the mirror and Verify: else one could store a state read before the other's
	// read over what the other stored (a piece of zeros read complete before its hash failed,
	// stored after Verify had stored it incomplete). Taken before anacrolix's client lock,
	// never under it.
	mirrorMu sync.Mutex
	// heads holds every open read head (*head → struct{}), for Client.Active.
	heads sync.Map
	// evicted counts the bytes the storage evicted.
	evicted atomic.Int64
	// read counts the bytes its files' readers were given.
	read atomic.Int64
	// stream is where the last read head that read its file to the end stopped, and what it
	// had read in sequence: a head at the start of the next file continues it
	// (Torrent.continues). nil when there is none, or it was continued.
	stream atomic.Pointer[streamEnd]
	// swarm remembers the peers the torrent has known, to find them again (peers.go).
	swarm swarm
	// wmu serialises waking the torrent with its leaving the client. Guarded by wmu: sleep
	// holds what waking needs, nil once awake; left is set once the torrent left the client.
	wmu   sync.Mutex
	sleep *dormancy
	left  bool
	// live is set once the torrent is in anacrolix: t, tfiles and stopMirror are set before
	// and immutable after.
	live       atomic.Bool
	t          *torrent.Torrent
	tfiles     []*torrent.File // files' anacrolix files, in the same order
	gapped     bool            // its files do not lie end to end in anacrolix's layout: see spillable
	stopMirror func()
	obs        TorrentObserver // told of its first contact, its reads and its totals

	// goroutines counts the goroutines the torrent owns: the mirror of verified pieces and,
	// while armed, the resume timer's function. close stops them and waits.
	goroutines sync.WaitGroup

	// The background prefetch pauses while reads seek (see holdPrefetch), and stops at the
	// first eviction: the cache is full. Guarded by pmu.
	pmu         sync.Mutex
	prefetching []*torrent.File // the files Config.Prefetch downloads
	seeking     int             // reads seeking now
	paused      bool
	stopped     bool
	resume      *time.Timer        // counted in goroutines from armed until run or stopped
	closed      bool               // no timer is armed, and no name looked up (dialNames), once set
	lookups     context.Context    // dialNames' lookups run in it; set by start
	stopLookups context.CancelFunc // ends it

	// handles counts the open Handles, and has handleDropped set once Drop was called: Drop
	// waits for the last open Handle (see Drop).
	handles atomic.Int64
	// leave removes the torrent from the client once; gone is closed when it has.
	leave sync.Once
	gone  chan struct{}
}

// File is one file of a torrent, as the torrent names it. Path is relative to the torrent's
// root directory and empty for a single-file torrent; its elements are untrusted.
type File struct {
	Path   []string
	Length int64

	offset int64 // in the torrent
}

// IsMagnet reports whether source is a magnet link rather than a file name.
func IsMagnet(source string) bool { return strings.HasPrefix(source, "magnet:") }

// Add adds a torrent from a .torrent file or a magnet link and returns once its metadata is
// known: at once for a file or a magnet link whose metadata the storage kept (InfoStore),
// after a peer sent it otherwise (bounded by ctx). It is Prepare, then Wait.
func (c *Client) Add(ctx context.Context, source string, opts AddOptions) (*Torrent, error) {
	p, err := c.Prepare(source, opts)
	if err != nil {
		return nil, err
	}
	return p.Wait(ctx)
}

// InfoStore is storage that keeps torrents' info dictionaries, so that a magnet link or an
// info-hash whose metadata came once needs no peer again; *cache.Cache implements it. fetch
// calls both with the torrent's store open (Acquirer, or anacrolix's OpenTorrent).
type InfoStore interface {
	// LoadInfo returns the info dictionary SaveInfo kept for ih, or an error.
	LoadInfo(ih metainfo.Hash) ([]byte, error)
	// SaveInfo keeps the info dictionary of ih, bencoded as its info-hash hashes it.
	SaveInfo(ih metainfo.Hash, info []byte) error
}

// Pending is a torrent being added, whose metadata may not be known yet. From Prepare until
// Wait returns or Cancel, its info-hash is reserved in the client (another Add of it fails
// with ErrDuplicate) and, with an Acquirer as the storage, its store is open. Exactly one of
// Wait and Cancel is called, once.
type Pending struct {
	c       *Client
	spec    *torrent.TorrentSpec
	peers   []torrent.PeerInfo // the source's and the options', with their sources
	modTime time.Time
	acq     Acquirer // the storage, if it is one: its store of the torrent is acquired

	// mu guards what its sources said while its metadata is awaited (Client.Pending): a leaf
	// lock.
	mu         sync.Mutex
	sourceErrs map[string]string // an xs= or as= URL → its last error
	metaErr    string            // the last metadata a peer sent that was refused, and why
}

// Prepare is the first half of Add. It checks the source, reserves its info-hash, acquires
// its store (Acquirer; it fails with the storage's error, such as another process holding
// the store) and, for a magnet link, looks for its metadata there (InfoStore). It does not
// wait for anything but the store.
func (c *Client) Prepare(source string, opts AddOptions) (*Pending, error) {
	spec, peers, modTime, err := c.spec(source, opts)
	if err != nil {
		return nil, err
	}
	ih := spec.InfoHash
	if err := c.reserve(ih); err != nil {
		return nil, err
	}
	p := &Pending{c: c, spec: spec, peers: peers, modTime: modTime}
	if acq, ok := c.cfg.Storage.(Acquirer); ok {
		if err := acq.Acquire(ih); err != nil {
			c.unreserve(ih)
			return nil, err
		}
		p.acq = acq
	}
	if is, ok := c.cfg.Storage.(InfoStore); ok && len(spec.InfoBytes) == 0 {
		if info, err := is.LoadInfo(ih); err == nil {
			c.log.Info("metadata from the cache", "infohash", ih.HexString())
			// Again with the info: a private torrent's magnet link peers are not used.
			opts.InfoBytes = info
			if p.spec, p.peers, p.modTime, err = c.spec(source, opts); err != nil {
				p.spec = spec
				p.Cancel()
				return nil, err
			}
		}
	}
	c.mu.Lock() // its sources, for Client.Pending: spec and peers are immutable from here
	if _, ok := c.adding[ih]; ok {
		c.adding[ih] = p
	}
	c.mu.Unlock()
	return p, nil
}

// Known reports whether the torrent's metadata is known: Wait returns at once.
func (p *Pending) Known() bool { return len(p.spec.InfoBytes) > 0 }

// Wait adds the torrent to the swarm and returns it once its metadata is known (bounded by
// ctx). If it fails, what Prepare took is given back before it returns.
func (p *Pending) Wait(ctx context.Context) (*Torrent, error) {
	c, ih := p.c, p.spec.InfoHash
	defer c.unreserve(ih)
	p.peers = c.net.resolvePeers(ctx, p.peers, c.log)
	t, obs, err := c.join(ctx, p.spec, p.peers)
	if err != nil {
		p.release()
		return nil, err
	}
	info := t.Info()
	peers := p.peers
	if isPrivate(info) {
		peers = c.privatePeers(t, peers)
	}
	tt := c.newTorrent(ih, info, t.Metainfo().InfoBytes, p.modTime)
	tt.start(t, peers, obs)
	if !c.register(tt) { // anacrolix drops t as the client closes
		tt.close()
		obs.Left()
		p.release()
		return nil, ErrClientClosed
	}
	return tt, nil
}

// Cancel gives up a torrent whose Wait was not called: its store is closed and its
// info-hash free again once Cancel returns.
func (p *Pending) Cancel() {
	p.release()
	p.c.unreserve(p.spec.InfoHash)
}

// release closes the store Prepare acquired, unless anacrolix opened it (it closes it with
// the torrent then).
func (p *Pending) release() {
	if p.acq != nil {
		p.acq.Release(p.spec.InfoHash)
	}
}

// Acquirer is storage that opens a torrent's store ahead of anacrolix; *cache.Cache
// implements it. anacrolix reports no storage error for a torrent added from a file, so a
// dormant torrent whose Config.Storage is an Acquirer acquires its store as it wakes, before
// it joins anacrolix: a failure (another process has the store, say) fails the Open that
// woke it, and the torrent stays dormant. It is how fetch gets a dormant torrent's storage,
// and the only use it makes of the interface.
type Acquirer interface {
	// Acquire opens torrent ih's store; the storage's OpenTorrent then uses it.
	Acquire(ih metainfo.Hash) error
	// Release closes the store Acquire opened, if OpenTorrent did not take it.
	Release(ih metainfo.Hash)
}

// dormancy is what a dormant torrent needs to wake.
type dormancy struct {
	spec  *torrent.TorrentSpec
	peers []torrent.PeerInfo
	woke  func()
}

// AddDormant adds a torrent from a .torrent file (mi, as LoadTorrentFile returned it)
// without starting it: it shows its files and their sizes, but has no storage open, and no
// peer or tracker hears of it, until the first Open of one of its files wakes it. Waking
// acquires its storage (see Acquirer) and adds the torrent to anacrolix; from then on it is
// active, as after Add, and woke, if not nil, is called, once, by the goroutine that woke it.
// source names the torrent in errors.
func (c *Client) AddDormant(source string, mi *metainfo.MetaInfo, opts AddOptions, woke func()) (*Torrent, error) {
	opts.MetaInfo = mi
	spec, peers, modTime, err := c.spec(source, opts)
	if err != nil {
		return nil, err
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, fmt.Errorf("%s: bad info dictionary: %w", source, err)
	}
	if err := checkInfo(&info); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if err := c.reserve(spec.InfoHash); err != nil {
		return nil, err
	}
	defer c.unreserve(spec.InfoHash)
	tt := c.newTorrent(spec.InfoHash, &info, mi.InfoBytes, modTime)
	tt.sleep = &dormancy{spec: spec, peers: peers, woke: woke}
	if !c.register(tt) {
		return nil, ErrClientClosed
	}
	return tt, nil
}

// spec makes the anacrolix spec of a source, and returns the peers it names (x.pe) with those
// of opts, and the torrent's time.
func (c *Client) spec(source string, opts AddOptions) (*torrent.TorrentSpec, []torrent.PeerInfo, time.Time, error) {
	var spec *torrent.TorrentSpec
	modTime := time.Now()
	if IsMagnet(source) {
		var err error
		spec, err = torrent.TorrentSpecFromMagnetUri(source)
		if err != nil {
			return nil, nil, modTime, fmt.Errorf("magnet link: %w", err)
		}
	} else {
		mi := opts.MetaInfo
		var err error
		if mi == nil {
			if mi, _, err = LoadTorrentFile(source); err != nil {
				return nil, nil, modTime, err
			}
		}
		if mi.CreationDate > 0 {
			modTime = time.Unix(mi.CreationDate, 0)
		}
		spec, err = torrent.TorrentSpecFromMetaInfoErr(mi)
		if err != nil {
			return nil, nil, modTime, fmt.Errorf("%s: %w", source, err)
		}
	}
	if len(spec.InfoBytes) == 0 {
		spec.InfoBytes = opts.InfoBytes
	}
	// anacrolix trusts a spec's peers, and never bans a trusted peer.
	xpe := spec.PeerAddrs
	spec.PeerAddrs = nil
	if len(xpe) > 0 && infoBytesPrivate(spec.InfoBytes) {
		c.log.Info("private torrent: the magnet link's peers (x.pe) are not used", "torrent", spec.DisplayName, "peers", len(xpe))
		xpe = nil
	}
	peers := directPeers(opts.Peers)
	for _, a := range xpe {
		peers = append(peers, torrent.PeerInfo{Addr: stringAddr(a), Source: torrent.PeerSourceMagnet})
	}
	if len(opts.Trackers) > 0 {
		spec.Trackers = append(spec.Trackers, opts.Trackers)
	}
	return spec, peers, modTime, nil
}

// join adds spec to anacrolix and waits for its info dictionary (bounded by ctx). It
// returns the torrent's observer, told it is joining; if it fails, the observer is told it
// left: a magnet link whose metadata never came leaves nothing behind.
func (c *Client) join(ctx context.Context, spec *torrent.TorrentSpec, peers []torrent.PeerInfo) (_ *torrent.Torrent, _ TorrentObserver, err error) {
	obs := c.obs.Joining(spec.InfoHash)
	defer func() {
		if err != nil {
			obs.Left()
		}
	}()
	t, isNew, err := c.cl.AddTorrentSpec(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("add torrent: %w", err)
	}
	if !isNew { // reserve should have caught it; the torrent is another Add's
		return nil, nil, fmt.Errorf("%s: %w", spec.InfoHash.HexString(), ErrDuplicate)
	}
	t.AddPeers(peers)
	// anacrolix's default answer to a failed chunk write is to stop downloading for good.
	// The storage fails writes while it is full; the chunks are requested again later.
	t.SetOnWriteChunkError(c.writeFailed)
	if err := c.waitInfo(ctx, t, peers); err != nil {
		t.Drop()
		return nil, nil, err
	}
	if err := checkInfo(t.Info()); err != nil { // a magnet link's, or cached
		t.Drop()
		return nil, nil, err
	}
	return t, obs, nil
}

// newTorrent returns a torrent of info, not yet in anacrolix: its files are listed from the
// info alone, as anacrolix lists them, padding files (BEP 47) left out.
func (c *Client) newTorrent(ih metainfo.Hash, info *metainfo.Info, infoBytes []byte, modTime time.Time) *Torrent {
	tt := &Torrent{c: c, ih: ih, info: info, size: info.TotalLength(), infoBytes: infoBytes, modTime: modTime, gone: make(chan struct{})}
	var offset int64
	for _, fi := range info.UpvertedFiles() {
		if !strings.Contains(fi.Attr, "p") {
			var path []string
			if info.IsDir() {
				path = fi.BestPath()
			}
			tt.files = append(tt.files, File{Path: path, Length: fi.Length, offset: offset})
		}
		offset += fi.Length
		if info.FilesArePieceAligned() {
			offset = (offset + info.PieceLength - 1) / info.PieceLength * info.PieceLength
		}
	}
	tt.opened = make([]sync.Once, len(tt.files))
	tt.verified = make([]atomic.Bool, info.NumPieces())
	return tt
}

// register puts a new torrent in the client's map, unless the client is closed.
func (c *Client) register(tt *Torrent) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.torrents == nil {
		return false
	}
	c.torrents[tt.ih] = tt
	return true
}

// start makes the torrent active with t, its anacrolix torrent, and obs, its observer, and
// keeps its metadata in the storage if it is an InfoStore.
func (tt *Torrent) start(t *torrent.Torrent, peers []torrent.PeerInfo, obs TorrentObserver) {
	if is, ok := tt.c.cfg.Storage.(InfoStore); ok {
		if err := is.SaveInfo(tt.ih, tt.infoBytes); err != nil {
			tt.c.log.Warn("cannot keep the metadata in the cache", "torrent", tt.Name(), "err", err)
		}
	}
	tt.t, tt.obs = t, obs
	tt.pmu.Lock()
	tt.lookups, tt.stopLookups = context.WithCancel(tt.c.bgCtx)
	tt.pmu.Unlock()
	var end int64
	for _, f := range t.Files() {
		if f.Offset() != end {
			tt.gapped = true
		}
		end = f.Offset() + f.Length()
		if !strings.Contains(f.FileInfo().Attr, "p") {
			tt.tfiles = append(tt.tfiles, f)
		}
	}
	tt.gapped = tt.gapped || end != t.Length()
	tt.swarm.rememberPeers(peers)
	// anacrolix dials these and announces to the trackers itself as the torrent starts.
	tt.swarm.mu.Lock()
	tt.swarm.lastRedial, tt.swarm.lastAnnounce = time.Now(), time.Now().Add(firstAnnounce-announceEvery)
	tt.swarm.mu.Unlock()
	tt.mirrorVerified()
	obs.Started(tt)
	tt.live.Store(true)
	if tt.c.cfg.Prefetch == PrefetchAll {
		for _, f := range tt.tfiles {
			tt.prefetchFile(f)
		}
	}
}

// wake makes a dormant torrent active, once; it is called by Open, with a Handle counted, so
// a Drop waits for it.
func (t *Torrent) wake() error {
	if t.live.Load() {
		return nil
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	switch {
	case t.left:
		return ErrDropped
	case t.sleep == nil:
		return nil
	}
	d := t.sleep
	acq, _ := t.c.cfg.Storage.(Acquirer)
	if acq != nil {
		if err := acq.Acquire(t.ih); err != nil {
			return err
		}
	}
	addrs, names := splitNames(d.peers)
	at, obs, err := t.c.join(context.Background(), d.spec, addrs) // the info is known: no wait
	if err != nil {
		if acq != nil {
			acq.Release(t.ih)
		}
		return err
	}
	t.start(at, addrs, obs)
	t.dialNames(names)
	t.sleep = nil
	t.c.log.Debug("woke a dormant torrent", "torrent", t.Name(), "infohash", t.ih.HexString())
	if d.woke != nil {
		d.woke()
	}
	return nil
}

// Start makes a dormant torrent active at once, as the first Open of one of its files would;
// it does nothing to an active torrent. It fails with the storage's Acquire error, or the
// client's, and the torrent then stays dormant; with ErrDropped once the
// torrent left the client after Drop.
func (t *Torrent) Start() error {
	if err := t.openHandle(); err != nil {
		return err
	}
	defer t.closeHandle()
	return t.wake()
}

// Dormant reports whether the torrent is dormant: added by AddDormant and none of its files
// opened yet.
func (t *Torrent) Dormant() bool { return !t.live.Load() }

// metadataNote is how often a wait for a magnet link's metadata says it is still waiting.
var metadataNote = 30 * time.Second

// waitInfo waits for t's info dictionary, saying every metadataNote how many peers it knows,
// so that a magnet link nobody seeds does not look like a hang. Meanwhile it dials the peers
// it was given (--peer, a magnet link's x.pe) again, with the redial backoff: the redialler
// (redial.go) looks only at torrents with their info, and anacrolix forgets a peer whose dial
// or handshake failed, such as a Transmission seeder still checking its files. A peer
// connected already, by the address given or by the listen port it told (it dialed us), is
// left out; anacrolix skips an address it is dialing.
func (c *Client) waitInfo(ctx context.Context, t *torrent.Torrent, peers []torrent.PeerInfo) error {
	tick := time.NewTicker(metadataNote)
	defer tick.Stop()
	b := c.backoff()
	redials := 1
	redial := time.NewTimer(b.after(redials))
	defer redial.Stop()
	redialC := redial.C
	if len(peers) == 0 {
		redialC = nil
	}
	start := time.Now()
	for {
		select {
		case <-t.GotInfo():
			return nil
		case <-redialC:
			connected := c.connectedAddrs(t)
			var again []torrent.PeerInfo
			for _, p := range peers {
				if ap, ok := parseAddrPort(p.Addr.String()); !ok || !connected[ap] {
					again = append(again, p)
				}
			}
			t.AddPeers(again)
			redials++
			redial.Reset(b.after(redials))
		case <-tick.C:
			st := t.Stats()
			c.log.Info("still waiting for metadata from peers", "infohash", t.InfoHash().HexString(),
				"waited", time.Since(start).Round(time.Second), "peers_known", st.TotalPeers, "connected", st.ActivePeers)
		case <-ctx.Done():
			return fmt.Errorf("waiting for metadata from peers: %w", ctx.Err())
		}
	}
}

// mirrorVerified fills t.verified and keeps it current until close. Each change is read back
// from anacrolix rather than taken from the event, so an old event applied late cannot undo
// a newer state.
func (t *Torrent) mirrorVerified() {
	sub := t.t.SubscribePieceStateChanges()
	t.stopMirror = sub.Close // its Values close once the subscription has stopped
	t.mirrorMu.Lock()
	for p := range t.verified {
		t.verified[p].Store(t.t.PieceState(p).Complete)
	}
	t.mirrorMu.Unlock()
	t.goroutines.Add(1)
	go func() {
		defer t.goroutines.Done()
		for ch := range sub.Values {
			t.mirrorMu.Lock()
			complete := t.t.PieceState(ch.Index).Complete
			t.verified[ch.Index].Store(complete)
			t.mirrorMu.Unlock()
			if complete {
				t.obs.Saw(StepPiece)
			}
		}
	}()
}

// ErrDropped is returned by Open once a dropped torrent has left the client.
var ErrDropped = errors.New("fetch: torrent dropped")

// Drop removes the torrent from the client once no Handle of it is open: at once if none
// is, else when the last one closes. Handles open before keep reading, and Open still works
// while one is open; after that it fails with ErrDropped. Until the torrent has left the
// client (Dropped), Client.Add of the same torrent fails with ErrDuplicate. Drop may be
// called more than once.
func (t *Torrent) Drop() {
	if t.handles.Or(handleDropped) == 0 { // no Handle open, and not dropped before
		t.leaveClient(true)
	}
}

// handleDropped is the bit of Torrent.handles that Drop sets.
const handleDropped = 1 << 62

// Dropped returns a channel closed once the torrent has left the client: after Drop and
// the last Close of its handles, or when the client closed.
func (t *Torrent) Dropped() <-chan struct{} { return t.gone }

// openHandle counts a new Handle, unless the torrent has left the client after Drop.
func (t *Torrent) openHandle() error {
	for {
		h := t.handles.Load()
		if h == handleDropped { // dropped, and the last Handle closed: it left, or is leaving
			return ErrDropped
		}
		if t.handles.CompareAndSwap(h, h+1) {
			return nil
		}
	}
}

// closeHandle counts a Handle closed, and finishes a Drop waiting for it.
func (t *Torrent) closeHandle() {
	if t.handles.Add(-1) == handleDropped {
		t.leaveClient(true)
	}
}

// leaveClient stops the torrent's goroutines, drops it from anacrolix if drop (Client.Close
// leaves that to anacrolix's own close), and then from the client's map, once: later calls
// wait for the first to finish and do nothing.
func (t *Torrent) leaveClient(drop bool) {
	t.leave.Do(func() {
		t.wmu.Lock() // a wake under way finishes first
		t.left = true
		t.wmu.Unlock()
		t.close()
		ih := t.ih
		if drop && t.live.Load() {
			t.t.Drop()
			t.c.storages.Delete(ih)
			t.obs.Left()
		}
		t.c.mu.Lock()
		if t.c.torrents[ih] == t {
			delete(t.c.torrents, ih)
			delete(t.c.trackers, ih) // no announce's answer is recorded for it from here on
		}
		t.c.mu.Unlock()
		close(t.gone)
	})
}

// close stops the torrent's goroutines and waits for them. The anacrolix torrent itself
// closes with the client, or leaveClient drops it.
func (t *Torrent) close() {
	if t.live.Load() {
		t.stopMirror()
	}
	t.pmu.Lock()
	t.closed = true
	if t.resume != nil && t.resume.Stop() {
		t.goroutines.Done() // its function will not run
	}
	if t.stopLookups != nil {
		t.stopLookups()
	}
	t.pmu.Unlock()
	t.goroutines.Wait()
}

// dialNames looks up, on a goroutine of the torrent's, the peers named by host name
// (netPlan.resolvePeers), then remembers them and dials them, so that the first Open of a
// dormant torrent or an AddPeers does not wait on the resolver. close ends the lookups.
func (t *Torrent) dialNames(names []torrent.PeerInfo) {
	if len(names) == 0 {
		return
	}
	t.pmu.Lock()
	defer t.pmu.Unlock()
	if t.closed || t.lookups == nil {
		return
	}
	ctx := t.lookups
	t.goroutines.Go(func() {
		ps := t.c.net.resolvePeers(ctx, names, t.c.log)
		if ctx.Err() != nil {
			return
		}
		t.swarm.rememberPeers(ps)
		t.t.AddPeers(ps)
	})
}

// splitNames returns the peers given by IP address, and those given by host name.
func splitNames(peers []torrent.PeerInfo) (addrs, names []torrent.PeerInfo) {
	for _, p := range peers {
		if _, ok := parseAddrPort(p.Addr.String()); ok {
			addrs = append(addrs, p)
		} else {
			names = append(names, p)
		}
	}
	return addrs, names
}

// pieces yields, in order, the index of every piece holding torrent bytes [off, end).
func (t *Torrent) pieces(off, end int64) iter.Seq[int] {
	return func(yield func(int) bool) {
		pl := t.info.PieceLength
		for p := off / pl; off < end && p*pl < end; p++ {
			if !yield(int(p)) {
				return
			}
		}
	}
}

// sawVerified records that n bytes at torrent offset off were read: anacrolix returns only
// verified pieces, so the mirror can be ahead of its (asynchronous) events, and du agrees
// with what was read at once.
func (t *Torrent) sawVerified(off, n int64) {
	for p := range t.pieces(off, off+n) {
		t.verified[p].Store(true)
	}
}

// allVerified reports whether every piece holding torrent bytes [off, end) is verified.
func (t *Torrent) allVerified(off, end int64) bool {
	for p := range t.pieces(off, end) {
		if !t.verified[p].Load() {
			return false
		}
	}
	return true
}

// LoadTorrentFile reads and checks a .torrent file, so that a bad one gets a clear error
// before anything is started.
func LoadTorrentFile(path string) (*metainfo.MetaInfo, *metainfo.Info, error) {
	data, err := ReadSourceFile(path, MaxTorrentSize)
	if err != nil {
		return nil, nil, err
	}
	return ParseTorrent(data, path)
}

// ReadSourceFile reads a file a user named as a source (a .torrent or .magnet file, in a
// watched directory too): a regular file of at most limit bytes. A FIFO, a device or a
// file that grows while it is read is refused without blocking or reading on for ever.
// Larger files' errors wrap ErrTooLarge.
func ReadSourceFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0) // a FIFO's open would wait for a writer
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case st.IsDir():
		return nil, fmt.Errorf("%s: is a directory, not a .torrent file", path)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, st.Mode().Type())
	case st.Size() > limit:
		return nil, fmt.Errorf("%s: %d bytes: %w (at most %s)", path, st.Size(), ErrTooLarge, human.Bytes(limit))
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	case int64(len(data)) > limit:
		return nil, fmt.Errorf("%s: grew past %s while read: %w", path, human.Bytes(limit), ErrTooLarge)
	}
	return data, nil
}

// Limits on what a torrent may ask of torrentfs: see package infocheck.
const (
	MaxTorrentSize = infocheck.MaxTorrentSize
	MaxPieces      = infocheck.MaxPieces
	MaxFiles       = infocheck.MaxFiles
	MaxDirs        = infocheck.MaxDirs
	MaxPathDepth   = infocheck.MaxPathDepth
	MaxPathBytes   = infocheck.MaxPathBytes
)

// ErrTooLarge is wrapped by the errors of a torrent beyond one of these limits.
var ErrTooLarge = infocheck.ErrTooLarge

// ParseTorrent checks the contents of a .torrent file; name says where it came from in
// errors.
func ParseTorrent(data []byte, name string) (*metainfo.MetaInfo, *metainfo.Info, error) {
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("%s: empty file, not a .torrent file", name)
	}
	if err := bencheck.Check(data); err != nil {
		return nil, nil, fmt.Errorf("%s: not a valid .torrent file: %w", name, err)
	}
	if n := bencheck.ListLen(data, "info", "files"); n > MaxFiles {
		// Refused before a decoder spends seconds on a million files.
		return nil, nil, fmt.Errorf("%s: more than %d files: %w", name, MaxFiles, ErrTooLarge)
	}
	mi, err := metainfo.Load(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a valid .torrent file: %w", name, err)
	}
	if len(mi.InfoBytes) == 0 {
		return nil, nil, fmt.Errorf("%s: no info dictionary", name)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: bad info dictionary: %w", name, err)
	}
	if err := checkInfo(&info); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return mi, &info, nil
}

// checkInfo rejects what anacrolix would choke on (infocheck.Check).
func checkInfo(info *metainfo.Info) error { return infocheck.Check(info) }

// InfoBytes is the torrent's bencoded info dictionary.
func (t *Torrent) InfoBytes() []byte { return t.infoBytes }

// Name is the torrent's name, untrusted.
func (t *Torrent) Name() string { return t.info.BestName() }

// IsDir reports whether the torrent is a directory of files rather than one file.
func (t *Torrent) IsDir() bool { return t.info.IsDir() }

// InfoHash is the torrent's v1 info-hash in hex.
func (t *Torrent) InfoHash() string { return t.ih.HexString() }

// ModTime is the torrent's creation date, or the time it was added if it has none.
func (t *Torrent) ModTime() time.Time { return t.modTime }

// Length is the size of the torrent's files, padding files (BEP 47) left out.
func (t *Torrent) Length() int64 {
	var n int64
	for _, f := range t.files {
		n += f.Length
	}
	return n
}

// Files lists the torrent's files in torrent order, without padding files.
func (t *Torrent) Files() []File { return t.files }

// BytesCached returns how many bytes of file i are in verified pieces: 0 while dormant.
func (t *Torrent) BytesCached(i int) int64 {
	f := t.files[i]
	if f.Length == 0 {
		return 0
	}
	pl := t.info.PieceLength
	begin, end := f.offset, f.offset+f.Length
	var n int64
	for p := range t.pieces(begin, end) {
		if t.verified[p].Load() {
			n += min(end, int64(p+1)*pl) - max(begin, int64(p)*pl)
		}
	}
	return n
}

// BytesCompleted returns how many bytes of the torrent's files are in verified pieces.
func (t *Torrent) BytesCompleted() int64 {
	var n int64
	for i := range t.files {
		n += t.BytesCached(i)
	}
	return n
}

// BytesRead returns how many bytes readers of its files were given.
func (t *Torrent) BytesRead() int64 { return t.read.Load() }

// Complete returns a channel closed once every piece is verified; nil (never ready) while
// the torrent is dormant.
func (t *Torrent) Complete() <-chan struct{} {
	if !t.live.Load() {
		return nil
	}
	return t.t.Complete().On()
}

// ErrDormant is returned by what a dormant torrent cannot do.
var ErrDormant = errors.New("fetch: torrent dormant")

// Verify hashes every piece the storage holds, and forgets those that fail. The mirror of
// verified pieces is brought up to date before it returns: its events may still be queued.
// It fails with ErrDormant on a dormant torrent.
func (t *Torrent) Verify(ctx context.Context) error {
	if !t.live.Load() {
		return ErrDormant
	}
	err := t.t.VerifyDataContext(ctx)
	t.mirrorMu.Lock()
	defer t.mirrorMu.Unlock()
	for p := range t.verified {
		t.verified[p].Store(t.t.PieceState(p).Complete)
	}
	return err
}

// AddPeers connects to more peers by host:port; a dormant torrent does once awake.
func (t *Torrent) AddPeers(addrs ...string) {
	t.wmu.Lock()
	if d := t.sleep; d != nil {
		d.peers = append(d.peers, directPeers(addrs)...)
		t.wmu.Unlock()
		return
	}
	t.wmu.Unlock()
	if t.live.Load() {
		ps, names := splitNames(directPeers(addrs))
		t.swarm.rememberPeers(ps)
		t.t.AddPeers(ps)
		t.dialNames(names)
	}
}

// directPeers are peers the user named. They are not Trusted: anacrolix never bans a
// trusted peer, so one that sends bad data would be asked for the same piece forever.
func directPeers(addrs []string) []torrent.PeerInfo {
	var ps []torrent.PeerInfo
	for _, a := range addrs {
		ps = append(ps, torrent.PeerInfo{Addr: stringAddr(a), Source: torrent.PeerSourceDirect})
	}
	return ps
}

type stringAddr string

func (s stringAddr) String() string { return string(s) }

// headTail is how much of each end of a file is fetched when it is first opened: where
// containers keep their headers and index, or the start of them.
const headTail = 512 << 10

// prefetch starts the background download of file i that Config.Prefetch asks for, and the
// head and tail of the file ahead of that.
func (t *Torrent) prefetch(i int) {
	f := t.tfiles[i]
	if f.Length() == 0 {
		return
	}
	begin, end := f.Offset(), f.Offset()+f.Length()
	high := func(from, to int64) {
		for p := range t.pieces(from, to) {
			t.t.Piece(p).SetPriority(torrent.PiecePriorityHigh)
		}
	}
	if _, ok := t.continues(begin, false); !ok { // a stream is on its way here
		high(begin, min(end, begin+headTail))
		high(max(begin, end-headTail), end)
	}
	if t.c.cfg.Prefetch == PrefetchFile {
		t.prefetchFile(f)
	}
}

// endStream records that a read head that started near its file's start read it to its end,
// at torrent offset end, having read run bytes in sequence.
func (t *Torrent) endStream(end, run int64) {
	t.stream.Store(&streamEnd{end, run})
}

// streamEnd is where a stream that read a file to its end stopped, in torrent bytes, and
// what it had read in sequence.
type streamEnd struct{ end, run int64 }

// continues reports whether a file starting at torrent offset off continues the last stream
// that read a file to its end (endStream): it starts where that stream stopped, or after
// less than a piece (padding, a small file skipped). It returns what that stream read in
// sequence, to keep its readahead. With take, the stream is continued: it is forgotten.
func (t *Torrent) continues(off int64, take bool) (run int64, ok bool) {
	for {
		s := t.stream.Load()
		if s == nil || off < s.end || off-s.end >= t.info.PieceLength {
			return 0, false
		}
		if !take || t.stream.CompareAndSwap(s, nil) {
			return s.run, true
		}
	}
}

// prefetchFile adds f to the background prefetch.
func (t *Torrent) prefetchFile(f *torrent.File) {
	t.pmu.Lock()
	defer t.pmu.Unlock()
	if t.stopped {
		return
	}
	t.prefetching = append(t.prefetching, f)
	if !t.paused {
		f.SetPriority(torrent.PiecePriorityNormal)
	}
}

// prefetchResume is how long the background prefetch stays paused after the last seeking
// read: a player that seeks, or a program reading at random, seeks again soon.
const prefetchResume = 500 * time.Millisecond

// holdPrefetch pauses the background prefetch for a read that seeks to pieces not yet
// verified, until releasePrefetch. A peer serves requests in order and a background
// download keeps its queue full, so a seeking read would wait behind it
// (docs/measurements.md). What was already asked for still arrives; TORRENTFS.md 5 cancels
// part of it.
func (t *Torrent) holdPrefetch() {
	t.pmu.Lock()
	defer t.pmu.Unlock()
	t.seeking++
	if t.resume != nil && t.resume.Stop() {
		t.goroutines.Done()
	}
	if !t.paused && len(t.prefetching) > 0 {
		t.paused = true
		t.setPrefetchPriority(torrent.PiecePriorityNone)
	}
}

// releasePrefetch ends a holdPrefetch; the prefetch resumes prefetchResume after the last.
func (t *Torrent) releasePrefetch() {
	t.pmu.Lock()
	defer t.pmu.Unlock()
	t.seeking--
	if t.seeking > 0 || !t.paused || t.closed {
		return
	}
	t.goroutines.Add(1)
	t.resume = time.AfterFunc(prefetchResume, func() {
		defer t.goroutines.Done()
		t.pmu.Lock()
		defer t.pmu.Unlock()
		if t.seeking == 0 && t.paused {
			t.paused = false
			t.setPrefetchPriority(torrent.PiecePriorityNormal)
		}
	})
}

// stopPrefetch ends the background prefetch for good, and reports whether it was running.
func (t *Torrent) stopPrefetch() bool {
	t.pmu.Lock()
	defer t.pmu.Unlock()
	if t.stopped {
		return false
	}
	t.stopped = true
	t.setPrefetchPriority(torrent.PiecePriorityNone)
	t.prefetching = nil
	return true
}

func (t *Torrent) setPrefetchPriority(p torrent.PiecePriority) {
	for _, f := range t.prefetching {
		f.SetPriority(p)
	}
}

// FilePieces returns the pieces holding file i: [first, end), empty for an empty file.
func (t *Torrent) FilePieces(i int) (first, end int) {
	f := t.files[i]
	if f.Length == 0 {
		return 0, 0
	}
	pl := t.info.PieceLength
	return int(f.offset / pl), int((f.offset + f.Length + pl - 1) / pl)
}
