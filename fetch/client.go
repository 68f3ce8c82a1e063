// Package fetch runs the BitTorrent side of torrentfs: it adds torrents from .torrent files and
// magnet links, talks to trackers and peers, turns reads into prioritised piece requests and
// seeds what it has.
//
// Reads go through a Handle, which keeps a few anacrolix Readers (read heads) per open file
// and reuses the one already positioned at a read's offset, so sequential reading grows a
// readahead window while a seek starts a small one. Only hash-verified bytes are returned.
// Where the pieces under a read and its readahead are all verified, there is nothing to
// fetch, and the read goes straight to the storage.
//
// The package receives its storage as a storage.ClientImpl and knows nothing of FUSE. Two
// channels connect it to the cache past anacrolix: the storage tap (storageTap), through
// which reads of verified pieces skip anacrolix, and cache.Watcher, which Client implements
// so that eviction spares what readers use. It knows the cache only by that interface and
// its errors. docs/read-path.md describes the read path and both channels.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/mse"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/anacrolix/torrent/storage"
	"golang.org/x/time/rate"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

// Defaults for Config fields left zero.
const (
	DefaultListenAddr  = ":42069"
	DefaultReadahead   = 32 << 20
	DefaultReadTimeout = time.Minute
)

// ErrProxyScheme is New's error for a Config.Proxy that is not socks5:// or socks5h://.
var ErrProxyScheme = errors.New("fetch: the proxy must be socks5://HOST:PORT")

// ErrNoInterface is New's error for a Config.BindInterface that names no interface.
var ErrNoInterface = errors.New("fetch: no such network interface")

// ErrProxyUDP is the error of a UDP tracker's announce while Config.Proxy is set: it would
// not go through the proxy.
var ErrProxyUDP = errors.New("fetch: no UDP through the SOCKS5 proxy")

// WaitForever, as Config.ReadTimeout, makes reads wait for peers for ever.
const WaitForever time.Duration = -1

// ReadaheadFor caps a readahead at a quarter of a cache of cacheSize bytes, so that
// eviction always has pieces outside the readers' windows to drop.
func ReadaheadFor(readahead, cacheSize int64) int64 { return min(readahead, cacheSize/4) }

// DefaultMaxUnverified is anacrolix's bound on the bytes of pieces downloading at once.
const DefaultMaxUnverified = 64 << 20

// MaxUnverifiedFor bounds the bytes of pieces downloading at once at an eighth of a cache of
// cacheSize bytes: their chunks are in the cache, and a piece cannot be evicted until it is
// whole and verified, so a fast first fill of a small cache could otherwise hold it full of
// pieces nothing can evict.
func MaxUnverifiedFor(cacheSize int64) int64 { return min(DefaultMaxUnverified, cacheSize/8) }

