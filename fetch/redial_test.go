package fetch_test

import (
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"sync"
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
