package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/fetch"
)

// inClient reports whether tt is in its client, by the client's list and by anacrolix's.
func inClient(t *testing.T, tt *fetch.Torrent) bool {
	t.Helper()
	c := tt.Client()
	listed := false
	for _, o := range c.Torrents() {
		listed = listed || o == tt
	}
	n := c.AnacrolixTorrents()
	if listed != (n == 1) {
		t.Fatalf("listed %v but anacrolix holds %d torrents", listed, n)
	}
	return listed
}

func dropped(tt *fetch.Torrent) bool {
	select {
	case <-tt.Dropped():
		return true
	default:
		return false
	}
}

// A dropped torrent stays in the client while a handle is open, which keeps reading; the
// last Close removes it, and it can be added again.
func TestDropWaitsForHandles(t *testing.T) {
	s, data := singleFile(t, 2<<20+3)
	_, addr := s.StartSeeder(t)
	tt := s.Leech(t, newCache(t), fetch.Config{}, addr)
	c := tt.Client()
	h := open(t, tt, 0)
	if got := readAt(t, h, 0, 1000); !bytes.Equal(got, data[:1000]) {
		t.Fatal("read differs from the source")
	}
	tt.Drop()
	if !inClient(t, tt) || dropped(tt) {
		t.Fatal("dropped with a handle open")
	}
	if _, err := c.Add(t.Context(), s.TorrentPath, fetch.AddOptions{}); !errors.Is(err, fetch.ErrDuplicate) {
		t.Fatalf("Add while the dropped torrent drains: %v, want ErrDuplicate", err)
	}
	h2 := open(t, tt, 0) // still works while h is open
	h.Close()
	if !inClient(t, tt) {
		t.Fatal("dropped with the second handle open")
	}
	off := int64(len(data) - 5000)
	if got := readAt(t, h2, off, 5000); !bytes.Equal(got, data[off:]) {
		t.Fatal("read after Drop differs from the source")
	}
	h2.Close()
	h2.Close() // twice: counted once
	if inClient(t, tt) || !dropped(tt) {
		t.Fatal("still in the client after the last Close")
	}
	if _, err := tt.Open(0); !errors.Is(err, fetch.ErrDropped) {
		t.Fatalf("Open after the drop: %v, want ErrDropped", err)
	}

	tt2, err := c.Add(t.Context(), s.TorrentPath, fetch.AddOptions{Peers: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	if !inClient(t, tt2) {
		t.Fatal("added again, but not in the client")
	}
	h3 := open(t, tt2, 0)
	defer h3.Close()
	if got := readAt(t, h3, 0, len(data)); !bytes.Equal(got, data) {
		t.Fatal("read after adding again differs from the source")
	}
}

func TestDropNow(t *testing.T) {
	s, _ := singleFile(t, 100<<10)
	tt := s.Leech(t, newCache(t), fetch.Config{})
	tt.Drop()
	if inClient(t, tt) || !dropped(tt) {
		t.Fatal("Drop with no handle open did not drop")
	}
	tt.Drop() // again: nothing
}

func TestAddDuplicate(t *testing.T) {
	s, _ := singleFile(t, 100<<10)
	tt := s.Leech(t, newCache(t), fetch.Config{})
	_, err := tt.Client().Add(context.Background(), s.TorrentPath, fetch.AddOptions{})
	if !errors.Is(err, fetch.ErrDuplicate) {
		t.Fatalf("second Add: %v, want ErrDuplicate", err)
	}
	if !inClient(t, tt) {
		t.Fatal("the failed Add removed the first")
	}
}

// Client.Close drops a torrent whose handles are open; closing them later does nothing.
func TestCloseWithOpenHandle(t *testing.T) {
	s, _ := singleFile(t, 100<<10)
	tt := s.Leech(t, newCache(t), fetch.Config{})
	h := open(t, tt, 0)
	tt.Drop()
	if err := tt.Client().Close(); err != nil {
		t.Fatal(err)
	}
	if !dropped(tt) {
		t.Fatal("Close left the torrent")
	}
	h.Close()
}

// Handles opened and closed from many goroutines while Drop is called: the torrent leaves
// the client once, after the last of them closed, and is not opened again.
func TestDropWhileOpening(t *testing.T) {
	s, _ := singleFile(t, 100<<10)
	tt := s.Leech(t, newCache(t), fetch.Config{})
	var openers sync.WaitGroup
	start := make(chan struct{})
	for range 8 {
		openers.Go(func() {
			<-start
			for range 200 {
				h, err := tt.Open(0)
				if errors.Is(err, fetch.ErrDropped) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				if dropped(tt) {
					t.Error("a handle is open, but the torrent left the client")
				}
				h.Close()
			}
		})
	}
	close(start)
	tt.Drop()
	openers.Wait()
	select {
	case <-tt.Dropped():
	case <-time.After(10 * time.Second):
		t.Fatal("every handle closed, but the dropped torrent did not leave the client in 10 s")
	}
	if inClient(t, tt) {
		t.Fatal("still in the client")
	}
	if _, err := tt.Open(0); !errors.Is(err, fetch.ErrDropped) {
		t.Fatalf("Open after the drop: %v, want ErrDropped", err)
	}
}
