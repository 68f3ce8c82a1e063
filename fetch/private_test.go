package fetch_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// pexPeer is a peer that speaks just enough BitTorrent to exchange peers (ut_pex, BEP 11)
// with a client: it counts the PEX messages the client sends it, and sends one naming an
// address. Real clients do not send PEX for a private torrent at all, so none of them could
// show that ours neither sends nor takes it.
type pexPeer struct {
	got  atomic.Int64 // ut_pex messages received
	conn net.Conn
	wg   sync.WaitGroup
}

// pexID is the extension number the peer gives ut_pex in its extended handshake.
const pexID = 1

// dialPEX connects to a client at addr as a peer of torrent ih, and names to it, by PEX,
// the peer at named. It reads until the test ends.
func dialPEX(t *testing.T, addr string, ih metainfo.Hash, named netip.AddrPort) *pexPeer {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &pexPeer{conn: conn}
	t.Cleanup(func() { conn.Close(); p.wg.Wait() })
	var id [20]byte
	copy(id[:], "-PX0001-pexpeer-test")
	if _, err := pp.Handshake(t.Context(), conn, &ih, id, pp.NewPeerExtensionBytes(pp.ExtensionBitLtep)); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	hs := pp.ExtendedHandshakeMessage{M: map[pp.ExtensionName]pp.ExtensionNumber{pp.ExtensionNamePex: pexID}}
	write := func(m pp.Message) {
		if _, err := conn.Write(m.MustMarshalBinary()); err != nil {
			t.Errorf("pex peer: %v", err)
		}
	}
	write(pp.Message{Type: pp.Extended, ExtendedID: pp.HandshakeExtendedID, ExtendedPayload: bencode.MustMarshal(hs)})
	d := pp.Decoder{R: bufio.NewReader(conn), MaxLength: 1 << 20,
		Pool: &sync.Pool{New: func() any { b := make([]byte, 1<<14); return &b }}}
	p.wg.Go(func() {
		for {
			var m pp.Message
			if err := d.Decode(&m); err != nil {
				return
			}
			if m.Type != pp.Extended {
				continue
			}
			switch m.ExtendedID {
			case pp.HandshakeExtendedID:
				var theirs pp.ExtendedHandshakeMessage
				if bencode.Unmarshal(m.ExtendedPayload, &theirs) != nil {
					continue
				}
				if x, ok := theirs.M[pp.ExtensionNamePex]; ok && x != 0 {
					msg := pp.PexMsg{Added: krpc.CompactIPv4NodeAddrs{krpc.NodeAddr{IP: named.Addr().AsSlice(), Port: int(named.Port())}}}
					write(msg.Message(x))
				}
			case pexID:
				p.got.Add(1)
			}
		}
	})
	return p
}