// Config configures a Client. The zero value joins the public swarm with DHT, PEX, trackers
// and port forwarding on, which is what a user wants; tests switch them off.
type Config struct {
	// Storage keeps piece data. Required. The client does not close it.
	Storage storage.ClientImpl
	// ListenAddr is the host:port for peer connections. Empty means DefaultListenAddr, and a
	// random port if that one is taken. Port 0 picks a random port.
	ListenAddr string
	// NoDHT, NoPortForwarding, NoPEX and NoTrackers switch those off.
	NoDHT, NoPortForwarding, NoPEX, NoTrackers bool
	// DHTBootstrap, if not empty, are the host:port addresses of the DHT nodes the client
	// joins the DHT through, in place of the public routers (dht.go).
	DHTBootstrap []string
	// DHTNodesFile, if set, is where the DHT's routing table is saved as the client closes,
	// and read from as it starts, so that a restart does not bootstrap from scratch.
	DHTNodesFile string
	// UTP lets peers connect over uTP as well as TCP. It is off by default: anacrolix's
	// pure-Go uTP is a small fraction of TCP's speed (docs/measurements.md), and a peer whose
	// uTP connection wins the dial race is held to it.
	UTP bool
	// Encryption says how peer connections use BitTorrent's stream encryption (MSE). The
	// zero value, EncryptionAllow, opens with the plain handshake.
	Encryption Encryption
	// NoUpload stops seeding to other peers.
	NoUpload bool
	// MaxDownloadRate and MaxUploadRate cap what peers send and are sent, in bytes per
	// second, over all torrents. Zero means no cap. Web seeds are not capped.
	MaxDownloadRate, MaxUploadRate int64
	// Proxy, if set, is a SOCKS5 proxy (socks5://[USER:PASSWORD@]HOST:PORT) that every
	// outgoing peer connection, HTTP tracker announce, web seed and magnet source goes
	// through. What cannot go through it is off: the DHT, uTP and UDP trackers (SOCKS5's
	// UDP ASSOCIATE is not used). Peers may still connect in to ListenAddr.
	Proxy *url.URL
	// BindInterface, if set, names the network interface (a VPN's: wg0, tun0) that every
	// socket to peers, trackers, the DHT, web seeds and magnet sources is bound to
	// (SO_BINDTODEVICE, Linux only): when it is down, nothing leaves by another. New fails
	// with ErrNoInterface if there is no such interface, and uTP is off (its sockets are not
	// bound).
	BindInterface string

	// Readahead caps how far ahead of a sequential reader pieces are requested.
	// Zero means DefaultReadahead.
	Readahead int64
	// MaxUnverified bounds the bytes of pieces being downloaded at once, not yet verified.
	// Zero means DefaultMaxUnverified.
	MaxUnverified int64
	// ReadTimeout is how long a read may wait while no data at all arrives from the swarm
	// before it fails with ErrTimeout. Zero means DefaultReadTimeout; negative waits forever.
	ReadTimeout time.Duration
	// Prefetch says what to download beyond what is read. The zero value is PrefetchNone.
	Prefetch Prefetch
	// Logger receives the client's log. Nil discards.
	Logger *slog.Logger
	// ReadObserver, if set, is called after every Handle.ReadAt with how long it took, how
	// many bytes it gave and its error (io.EOF at a file's end), on the reader's goroutine:
	// it must be quick. Metrics hook in here; fetch knows nothing of them.
	ReadObserver func(d time.Duration, n int, err error)
	// Observer, if set, is told what diagnostics are made of (first contacts, reads, transfer
	// totals) in place of the client's own Observer, which records first contacts and rates.
	// Torrent.FirstContact and the rates in Torrent.Stats then come from its torrent
	// observers' FirstContact and Rates methods, if they have them, else are zero.
	Observer Observer

	// tune, if set, adjusts the anacrolix configuration last. Tests set it (Tune, in
	// export_test.go) to make peers that behave like other clients (no fast extension, say).
	tune func(*torrent.ClientConfig)
	// redialEvery, for tests, replaces the const of that name (peers.go).
	redialEvery *time.Duration
	// redialBackoff, for tests, replaces redialMin and redialMax (redial.go).
	redialBackoff *backoff
}

// Prefetch is what a client downloads beyond the pieces under reads and their readahead.
// Whatever it is, the head and tail of a file are fetched when it is first opened, where
// media containers and archives keep their index.
type Prefetch int

const (
	// PrefetchNone downloads only what is read, its readahead, and heads and tails. With
	// the others, the background download pauses while reads seek (Torrent.holdPrefetch).
	PrefetchNone Prefetch = iota
	// PrefetchFile downloads the rest of a file, in the background, once it is opened.
	PrefetchFile
	// PrefetchAll downloads the whole torrent in the background as soon as it is added.
	PrefetchAll
)

var prefetchNames = []string{PrefetchNone: "none", PrefetchFile: "file", PrefetchAll: "all"}

func (p Prefetch) String() string { return prefetchNames[p] }

