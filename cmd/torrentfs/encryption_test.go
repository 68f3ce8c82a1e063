package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// plainHeader is how a BitTorrent handshake without stream encryption begins on the wire.
var plainHeader = []byte("\x13BitTorrent protocol")

// wireConn is what a wireWatch saw of one connection.
type wireConn struct {
	plain   bool  // it opened with the plain BitTorrent handshake (else MSE: a key, then noise)
	carried int64 // bytes the peer sent through it
	clear   bool  // the needle, bytes of the torrent's data, passed in the clear
}

// data reports whether the connection carried piece data: more than handshakes and bitfields.
func (c wireConn) data() bool { return c.carried >= 64<<10 }

// wireWatch is a TCP proxy to a peer that records what each connection through it looked
// like on the wire.
type wireWatch struct {
	addr   string
	needle []byte

	mu     sync.Mutex
	conns  []*wireConn
	open   map[net.Conn]bool
	closed bool
}

func watchWire(t *testing.T, target string, needle []byte) *wireWatch {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wireWatch{addr: l.Addr().String(), needle: needle, open: map[net.Conn]bool{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		w.mu.Lock()
		w.closed = true
		for c := range w.open {
			c.Close()
		}
		w.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if !w.track(c) {
				return
			}
			wg.Go(func() { w.relay(c, target) })
		}
	})
	return w
}

// track keeps c to be closed at cleanup; once that began, it closes c and returns false.
func (w *wireWatch) track(c net.Conn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		c.Close()
		return false
	}
	w.open[c] = true
	return true
}

func (w *wireWatch) untrack(c net.Conn) {
	w.mu.Lock()
	delete(w.open, c)
	w.mu.Unlock()
	c.Close()
}

// relay records how c begins, then copies it to and from a new connection to target.
func (w *wireWatch) relay(c net.Conn, target string) {
	defer w.untrack(c)
	head := make([]byte, len(plainHeader))
	if _, err := io.ReadFull(c, head); err != nil {
		return
	}
	rec := &wireConn{plain: bytes.Equal(head, plainHeader)}
	w.mu.Lock()
	w.conns = append(w.conns, rec)
	w.mu.Unlock()
	s, err := net.Dial("tcp", target)
	if err != nil || !w.track(s) {
		return
	}
	defer w.untrack(s)
	if _, err := s.Write(head); err != nil {
		return
	}
	done := make(chan struct{})
	go func() { // waited for below
		defer close(done)
		io.Copy(s, c)
		s.(*net.TCPConn).CloseWrite()
	}()
	buf := make([]byte, 64<<10)
	var tail []byte // the last bytes of the previous read, for a needle cut in two
	for {
		n, err := s.Read(buf)
		if n > 0 {
			scan := append(tail, buf[:n]...)
			w.mu.Lock()
			rec.carried += int64(n)
			rec.clear = rec.clear || bytes.Contains(scan, w.needle)
			w.mu.Unlock()
			tail = append(tail[:0], scan[max(0, len(scan)-len(w.needle)+1):]...)
			if _, err := c.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	c.(*net.TCPConn).CloseWrite()
	<-done
}

// seen returns what was seen of each connection so far, in the order they came.
func (w *wireWatch) seen() []wireConn {
	w.mu.Lock()
	defer w.mu.Unlock()
	var r []wireConn
	for _, c := range w.conns {
		r = append(r, *c)
	}
	return r
}

// TestEncryption: by default a mount opens a peer connection with the plain handshake
// (MSE costs two round trips before the first byte) and, when the peer refuses it,
// connects again with stream encryption (MSE): aria2 with --bt-require-crypto and a
// torrentfs seeder with --encryption require both serve it. With --encryption require a
// mount never sends a plain handshake, nor gets the torrent's bytes in the clear; with
// prefer it opens with MSE. Each connection is watched on the wire, through a proxy.
func TestEncryption(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "f.bin")
	data := writePayload(t, src, 1<<20+12345, 21)
	tor := filepath.Join(dir, "f.torrent")
	if code, _, errOut := torrentfs(t, nil, "create", "--piece-length", "256K", "-o", tor, src); code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	aria2Seeder := func(t *testing.T, args ...string) string {
		a := aria2(t, tor, dir, append([]string{"--check-integrity=true", "--seed-ratio=0.0"}, args...)...)
		waitAccepting(t, "aria2c", a.port, a.exited)
		return fmt.Sprintf("127.0.0.1:%d", a.port)
	}
	ourSeeder := func(t *testing.T, args ...string) string {
		s := start(t, nil, append(append([]string{"seed", tor, src}, args...), loopback...)...)
		return s.seedAddr(t)
	}
	needle := data[100000 : 100000+64] // inside one 16 KiB chunk
	// Checks of what the mount's connections looked like on the wire, in the order they came.
	plainFirstThenMSE := func(cs []wireConn) bool {
		return len(cs) >= 2 && cs[0].plain && !slices.ContainsFunc(cs, func(c wireConn) bool { return c.data() && c.plain })
	}
	for _, tc := range []struct {
		name   string
		seeder func(t *testing.T) string
		mount  []string
		want   func([]wireConn) bool
		what   string
	}{
		{"aria2 requires MSE", func(t *testing.T) string { return aria2Seeder(t, "--bt-require-crypto=true") }, nil,
			plainFirstThenMSE, "plain first, the data through MSE"},
		{"torrentfs seed requires MSE", func(t *testing.T) string { return ourSeeder(t, "--encryption", "require") }, nil,
			func(cs []wireConn) bool {
				return plainFirstThenMSE(cs) && !slices.ContainsFunc(cs, func(c wireConn) bool { return c.clear })
			}, "plain first, then MSE, no data in the clear"},
		{"aria2 takes either", func(t *testing.T) string { return aria2Seeder(t) }, nil,
			func(cs []wireConn) bool {
				return len(cs) >= 1 && !slices.ContainsFunc(cs, func(c wireConn) bool { return !c.plain }) &&
					slices.ContainsFunc(cs, func(c wireConn) bool { return c.clear })
			}, "plain only, the data in the clear"},
		{"mount requires MSE", func(t *testing.T) string { return aria2Seeder(t) }, []string{"--encryption", "require"},
			func(cs []wireConn) bool {
				return len(cs) >= 1 && !slices.ContainsFunc(cs, func(c wireConn) bool { return c.plain || c.clear })
			}, "MSE only, no data in the clear"},
		{"mount prefers MSE", func(t *testing.T) string { return ourSeeder(t) }, []string{"--encryption", "prefer"},
			func(cs []wireConn) bool { return len(cs) >= 1 && !cs[0].plain }, "MSE first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := watchWire(t, tc.seeder(t), needle)
			mnt := t.TempDir()
			args := append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", w.addr}, tc.mount...)
			m := start(t, nil, append(append(args, tor, mnt), loopback...)...)
			m.waitReady(t)
			checkTree(t, mnt, map[string][]byte{"f.bin": data})
			if cs := w.seen(); !tc.want(cs) {
				t.Errorf("connections on the wire: %+v; want %s", cs, tc.what)
			}
			if code := m.stop(t, syscall.SIGINT); code != 0 {
				t.Fatalf("mount: exit %d", code)
			}
		})
	}
}

