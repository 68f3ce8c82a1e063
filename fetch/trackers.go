package fetch

import (
	"errors"
	neturl "net/url"
	"slices"
	"strings"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/internal/human"
	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

// What status shows of trackers and a magnet link's sources: strangers' strings (their URLs,
// their errors), each kept printable and at most maxShown characters, and at most maxListed
// of each kind per torrent.
const (
	maxShown  = 300
	maxListed = 50
)

// Tracker is a tracker of a torrent, as its last announce left it (Transmission's tracker
// tab). Its announces are anacrolix's regular ones and fetch's need-peers ones.
type Tracker struct {
	URL string `json:"url"`
	// LastAnnounce is when it last answered an announce, zero if it never did; Peers is how
	// many peers that answer named.
	LastAnnounce time.Time `json:"last_announce,omitzero"`
	Peers        int       `json:"peers"`
	// Error is why its last announce failed, empty if it answered; ErrorAt is when.
	Error   string    `json:"error,omitempty"`
	ErrorAt time.Time `json:"error_at,omitzero"`
}

// Source is a URL a magnet link names (xs= or as=) to fetch its .torrent from.
type Source struct {
	URL   string `json:"url"`
	Error string `json:"error,omitempty"` // its last failure, empty if none yet
}

// Sources are where the metadata of a torrent being added may come from, and what they
// said, while it is awaited.
type Sources struct {
	Peers    []string  `json:"peers,omitempty"` // the peers the magnet link (x.pe) and --peer name
	URLs     []Source  `json:"urls,omitempty"`
	Trackers []Tracker `json:"trackers,omitempty"`
	// Error is the last error a peer's connection ended with, the peer's address first: most
	// often metadata it sent that was refused (it did not hash to the info-hash, or was too
	// large or too deep), else a message of it that did not decode.
	Error string `json:"error,omitempty"`
}

// trackerStatus records a tracker's answer to anacrolix's announce, and logs its failure
// once, with the tracker's URL and the torrent's name, so that a user sees which tracker of
// which torrent is broken (a hostile one included: its reply's size and shape are bounded by
// anacrolix patch 0016), and again only after it has answered in between. anacrolix logs
// each failure at debug level. A magnet link's source that failed is recorded too.
func (c *Client) trackerStatus(ev torrent.StatusUpdatedEvent) {
	switch ev.Event {
	case torrent.TrackerAnnounceError, torrent.TrackerAnnounceSuccessful, torrent.MetainfoSourceError:
	default:
		return
	}
	var ih metainfo.Hash
	if ih.FromHexString(ev.InfoHash) != nil {
		return
	}
	if ev.Event == torrent.MetainfoSourceError {
		if p := c.pending(ih); p != nil {
			p.mu.Lock()
			if p.sourceErrs == nil {
				p.sourceErrs = make(map[string]string)
			}
			p.sourceErrs[ev.Url] = human.Clip(ev.Error.Error(), maxShown)
			p.mu.Unlock()
		}
		return
	}
	if !c.announced(ih, ev.Url, ev.NumPeers, ev.Error) {
		return
	}
	name := ih.HexString()
	if t, ok := c.cl.Torrent(ih); ok {
		name = t.Name()
	}
	c.log.Warn("tracker announce failed", "torrent", name, "tracker", ev.Url, "err", ev.Error)
}

// announced records the answer of tracker url to an announce of torrent ih: peers, or err.
// It reports whether the tracker has failed now after it answered before (or never did).
// Nothing is recorded of a torrent the client has not, or no longer.
func (c *Client) announced(ih metainfo.Hash, url string, peers int, err error) (failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, adding := c.adding[ih]; !adding && c.torrents[ih] == nil {
		return false
	}
	ts := c.trackers[ih]
	if ts == nil {
		ts = make(map[string]*Tracker)
		c.trackers[ih] = ts
	}
	tr := ts[url]
	if tr == nil {
		if len(ts) >= maxListed*4 { // a torrent's announce-list is a stranger's
			return false
		}
		tr = &Tracker{URL: url}
		ts[url] = tr
	}
	now := time.Now()
	if err == nil {
		tr.LastAnnounce, tr.Peers, tr.Error, tr.ErrorAt = now, peers, "", time.Time{}
		return false
	}
	failed = tr.Error == ""
	tr.Error, tr.ErrorAt = human.Clip(trackerError(err), maxShown), now
	return failed
}

// trackerError is err as status shows it: an HTTP tracker's error names the announce's
// whole URL, query and all (our peer ID, the info-hash), which the tracker's URL beside it
// makes noise; it is left out.
func trackerError(err error) string {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		return strings.Replace(err.Error(), ue.Error(), ue.Op+": "+ue.Err.Error(), 1)
	}
	return err.Error()
}

// trackerList returns the trackers urls, in order, each as its last announce for torrent ih
// left it.
func (c *Client) trackerList(ih metainfo.Hash, urls []string) []Tracker {
	if c.cfg.NoTrackers {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var trs []Tracker
	for _, u := range urls {
		if len(trs) == maxListed {
			break
		}
		if slices.ContainsFunc(trs, func(t Tracker) bool { return t.URL == u }) {
			continue
		}
		tr := Tracker{URL: u}
		if s := c.trackers[ih][u]; s != nil {
			tr = *s
		}
		trs = append(trs, tr)
	}
	for k := range trs {
		trs[k].URL = human.Clip(trs[k].URL, maxShown)
	}
	return trs
}

// Trackers returns the torrent's trackers, in the order its announce-list gives them, each
// as its last announce left it; nil with Config.NoTrackers.
func (t *Torrent) Trackers() []Tracker {
	var tiers [][]string
	if t.live.Load() {
		mi := t.t.Metainfo()
		tiers = mi.UpvertedAnnounceList()
	} else {
		t.wmu.Lock()
		if t.sleep != nil {
			tiers = t.sleep.spec.Trackers
		}
		t.wmu.Unlock()
	}
	return t.c.trackerList(t.ih, slices.Concat(tiers...))
}

// pending returns the Pending of a torrent being added, nil if there is none.
func (c *Client) pending(ih metainfo.Hash) *Pending {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.adding[ih]
}

// metadataRefused records err, which ended a peer's connection for torrent ih while it is
// being added (not a network error): most often the metadata it sent was refused.
func (c *Client) metadataRefused(ih metainfo.Hash, peer string, err error) {
	if p := c.pending(ih); p != nil {
		p.mu.Lock()
		p.metaErr = human.Clip(peer+": "+err.Error(), maxShown)
		p.mu.Unlock()
	}
}

// Pending describes the sources of torrent ih while the client is adding it (waiting for a
// magnet link's metadata): false if it is not adding it.
func (c *Client) Pending(ih metainfo.Hash) (Sources, bool) {
	p := c.pending(ih)
	if p == nil {
		return Sources{}, false
	}
	var s Sources
	for _, pi := range p.peers {
		if len(s.Peers) == maxListed {
			break
		}
		s.Peers = append(s.Peers, human.Clip(pi.Addr.String(), maxShown))
	}
	p.mu.Lock()
	for _, u := range p.spec.Sources {
		if len(s.URLs) == maxListed {
			break
		}
		s.URLs = append(s.URLs, Source{URL: human.Clip(u, maxShown), Error: p.sourceErrs[u]})
	}
	s.Error = p.metaErr
	p.mu.Unlock()
	s.Trackers = c.trackerList(ih, slices.Concat(p.spec.Trackers...))
	return s, true
}
