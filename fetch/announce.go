package fetch

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	neturl "net/url"
	"strconv"

	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent/tracker"
)

// Re-discovery: a read waiting for a piece no connected peer has announces the torrent to
// its trackers and the DHT at once, through a small tracker client of its own (announce)
// and the client's announce workers, rather than wait for anacrolix's next regular
// announce. Why, and the redial beside it: peers.go.

// needPeers announces t to its trackers and the DHT in the background, adding the peers
// they name. A torrent may list hundreds of trackers, so one call announces to at most
// needPeersTrackers of them, picked at random, and the announces wait their turn for one of
// the client's announceWorkers (runAnnounces); when announceQueue are already waiting, the
// rest are dropped, to be tried at the next call.
func (c *Client) needPeers(t *Torrent) {
	var urls []string
	if !c.cfg.NoTrackers {
		mi := t.t.Metainfo()
		for _, tier := range mi.UpvertedAnnounceList() {
			urls = append(urls, tier...)
		}
	}
	var dhts []torrent.DhtServer
	if !c.cfg.NoDHT {
		dhts = c.cl.DhtServers()
	}
	if len(urls) == 0 && len(dhts) == 0 {
		return
	}
	rand.Shuffle(len(urls), func(i, j int) { urls[i], urls[j] = urls[j], urls[i] })
	urls = urls[:min(len(urls), needPeersTrackers)]
	c.log.Debug("looking for peers", "torrent", t.Name(), "trackers", len(urls), "dht", len(dhts) > 0)
	dropped := 0
	for _, u := range urls {
		if !c.queueAnnounce(func(ctx context.Context) { t.announce(ctx, u) }) {
			dropped++
		}
	}
	for _, s := range dhts {
		ok := c.queueAnnounce(func(ctx context.Context) {
			done, stop, err := t.t.AnnounceToDht(s)
			if err != nil {
				return
			}
			defer stop()
			// Bounded as a tracker's announce is, so that a few torrents no node knows do
			// not hold every worker; the peers a traversal finds are added as they come.
			ctx, cancel := context.WithTimeout(ctx, announceTimeout)
			defer cancel()
			select {
			case <-done:
			case <-ctx.Done():
			}
		})
		if !ok {
			dropped++
		}
	}
	if dropped > 0 {
		c.log.Debug("too many announces waiting: some dropped", "torrent", t.Name(), "dropped", dropped)
	}
}

// queueAnnounce queues an announce for the client's announce workers, and reports whether
// there was room.
func (c *Client) queueAnnounce(f func(ctx context.Context)) bool {
	select {
	case c.announces <- f:
		return true
	default:
		return false
	}
}

// runAnnounces is one of the client's announce workers: it runs queued announces one at a
// time until the client closes.
func (c *Client) runAnnounces() {
	for {
		select {
		case f := <-c.announces:
			f(c.bgCtx)
		case <-c.bgCtx.Done():
			return
		}
	}
}

// announce makes one announce to a tracker saying the torrent needs peers, and dials those
// it names.
func (t *Torrent) announce(ctx context.Context, url string) {
	ctx, cancel := context.WithTimeout(ctx, announceTimeout)
	defer cancel()
	u, err := neturl.Parse(url)
	if err != nil {
		t.c.log.Debug("need-peers announce", "tracker", url, "err", err)
		return
	}
	// As anacrolix's own announces: by the bound device and through the proxy (netplan.go).
	cl, err := tracker.NewClient(url, t.c.net.trackerOpts(u))
	if err != nil {
		t.c.log.Debug("need-peers announce", "tracker", url, "err", err)
		return
	}
	defer cl.Close()
	st := t.t.Stats()
	left := t.Length() - t.BytesCompleted()
	req := tracker.AnnounceRequest{
		InfoHash:   t.t.InfoHash(),
		PeerId:     t.c.cl.PeerID(),
		Downloaded: st.BytesReadUsefulData.Int64(),
		Uploaded:   st.BytesWrittenData.Int64(),
		Left:       left,
		Event:      tracker.None,
		NumWant:    -1,
		Port:       uint16(t.c.Port()),
	}
	res, err := cl.Announce(ctx, req, tracker.AnnounceOpt{})
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) { // not the client closing
			t.c.announced(t.ih, url, 0, err)
		}
		t.c.log.Debug("need-peers announce", "tracker", url, "err", err)
		return
	}
	t.c.announced(t.ih, url, len(res.Peers), nil)
	var peers []torrent.PeerInfo
	var addrs []netip.AddrPort
	for _, p := range res.Peers {
		ip, ok := netip.AddrFromSlice(p.IP)
		if !ok || p.Port <= 0 || p.Port > 65535 {
			continue
		}
		ap := netip.AddrPortFrom(ip.Unmap(), uint16(p.Port))
		if int(ap.Port()) == t.c.Port() && ip.IsLoopback() {
			continue // ourselves, as the tracker saw us
		}
		addrs = append(addrs, ap)
		peers = append(peers, torrent.PeerInfo{Addr: stringAddr(net.JoinHostPort(ap.Addr().String(), strconv.Itoa(int(ap.Port())))), Source: torrent.PeerSourceTracker})
	}
	t.swarm.remember(torrent.PeerSourceTracker, addrs...)
	t.c.log.Debug("need-peers announce", "tracker", url, "peers", len(peers))
	t.t.AddPeers(peers)
}
