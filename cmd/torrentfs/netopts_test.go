package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/status"
)

// TestIPv6: peers and the HTTP server over ::1. aria2 seeds a mktorrent torrent on ::1
// only; torrentfs serve listens for peers and HTTP on ::1, is given the seeder as
// [::1]:PORT, and every file it serves at http://[::1]:PORT/files/ equals the source.
func TestIPv6(t *testing.T) {
	dir := t.TempDir()
	files := sampleTree(t, dir)
	tor := filepath.Join(dir, "sample.torrent")
	mktorrent(t, tor, filepath.Join(dir, "sample"), 18, "")
	p := freePort(t)
	seeder := exec.Command("aria2c", "--interface=::1", "--disable-ipv6=false",
		"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		fmt.Sprintf("--listen-port=%d", p), "--bt-require-crypto=false", "--check-integrity=true", "--seed-ratio=0.0",
		"--file-allocation=none", "--summary-interval=0", "--console-log-level=warn", "--dir", dir, tor)
	var out strings.Builder
	seeder.Stdout, seeder.Stderr = &out, &out
	if err := seeder.Start(); err != nil {
		t.Fatalf("aria2c: %v", err)
	}
	t.Cleanup(func() {
		seeder.Process.Kill()
		seeder.Wait()
		if t.Failed() {
			t.Logf("aria2c:\n%s", out.String())
		}
	})

	// aria2's port was free on 127.0.0.1 when picked: serve's own random port on ::1 must
	// not take it before aria2 binds it (CI saw that once).
	seed := fmt.Sprintf("[::1]:%d", p)
	waitUntil(t, "aria2 to listen on "+seed, func() bool {
		c, err := net.Dial("tcp", seed)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	hp := freePort(t)
	s := start(t, nil, "serve", "--name", "v6", "--cache-dir", t.TempDir(), "--http", fmt.Sprintf("[::1]:%d", hp),
		"--listen", "[::1]:0", "--no-dht", "--no-upnp", "--no-pex", "--peer", fmt.Sprintf("[::1]:%d", p), tor)
	s.waitReady(t)
	// The line is what this checks: it tells the user the URL, with the IPv6 address. It
	// was written before serve said it was ready.
	s.wantLogged(t, "msg=serving ", fmt.Sprintf("url=http://[::1]:%d/", hp))
	for path, want := range files {
		resp, got := get(t, fmt.Sprintf("http://[::1]:%d/files/%s", hp, path))
		if resp.StatusCode != 200 || !bytes.Equal(got, want) {
			t.Fatalf("GET /files/%s over ::1: %s, %d bytes, want the source's %d", path, resp.Status, len(got), len(want))
		}
	}
	if code := s.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("serve: exit %d", code)
	}
}

// TestNetFlagErrors: --bind-interface with an interface that does not exist fails at start,
// naming it; a --proxy that is not SOCKS5 is a usage error; neither starts anything.
func TestNetFlagErrors(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string][]byte{"x.bin": []byte("x")})
	tor := filepath.Join(dir, "x.torrent")
	if code, _, errOut := torrentfs(t, nil, "create", "-o", tor, filepath.Join(dir, "x.bin")); code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--bind-interface", "nosuch0"}, 1, "nosuch0"},
		{[]string{"-o", "bind_interface=nosuch0"}, 1, "nosuch0"},
		{[]string{"--proxy", "http://127.0.0.1:3128"}, 2, "socks5://"},
		{[]string{"--max-download-rate", "fast"}, 2, "bad size"},
	} {
		args := append([]string{"serve", "--name", "flags", "--cache-dir", t.TempDir(), "--http", "127.0.0.1:0", tor}, tc.args...)
		if tc.args[0] == "-o" {
			args = append([]string{"mount", "--cache-dir", t.TempDir(), tor, t.TempDir()}, tc.args...)
		}
		code, _, errOut := torrentfs(t, nil, append(args, loopback...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
			t.Errorf("%q: exit %d, %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// TestIPv6Tracker: a tracker over IPv6. webtorrent's bittorrent-tracker (testdata/tracker6)
// listens on ::1 alone, aria2 seeds on ::1 and announces to it; a mount of the same
// torrent, with no DHT, PEX or --peer, gets the seeder from that tracker (as a peers6
// entry), lists it in status as found by the tracker, and every file read from it equals
// the source.
func TestIPv6Tracker(t *testing.T) {
	if _, err := os.Stat(filepath.Join(tracker6Dir, "node_modules", "bittorrent-tracker")); err != nil {
		t.Fatal("bittorrent-tracker not installed: run make deps")
	}
	tp := freePort(t)
	tracker := startProc(t, "bittorrent-tracker", exec.Command("node", filepath.Join(tracker6Dir, "tracker.js"), "::1", fmt.Sprint(tp)), nil)
	waitAcceptingAt(t, "bittorrent-tracker", fmt.Sprintf("[::1]:%d", tp), tracker.done)

	dir := t.TempDir()
	files := sampleTree(t, dir)
	tor := filepath.Join(dir, "sample.torrent")
	announce := fmt.Sprintf("http://[::1]:%d/announce", tp)
	mktorrent(t, tor, filepath.Join(dir, "sample"), 18, announce)
	p := freePort(t)
	startProc(t, "aria2c", exec.Command("aria2c", "--interface=::1", "--disable-ipv6=false",
		"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		fmt.Sprintf("--listen-port=%d", p), "--bt-require-crypto=false", "--check-integrity=true", "--seed-ratio=0.0",
		"--file-allocation=none", "--summary-interval=0", "--console-log-level=warn", "--dir", dir, tor), nil)
	seederAddr := fmt.Sprintf("[::1]:%d", p)
	tracker.waitFor(t, "announce "+seederAddr+" ")

	mnt := t.TempDir()
	// A small readahead, so the seeder is still connected (a seed leaves a peer that has
	// every piece) when status is asked.
	m := start(t, nil, "mount", "--cache-dir", t.TempDir(), "--listen", "[::1]:0", "--no-dht", "--no-upnp", "--no-pex",
		"--readahead", "256K", tor, mnt)
	m.waitReady(t)
	readEqual(t, filepath.Join(mnt, "sample/a/b.bin"), 0, files["sample/a/b.bin"][:256<<10])
	code, js, errOut := torrentfs(t, nil, "status", "--json", mnt)
	var r []mountStatus
	if err := json.Unmarshal([]byte(js), &r); code != 0 || err != nil || len(r) != 1 || len(r[0].Torrents) != 1 {
		t.Fatalf("status --json: exit %d, %v, %s:\n%s", code, err, errOut, js)
	}
	if !slices.ContainsFunc(r[0].Torrents[0].PeerList, func(p fetch.Peer) bool {
		return p.Source == fetch.SourceTracker && p.Addr == seederAddr
	}) {
		t.Errorf("status --json: the seeder %s is not a peer found by the tracker: %+v", seederAddr, r[0].Torrents[0].PeerList)
	}
	for path, want := range files {
		readEqual(t, filepath.Join(mnt, path), 0, want)
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d:\n%s", code, m.output())
	}
}

// tracker6Dir holds TestIPv6Tracker's tracker and its npm packages (make deps).
const tracker6Dir = "testdata/tracker6"

// TestProxyTrackerWebSeed: trackers and web seeds under --proxy and --bind-interface (the
// fetch tests cover peers). A torrent whose only sources are an HTTP tracker (opentracker)
// and a web seed (nginx), both on 127.0.0.1:
//   - mounted with --proxy through microsocks, it reads equal to the source, and
//     microsocks's log shows its connections to the tracker and to the web seed;
//   - mounted with --bind-interface on one end of a veth pair, the read fails, the web seed
//     shows an error in status, and neither is ever reached: nginx logged no request, and
//     the tracker knows no peer of the torrent.
func TestProxyTrackerWebSeed(t *testing.T) {
	src := t.TempDir()
	data := writePayload(t, filepath.Join(src, "proxied.bin"), 1<<20+4321, 41)
	accessLog := filepath.Join(t.TempDir(), "access.log")
	np := nginx(t, src, "access_log "+accessLog+" ranges;")
	tor := filepath.Join(t.TempDir(), "proxied.torrent")
	if code, _, errOut := torrentfs(t, nil, "create", "-o", tor, "--piece-length", "256K",
		"--web-seed", fmt.Sprintf("http://127.0.0.1:%d/", np), "-t", "http://127.0.0.1:1/announce",
		filepath.Join(src, "proxied.bin")); code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	mi, err := metainfo.LoadFromFile(tor)
	if err != nil {
		t.Fatal(err)
	}
	ih := mi.HashInfoBytes()
	tp := opentracker(t, ih.HexString())
	// The tracker's port is known once it runs: the same info, another announce URL.
	mi.Announce, mi.AnnounceList = fmt.Sprintf("http://127.0.0.1:%d/announce", tp), nil
	writeMetaInfo(t, tor, mi)

	mp := freePort(t)
	socks := startProc(t, "microsocks", exec.Command("microsocks", "-i", "127.0.0.1", "-p", fmt.Sprint(mp)), nil)
	waitAccepting(t, "microsocks", mp, socks.done)
	mnt, m := mountTorrent(t, tor, "--proxy", fmt.Sprintf("socks5://127.0.0.1:%d", mp))
	readEqual(t, filepath.Join(mnt, "proxied.bin"), 0, data)
	socks.waitFor(t, fmt.Sprintf("connected to 127.0.0.1:%d", np))
	socks.waitFor(t, fmt.Sprintf("connected to 127.0.0.1:%d", tp))
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d:\n%s", code, m.output())
	}

	// A second tracker and web seed, fresh: the first have seen the proxied mount.
	if err := os.Truncate(accessLog, 0); err != nil {
		t.Fatal(err)
	}
	tp2 := opentracker(t, ih.HexString())
	mi.Announce = fmt.Sprintf("http://127.0.0.1:%d/announce", tp2)
	tor2 := filepath.Join(t.TempDir(), "bound.torrent")
	writeMetaInfo(t, tor2, mi)
	const veth = "tfsbindtw0"
	for _, args := range [][]string{{"link", "add", veth, "type", "veth", "peer", "name", veth + "p"}, {"link", "set", veth, "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", veth).Run() })
	mnt, m = mountTorrent(t, tor2, "--bind-interface", veth, "--read-timeout", "2s")
	if _, err := os.ReadFile(filepath.Join(mnt, "proxied.bin")); err == nil {
		t.Fatal("read bound to a veth with no route to the web seed: no error")
	}
	// Its announce fails once its timeout is up, as status shows: the tracker had all that
	// time to hear it.
	waitStatus(t, mnt, anyTorrent(func(tr status.Torrent) bool {
		return slices.ContainsFunc(tr.Trackers, func(k fetch.Tracker) bool { return k.URL == mi.Announce && k.Error != "" })
	}))
	if b, err := os.ReadFile(accessLog); err != nil || len(b) != 0 {
		t.Errorf("nginx was reached from a mount bound to %s (%v):\n%s", veth, err, b)
	}
	resp, scrape := get(t, fmt.Sprintf("http://127.0.0.1:%d/scrape?info_hash=%s", tp2, url.QueryEscape(string(ih[:]))))
	// opentracker scrapes a torrent no peer ever announced as no entry at all.
	if resp.StatusCode != 200 || !bytes.HasPrefix(scrape, []byte("d5:filesd")) || bytes.Contains(scrape, ih[:]) {
		t.Errorf("the tracker was reached from a mount bound to %s: scrape %s %q", veth, resp.Status, scrape)
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount bound to %s: exit %d:\n%s", veth, code, m.output())
	}
}
