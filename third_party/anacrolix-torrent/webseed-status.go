package torrent

import (
	"time"
)

// torrentfs: WebSeedStatus is what a torrent's web seed did, for status pages.
type WebSeedStatus struct {
	URL string
	// Downloaded is the useful data the seed sent; DownloadRate its rate while requests to it
	// were under way, in bytes per second.
	Downloaded   int64
	DownloadRate float64
	// Requests is how many HTTP requests to it are under way.
	Requests int
	// Err is the seed's last failure: a request's error, or a piece that failed its hash.
	// nil if it never failed.
	Err error
	// Suspended is set while the seed is not asked because of Err; until RetryAt.
	Suspended bool
	RetryAt   time.Time
}

// torrentfs: WebSeeds returns the state of the torrent's web seeds, in no order.
func (t *Torrent) WebSeeds() []WebSeedStatus {
	t.cl.rLock()
	defer t.cl.rUnlock()
	ret := make([]WebSeedStatus, 0, len(t.webSeeds))
	for _, ws := range t.webSeeds {
		s := WebSeedStatus{
			URL:          ws.client.Url,
			Downloaded:   ws.peer._stats.BytesReadUsefulData.Int64(),
			DownloadRate: ws.peer.downloadRate(),
			Requests:     len(ws.activeRequests),
			Err:          ws.lastCrime,
			Suspended:    ws.suspended(),
		}
		if s.Suspended {
			s.RetryAt = ws.penanceComplete
		}
		ret = append(ret, s)
	}
	return ret
}
