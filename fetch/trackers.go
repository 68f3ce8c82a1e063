package fetch

import (
	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

// trackerStatus logs a tracker's failed announce once, with the tracker's URL and the
// torrent's name, so that a user sees which tracker of which torrent is broken (a hostile
// one included: its reply's size and shape are bounded by anacrolix patch 0016), and again
// only after it has answered in between. anacrolix logs each failure at debug level.
func (c *Client) trackerStatus(ev torrent.StatusUpdatedEvent) {
	var ok bool
	switch ev.Event {
	case torrent.TrackerAnnounceError:
	case torrent.TrackerAnnounceSuccessful:
		ok = true
	default:
		return
	}
	var ih metainfo.Hash
	if ih.FromHexString(ev.InfoHash) != nil {
		return
	}
	t, added := c.cl.Torrent(ih)
	if !added {
		return
	}
	key := trackerKey{ih, ev.Url}
	if ok {
		c.trackerFailing.Delete(key)
		return
	}
	if _, failing := c.trackerFailing.LoadOrStore(key, struct{}{}); !failing {
		c.log.Warn("tracker announce failed", "torrent", t.Name(), "tracker", ev.Url, "err", ev.Error)
	}
}

// trackerKey is a torrent's tracker, in trackerFailing.
type trackerKey struct {
	ih  metainfo.Hash
	url string
}

// forgetTrackers drops a torrent's entries from trackerFailing as it leaves the client.
func (c *Client) forgetTrackers(ih metainfo.Hash) {
	c.trackerFailing.Range(func(k, _ any) bool {
		if k.(trackerKey).ih == ih {
			c.trackerFailing.Delete(k)
		}
		return true
	})
}
