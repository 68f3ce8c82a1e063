package fetch_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// TestRedialBackoff: 5 s after the first failure, doubled per failure in a row, up to 5 min.
func TestRedialBackoff(t *testing.T) {
	want := []time.Duration{5, 10, 20, 40, 80, 160, 300, 300, 300}
	for i, w := range want {
		if got := fetch.BackoffAfter(5*time.Second, 5*time.Minute, i+1); got != w*time.Second {
			t.Errorf("after %d failures: %v, want %v", i+1, got, w*time.Second)
		}
	}
	if got := fetch.BackoffAfter(5*time.Second, 5*time.Minute, 1000); got != 5*time.Minute {
		t.Errorf("after 1000 failures: %v, want the cap", got)
	}
}

// rawPeer is a peer on 127.0.0.1 that treats every connection as how says, and counts them.
type rawPeer struct {
	addr  netip.AddrPort
	mu    sync.Mutex
	conns int
	more  chan struct{} // closed and replaced at each connection
}

type rawHow int

const (
	dropAtOnce   rawHow = iota // closes each connection before the handshake: unreachable
	otherTorrent               // answers the handshake with another info-hash
	garbageAfter               // completes the handshake, then sends a message too long to decode
)

func startRawPeer(t *testing.T, how rawHow, ih string) *rawPeer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &rawPeer{addr: l.Addr().(*net.TCPAddr).AddrPort(), more: make(chan struct{})}
	ihb, err := hex.DecodeString(ih)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns++
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if how == dropAtOnce {
					return
				}
				hs := make([]byte, 68)
				if _, err := io.ReadFull(c, hs); err != nil {
					return
				}
				reply := append([]byte("\x13BitTorrent protocol"), make([]byte, 8)...)
				if how == otherTorrent {
					reply = append(reply, make([]byte, 20)...) // the all-zero info-hash
				} else {
					reply = append(reply, ihb...)
				}
				reply = append(reply, "-XX0000-rawpeer00000"...)
				if how == garbageAfter {
					reply = append(reply, 0x7f, 0xff, 0xff, 0xff, 20)
				}
				c.Write(reply)
				if how == garbageAfter {
					io.Copy(io.Discard, c) // until the client hangs up
				}
			})
		}
	})
	return p
}

// count returns how many connections the peer had, and a channel closed at the next one.
func (p *rawPeer) count() (int, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns, p.more
}

// TestRedialKnownPeers: a torrent that wants data dials again, with its backoff, a known peer
// that dropped the connection before the handshake, and never a banned peer, a peer that
// answered with another torrent's info-hash, or one that broke the protocol. No read waits,
// so only the background redial dials.
func TestRedialKnownPeers(t *testing.T) {
	s := fetchtest.NewSwarm(t, "f.bin", []fetchtest.File{{Data: fetchtest.Payload(1<<20+5, 62)}}, pieceLen)
	unreachable := startRawPeer(t, dropAtOnce, s.InfoHash)
	banned := startRawPeer(t, dropAtOnce, s.InfoHash)
	other := startRawPeer(t, otherTorrent, s.InfoHash)
	garbage := startRawPeer(t, garbageAfter, s.InfoHash)

	tt := s.Leech(t, newCache(t), fetch.RedialBackoff(fetch.Config{}, 20*time.Millisecond, 200*time.Millisecond))
	tt.Client().BanPeer(banned.addr)
	tt.AddPeers(unreachable.addr.String(), banned.addr.String(), other.addr.String(), garbage.addr.String())

	// The first dial and five redials of the unreachable peer.
	deadline := time.After(30 * time.Second)
	for {
		n, more := unreachable.count()
		if n >= 6 {
			break
		}
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("the unreachable peer was dialed %d times in 30 s; want 6", n)
		}
	}
	if n, _ := banned.count(); n != 0 {
		t.Errorf("the banned peer was dialed %d times", n)
	}
	// One attempt: the plain handshake, and anacrolix's retry with the other header
	// obfuscation on a second connection.
	if n, _ := other.count(); n < 1 || n > 2 {
		t.Errorf("the peer of another torrent had %d connections; want the one attempt's (1 or 2)", n)
	}
	if n, _ := garbage.count(); n != 1 {
		t.Errorf("the peer that broke the protocol had %d connections; want 1", n)
	}
}