// TestPrivateTorrentNoDHTNoPEX adds a public and a private torrent (BEP 27) to a client with
// the DHT and PEX on, joined to the DHT through a libtorrent node, each with a seeder named
// by --peer and a peer that exchanges PEX. The public torrent is looked up at the libtorrent
// node, sends PEX and dials the peer PEX named; in the same run, the private one sends the
// node no query, sends no PEX, dials no peer PEX named, and still reads from its --peer
// seeder.
func TestPrivateTorrentNoDHTNoPEX(t *testing.T) {
	node := startLtDHT(t, "127.0.0.2:6881", nil)
	data := fetchtest.Payload(3*pieceLen+100, 7)
	pub := fetchtest.NewSwarm(t, "public.bin", []fetchtest.File{{Data: data}}, pieceLen)
	priv := fetchtest.NewSwarmOpts(t, "private.bin", []fetchtest.File{{Data: data}}, pieceLen, fetchtest.SwarmOptions{Private: true})
	_, pubSeed := pub.StartSeeder(t)
	_, privSeed := priv.StartSeeder(t)

	cfg := fetchtest.Loopback(fetch.Config{Storage: newCache(t)})
	cfg.NoDHT, cfg.NoPEX, cfg.DHTBootstrap = false, false, []string{node.Addr}
	c, err := fetch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()
	pt, err := c.Add(ctx, pub.TorrentPath, fetch.AddOptions{Peers: []string{pubSeed}})
	if err != nil {
		t.Fatal(err)
	}
	qt, err := c.Add(ctx, priv.TorrentPath, fetch.AddOptions{Peers: []string{privSeed}})
	if err != nil {
		t.Fatal(err)
	}
	// The private torrent's --peer seeder is used: PEX messages name it to others.
	readAll(t, qt, data)
	readAll(t, pt, data)

	pubNamed, pubDialed := listenCounting(t, "127.0.0.3:0")
	privNamed, privDialed := listenCounting(t, "127.0.0.4:0")
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port()))
	// The private torrent's PEX peer comes first: by the time the public torrent has sent
	// PEX, read the PEX that came after and dialed the peer it named, the private one has
	// had as long to do the same.
	privPEX := dialPEX(t, addr, metainfo.NewHashFromHex(priv.InfoHash), netip.MustParseAddrPort(privNamed.Addr().String()))
	pubPEX := dialPEX(t, addr, metainfo.NewHashFromHex(pub.InfoHash), netip.MustParseAddrPort(pubNamed.Addr().String()))

	waitUntil(t, "the public torrent looked up at the libtorrent DHT node, sent PEX and dialed the peer PEX named",
		func() bool { return node.Queries(pub.InfoHash) > 0 && pubPEX.got.Load() > 0 && pubDialed() > 0 })
	if n := node.Queries(priv.InfoHash); n != 0 {
		t.Errorf("the libtorrent DHT node received %d queries for the private torrent; want 0", n)
	}
	if n := privPEX.got.Load(); n != 0 {
		t.Errorf("the private torrent sent %d PEX messages; want 0", n)
	}
	if n := privDialed(); n != 0 {
		t.Errorf("the private torrent dialed the peer PEX named %d times; want 0", n)
	}
	t.Logf("public torrent: %d DHT queries, %d PEX messages sent, PEX peer dialed %d times",
		node.Queries(pub.InfoHash), pubPEX.got.Load(), pubDialed())
}

// readAll reads the whole of torrent t's only file and checks it is data.
func readAll(t *testing.T, tt *fetch.Torrent, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	h, err := tt.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	got := make([]byte, len(data))
	if _, err := h.ReadAt(ctx, got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("read bytes differ from the torrent's")
	}
}

// TestPrivateMagnetPeers adds magnet links whose x.pe names a peer (a listener that counts
// the connections it gets) with their info known, as a cache knows it: a private torrent's
// x.pe peer is not dialed while the public one's is, in the same run, and both read from
// their --peer seeder. A private magnet link whose info is not known gets it from its x.pe
// seeder, then drops that connection.
func TestPrivateMagnetPeers(t *testing.T) {
	data := fetchtest.Payload(2*pieceLen+9, 13)
	pub := fetchtest.NewSwarm(t, "public.bin", []fetchtest.File{{Data: data}}, pieceLen)
	priv := fetchtest.NewSwarmOpts(t, "private.bin", []fetchtest.File{{Data: data}}, pieceLen, fetchtest.SwarmOptions{Private: true})
	_, pubSeed := pub.StartSeeder(t)
	_, privSeed := priv.StartSeeder(t)
	pubXpe, pubDialed := listenCounting(t, "127.0.0.3:0")
	privXpe, privDialed := listenCounting(t, "127.0.0.4:0")

	c := fetchtest.NewClient(t, fetch.Config{Storage: newCache(t)})
	infoBytes := func(s *fetchtest.Swarm) []byte {
		mi, err := metainfo.LoadFromFile(s.TorrentPath)
		if err != nil {
			t.Fatal(err)
		}
		return mi.InfoBytes
	}
	add := func(s *fetchtest.Swarm, xpe net.Listener, seed string) *fetch.Torrent {
		tt, err := c.Add(t.Context(), "magnet:?xt=urn:btih:"+s.InfoHash+"&x.pe="+xpe.Addr().String(),
			fetch.AddOptions{InfoBytes: infoBytes(s), Peers: []string{seed}})
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	qt := add(priv, privXpe, privSeed)
	pt := add(pub, pubXpe, pubSeed)
	readAll(t, qt, data)
	readAll(t, pt, data)
	waitUntil(t, "the public magnet link's x.pe peer dialed", func() bool { return pubDialed() > 0 })
	if n := privDialed(); n != 0 {
		t.Errorf("the private magnet link's x.pe peer was dialed %d times; want 0", n)
	}

	// No info known: the x.pe seeder sends it, and is then left.
	c2 := fetchtest.NewClient(t, fetch.Config{Storage: newCache(t)})
	tt, err := c2.Add(t.Context(), "magnet:?xt=urn:btih:"+priv.InfoHash+"&x.pe="+privSeed, fetch.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the private torrent leaves its x.pe seeder", func() bool { return len(tt.Peers()) == 0 })
}

// silentPeers are listeners that accept connections and never answer: a dial to one holds
// one of the dialer's half-open slots until its handshake times out, or until release.
type silentPeers struct {
	ls []net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	dialed   map[int]bool // listeners that accepted a connection
	held     []net.Conn
	released bool // connections are closed as they come
}

// listenSilent starts n silent peers on host, until the test ends.
func listenSilent(t *testing.T, host string, n int) *silentPeers {
	t.Helper()
	s := &silentPeers{dialed: make(map[int]bool)}
	for i := range n {
		l, err := net.Listen("tcp", host+":0")
		if err != nil {
			t.Fatal(err)
		}
		s.ls = append(s.ls, l)
		s.wg.Go(func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				s.mu.Lock()
				s.dialed[i] = true
				if s.released {
					c.Close()
				} else {
					s.held = append(s.held, c)
				}
				s.mu.Unlock()
			}
		})
	}
	t.Cleanup(func() {
		for _, l := range s.ls {
			l.Close()
		}
		s.release()
		s.wg.Wait()
	})
	return s
}

