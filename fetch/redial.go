package fetch

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

// Redialling. anacrolix forgets a peer address once a dial to it or the handshake after it
// failed, and hears of it again only from the tracker's next announce (opentracker's interval
// is half an hour), the DHT's or a PEX message. A peer that was down, restarting or too busy
// to answer a handshake in time (Transmission under load) was then lost to a mount for that
// long. So, while a torrent wants peers (it is not complete; once it is, only the peers the
// user named: redialWanted), every peer address it has heard
// of (swarm.known: trackers, --peer, the magnet link, PEX, the DHT, peers that dialed us) that
// is not connected is dialed again, with a backoff per address: redialMin after the first
// failure, doubled per failure in a row up to redialMax, and redialMin again after a
// connection that lasted healthyConn. Never dialed again: banned peers (anacrolix refuses
// them), peers that answered with another torrent's info-hash or broke the protocol
// (knownPeer.bad), and on a private torrent peers that did not come from its trackers or the
// user. The dials go through anacrolix's queue, so its half-open limits bound them.
// docs/design.md, "Finding peers again", says why these numbers.

const (
	redialMin = 5 * time.Second
	redialMax = 5 * time.Minute
	// healthyConn is how long a connection must last for its peer's failures to be forgotten.
	healthyConn = time.Minute
	// redialTick is how often the client looks for peers due a redial; a fifth of the
	// backoff's minimum, at most.
	redialTick = time.Second
)

// backoff is how long a peer waits for its next dial after failures in a row.
type backoff struct{ min, max time.Duration }

// after returns the wait after fails failures in a row (at least one).
func (b backoff) after(fails int) time.Duration {
	d := b.min
	for i := 1; i < fails && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// backoff is the client's redial backoff: redialMin to redialMax, or what Config says for
// tests.
func (c *Client) backoff() backoff {
	if c.cfg.redialBackoff != nil {
		return *c.cfg.redialBackoff
	}
	return backoff{redialMin, redialMax}
}

// dialFailed records a failed attempt to connect to ap: it is dialed again after the backoff,
// or never for a peer that answered with another torrent's info-hash.
func (s *swarm) dialFailed(src torrent.PeerSource, ap netip.AddrPort, err error, now time.Time, b backoff) (k knownPeer, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kp := s.peerLocked(ap)
	if kp == nil {
		return knownPeer{}, false
	}
	if kp.src == "" {
		kp.src = src
	}
	if errors.Is(err, torrent.ErrInfoHashMismatch) {
		kp.bad = true
	}
	kp.since = time.Time{}
	if !kp.redialed {
		kp.fails++
	}
	kp.redialed = false
	kp.next = now.Add(b.after(kp.fails))
	return *kp, true
}

// connected records that our connection to ap completed its handshake.
func (s *swarm) connected(ap netip.AddrPort, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.peerLocked(ap); k != nil {
		k.since, k.redialed, k.served = now, false, true
	}
}

// closed records that a connection to the peer at ap ended with err (nil, or the error its
// message loop ended with): a peer that broke the protocol is never dialed again; one whose
// connection lasted healthyConn is dialed again after the backoff's minimum, and one whose
// connection ended soon counts it as one more failure.
func (s *swarm) closed(src torrent.PeerSource, ap netip.AddrPort, err error, now time.Time, b backoff) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.peerLocked(ap)
	if k == nil {
		return
	}
	if k.src == "" {
		k.src = src
	}
	if err != nil && !networkError(err) {
		k.bad = true
	}
	if !k.since.IsZero() && now.Sub(k.since) >= healthyConn {
		k.fails = 0
	}
	k.since, k.redialed = time.Time{}, false
	k.fails++
	k.next = now.Add(b.after(k.fails))
}

// networkError reports whether err, which ended a connection, came from the network or the
// peer going away (end of stream, reset, timeout) rather than from what the peer sent.
func networkError(err error) bool {
	var ne net.Error
	var errno syscall.Errno
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &ne) || errors.As(err, &errno)
}

// dialable reports whether the torrent may dial the peer k again: not one dropped as bad, and
// on a private torrent (BEP 27) only one its trackers or the user named.
func (t *Torrent) dialable(k *knownPeer) bool {
	if k.bad {
		return false
	}
	if isPrivate(t.info) {
		return k.src == torrent.PeerSourceTracker || k.src == torrent.PeerSourceDirect
	}
	return true
}

// connectedAddrs returns the addresses of the torrent's connections. A peer that dialed us is
// there by its connection's port and, once its extended handshake named it, by its listen
// port (Client.listenAddrs): a redial of it would make a second connection to the same peer,
// and anacrolix keeps one of the two (DropDuplicatePeerIds), the new one if the peer's ID is
// below ours, dropping the requests under way on the old. It takes anacrolix's client lock:
// never call it holding swarm.mu.
func (t *Torrent) connectedAddrs() map[netip.AddrPort]bool { return t.c.connectedAddrs(t.t) }

