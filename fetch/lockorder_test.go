package fetch_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/anacrolix/torrent/storage"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

// Reads waiting for a piece no connected peer has look for peers while connections close.
// anacrolix reports a closed connection with its client lock held, and the torrent then
// remembers the peer under its swarm lock; a read that asked anacrolix for the connected
// peers while holding that swarm lock deadlocked the torrent's client for good, and with it
// Ctrl-C of a mount. Here four reads look in a loop while peers connect and go, for 3 s.
func TestLookForPeersWhilePeersClose(t *testing.T) {
	s := fetchtest.NewSwarm(t, "f.bin", []fetchtest.File{{Data: fetchtest.Payload(1<<20+5, 61)}}, pieceLen)
	// The leecher says when it knows a peer's listening port, which it remembers the peer by.
	var known sync.Map // port → chan struct{}
	cfg := fetch.Tune(fetch.Config{}, func(tc *torrent.ClientConfig) {
		tc.Callbacks.ReadExtendedHandshake = func(pc *torrent.PeerConn, m *pp.ExtendedHandshakeMessage) {
			// A peer may handshake twice (dialled and dialling): close its channel once.
			if ch, ok := known.LoadAndDelete(int(m.Port)); ok {
				close(ch.(chan struct{}))
			}
		}
	})
	cfg = fetch.RedialEvery(cfg, 0)    // every look redials the known peers
	tt := s.Leech(t, newCache(t), cfg) // no peer has anything
	addr := fmt.Sprintf("127.0.0.1:%d", tt.Client().Port())

	stop := make(chan struct{})
	var lookers sync.WaitGroup
	for range 4 {
		lookers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tt.LookForPeers(0)
			}
		})
	}
	var closes atomic.Int64
	var peers sync.WaitGroup
	end := time.Now().Add(3 * time.Second)
	for range 4 {
		peers.Go(func() {
			for time.Now().Before(end) {
				st := storage.NewMMap(t.TempDir())
				c, err := fetch.New(fetchtest.Loopback(fetch.Config{Storage: st}))
				if err != nil {
					t.Error(err)
					return
				}
				ch := make(chan struct{})
				known.Store(c.Port(), ch)
				if _, err := c.Add(context.Background(), s.TorrentPath, fetch.AddOptions{Peers: []string{addr}}); err != nil {
					t.Error(err)
				}
				select {
				case <-ch:
				case <-time.After(10 * time.Second):
					t.Error("no extended handshake with the leecher in 10 s")
				}
				c.Close() // the leecher sees the connection close
				st.Close()
				closes.Add(1)
			}
		})
	}
	peers.Wait()
	close(stop)
	done := make(chan struct{})
	go func() { lookers.Wait(); close(done) }()
	select {
	case <-done:
		t.Logf("%d connections closed while reads looked for peers", closes.Load())
	case <-time.After(10 * time.Second):
		// The client is stuck: its Close in the cleanup would hang too.
		pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		t.Fatalf("reads looking for peers still blocked 10 s after %d connections closed: deadlock", closes.Load())
	}
}
