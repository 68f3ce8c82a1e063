package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// dhtRuns is how many times each row of the dht part mounts, for its median.
const dhtRuns = 5

// dhtMagnet: issue #23's "exec → listing and → first byte for a bare magnet". A libtorrent
// node is the DHT's bootstrap node and a libtorrent seeder announces a 10 MiB one-file
// torrent on the DHT (fetch/testdata/ltdht.py, in the benchmark's private network
// namespace). Each run execs `torrentfs mount` of the bare magnet link (no tracker, no peer)
// with --dht-bootstrap, on a fresh cache (so no saved routing table), and times the listing
// of its file and the first byte read from it. The baseline is the same torrent from its
// .torrent file with the seeder named by --peer: what finding the peer and the metadata on
// the DHT adds.
func (r *benchRun) dhtMagnet() {
	const label = "bare magnet through the DHT, 10 MiB one-file torrent"
	r.progress("profile %s", label)
	const boot = "127.0.0.2:6881"
	bootNode := ltDHTNode(r.b, boot, nil)
	data := fetchtest.Payload(10<<20, 31)
	sw := fetchtest.NewSwarm(r.b, "dht.bin", []fetchtest.File{{Data: data}}, 256<<10)
	dir := r.temp()
	if err := os.WriteFile(filepath.Join(dir, "dht.bin"), data, 0o644); err != nil {
		r.b.Fatal(err)
	}
	seeder := ltDHTNode(r.b, "127.0.0.5:6881", []string{boot}, "--seed", sw.TorrentPath, dir)
	seeder.waitFor(r.b, "seeding")
	bootNode.waitFor(r.b, "announce "+sw.InfoHash)
	magnet := "magnet:?xt=urn:btih:" + sw.InfoHash

	run := func(source string, flags ...string) (listed, first time.Duration) {
		mnt, cacheDir := r.temp(), r.temp()
		args := append([]string{"mount", "--cache-dir", cacheDir, "--listen", "127.0.0.1:0", "--no-upnp", "--no-pex"}, flags...)
		t0 := time.Now()
		p := start(r.b, nil, append(args, source, mnt)...)
		waitListed(r.b, mnt, "dht.bin")
		listed = time.Since(t0)
		f, err := os.Open(filepath.Join(mnt, "dht.bin"))
		if err != nil {
			r.b.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := f.Read(b); err != nil || b[0] != data[0] {
			r.b.Fatalf("first byte: %v (%x, want %x)", err, b, data[:1])
		}
		first = time.Since(t0)
		f.Close()
		p.waitReady(r.b)
		unmount(r.b, p)
		return listed, first
	}
	var dhtList, dhtFirst, peerList, peerFirst []time.Duration
	for range dhtRuns {
		l, f := run(magnet, "--dht-bootstrap", boot)
		dhtList, dhtFirst = append(dhtList, l), append(dhtFirst, f)
		l, f = run(sw.TorrentPath, "--no-dht", "--peer", "127.0.0.5:6881")
		peerList, peerFirst = append(peerList, l), append(peerFirst, f)
	}
	row := func(what string, got, base []time.Duration) {
		g, b := median(got), median(base)
		r.add(benchRow{label, fmt.Sprintf("exec → %s, median of %d (min %s, max %s)", what, dhtRuns, ms(slices.Min(got)), ms(slices.Max(got))),
			ms(g), ms(b) + " (.torrent and --peer)", fmt.Sprintf("%.2f×", float64(g)/float64(b)), "", true})
	}
	row("file listed at the mount point", dhtList, peerList)
	row("first byte read", dhtFirst, peerFirst)
}