// ParsePrefetch parses "none", "file" or "all".
func ParsePrefetch(s string) (Prefetch, error) {
	if i := slices.Index(prefetchNames, s); i >= 0 {
		return Prefetch(i), nil
	}
	return 0, fmt.Errorf("prefetch %q: want none, file or all", s)
}

// Encryption is how a client uses BitTorrent's message stream encryption (MSE) with peers.
type Encryption int

const (
	// EncryptionAllow opens connections with the plain handshake, tries MSE with a peer that
	// refuses it, and accepts both. It is the default: MSE costs two more round trips before
	// the first byte (docs/measurements.md).
	EncryptionAllow Encryption = iota
	// EncryptionPrefer opens connections with MSE, tries the plain handshake with a peer that
	// refuses it, and accepts both: anacrolix's default. MSE hides the handshake; what follows
	// stays plain with a peer that allows it, as with libtorrent's defaults.
	EncryptionPrefer
	// EncryptionRequire uses MSE only, both ways, and RC4 for the whole stream.
	EncryptionRequire
)

var encryptionNames = []string{EncryptionAllow: "allow", EncryptionPrefer: "prefer", EncryptionRequire: "require"}

func (e Encryption) String() string {
	if e < 0 || int(e) >= len(encryptionNames) {
		return fmt.Sprintf("Encryption(%d)", int(e))
	}
	return encryptionNames[e]
}

// ParseEncryption parses "allow", "prefer" or "require".
func ParseEncryption(s string) (Encryption, error) {
	if i := slices.Index(encryptionNames, s); i >= 0 {
		return Encryption(i), nil
	}
	return 0, fmt.Errorf("encryption %q: want allow, prefer or require", s)
}

// Client is a BitTorrent client. It is safe for concurrent use.
type Client struct {
	// Immutable after New.
	cl  *torrent.Client
	cfg Config
	log *slog.Logger

	// received counts chunks that arrived from peers and were useful; reads use it, with
	// anacrolix's counts of pieces that passed and failed their hash, to tell a slow swarm
	// from a dead one.
	received atomic.Int64
	// waiting counts reads waiting for the swarm now: in Handle.readOnce.
	waiting atomic.Int64
	// closing is set by Close: errors logged while peers are cut off are expected.
	closing atomic.Bool
	// writeWarn logs failed chunk writes at most once per writeErrorEvery.
	writeWarn rate.Sometimes

	// storages holds how to read each torrent's storage (metainfo.Hash → func() storage.
	// TorrentReader), recorded as anacrolix opens it, for reads that skip anacrolix.
	storages sync.Map
	// obs is told what diagnostics are made of (observer.go): Config.Observer, or the
	// client's own.
	obs Observer
	// listenAddrs holds, for each incoming connection (*torrent.PeerConn), its peer's listen
	// address (netip.AddrPort) once its extended handshake named the port: connectedAddrs
	// counts the peer as connected there, so that it is not dialed again for a second
	// connection, which anacrolix would keep in place of this one (DropDuplicatePeerIds).
	listenAddrs sync.Map

	mu       sync.Mutex
	torrents map[metainfo.Hash]*Torrent // guarded by mu; nil once Close began
	// trackers, guarded by mu, holds each torrent's trackers (URL → *Tracker) as their last
	// announces left them, so that status shows them and each failure is logged once
	// (trackers.go). It is the client's, not the Torrent's: anacrolix announces as soon as a
	// torrent is added to it, and under load the first announce failed before the Torrent
	// was registered, so its error went unlogged; a magnet link's trackers announce before
	// its metadata came. A torrent's entry goes as it leaves torrents or adding.
	trackers map[metainfo.Hash]map[string]*Tracker
	// adding, guarded by mu, holds the info-hashes Add is adding now, with their Pending once
	// Prepare made it (nil before).
	adding map[metainfo.Hash]*Pending

	// announces holds the "need peers" announces waiting for one of the announceWorkers
	// (peers.go).
	announces chan func(ctx context.Context)

	// net is how connections leave (netplan.go).
	net *netPlan

	// dhtServer is the DHT on a socket bound to Config.BindInterface, nil without; Close
	// closes it.
	dhtServer *dht.Server

	// bg runs the client's own background work (announce workers, the rate meters, the
	// redialler); Close cancels bgCtx and waits for it.
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc
}

