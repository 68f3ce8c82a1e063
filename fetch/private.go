package fetch

import (
	"slices"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

// A private torrent (BEP 27: private=1 in its info) gets its peers from its own trackers and
// from the peers the user names (--peer) only. anacrolix keeps it off the DHT and PEX, and
// refuses a magnet link's x.pe peers (torrent.PeerSourceMagnet) once the info says private,
// dropping those it queued or connected to before (third_party patches 0018 and 0027). What
// fetch adds is not to use x.pe at all when the info is known from the start, and not to
// remember the x.pe peers as peers to dial again.

// isPrivate reports whether info carries BEP 27's private flag.
func isPrivate(info *metainfo.Info) bool { return info != nil && info.Private != nil && *info.Private }

// infoBytesPrivate reports whether the info dictionary infoBytes carries the private flag; it
// is false for none, or one that does not decode (anacrolix refuses it later).
func infoBytesPrivate(infoBytes []byte) bool {
	if len(infoBytes) == 0 {
		return false
	}
	var info metainfo.Info
	return bencode.Unmarshal(infoBytes, &info) == nil && isPrivate(&info)
}

// privatePeers returns, of the peers a magnet link and the user named for private torrent t,
// those the user named. anacrolix has dropped the others (the link's x.pe peers, used while
// its info was unknown, as only they could send it) as the info came.
func (c *Client) privatePeers(t *torrent.Torrent, peers []torrent.PeerInfo) []torrent.PeerInfo {
	n := len(peers)
	peers = slices.DeleteFunc(peers, func(p torrent.PeerInfo) bool { return p.Source == torrent.PeerSourceMagnet })
	if n > len(peers) {
		c.log.Info("private torrent: the magnet link's peers (x.pe) are dropped", "torrent", t.Name(), "peers", n-len(peers))
	}
	return peers
}
