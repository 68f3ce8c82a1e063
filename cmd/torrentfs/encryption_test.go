package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// plainHeader is how a BitTorrent handshake without stream encryption begins on the wire.
var plainHeader = []byte("\x13BitTorrent protocol")

// wireWatch is a TCP proxy to a peer that records how each connection through it began:
// with the plain BitTorrent handshake, or not (MSE: a Diffie-Hellman key, then noise).
type wireWatch struct {
	addr string
	mu   sync.Mutex
	seen []bool // per connection, in order: did it open with the plain handshake?
}

func watchWire(t *testing.T, target string) *wireWatch {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wireWatch{addr: l.Addr().String()}
	var conns sync.WaitGroup
	var open sync.Map // net.Conn → struct{}, closed at cleanup
	t.Cleanup(func() {
		l.Close()
		open.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		conns.Wait()
	})
	conns.Add(1)
	go func() {
		defer conns.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer c.Close()
				open.Store(c, struct{}{})
				defer open.Delete(c)
				head := make([]byte, len(plainHeader))
				if _, err := io.ReadFull(c, head); err != nil {
					return
				}
				w.mu.Lock()
				w.seen = append(w.seen, bytes.Equal(head, plainHeader))
				w.mu.Unlock()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				open.Store(s, struct{}{})
				defer open.Delete(s)
				if _, err := s.Write(head); err != nil {
					return
				}
				done := make(chan struct{})
				go func() { io.Copy(c, s); c.(*net.TCPConn).CloseWrite(); close(done) }()
				io.Copy(s, c)
				s.(*net.TCPConn).CloseWrite()
				<-done
			}()
		}
	}()
	return w
}

// opened returns, per connection so far, whether it opened with the plain handshake.
func (w *wireWatch) opened() []bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.seen)
}

// TestEncryption: by default a mount opens a peer connection with the plain handshake
// (Transmission answers it a 500 ms tick sooner than an encrypted one) and, when the peer
// refuses it, connects again with stream encryption (MSE): aria2 with --bt-require-crypto
// and a torrentfs seeder with --encryption require both serve it. With --encryption
// require a mount never sends a plain handshake, and with prefer it opens with MSE. The
// first bytes of each connection are watched on the wire, through a proxy.
func TestEncryption(t *testing.T) {
	dir := t.TempDir()
	data := fetchtest.Payload(1<<20+12345, 21)
	src := filepath.Join(dir, "f.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
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
		return "127.0.0.1:" + port(s.waitFor(t, "msg=seeding"))
	}
	for _, tc := range []struct {
		name   string
		seeder func(t *testing.T) string
		mount  []string
		// want checks the openings of the mount's connections, in order.
		want func(opened []bool) bool
		what string
	}{
		{"aria2 requires MSE", func(t *testing.T) string { return aria2Seeder(t, "--bt-require-crypto=true") }, nil,
			func(o []bool) bool { return len(o) >= 2 && o[0] && !o[len(o)-1] }, "plain first, then MSE"},
		{"torrentfs seed requires MSE", func(t *testing.T) string { return ourSeeder(t, "--encryption", "require") }, nil,
			func(o []bool) bool { return len(o) >= 2 && o[0] && !o[len(o)-1] }, "plain first, then MSE"},
		{"aria2 takes either", func(t *testing.T) string { return aria2Seeder(t) }, nil,
			func(o []bool) bool { return len(o) >= 1 && !slices.Contains(o, false) }, "plain only"},
		{"mount requires MSE", func(t *testing.T) string { return aria2Seeder(t) }, []string{"--encryption", "require"},
			func(o []bool) bool { return len(o) >= 1 && !slices.Contains(o, true) }, "MSE only"},
		{"mount prefers MSE", func(t *testing.T) string { return ourSeeder(t) }, []string{"--encryption", "prefer"},
			func(o []bool) bool { return len(o) >= 1 && !o[0] }, "MSE first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := watchWire(t, tc.seeder(t))
			mnt := t.TempDir()
			args := append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", w.addr}, tc.mount...)
			m := start(t, nil, append(append(args, tor, mnt), loopback...)...)
			m.waitFor(t, "msg=mounted")
			checkTree(t, mnt, map[string][]byte{"f.bin": data})
			if o := w.opened(); !tc.want(o) {
				t.Errorf("connections opened with the plain handshake: %v; want %s", o, tc.what)
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
		os.Remove(tor)
		out, err := exec.Command("mktorrent", "-l", "18", "-a", fmt.Sprintf("http://127.0.0.1:%d/announce", tport), "-o", tor, filepath.Join(dir, "sample")).CombinedOutput()
		if err != nil {
			t.Fatalf("mktorrent: %v\n%s", err, out)
		}
		return tor
	}
	mi, _, err := fetch.LoadTorrentFile(mk("probe.torrent", 1)) // the info-hash does not depend on the tracker
	if err != nil {
		t.Fatal(err)
	}
	ih := mi.HashInfoBytes()

	for _, tc := range []struct {
		name   string
		seeder func(t *testing.T, tor string) int // its port, once it seeds
	}{
		{"Transmission", func(t *testing.T, tor string) int {
			p, port := transmission(t, tor, dir, "-er")
			p.waitFor(t, "Seeding")
			return port
		}},
		{"libtorrent", func(t *testing.T, tor string) int {
			p, port := libtorrentEnv(t, []string{"LTPEER_ENCRYPTION=forced"}, tor, dir)
			p.waitFor(t, "seeding")
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
			w := watchWire(t, fmt.Sprintf("127.0.0.1:%d", tc.seeder(t, mk(tc.name+".torrent", seederTracker))))
			_, wport, _ := net.SplitHostPort(w.addr)
			p, _ := strconv.Atoi(wport)
			announceAs(t, mountTracker, ih, p, "-PX0000-wirewatch000")
			mnt := t.TempDir()
			m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), mk("mount-"+tc.name+".torrent", mountTracker), mnt}, loopback...)...)
			m.waitFor(t, "msg=mounted")
			checkTree(t, mnt, map[string][]byte{"sample/f.bin": data})
			if o := w.opened(); len(o) < 2 || !o[0] || o[len(o)-1] {
				t.Errorf("connections opened with the plain handshake: %v; want plain first, then MSE", o)
			}
			if code := m.stop(t, syscall.SIGINT); code != 0 {
				t.Fatalf("mount: exit %d", code)
			}
		})
	}
}