// New starts a client listening for peers.
func New(cfg Config) (*Client, error) {
	if cfg.Storage == nil {
		return nil, errors.New("fetch: no storage")
	}
	if cfg.Readahead <= 0 {
		cfg.Readahead = DefaultReadahead
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	plan, err := newNetPlan(cfg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, log: log, net: plan, obs: cfg.Observer, torrents: make(map[metainfo.Hash]*Torrent), adding: make(map[metainfo.Hash]*Pending),
		trackers:  make(map[metainfo.Hash]map[string]*Tracker),
		announces: make(chan func(context.Context), announceQueue)}
	if c.obs == nil {
		c.obs = newDiagnostics(log)
	}
	c.bgCtx, c.bgCancel = context.WithCancel(context.Background())
	c.writeWarn.Interval = writeErrorEvery

	addr := cfg.ListenAddr
	fallback := addr == ""
	if fallback {
		addr = DefaultListenAddr
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen address %q: bad port", addr)
	}
	tc := c.torrentConfig(host, port)
	cl, err := torrent.NewClient(tc)
	if err != nil && fallback && errors.Is(err, syscall.EADDRINUSE) {
		log.Info("default port taken, using a random one", "port", port)
		cl, err = torrent.NewClient(c.torrentConfig(host, 0))
	}
	if err != nil {
		c.bgCancel()
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if plan.peers != nil {
		cl.AddDialer(torrent.NetworkDialer{Network: "tcp", Dialer: plan.peers})
	}
	if cfg.BindInterface != "" && !cfg.NoDHT && cfg.Proxy == nil {
		// anacrolix's DHT runs on its uTP sockets, which cannot be bound: one of ours.
		lc := net.ListenConfig{Control: plan.dialer.Control}
		pc, err := lc.ListenPacket(context.Background(), "udp", net.JoinHostPort(host, strconv.Itoa(cl.LocalPort())))
		if err == nil {
			var ds *dht.Server
			if ds, err = cl.NewAnacrolixDhtServer(pc); err == nil {
				cl.AddDhtServer(torrent.AnacrolixDhtServerWrapper{Server: ds})
				c.dhtServer = ds
			} else {
				pc.Close()
			}
		}
		if err != nil {
			cl.Close()
			c.bgCancel()
			return nil, fmt.Errorf("dht on %s: %w", cfg.BindInterface, err)
		}
	}
	c.cl = cl
	c.loadDHTNodes()
	c.bg.Go(c.sampleTotals)
	c.bg.Go(c.saveDHTNodesEvery)
	c.bg.Go(c.redialLoop)
	for range announceWorkers {
		c.bg.Go(c.runAnnounces)
	}
	return c, nil
}

// maxLoggedClient is how much of a peer's client name the log keeps.
const maxLoggedClient = 64

// SourceTimeout bounds the download of a .torrent named by a magnet link's xs= or as=
// parameter, as library bounds one named by a URL.
const SourceTimeout = 30 * time.Second

func (c *Client) torrentConfig(host string, port int) *torrent.ClientConfig {
	cfg := c.cfg
	tc := torrent.NewDefaultClientConfig()
	tc.DefaultStorage = storageTap{cfg.Storage, &c.storages}
	tc.ListenHost = func(network string) string { return host }
	tc.ListenPort = port
	if ip := net.ParseIP(host); ip != nil {
		tc.DisableIPv6 = ip.To4() != nil
		tc.DisableIPv4 = ip.To4() == nil
	}
	// Peers show this as our client's name; trackers see it as the user agent.
	tc.ExtendedHandshakeClientVersion = clientVersion()
	tc.HTTPUserAgent = clientVersion()
	tc.NoDHT = cfg.NoDHT
	c.dhtConfig(tc)
	tc.NoDefaultPortForwarding = cfg.NoPortForwarding
	tc.DisablePEX = cfg.NoPEX
	tc.DisableUTP = !cfg.UTP
	if cfg.MaxUnverified > 0 {
		tc.MaxUnverifiedBytes = cfg.MaxUnverified
	}
	tc.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{
		Preferred:        cfg.Encryption != EncryptionAllow,
		RequirePreferred: cfg.Encryption == EncryptionRequire,
	}
	if cfg.Encryption == EncryptionRequire {
		// Encrypt what follows the handshake too: anacrolix would agree on plaintext with a
		// peer that offers it.
		tc.CryptoProvides = mse.CryptoMethodRC4
		tc.CryptoSelector = func(mse.CryptoMethod) mse.CryptoMethod { return mse.CryptoMethodRC4 }
	}
	tc.DisableTrackers = cfg.NoTrackers
	// A magnet's xs= and as= sources are strangers' servers: the whole fetch, a slow body
	// included, is bounded in time here, and in size and shape by anacrolix patch 0015.
	tc.MetainfoSourcesClient = &http.Client{Timeout: SourceTimeout}
	if cfg.MaxDownloadRate > 0 { // a burst of 0: anacrolix picks one that fits its reads
		tc.DownloadRateLimiter = rate.NewLimiter(rate.Limit(cfg.MaxDownloadRate), 0)
	}
	if cfg.MaxUploadRate > 0 {
		tc.UploadRateLimiter = rate.NewLimiter(rate.Limit(cfg.MaxUploadRate), 0)
	}
	c.net.apply(tc)
	// WebTorrent (WebRTC data channels to browsers, through wss:// trackers) is not a transport
	// torrentfs offers: a mount's peers are BitTorrent clients on TCP and uTP. Off, a stranger's
	// wss:// tracker cannot reach the WebRTC and DTLS code (pion) at all. Web seeds (BEP 19,
	// plain HTTP) stay on: docs/design.md, "Network features".
	tc.DisableWebtorrent = true
	tc.NoUpload = cfg.NoUpload
	tc.Seed = !cfg.NoUpload
	// A read of an evicted or never-fetched piece needs peers even when we hold every other
	// piece they have, so keep seeders connected.
	tc.DropMutuallyCompletePeers = false
	// One connection per peer. Two hosts that learn of each other at once (a tracker names
	// each to the other) each dial, and anacrolix kept both connections: 8 mounts reading
	// together had 14 connections to their 7 peers, requests split over the two and stolen
	// from one to the other, and a quarter to a third of what their links carried was chunks
	// they had already (issue #25; docs/measurements.md). Both ends keep the same one: the one the
	// peer with the higher ID dialed.
	tc.DropDuplicatePeerIds = true
	// Dial the peers trackers name as soon as the torrent is added, not at its first read:
	// Transmission and aria2 answer a handshake only on their own timers, so the first read
	// would wait for it (issue #13; anacrolix patch 0013).
	tc.ConnectBeforeDemand = true
	tc.Slogger = slog.New(quietHandler{c.log.Handler(), &c.closing})
	tc.Callbacks.ReceivedUsefulData = append(tc.Callbacks.ReceivedUsefulData,
		func(torrent.ReceivedUsefulDataEvent) { c.received.Add(1) })
	tc.Callbacks.PeerConnClosed = c.peerClosed
	tc.Callbacks.PeerConnAdded = append(tc.Callbacks.PeerConnAdded, c.peerAdded)
	tc.Callbacks.OutgoingConnFailed = append(tc.Callbacks.OutgoingConnFailed, c.outgoingFailed)
	tc.Callbacks.ReadExtendedHandshake = func(pc *torrent.PeerConn, m *pp.ExtendedHandshakeMessage) {
		v := m.V // a stranger's, up to a message's 64 KiB: the log keeps its start
		if len(v) > maxLoggedClient {
			v = v[:maxLoggedClient] + "…"
		}
		c.log.Debug("a peer says which client it is", "peer", pc.RemoteAddr.String(), "client", v)
		if ap, ok := parseAddrPort(pc.RemoteAddr.String()); ok && pc.Discovery == torrent.PeerSourceIncoming && m.Port > 0 && m.Port <= 65535 {
			c.listenAddrs.Store(pc, netip.AddrPortFrom(ap.Addr(), uint16(m.Port)))
		}
	}
	c.contactCallbacks(&tc.Callbacks)
	tc.Callbacks.StatusUpdated = append(tc.Callbacks.StatusUpdated, c.trackerStatus)
	if cfg.tune != nil {
		cfg.tune(tc)
	}
	return tc
}

// clientVersion is "torrentfs/VERSION", VERSION being the module's version, or "devel".
func clientVersion() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return "torrentfs/" + v
}

// progress is a snapshot of what the swarm has sent: useful chunks, and pieces that passed
// and failed their hash check.
type progress struct{ chunks, good, bad int64 }

func (c *Client) progress() progress {
	s := c.cl.ConnStats()
	return progress{c.received.Load(), s.PiecesDirtiedGood.Int64(), s.PiecesDirtiedBad.Int64()}
}

// since reports whether the swarm moved on from q: a piece passed its hash check, or chunks
// arrived and none failed it. Chunks that only ever fail are no progress.
func (p progress) since(q progress) bool {
	return p.good != q.good || (p.chunks != q.chunks && p.bad == q.bad)
}

// storageTap records how to read each torrent's storage as anacrolix opens it: the first
// channel to the cache (docs/read-path.md). Handle.readCached reads through it.
type storageTap struct {
	storage.ClientImpl
	readers *sync.Map
}

func (s storageTap) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	ti, err := s.ClientImpl.OpenTorrent(ctx, info, ih)
	if err == nil && ti.NewReader != nil {
		s.readers.Store(ih, ti.NewReader)
	}
	return ti, err
}