// addrs returns the peers' addresses.
func (s *silentPeers) addrs() []string {
	var as []string
	for _, l := range s.ls {
		as = append(as, l.Addr().String())
	}
	return as
}

// dialedCount returns how many of the peers were dialed.
func (s *silentPeers) dialedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.dialed)
}

// release closes the connections held, and those that come later as they come.
func (s *silentPeers) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.released = true
	for _, c := range s.held {
		c.Close()
	}
	s.held = nil
}

// TestPrivateMagnetQueuedPeers adds a private magnet link, its info unknown, whose x.pe
// names 60 silent peers: the torrent dials 25 (its half-open slots) and queues the others.
// The seeder then dials in and sends the info, which says private=1. Once the 25 dials
// fail, not one of the queued x.pe peers has been dialed (BEP 27; anacrolix patch 0026),
// and the torrent reads from the seeder that dialed it.
func TestPrivateMagnetQueuedPeers(t *testing.T) {
	data := fetchtest.Payload(2*pieceLen+5, 21)
	priv := fetchtest.NewSwarmOpts(t, "private.bin", []fetchtest.File{{Data: data}}, pieceLen, fetchtest.SwarmOptions{Private: true})
	seeder, _ := priv.StartSeeder(t)
	silent := listenSilent(t, "127.0.0.5", 60)

	c := fetchtest.NewClient(t, fetch.Config{Storage: newCache(t)})
	magnet := "magnet:?xt=urn:btih:" + priv.InfoHash
	for _, a := range silent.addrs() {
		magnet += "&x.pe=" + a
	}
	type added struct {
		tt  *fetch.Torrent
		err error
	}
	done := make(chan added, 1)
	go func() {
		tt, err := c.Add(t.Context(), magnet, fetch.AddOptions{})
		done <- added{tt, err}
	}()
	waitUntil(t, "25 x.pe peers dialed", func() bool { return silent.dialedCount() >= 25 })
	seeder.Torrents()[0].AddPeers(net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port())))
	a := <-done // Add is bounded by the test's context
	if a.err != nil {
		t.Fatal(a.err)
	}
	tt := a.tt
	before := silent.dialedCount()
	if before == 60 {
		t.Fatal("every x.pe peer was dialed before the info came: none was left queued to test")
	}
	silent.release()
	waitUntil(t, "the private torrent has no queued or half-open peers", func() bool {
		s := tt.Stats()
		return s.KnownPeers == s.Peers
	})
	if after := silent.dialedCount(); after != before {
		t.Fatalf("%d x.pe peers queued before the info came were dialed after it said private; want 0", after-before)
	}
	t.Logf("%d of 60 x.pe peers dialed before the info came, none after", before)
	readAll(t, tt, data)
}
