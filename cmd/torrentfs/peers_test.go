package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/status"
)

// unfinishedSet writes dir/set, of two files: f.bin, size bytes, which it returns, and a.bin,
// whole pieces before f.bin in a torrent (mktorrent's 256 KiB pieces), which the tests never
// read: a mount that reads f.bin never has every piece, so it is a peer that is not a seed,
// and seeders stay connected to it (a seeder drops a peer that has everything). seed seeds
// the payloads.
func unfinishedSet(t *testing.T, dir string, size int, seed uint64) []byte {
	t.Helper()
	data := fetchtest.Payload(size, seed)
	writeTree(t, filepath.Join(dir, "set"), map[string][]byte{"f.bin": data, "a.bin": fetchtest.Payload(2<<20, seed+1)})
	return data
}

// TestStatusPeerWaits checks what status, the JSON API, the web page and /metrics say of each
// peer: the bytes each way and the waits (fetch.Waits). A mount reads a file while two peers
// that have it are connected, found through opentracker: an aria2 seeder whose upload is
// limited to 2 MiB/s, and Transmission, whose upload is limited to 0, so that it chokes every
// peer: a host of a fleet that does not share. The mount took every byte from aria2, with its
// requests out for as long as the read took; Transmission had every piece, sent nothing, and
// kept the mount choked for as long as the mount wanted them. Then an aria2 leecher downloads
// the file from the mount: the mount's upload to it is the file's size.
func TestStatusPeerWaits(t *testing.T) {
	// f.bin is read, at 2 MiB/s in about 3 s; the mount never has every piece, and the seeders
	// stay connected to it.
	const size = 6<<20 + 3
	dir := t.TempDir()
	data := unfinishedSet(t, dir, size, 25)
	tor := filepath.Join(dir, "set.torrent")
	var tport int
	mi := trackedTorrent(t, tor, filepath.Join(dir, "set"), 18, atOpentracker(t, &tport))
	ih := mi.HashInfoBytes().HexString()
	info, err := mi.UnmarshalInfo()
	if err != nil || len(info.Files) != 2 || info.Files[1].Path[0] != "f.bin" {
		t.Fatalf("mktorrent: want a.bin then f.bin in the torrent, got %v (%v)", info.Files, err)
	}

	// Each third-party client at an address of its own (loopbackHost): Transmission takes
	// two peers at one address for one.
	ahost := loopbackHost()
	seeder := aria2At(t, ahost, tor, dir, "--check-integrity=true", "--seed-ratio=0.0", "--max-upload-limit=2M")
	waitAcceptingAt(t, "aria2c", net.JoinHostPort(ahost, fmt.Sprint(seeder.port)), seeder.exited)

	// Transmission with its upload limited to 0 is a seed that chokes every peer.
	transmissionAt(t, loopbackHost(), tor, dir, "-u", "0")
	// Both have checked their copies and told the tracker they seed.
	waitUntil(t, "the tracker to know both seeders", func() bool { return scrape(t, tport, mi.HashInfoBytes()).Complete == 2 })

	mnt, hp := t.TempDir(), freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", hp)
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--http", fmt.Sprintf("127.0.0.1:%d", hp), tor, mnt}, loopback...)...)
	m.waitReady(t)
	// Both peers connected before the read, so that the mount wants from both what they have.
	waitStatus(t, mnt, func(r status.Report) bool {
		return len(r.Torrents) == 1 && peerOf(r.Torrents[0], "aria2") != nil && peerOf(r.Torrents[0], "Transmission") != nil
	})
	streamEqual(t, filepath.Join(mnt, "set", "f.bin"), data)

	// Once f.bin's pieces are cached, the mount wants nothing more and its waits end.
	// An interval under way grows between two reports: equal waits in two reports in a row
	// say that none is.
	var last fetch.Waits
	r := waitStatus(t, mnt, func(r status.Report) bool {
		w := r.Torrents[0].Waits
		settled := r.Torrents[0].Files[1].Cached == size && w.Wanted > 0 && w == last
		last = w
		return settled
	})
	tr := r.Torrents[0]
	a, nu := peerOf(tr, "aria2"), peerOf(tr, "Transmission")
	if a == nil || nu == nil {
		t.Fatalf("a peer is gone: %+v", tr.PeerList)
	}
	t.Logf("aria2 seeder: %+v", *a)
	t.Logf("Transmission: %+v", *nu)
	t.Logf("torrent: down %d, up %d, waits %+v", tr.Downloaded, tr.Uploaded, tr.Waits)
	// Every byte came from aria2, over the time its requests were out: at 2 MiB/s, about 3 s.
	if a.Downloaded != size || a.Wasted != 0 || a.Waits.Requests < time.Second || a.Waits.Requests > a.Waits.Wanted {
		t.Errorf("aria2 seeder: %d bytes from it (want %d), %d wasted (want none), requests out %v of %v wanted (want at least 1 s, at most all)",
			a.Downloaded, size, a.Wasted, a.Waits.Requests, a.Waits.Wanted)
	}
	// Transmission had every piece and choked the mount all the time the mount wanted them.
	if nu.Downloaded != 0 || nu.Waits.Wanted < time.Second || nu.Waits.Choked < nu.Waits.Wanted*99/100 || nu.Waits.Requests != 0 {
		t.Errorf("Transmission: %d bytes from it (want 0), wanted %v, choked %v, requests %v: want choked all the time wanted, at least 1 s, and no requests",
			nu.Downloaded, nu.Waits.Wanted, nu.Waits.Choked, nu.Waits.Requests)
	}
	if tr.Waits.Choked < nu.Waits.Choked || tr.Waits.Requests < a.Waits.Requests || tr.Waits.Wanted < a.Waits.Wanted+nu.Waits.Wanted {
		t.Errorf("the torrent's waits %+v are less than its peers'", tr.Waits)
	}

	// The waits ended with the download: status, the JSON API and /metrics say the same.
	code, out, errOut := torrentfs(t, nil, "status", mnt)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	nuLine := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, " Transmission ") {
			nuLine = l
		}
	}
	if want := fmt.Sprintf("0 B from it (0 B/s), 0 B to it; choked %s, requests 0.0s", seconds(nu.Waits.Choked)); !strings.Contains(nuLine, want) {
		t.Errorf("status: Transmission's line %q has no %q:\n%s", nuLine, want, out)
	}
	if !strings.Contains(out, fmt.Sprintf("waits:    peers had what it wanted for %s: they choked it %s, ", seconds(tr.Waits.Wanted), seconds(tr.Waits.Choked))) {
		t.Errorf("status: no line of the torrent's waits %+v:\n%s", tr.Waits, out)
	}
	resp, b := get(t, base+"/api/torrents/"+ih)
	var api status.Torrent
	if err := json.Unmarshal(b, &api); resp.StatusCode != 200 || err != nil {
		t.Fatalf("/api/torrents/%s: %s, %v:\n%s", ih, resp.Status, err, b)
	}
	if p := peerOf(api, "Transmission"); p == nil || p.Waits != nu.Waits {
		t.Errorf("/api/torrents: Transmission %+v, want the waits %+v", p, nu.Waits)
	}
	if _, page := get(t, base+"/"); !bytes.Contains(page, fmt.Appendf(nil, "<td>%.1f s</td><td>0.0 s</td></tr>", nu.Waits.Choked.Seconds())) {
		t.Errorf("the status page has no row of Transmission choked %.1f s, no requests:\n%s", nu.Waits.Choked.Seconds(), page)
	}
	if got := metricValue(t, base, "torrentfs_peer_choked_seconds_total"); got < nu.Waits.Choked.Seconds() {
		t.Errorf("/metrics: torrentfs_peer_choked_seconds_total %v, less than Transmission's %v", got, nu.Waits.Choked)
	}
	if got := metricValue(t, base, "torrentfs_peer_requests_seconds_total"); got < a.Waits.Requests.Seconds() {
		t.Errorf("/metrics: torrentfs_peer_requests_seconds_total %v, less than aria2's %v", got, a.Waits.Requests)
	}

	// With the aria2 seeder gone, an aria2 leecher takes f.bin from the mount alone (the
	// Transmission gives it nothing): the mount uploads f.bin to it, once.
	seeder.cmd.Process.Signal(syscall.SIGTERM)
	<-seeder.exited
	got := t.TempDir()
	aria2At(t, loopbackHost(), tor, got, "--seed-ratio=0.0", "--select-file=2")
	waitUntil(t, "the aria2 leecher's f.bin to equal the source", func() bool {
		b, err := os.ReadFile(filepath.Join(got, "set", "f.bin"))
		return err == nil && bytes.Equal(b, data)
	})
	want := int64(size)
	r = waitStatus(t, mnt, func(r status.Report) bool {
		p := peerOf(r.Torrents[0], "aria2")
		return p != nil && p.Uploaded >= want
	})
	leecher := peerOf(r.Torrents[0], "aria2")
	t.Logf("aria2 leecher: %+v", *leecher)
	if leecher.Uploaded > want+want/20 || leecher.Downloaded != 0 {
		t.Errorf("to the aria2 leecher: %d bytes, from it %d: want f.bin's %d, and nothing from it", leecher.Uploaded, leecher.Downloaded, want)
	}
	if up := metricValue(t, base, "torrentfs_uploaded_bytes_total"); up < float64(want) || up > float64(want+want/20) {
		t.Errorf("/metrics: torrentfs_uploaded_bytes_total %v, want f.bin's %d", up, want)
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// peerOf returns the first peer of t whose client's name starts with client, or nil.
func peerOf(t status.Torrent, client string) *fetch.Peer {
	for i := range t.PeerList {
		if strings.HasPrefix(t.PeerList[i].Client, client) {
			return &t.PeerList[i]
		}
	}
	return nil
}