// Client is the cache's Watcher: the second channel to the cache (docs/read-path.md).
var _ cache.Watcher = (*Client)(nil)

// Active returns the byte ranges of torrent ih that open read heads are at or reading ahead
// into: each head's window, from its position to the end of its readahead. A size-capped
// storage must not evict these.
func (c *Client) Active(ih metainfo.Hash) [][2]int64 {
	t := c.torrent(ih)
	if t == nil {
		return nil
	}
	var r [][2]int64
	t.heads.Range(func(k, _ any) bool {
		hd := k.(*head)
		r = append(r, [2]int64{hd.begin.Load(), hd.end.Load()})
		return true
	})
	return r
}

// Evicted is told that the storage dropped pieces of torrent ih. The client forgets them,
// so a read fetches them again, and lowers the high priority an open gave the head and tail
// of a file: the cache is full, and they would be fetched again at once.
func (c *Client) Evicted(ih metainfo.Hash, pieces []int) {
	t := c.torrent(ih)
	if t == nil || !t.live.Load() {
		return
	}
	if c.cfg.Prefetch != PrefetchNone && t.stopPrefetch() {
		// What the background prefetch fetched would be evicted and fetched again for
		// ever: it stops once the cache is full, and reads go on fetching what they need.
		c.log.Info("cache full: background prefetch stops", "torrent", t.Name())
		t.t.CancelPieces(0, t.t.NumPieces()) // heads and tails
	}
	t.sendDontHave(pieces)
	for _, p := range pieces {
		t.verified[p].Store(false)
		t.evicted.Add(t.t.Piece(p).Info().Length())
		t.t.Piece(p).SetPriority(torrent.PiecePriorityNone)
		t.t.Piece(p).UpdateCompletion()
	}
}

