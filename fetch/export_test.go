package fetch

import (
	"context"
	"net/netip"
	"time"

	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

// Tune returns cfg with f adjusting the anacrolix configuration last.
func Tune(cfg Config, f func(*torrent.ClientConfig)) Config {
	cfg.tune = f
	return cfg
}

// Active is Client.Active for the torrent: the windows its read heads publish to eviction.
func (t *Torrent) Active() [][2]int64 { return t.c.Active(t.ih) }

// Client is the client the torrent was added to.
func (t *Torrent) Client() *Client { return t.c }

// WaitCached waits until every piece holding bytes [off, off+n) of file i is verified. It
// does not ask for those pieces; it only watches. The mirror of verified pieces is brought
// up to date for them before it returns, so reads of them that follow skip anacrolix.
func (t *Torrent) WaitCached(ctx context.Context, i int, off, n int64) error {
	sub := t.t.SubscribePieceStateChanges()
	defer sub.Close()
	begin := t.files[i].offset + off
	pieces := t.pieces(begin, begin+n)
	for {
		done := true
		for p := range pieces {
			if !t.t.PieceState(p).Complete {
				done = false
				break
			}
		}
		if done {
			for p := range pieces {
				t.verified[p].Store(true)
			}
			return nil
		}
		select {
		case <-sub.Values:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// AnacrolixTorrents is how many torrents the client's anacrolix client holds.
func (c *Client) AnacrolixTorrents() int { return len(c.cl.Torrents()) }

// MinReadahead is a fresh read head's readahead; HeadTail is what an open fetches of each
// end of a file.
const (
	MinReadahead = minReadahead
	HeadTail     = headTail
)

// Contacts is how many torrents' first-contact records the client's own Observer holds.
func (c *Client) Contacts() int { return c.obs.(*diagnostics).count() }

// NeedPeers runs a "need peers" round for the torrent, as a read waiting on a piece no
// connected peer has does; AnnounceWorkers is how many of its announces run at once.
func (t *Torrent) NeedPeers() { t.c.needPeers(t) }

const AnnounceWorkers = announceWorkers

// BanPeer bans the peer at ap as its bad data would; BannedPeers lists the bans kept.
func (c *Client) BanPeer(ap netip.AddrPort) { c.cl.BanPeer(ap) }
func (c *Client) BannedPeers() []string     { return c.cl.BadPeerIPs() }

// LookForPeers is what a read waiting for piece p does to find peers that have it.
func (t *Torrent) LookForPeers(p int) { t.lookForPeers(p) }

// RedialEvery returns cfg with a read waiting for peers dialing the known ones again every d.
func RedialEvery(cfg Config, d time.Duration) Config {
	cfg.redialEvery = &d
	return cfg
}

// RedialBackoff returns cfg with known peers dialed again after min, doubled per failure in
// a row up to max.
func RedialBackoff(cfg Config, min, max time.Duration) Config {
	cfg.redialBackoff = &backoff{min, max}
	return cfg
}

// BackoffAfter is how long a peer waits for its next dial after fails failures in a row.
func BackoffAfter(min, max time.Duration, fails int) time.Duration {
	return backoff{min, max}.after(fails)
}