// TestMagnetRedialsGivenPeer: a magnet link's only peer drops the first dial, as a
// Transmission seeder still checking its files does; the metadata still comes, from a redial
// of the peer after the backoff. Without it, anacrolix forgot the peer and the Add waited for
// good.
func TestMagnetRedialsGivenPeer(t *testing.T) {
	s := fetchtest.NewSwarm(t, "f.bin", []fetchtest.File{{Data: fetchtest.Payload(300<<10, 63)}}, pieceLen)
	_, seed := s.StartSeeder(t)
	front := startFlakyFront(t, seed)
	c := fetchtest.NewClient(t, fetch.RedialBackoff(fetch.Config{Storage: newCache(t)}, 50*time.Millisecond, time.Second))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tt, err := c.Add(ctx, "magnet:?xt=urn:btih:"+s.InfoHash, fetch.AddOptions{Peers: []string{front.addr.String()}})
	if err != nil {
		t.Fatalf("the magnet link's metadata did not come once the peer answered: %v", err)
	}
	if tt.Name() != "f.bin" {
		t.Fatalf("name %q; want f.bin", tt.Name())
	}
	front.checkDials(t, 4)
}

// startFlakyFront listens on 127.0.0.1 for the seeder at addr: it closes its first two
// connections at once (a dial's attempt and anacrolix's retry with the other header
// obfuscation), and joins every later one to the seeder.
func startFlakyFront(t *testing.T, addr string) *flakyFront {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyFront{addr: l.Addr().(*net.TCPAddr).AddrPort()}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for n := 0; ; n++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f.accepted.Add(1)
			if n < 2 {
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			// Each copy closes both ends as it ends, which ends the other; the test's end
			// closes them too.
			context.AfterFunc(t.Context(), func() { c.Close(); s.Close() })
			pipe := func(dst, src net.Conn) {
				wg.Go(func() {
					defer c.Close()
					defer s.Close()
					io.Copy(dst, src)
				})
			}
			pipe(c, s)
			pipe(s, c)
		}
	})
	return f
}

// flakyFront is startFlakyFront's listener: its address, and how many connections it took.
type flakyFront struct {
	addr     netip.AddrPort
	accepted atomic.Int32
}

// checkDials fails t if the front took more than max connections (it drops two, and the
// redial's then goes through).
func (f *flakyFront) checkDials(t *testing.T, max int32) {
	t.Helper()
	if n := f.accepted.Load(); n > max {
		t.Errorf("the peer was dialed %d times; want at most %d", n, max)
	}
}

// TestSeedRedialsNamedPeer: a complete torrent dials again a peer the user named that
// dropped the first dial, as a Transmission leecher still checking its files does, and the
// peer reads the whole file from it (the peer knows no other, and does not dial).
// The peer is named by its address, and by a host name (a fleet's hosts are): anacrolix
// reports a failed dial of a name by the name, so a name was never dialed again.
func TestSeedRedialsNamedPeer(t *testing.T) {
	for _, byName := range []bool{false, true} {
		t.Run(map[bool]string{false: "address", true: "hostname"}[byName], func(t *testing.T) {
			data := fetchtest.Payload(300<<10, 64)
			s := fetchtest.NewSwarm(t, "f.bin", []fetchtest.File{{Data: data}}, pieceLen)
			// The leech knows no peer: it waits to be dialed.
			leech := s.Leech(t, newCache(t), fetch.Config{ReadTimeout: 10 * time.Second})
			front := startFlakyFront(t, fmt.Sprintf("127.0.0.1:%d", leech.Client().Port()))
			seeder, _ := s.StartSeederConfig(t, fetch.RedialBackoff(fetch.Config{}, 50*time.Millisecond, time.Second))
			peer := front.addr.String()
			if byName {
				peer = net.JoinHostPort("localhost", strconv.Itoa(int(front.addr.Port())))
			}
			seeder.Torrents()[0].AddPeers(peer)
			h := open(t, leech, 0)
			defer h.Close()
			if got := readAt(t, h, 0, len(data)); !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes that differ from the source's %d: the seeder did not dial %s again", len(got), len(data), peer)
			}
			front.checkDials(t, 4)
		})
	}
}
