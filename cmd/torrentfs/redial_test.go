package main

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/status"
)

// TestRedialTrackerPeer mounts a torrent whose tracker names a peer that is not there yet:
// what answers at its address hangs up on the mount's first dial. The peer, aria2 seeding
// the file, starts only then; it has no tracker, DHT, PEX or local discovery, so it cannot
// find the mount itself. The mount must dial it again on its own, with no read waiting for
// data (the tracker's next announce is half an hour away): status shows aria2 connected, at
// the address the tracker named, before anything is read; then the file read through the
// mount equals the source.
func TestRedialTrackerPeer(t *testing.T) {
	dir := t.TempDir()
	data := writePayload(t, filepath.Join(dir, "late.bin"), 4<<20+12345, 25)
	tor := filepath.Join(dir, "late.torrent")
	var tport int
	mi := trackedTorrent(t, tor, filepath.Join(dir, "late.bin"), 18, func(ih string) string {
		tport = opentracker(t, ih)
		return fmt.Sprintf("http://127.0.0.1:%d/announce", tport)
	})

	// The tracker knows the seeder's address, as from its last run; what listens there
	// takes the mount's first connection and hangs up.
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	seedAddr := gone.Addr().String()
	seedPort := gone.Addr().(*net.TCPAddr).Port
	announceAs(t, tport, mi.HashInfoBytes(), seedPort, "-AR1360-redialtest01")

	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), tor, mnt}, loopback...)...)
	m.waitReady(t)
	gone.(*net.TCPListener).SetDeadline(time.Now().Add(time.Minute))
	c, err := gone.Accept()
	if err != nil {
		t.Fatalf("the mount never dialed the peer the tracker named: %v", err)
	}
	c.Close()
	gone.Close()

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
