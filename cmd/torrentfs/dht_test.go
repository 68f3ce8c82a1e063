package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/internal/testnet"
)

// ltDHTNode starts a libtorrent DHT node (fetch/testdata/ltdht.py, Debian's
// python3-libtorrent) on addr, joining through boot, with args after them (--seed TORRENT
// DIR), and returns once its DHT socket is up. DHT tests run only in the tests' private
// network namespace.
func ltDHTNode(t testing.TB, addr string, boot []string, args ...string) *proc {
	t.Helper()
	return ltDHTNodeIn(t, nil, addr, boot, args...)
}

// ltDHTNodeIn is ltDHTNode in host h of a test network, or in the tests' namespace if h is
// nil.
func ltDHTNodeIn(t testing.TB, h *testnet.Host, addr string, boot []string, args ...string) *proc {
	t.Helper()
	if !testnet.Isolated() {
		t.Fatal("DHT tests run only in the tests' private network namespace (run them as root)")
	}
	argv := append(append([]string{"../../fetch/testdata/ltdht.py", addr}, boot...), args...)
	name, cmd := "libtorrent DHT node", exec.Command("/usr/bin/python3", argv...)
	if h != nil {
		name, cmd = name+" on "+h.Name, h.Command("/usr/bin/python3", argv...)
	}
	p := startProc(t, name, cmd, nil)
	p.waitFor(t, "listening")
	return p
}

// dhtSwarm makes a single-file torrent of data named name and starts a libtorrent seeder
// for it on addr (in host h, if not nil) that announces it on the DHT, joined through boot.
// It returns the torrent's info-hash and its magnet link, bare: no tracker, no peer.
func dhtSwarm(t testing.TB, h *testnet.Host, name string, data []byte, addr string, boot ...string) (string, string) {
	t.Helper()
	sw := fetchtest.NewSwarm(t, name, []fetchtest.File{{Data: data}}, 256<<10)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	ltDHTNodeIn(t, h, addr, boot, "--seed", sw.TorrentPath, dir).waitFor(t, "seeding")
	return sw.InfoHash, "magnet:?xt=urn:btih:" + sw.InfoHash
}

// checkDHTPeer checks, with status --json, that the mount at mnt has DHT nodes and a peer
// found by the DHT (at addr, unless it is empty).
func checkDHTPeer(t testing.TB, mnt, addr string) {
	t.Helper()
	code, js, errOut := torrentfs(t, nil, "status", "--json", mnt)
	var r []mountStatus
	if err := json.Unmarshal([]byte(js), &r); code != 0 || err != nil || len(r) != 1 || len(r[0].Torrents) != 1 {
		t.Fatalf("status --json: exit %d, %v, %s:\n%s", code, err, errOut, js)
	}
	if r[0].DHTNodes == 0 {
		t.Errorf("status --json: no DHT nodes:\n%s", js)
	}
	if !slices.ContainsFunc(r[0].Torrents[0].PeerList, func(p fetch.Peer) bool {
		return p.Source == fetch.SourceDHT && (addr == "" || p.Addr == addr)
	}) {
		t.Errorf("status --json: no peer %s found by the DHT: %+v", addr, r[0].Torrents[0].PeerList)
	}
}

// TestDHTMount mounts a bare magnet link, found through the DHT among libtorrent nodes only
// (--dht-bootstrap names one), reads its file, and finds in status the DHT's nodes and that
// the peer came from the DHT. Restarted on the same cache with its bootstrap node gone, it
// finds a second bare magnet link from the routing table it saved.
func TestDHTMount(t *testing.T) {
	const bootAddr = "127.0.0.2:6881"
	boot := ltDHTNode(t, bootAddr, nil)
	const otherAddr = "127.0.0.3:6881"
	other := ltDHTNode(t, otherAddr, []string{bootAddr})
	data := fetchtest.Payload(3<<20+17, 23)
	_, magnet := dhtSwarm(t, nil, "dht.bin", data, "127.0.0.5:6881", bootAddr)
	cacheDir, mnt := t.TempDir(), t.TempDir()
	// A small readahead, so the seeder is still connected (libtorrent leaves a peer that
	// has every piece) when status is asked.
	mount := func(magnet string) *proc {
		m := start(t, nil, "mount", "--cache-dir", cacheDir, "--listen", "127.0.0.1:0", "--no-upnp", "--no-pex",
			"--readahead", "256K", "--dht-bootstrap", bootAddr, magnet, mnt)
		m.waitReady(t)
		return m
	}

	m := mount(magnet)
	waitListed(t, mnt, "dht.bin")
	file := filepath.Join(mnt, "dht.bin")
	readEqual(t, file, 0, data[:256<<10])
	checkDHTPeer(t, mnt, "")
	readEqual(t, file, 0, data)

	// A second torrent, announced to the other node before the mount and the bootstrap node
	// go (a node gone makes libtorrent's announce wait for its timeout).
	data2 := fetchtest.Payload(1<<20+5, 29)
	ih2, magnet2 := dhtSwarm(t, nil, "dht2.bin", data2, "127.0.0.6:6881", bootAddr, otherAddr)
	other.waitFor(t, "announce "+ih2)
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d:\n%s", code, m.output())
	}
	if _, err := os.Stat(filepath.Join(cacheDir, dhtNodesFile)); err != nil {
		t.Fatalf("routing table not saved: %v", err)
	}
	boot.stop(t, syscall.SIGKILL)
	m = mount(magnet2)
	waitListed(t, mnt, "dht2.bin")
	readEqual(t, filepath.Join(mnt, "dht2.bin"), 0, data2)
	// The line is what this checks: the routing table came from the cache (the read above
	// shows it worked, with the bootstrap node gone; the line, written as the client
	// started, before the mount was ready, says why).
	m.wantLogged(t, "msg=\"DHT nodes loaded\"")
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount again: exit %d:\n%s", code, m.output())
	}
}