// writeFailed logs failed chunk writes, at most once per writeErrorEvery.
func (c *Client) writeFailed(err error) {
	c.writeWarn.Do(func() { c.log.Warn("cannot store downloaded data; will fetch it again", "err", err) })
}

const writeErrorEvery = 10 * time.Second

func (c *Client) torrent(ih metainfo.Hash) *Torrent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.torrents[ih]
}

// Torrents returns the torrents in the client, in no particular order. A dropped torrent is
// among them until it has left the client (Torrent.Dropped).
func (c *Client) Torrents() []*Torrent {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts := make([]*Torrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		ts = append(ts, t)
	}
	return ts
}

// ErrDuplicate is returned by Add for a torrent the client has already, or is adding now.
var ErrDuplicate = errors.New("fetch: torrent already added")

// reserve claims info-hash ih for an Add, so that two Adds of one torrent cannot both
// succeed. unreserve ends the claim; by then the torrent is in torrents or was not added.
func (c *Client) reserve(ih metainfo.Hash) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.torrents == nil:
		return ErrClientClosed
	case c.torrents[ih] != nil:
		return fmt.Errorf("%s: %w", ih.HexString(), ErrDuplicate)
	}
	if _, ok := c.adding[ih]; ok {
		return fmt.Errorf("%s: %w", ih.HexString(), ErrDuplicate)
	}
	c.adding[ih] = nil
	return nil
}

