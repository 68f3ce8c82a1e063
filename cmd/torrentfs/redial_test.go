package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/status"
)

// TestRedialTrackerPeer mounts a torrent whose tracker names a peer that is not there yet:
// its port refuses the mount's dial. The peer, aria2 seeding the file, starts only once the
// mount has logged that dial's failure; it has no tracker, DHT, PEX or local discovery, so it
// cannot find the mount itself. The mount must dial it again on its own, with no read
// waiting for data (the tracker's next announce is half an hour away): status shows aria2
// connected, at the address the tracker named, before anything is read; then the file read
// through the mount equals the source.
func TestRedialTrackerPeer(t *testing.T) {
	dir := t.TempDir()
	data := fetchtest.Payload(4<<20+12345, 25)
	if err := os.WriteFile(filepath.Join(dir, "late.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	tor := filepath.Join(dir, "late.torrent")
	mk := func(announce string) {
		os.Remove(tor)
		if out, err := exec.Command("mktorrent", "-l", "18", "-a", announce, "-o", tor, filepath.Join(dir, "late.bin")).CombinedOutput(); err != nil {
			t.Fatalf("mktorrent: %v\n%s", err, out)
		}
	}
	mk("http://127.0.0.1:1/announce") // the info-hash does not depend on the announce URL
	mi, _, err := fetch.LoadTorrentFile(tor)
	if err != nil {
		t.Fatal(err)
	}
	ih := mi.HashInfoBytes()
	tport := opentracker(t, ih.HexString())
	mk(fmt.Sprintf("http://127.0.0.1:%d/announce", tport))

	// The tracker knows the seeder's address, as from its last run; nothing listens there.
	seedPort := freePort(t)
	seedAddr := fmt.Sprintf("127.0.0.1:%d", seedPort)
	announceAs(t, tport, ih, seedPort, "-AR1360-redialtest01")

	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--log-level", "debug", tor, mnt}, loopback...)...)
	m.waitReady(t)
	waitUntil(t, "the mount to fail to reach "+seedAddr, func() bool {
		return slices.ContainsFunc(strings.Split(m.output(), "\n"), func(l string) bool {
			return strings.Contains(l, "could not connect to a peer") && strings.Contains(l, "peer="+seedAddr)
		})
	})

	// Only now does the seeder start, at the address the tracker named.
	a := aria2(t, tor, dir, fmt.Sprintf("--listen-port=%d", seedPort), "--bt-exclude-tracker=*",
		"--check-integrity=true", "--seed-ratio=0.0")
	waitAccepting(t, "aria2c", seedPort, a.exited)

	var last status.Report
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the mount's status when last asked: %+v", last)
		}
	})
	waitStatus(t, mnt, func(r status.Report) bool {
		last = r
		return len(r.Torrents) == 1 && slices.ContainsFunc(r.Torrents[0].PeerList, func(p fetch.Peer) bool {
			return strings.HasPrefix(p.Client, "aria2/") && p.Addr == seedAddr
		})
	})
	if r := last.Torrents[0]; r.Read != 0 {
		t.Fatalf("%d bytes were read before aria2 was connected: a read may have dialed it", r.Read)
	}
	readEqual(t, filepath.Join(mnt, "late.bin"), 0, data)
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}
