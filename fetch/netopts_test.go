package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// syncBuffer is a bytes.Buffer that a child process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startMicrosocks starts Debian's microsocks, a SOCKS5 server, on 127.0.0.1, and returns
// its address and its log: a line "client[N] IP: connected to HOST:PORT" per connection.
func startMicrosocks(t *testing.T) (string, *syncBuffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	out := new(syncBuffer)
	cmd := exec.Command("microsocks", "-i", "127.0.0.1", "-p", port)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("microsocks (apt-get install microsocks): %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr, out
		}
		if time.Now().After(deadline) {
			t.Fatalf("microsocks does not listen on %s: %v; its output: %s", addr, err, out)
		}
		<-time.After(20 * time.Millisecond) // poll
	}
}

// TestProxy: with Config.Proxy, the peer connection goes through a real SOCKS5 server
// (microsocks), which logs it, and the bytes read equal the source's; with the proxy down,
// nothing reaches the seeder directly: the read times out.
func TestProxy(t *testing.T) {
	data := fetchtest.Payload(3*pieceLen+123, 7)
	s := fetchtest.NewSwarm(t, "proxied.bin", []fetchtest.File{{Data: data}}, pieceLen)
	_, addr := s.StartSeeder(t)
	paddr, plog := startMicrosocks(t)

	u, _ := url.Parse("socks5://" + paddr)
	tt := s.Leech(t, newCache(t), fetch.Config{Proxy: u}, addr)
	h := open(t, tt, 0)
	if got := readAt(t, h, 0, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes through the proxy, not the source's %d", len(got), len(data))
	}
	if want := "connected to " + addr; !strings.Contains(plog.String(), want) {
		t.Fatalf("microsocks did not log %q: %q", want, plog.String())
	}

	// A proxy that is down: no connection is made around it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	u2, _ := url.Parse("socks5://" + down)
	s2 := fetchtest.NewSwarm(t, "unreached.bin", []fetchtest.File{{Data: fetchtest.Payload(pieceLen, 8)}}, pieceLen)
	seeder2, addr2 := s2.StartSeeder(t)
	tt2 := s2.Leech(t, newCache(t), fetch.Config{Proxy: u2, ReadTimeout: 2 * time.Second}, addr2)
	h2 := open(t, tt2, 0)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err = h2.ReadAt(ctx, make([]byte, 100), 0)
	if !errors.Is(err, fetch.ErrTimeout) {
		t.Fatalf("read with the proxy down: %v, want ErrTimeout", err)
	}
	if n := seeder2.Torrents()[0].Stats().Peers; n != 0 {
		t.Fatalf("the seeder has %d peers with the leecher's proxy down", n)
	}
}

// TestProxyScheme: a proxy that is not SOCKS5 is refused at New.
func TestProxyScheme(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:3128")
	_, err := fetch.New(fetchtest.Loopback(fetch.Config{Storage: newCache(t), Proxy: u}))
	if !errors.Is(err, fetch.ErrProxyScheme) {
		t.Fatalf("an http:// proxy: %v, want ErrProxyScheme", err)
	}
}

// TestRateLimits: with MaxDownloadRate at the leecher, or MaxUploadRate at the seeder, a
// 2 MiB read cannot beat the cap: at 512 KiB/s and a burst of one second's worth, it takes
// 3 s at least. A lower bound on time only, which a loaded machine cannot break.
func TestRateLimits(t *testing.T) {
	const rate, size = 512 << 10, 2 << 20
	for _, tc := range []struct {
		name        string
		seed, leech fetch.Config
	}{
		{"download", fetch.Config{}, fetch.Config{MaxDownloadRate: rate}},
		{"upload", fetch.Config{MaxUploadRate: rate}, fetch.Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := fetchtest.Payload(size, 9)
			s := fetchtest.NewSwarm(t, "capped.bin", []fetchtest.File{{Data: data}}, pieceLen)
			_, addr := s.StartSeederConfig(t, tc.seed)
			tt := s.Leech(t, newCache(t), tc.leech, addr)
			h := open(t, tt, 0)
			start := time.Now()
			if got := readAt(t, h, 0, len(data)); !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, not the source's %d", len(got), len(data))
			}
			if d := time.Since(start); d < 2*time.Second {
				t.Fatalf("2 MiB in %v: faster than the %d KiB/s cap allows", d, rate>>10)
			}
		})
	}
}