func (c *Client) unreserve(ih metainfo.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.adding, ih)
	if c.torrents[ih] == nil { // not added: its trackers' states go
		delete(c.trackers, ih)
	}
}

// ReadsWaiting returns how many reads are waiting for pieces from the swarm now: reads of
// verified pieces, answered from the storage, do not count.
func (c *Client) ReadsWaiting() int64 { return c.waiting.Load() }

// Port returns the port the client accepts peers on.
func (c *Client) Port() int { return c.cl.LocalPort() }

// WriteStatus writes the client's state (peers, pieces, requests) for debugging.
func (c *Client) WriteStatus(w io.Writer) { c.cl.WriteStatus(w) }

// ErrClientClosed is returned by Add once Close has begun.
var ErrClientClosed = errors.New("fetch: client closed")

// Close stops every torrent's goroutines and waits for them, then drops the torrents and
// stops the client, whether or not handles are open. It does not close the storage.
func (c *Client) Close() error {
	c.closing.Store(true)
	c.bgCancel()
	c.bg.Wait()
	c.mu.Lock()
	ts := c.torrents
	c.torrents = nil
	c.mu.Unlock()
	for _, t := range ts {
		t.leaveClient(false)
	}
	saveErr := c.saveDHTNodes()
	errs := c.cl.Close()
	if c.dhtServer != nil {
		c.dhtServer.Close()
	}
	return errors.Join(append(errs, saveErr)...)
}

// quietHandler drops anacrolix's error records that are not errors for us: reads that ended
// because their context did (a reader going away is normal for a file system), and anything
// logged once the client is closing.
type quietHandler struct {
	slog.Handler
	closing *atomic.Bool
}

func (f quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if f.closing.Load() {
		return nil
	}
	if r.Level >= slog.LevelError {
		expected := false
		r.Attrs(func(a slog.Attr) bool {
			err, ok := a.Value.Any().(error)
			expected = ok && expectedError(err)
			return !expected
		})
		if expected {
			return nil
		}
	}
	return f.Handler.Handle(ctx, r)
}

// expectedError reports whether an error anacrolix logs is none for us: a read cancelled by
// its caller; a read of a piece the storage evicted before the client heard of it (the
// reader starts again and fetches the piece); a chunk the storage could not write
// (Client.writeFailed reports those, without one line per chunk).
func expectedError(err error) bool {
	var we *cache.WriteError
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, cache.ErrEvicted) || errors.As(err, &we)
}

func (f quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{f.Handler.WithAttrs(as), f.closing}
}

func (f quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{f.Handler.WithGroup(name), f.closing}
}
