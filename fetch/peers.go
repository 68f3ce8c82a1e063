package fetch

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

// Finding peers again. A read of a piece that no connected peer has must not wait for the
// tracker's next regular announce, half an hour away. The common case is an evicted piece:
// every peer was told by HAVE messages that we hold it, BitTorrent has no message to take
// that back (but libtorrent's lt_donthave), and seeders close their connections to a peer
// they take for a seeder (Transmission, aria2 and libtorrent all do). After a reconnect, the
// bitfield we send shows what we hold now, and they serve us again. So a waiting read
//   - dials again every peer address the torrent has known (from trackers, the user, the
//     magnet link, PEX, incoming peers that told us their port), at most every redialEvery;
//   - announces to the torrent's trackers, at most every announceEvery;
//   - and asks the DHT, when it is on, as often as it announces.

// redialEvery is how often a read waiting for peers dials the known ones again; Config's
// redialEvery (for tests, which redial at every look) replaces it.
const redialEvery = 2 * time.Second

const (
	announceEvery = time.Minute
	// firstAnnounce is how soon after the torrent starts, and its first regular announce, a
	// read may announce again.
	firstAnnounce = 5 * time.Second
	// maxKnownPeers bounds the addresses a torrent remembers.
	maxKnownPeers = 1000
	// announceTimeout bounds one "need peers" announce.
	announceTimeout = 15 * time.Second
	// announceWorkers is how many "need peers" announces the client makes at once, for all
	// its torrents and whatever their tracker count; announceQueue how many more may wait;
	// needPeersTrackers how many of a torrent's trackers one round announces to.
	announceWorkers   = 4
	announceQueue     = 64
	needPeersTrackers = 16
)

// swarm is what a torrent remembers of the peers it has known, and when it last looked for
// more.
//
// Lock order: anacrolix's client lock before mu. anacrolix calls peerClosed, which takes mu,
// with its client lock held, so nothing may call into anacrolix while holding mu: a read
// that did (lookForPeers, asking for the connected peers) waited for the client lock while
// a closing connection, holding it, waited for mu, and the torrent's client was stuck for
// good, unmount and Ctrl-C included.
type swarm struct {
	mu           sync.Mutex
	known        map[netip.AddrPort]*knownPeer // guarded by mu
	lastRedial   time.Time                     // guarded by mu
	lastAnnounce time.Time                     // guarded by mu
}

// knownPeer is what a torrent remembers of one peer address (redial.go).
type knownPeer struct {
	src torrent.PeerSource
	// fails counts the attempts in a row that failed or ended soon; next is when the
	// background redial may dial it again (zero: at once).
	fails int
	next  time.Time
	// since is when our connection to it completed its handshake; zero while not connected.
	since time.Time
	// redialed is set when the background redial queued it, until the attempt is heard of:
	// that redial counted as a failure already.
	redialed bool
	// bad is set for a peer we dropped as bad: it is never dialed again.
	bad bool
	// served is set once a connection we dialed completed its handshake: a complete torrent
	// does not dial it again (redialWanted).
	served bool
}

// remember records peer addresses that can be dialed.
func (s *swarm) remember(src torrent.PeerSource, addrs ...netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range addrs {
		if k := s.peerLocked(a); k != nil && k.src != torrent.PeerSourceDirect {
			k.src = src // the user's naming it outranks a tracker's or PEX's
		}
	}
}

// peerLocked returns what the swarm knows of address a, a new entry if there is room, or nil
// for an address that cannot be dialed or no room.
func (s *swarm) peerLocked(a netip.AddrPort) *knownPeer {
	if !a.IsValid() || a.Port() == 0 {
		return nil
	}
	if k, ok := s.known[a]; ok {
		return k
	}
	if len(s.known) >= maxKnownPeers {
		return nil
	}
	if s.known == nil {
		s.known = make(map[netip.AddrPort]*knownPeer)
	}
	k := &knownPeer{}
	s.known[a] = k
	return k
}

// rememberPeers records peers whose host:port addresses are given as text; a name that did not
// resolve (netPlan.resolvePeers) is left to anacrolix.
func (s *swarm) rememberPeers(peers []torrent.PeerInfo) {
	for _, p := range peers {
		if ap, ok := parseAddrPort(p.Addr.String()); ok {
			s.remember(p.Source, ap)
		}
	}
}