// connectedAddrs is Torrent.connectedAddrs for anacrolix's torrent at, which may still wait
// for its info.
func (c *Client) connectedAddrs(at *torrent.Torrent) map[netip.AddrPort]bool {
	connected := make(map[netip.AddrPort]bool)
	for _, pc := range at.PeerConns() {
		if ap, ok := parseAddrPort(pc.RemoteAddr.String()); ok {
			connected[ap] = true
		}
		if v, ok := c.listenAddrs.Load(pc); ok {
			connected[v.(netip.AddrPort)] = true
		}
	}
	return connected
}

// redialWanted says which peers the torrent dials again: none unless it is active and still
// in the client; while it is not complete, every peer it knows; once complete (seeding), only
// those the user named (--peer) that it never got a handshake from: it was told to serve
// them, and one may have refused the first dial while it checked its files (a Transmission
// leecher does). A peer served once knows our address, and a complete peer hangs up on a
// seeder: dialing it again would go on for as long as the mount seeds.
func (t *Torrent) redialWanted() (redial, onlyDirect bool) {
	if !t.live.Load() {
		return false, false
	}
	select {
	case <-t.gone:
		return false, false
	default:
	}
	if !t.t.Complete().Bool() {
		return true, false
	}
	return !t.c.cfg.NoUpload, true
}

// redialDue dials again the known peers whose backoff has passed (with onlyDirect, only those
// the user named), and returns how many.
func (t *Torrent) redialDue(now time.Time, b backoff, onlyDirect bool) int {
	connected := t.connectedAddrs() // before swarm.mu: see swarm's lock order
	var peers []torrent.PeerInfo
	t.swarm.mu.Lock()
	for a, k := range t.swarm.known {
		if connected[a] || !t.dialable(k) || now.Before(k.next) || onlyDirect && (k.src != torrent.PeerSourceDirect || k.served) {
			continue
		}
		if k.fails == 0 && !k.redialed && k.since.IsZero() {
			// No attempt heard of yet: anacrolix's own dial is queued or under way. Queued
			// again now, it would be dialed a second time if that attempt failed (a peer of
			// another torrent, found bad) between this pass and AddPeers, which waits for
			// the client lock the failure's callback holds.
			continue
		}
		// The redial counts as a failure until it succeeds, and the next is not before the
		// backoff, whatever becomes of this one: anacrolix may keep it queued while the
		// torrent has all the connections it wants, or refuse it (ourselves, a banned peer)
		// without a word.
		k.fails++
		k.redialed = true
		k.next = now.Add(b.after(k.fails))
		peers = append(peers, torrent.PeerInfo{Addr: stringAddr(a.String()), Source: k.src})
	}
	t.swarm.mu.Unlock()
	if len(peers) > 0 {
		t.t.AddPeers(peers)
	}
	return len(peers)
}

// redialLoop is the client's redialler: every redialTick (or sooner for a test's short
// backoff) it dials again, in each torrent that wants peers, the known peers whose backoff
// has passed, until the client closes.
func (c *Client) redialLoop() {
	b := c.backoff()
	tick := time.NewTicker(max(min(redialTick, b.min/5), 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case now := <-tick.C:
			for _, t := range c.Torrents() {
				redial, onlyDirect := t.redialWanted()
				if !redial {
					continue
				}
				if n := t.redialDue(now, b, onlyDirect); n > 0 {
					c.log.Debug("dialing known peers again", "torrent", t.Name(), "peers", n)
				}
			}
		case <-c.bgCtx.Done():
			return
		}
	}
}

// outgoingFailed is anacrolix's callback for a failed outgoing connection: the torrent
// remembers the peer, to dial it again after the backoff. It runs under anacrolix's client
// lock.
func (c *Client) outgoingFailed(ev torrent.OutgoingConnFailedEvent) {
	t := c.torrent(ev.Torrent.InfoHash())
	if t == nil {
		return
	}
	ap, ok := parseAddrPort(ev.Peer.Addr.String())
	if !ok {
		return
	}
	k, ok := t.swarm.dialFailed(ev.Peer.Source, ap, ev.Err, time.Now(), c.backoff())
	if !ok {
		return
	}
	if k.bad {
		c.log.Debug("a peer is for another torrent: not dialed again", "torrent", t.Name(), "peer", ap.String())
		return
	}
	c.log.Debug("could not connect to a peer: dialing it again later", "torrent", t.Name(), "peer", ap.String(),
		"source", string(ev.Peer.Source), "failures", k.fails, "in", time.Until(k.next).Round(time.Millisecond), "err", ev.Err)
}

// peerAdded is anacrolix's callback for a connection that completed its handshakes: for one
// we dialed, the torrent notes when, so that closed can tell a lasting connection from one
// that ended soon. It runs under anacrolix's client lock.
func (c *Client) peerAdded(pc *torrent.PeerConn) {
	if pc.Discovery == torrent.PeerSourceIncoming || pc.Torrent() == nil {
		return
	}
	t := c.torrent(pc.Torrent().InfoHash())
	if t == nil {
		return
	}
	if ap, ok := parseAddrPort(pc.RemoteAddr.String()); ok {
		t.swarm.connected(ap, time.Now())
	}
}
