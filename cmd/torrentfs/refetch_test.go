package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// thirdPartySwarm makes a torrent of the file dir/name with mktorrent, announcing to a fresh
// opentracker, and seeds it with Transmission, aria2 and libtorrent, which find each other
// and any mount only through the tracker. Each is at an address of its own (loopbackHost),
// apart from the mount's 127.0.0.1, as Transmission takes two peers at one address for one.
// It returns the torrent's path.
func thirdPartySwarm(t testing.TB, dir, name string) string {
	t.Helper()
	tor := filepath.Join(dir, name+".torrent")
	var tport int
	ih := trackedTorrent(t, tor, filepath.Join(dir, name), 18, atOpentracker(t, &tport)).HashInfoBytes()
	transmissionAt(t, loopbackHost(), tor, dir)
	aria2At(t, loopbackHost(), tor, dir, "--check-integrity=true", "--seed-ratio=0.0")
	libtorrentAt(t, loopbackHost(), nil, tor, dir)
	// Each has checked its copy and told the tracker it seeds.
	waitUntil(t, "the tracker to know three seeders", func() bool { return scrape(t, tport, ih).Complete == 3 })
	return tor
}

// dropPageCache drops the kernel's cached pages of a file, as memory pressure would: the
// next read of it reaches the mount.
func dropPageCache(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

// TestRefetchFromThirdParty streams a file four times the cache's cap from Transmission,
// aria2 and libtorrent seeders found through a tracker, then reads it again, with the
// kernel's page cache dropped: every piece of the first part was evicted, and the seeders,
// told by HAVE messages that the mount holds every piece, took it for a seeder and closed
// their connections. The second read, a seek back into the evicted head, and a second
// ffprobe of a film of the same torrent whose pieces were evicted must fetch them again
// from the swarm.
func TestRefetchFromThirdParty(t *testing.T) {
	const maxSize = 64 << 20
	data := fetchtest.Payload(4*maxSize, 45)
	dir := t.TempDir()
	show := filepath.Join(dir, "show")
	if err := os.Mkdir(show, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(show, "movie.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=duration=10:size=320x240:rate=25", "-c:v", "mpeg4", filepath.Join(show, "film.mp4"))
	want := ffprobe(t, filepath.Join(show, "film.mp4"))
	tor := thirdPartySwarm(t, dir, "show")

	mnt, cache := t.TempDir(), t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", cache, "--cache-max-size", "64M",
		"--read-timeout", "30s", tor, mnt}, loopback...)...)
	m.waitReady(t)
	film := filepath.Join(mnt, "show", "film.mp4")
	if got := ffprobe(t, film); got != want {
		t.Fatalf("ffprobe through the mount:\n%s\nof the source:\n%s", got, want)
	}
	file := filepath.Join(mnt, "show", "movie.bin")
	streamEqual(t, file, data)
	dropPageCache(t, file)
	streamEqual(t, file, data)

	// A player that seeks back to the start, evicted again by the second read.
	dropPageCache(t, file)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4<<20)
	for _, off := range []int64{int64(len(data)) - int64(len(buf)), 0, int64(len(data)) / 3} {
		if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
			t.Fatalf("read at %d after a seek: %v", off, err)
		}
		if !bytes.Equal(buf, data[off:off+int64(len(buf))]) {
			t.Fatalf("read at %d after a seek: bytes differ from the source", off)
		}
	}
	f.Close()
	// The film's pieces were the least recently used: evicted by the streams.
	_, status, _ := torrentfs(t, nil, "status", mnt)
	if !strings.Contains(status, "film.mp4") || strings.Contains(status, "100%  film.mp4") {
		t.Fatalf("the film's pieces should have been evicted by now; status:\n%s", status)
	}
	dropPageCache(t, film)
	if got := ffprobe(t, film); got != want {
		t.Fatalf("second ffprobe through the mount:\n%s\nof the source:\n%s", got, want)
	}

	// Eviction does not make the mount a leech: a libtorrent that knows of the mount alone
	// (its copy of the torrent names no tracker) gets what the mount holds.
	bare := filepath.Join(dir, "bare.torrent")
	mktorrent(t, bare, show, 18, "")
	m.waitReady(t)
	leecher, _ := libtorrent(t, bare, t.TempDir(), m.listenAddr(t))
	leecher.waitFor(t, "pieces ") // printed from the first piece on
	if _, status, _ = torrentfs(t, nil, "status", mnt); strings.Contains(status, " 0 B up") {
		t.Fatalf("libtorrent got a piece, but the mount uploaded nothing:\n%s", status)
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// TestNeedPeersAnnounce mounts a torrent whose only seeder the tracker learns of after the
// mount's first announce, and which never dials the mount: a read waiting for a piece nobody
// connected has announces again, finds the seeder and returns the source's bytes, long
// before the tracker's regular interval.
func TestNeedPeersAnnounce(t *testing.T) {
	dir := t.TempDir()
	data := writePayload(t, filepath.Join(dir, "f.bin"), 4<<20, 46)
	// The seeder's copy names no tracker, so it never announces and never learns of the mount.
	bare := filepath.Join(dir, "bare.torrent")
	mktorrent(t, bare, filepath.Join(dir, "f.bin"), 18, "")
	tor := filepath.Join(dir, "f.torrent")
	var tport int
	ih := trackedTorrent(t, tor, filepath.Join(dir, "f.bin"), 18, atOpentracker(t, &tport)).HashInfoBytes()

	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--read-timeout", "40s", "--log-level", "debug", tor, mnt}, loopback...)...)
	// The mount's first announce: the tracker lists a peer without the data.
	m.waitReady(t)
	waitUntil(t, "the mount's first announce", func() bool { return scrape(t, tport, ih).Incomplete == 1 })
	seeder := aria2(t, bare, dir, "--check-integrity=true", "--seed-ratio=0.0")
	waitAccepting(t, "aria2c", seeder.port, seeder.exited)
	// Announce the seeder by hand, as it would itself.
	announceAs(t, tport, ih, seeder.port, "-AR0000-000000000000")

	streamEqual(t, filepath.Join(mnt, "f.bin"), data)
	// The announce a read caused is what this checks: only it could name the seeder
	// (anacrolix announces again after the tracker's interval, half an hour), and it
	// logged before it added the peers it named.
	m.wantLogged(t, "msg=\"need-peers announce\"")
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}