// parseAddrPort parses an IP:port peer address, with an IPv4-mapped address unmapped.
func parseAddrPort(s string) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// peerClosed records where a closed connection's peer can be dialed again: the address we
// dialed, or for a peer that dialed us, its address with the listen port it announced; and
// when, or never for a peer that broke the protocol (redial.go). It runs under anacrolix's
// client lock and takes no other.
func (c *Client) peerClosed(pc *torrent.PeerConn) {
	c.listenAddrs.Delete(pc)
	if pc.Torrent() == nil {
		return // an incoming connection closed before its handshake named a torrent
	}
	t := c.torrent(pc.Torrent().InfoHash())
	if t == nil {
		// A torrent being added: the peer may have sent metadata that was refused.
		if err := pc.ReadLoopErr(); err != nil && !networkError(err) {
			c.metadataRefused(pc.Torrent().InfoHash(), pc.RemoteAddr.String(), err)
		}
		return
	}
	ap, ok := parseAddrPort(pc.RemoteAddr.String())
	if !ok || pc.PeerID == c.cl.PeerID() {
		return // or it was ourselves, at an address a tracker gave
	}
	src := pc.Discovery
	if src == torrent.PeerSourceIncoming {
		if pc.PeerListenPort <= 0 || pc.PeerListenPort > 65535 {
			return
		}
		ap = netip.AddrPortFrom(ap.Addr(), uint16(pc.PeerListenPort))
		src = torrent.PeerSourcePex // what anacrolix calls an address learned from the peer itself
	}
	t.swarm.closed(src, ap, pc.ReadLoopErr(), time.Now(), t.c.backoff())
}

// peerHas reports whether a connected peer says it has piece p.
func (t *Torrent) peerHas(p int) bool {
	for _, pc := range t.t.PeerConns() {
		if pc.PeerPieces().Contains(uint32(p)) {
			return true
		}
	}
	return false
}

// lookForPeers is called by a read waiting for piece p. If no connected peer has it, the
// torrent dials again the peers it has known, announces to its trackers and asks the DHT,
// each no more often than its rate allows.
func (t *Torrent) lookForPeers(p int) {
	if t.peerHas(p) {
		return
	}
	// Asked of anacrolix before taking swarm.mu: see swarm's lock order.
	connected := t.connectedAddrs()
	now := time.Now()
	t.swarm.mu.Lock()
	redial := now.Sub(t.swarm.lastRedial) >= t.c.redialEvery()
	if redial {
		t.swarm.lastRedial = now
	}
	announce := now.Sub(t.swarm.lastAnnounce) >= announceEvery
	if announce {
		t.swarm.lastAnnounce = now
	}
	var peers []torrent.PeerInfo
	if redial {
		for a, k := range t.swarm.known {
			if !connected[a] && t.dialable(k) {
				peers = append(peers, torrent.PeerInfo{Addr: stringAddr(a.String()), Source: k.src})
			}
		}
	}
	t.swarm.mu.Unlock()
	if len(peers) > 0 {
		t.c.log.Debug("no connected peer has a piece a read waits for: dialing known peers again",
			"torrent", t.Name(), "piece", p, "peers", len(peers))
		t.t.AddPeers(peers)
	}
	if announce {
		t.c.needPeers(t)
	}
}

// extDontHave is libtorrent's extension message for a piece a peer no longer has (BEP 54).
const extDontHave pp.ExtensionName = "lt_donthave"

// sendDontHave tells the peers that understand it (libtorrent's lt_donthave extension, BEP 54)
// that we no longer have pieces, so they do not take us for a seeder and stay connected.
func (t *Torrent) sendDontHave(pieces []int) {
	for _, pc := range t.t.PeerConns() {
		for _, p := range pieces {
			payload := binary.BigEndian.AppendUint32(nil, uint32(p))
			if pc.WriteExtendedMessage(extDontHave, payload) != nil {
				break // the peer does not support it
			}
		}
	}
}

// redialEvery is redialEvery, or what the client's Config says instead.
func (c *Client) redialEvery() time.Duration {
	if c.cfg.redialEvery != nil {
		return *c.cfg.redialEvery
	}
	return redialEvery
}