// TestEncryptionRequired: seeders that take only encrypted connections, found through a
// tracker, serve a mount that opens with the plain handshake: Transmission with -er,
// libtorrent with its forced policy, aria2 with --bt-require-crypto. Each seeder announces
// to a tracker of its own; the mount's tracker names it through a proxy that watches how
// each connection began: plain, refused, then MSE.
func TestEncryptionRequired(t *testing.T) {
	dir := t.TempDir()
	data := fetchtest.Payload(2<<20+777, 22)
	if err := os.Mkdir(filepath.Join(dir, "sample"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sample", "f.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	mk := func(name string, tport int) string {
		tor := filepath.Join(dir, name)
		mktorrent(t, tor, filepath.Join(dir, "sample"), 18, fmt.Sprintf("http://127.0.0.1:%d/announce", tport))
		return tor
	}
	ih := mktorrent(t, filepath.Join(dir, "probe.torrent"), filepath.Join(dir, "sample"), 18, "").HashInfoBytes() // the info-hash does not depend on the tracker

	for _, tc := range []struct {
		name   string
		seeder func(t *testing.T, tor string) int // its port, once it accepts
	}{
		{"Transmission", func(t *testing.T, tor string) int {
			_, port := transmission(t, tor, dir, "-er")
			return port
		}},
		{"libtorrent", func(t *testing.T, tor string) int {
			_, port := libtorrentEnv(t, []string{"LTPEER_ENCRYPTION=forced"}, tor, dir)
			return port
		}},
		{"aria2", func(t *testing.T, tor string) int {
			a := aria2(t, tor, dir, "--check-integrity=true", "--seed-ratio=0.0", "--bt-require-crypto=true")
			waitAccepting(t, "aria2c", a.port, a.exited)
			return a.port
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seederTracker, mountTracker := opentracker(t, ih.HexString()), opentracker(t, ih.HexString())
			port := tc.seeder(t, mk(tc.name+".torrent", seederTracker))
			// It has checked its copy and told its tracker it seeds.
			waitUntil(t, tc.name+" to seed", func() bool { return scrape(t, seederTracker, ih).Complete == 1 })
			w := watchWire(t, fmt.Sprintf("127.0.0.1:%d", port), data[:64])
			_, wport, _ := net.SplitHostPort(w.addr)
			p, _ := strconv.Atoi(wport)
			announceAs(t, mountTracker, ih, p, "-PX0000-wirewatch000")
			mnt := t.TempDir()
			m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), mk("mount-"+tc.name+".torrent", mountTracker), mnt}, loopback...)...)
			m.waitReady(t)
			checkTree(t, mnt, map[string][]byte{"sample/f.bin": data})
			if cs := w.seen(); len(cs) < 2 || !cs[0].plain || slices.ContainsFunc(cs, func(c wireConn) bool { return c.data() && c.plain }) {
				t.Errorf("connections on the wire: %+v; want plain first, the data through MSE", cs)
			}
			if code := m.stop(t, syscall.SIGINT); code != 0 {
				t.Fatalf("mount: exit %d", code)
			}
		})
	}
}