// TestBindInterface: a client bound to an interface reaches peers through it only. Bound to
// lo, it reads a seeder on 127.0.0.1; bound to one end of a veth pair (made here, in the tests'
// private network namespace, with ip(8)), the same seeder is never reached: the read times
// out and the seeder has no peer. An interface that does not exist fails New.
func TestBindInterface(t *testing.T) {
	_, err := fetch.New(fetchtest.Loopback(fetch.Config{Storage: newCache(t), BindInterface: "nosuch0"}))
	if !errors.Is(err, fetch.ErrNoInterface) {
		t.Fatalf("binding to an interface that does not exist: %v, want ErrNoInterface", err)
	}

	data := fetchtest.Payload(2*pieceLen+5, 10)
	s := fetchtest.NewSwarm(t, "bound.bin", []fetchtest.File{{Data: data}}, pieceLen)
	seeder, addr := s.StartSeeder(t)
	tt := s.Leech(t, newCache(t), fetch.Config{BindInterface: "lo"}, addr)
	if got := readAt(t, open(t, tt, 0), 0, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes bound to lo, not the source's %d", len(got), len(data))
	}

	const dummy = "tfsbind0"
	for _, args := range [][]string{{"link", "add", dummy, "type", "veth", "peer", "name", dummy + "p"}, {"link", "set", dummy, "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", dummy).Run() })
	before := seeder.Torrents()[0].Stats().Peers
	tt2 := s.Leech(t, newCache(t), fetch.Config{BindInterface: dummy, ReadTimeout: 2 * time.Second}, addr)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := open(t, tt2, 0).ReadAt(ctx, make([]byte, 100), 0); !errors.Is(err, fetch.ErrTimeout) {
		t.Fatalf("read bound to %s, a seeder on loopback: %v, want ErrTimeout", dummy, err)
	}
	if n := seeder.Torrents()[0].Stats().Peers; n > before {
		t.Fatalf("the seeder gained %d peers from a client bound to %s", n-before, dummy)
	}
}

// TestProxyUDPTracker: under a SOCKS5 proxy, which carries no UDP, a torrent with a udp://
// tracker (most public ones have some) gets an announce error in the log, not a panic
// (anacrolix panics on a tracker socket it cannot open), and no packet reaches the tracker
// around the proxy: neither from anacrolix's announces nor from fetch's own.
func TestProxyUDPTracker(t *testing.T) {
	s := fetchtest.NewSwarm(t, "udp.bin", []fetchtest.File{{Data: fetchtest.Payload(pieceLen, 11)}}, pieceLen)
	tracker, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tracker.Close()
	var log syncBuffer
	cfg := fetchtest.Loopback(fetch.Config{Storage: newCache(t), ReadTimeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	cfg.NoTrackers = false
	cfg.Proxy, _ = url.Parse("socks5://127.0.0.1:1")
	c, err := fetch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	url := "udp://" + tracker.LocalAddr().String() + "/announce"
	tt, err := c.Add(t.Context(), s.TorrentPath, fetch.AddOptions{Trackers: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	h := open(t, tt, 0)
	if _, err := h.ReadAt(t.Context(), make([]byte, 10), 0); !errors.Is(err, fetch.ErrTimeout) {
		t.Fatalf("a read with no peer: %v, want ErrTimeout", err) // and the need-peers announce made
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(log.String(), "tracker announce failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no announce error logged in 30 s:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond) // polling the log with a deadline
	}
	tracker.SetReadDeadline(time.Now())
	if n, from, err := tracker.ReadFrom(make([]byte, 100)); err == nil {
		t.Fatalf("the tracker got %d bytes from %v around the proxy", n, from)
	}
}
