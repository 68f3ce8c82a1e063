package fetch

import (
	"slices"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

// A private torrent (BEP 27: private=1 in its info) gets its peers from its own trackers and
// from the peers the user names (--peer) only. anacrolix keeps it off the DHT and PEX
// (third_party patch 0018); what fetch adds is the magnet link's x.pe peers, which are
// neither.

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
// those the user named, and closes the connections to the others: the link's x.pe peers,
// used while its info was unknown, as only they could send it.
func (c *Client) privatePeers(t *torrent.Torrent, peers, named []string) []string {
	var kept, dropped []string
	for _, p := range peers {
		if slices.Contains(named, p) {
			kept = append(kept, p)
		} else {
			dropped = append(dropped, p)
		}
	}
	if len(dropped) == 0 {
		return kept
	}
	c.log.Info("private torrent: the magnet link's peers (x.pe) are dropped", "torrent", t.Name(), "peers", len(dropped))
	for _, pc := range t.PeerConns() {
		if pc.Discovery == torrent.PeerSourceDirect && slices.Contains(dropped, pc.RemoteAddr.String()) {
			c.log.Debug("closing a connection to a magnet link's peer", "peer", pc.RemoteAddr.String())
			pc.Close()
		}
	}
	return kept
}
