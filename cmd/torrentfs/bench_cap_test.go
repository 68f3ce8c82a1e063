//go:build linux

package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/torrentfs/torrentfs/internal/human"
	"github.com/torrentfs/torrentfs/status"
)

// capScale: the cap holds whatever its size. A file three times the largest cap streams
// through caches of 64 MiB (Badger's value-log files of 4 MiB) and 1 GiB (64 MiB files,
// the largest), once read from the start and once with --prefetch all filling the cache at
// full loopback speed first. Peak du of the cache directory, sampled every 20 ms, must stay
// within cap + 8 MiB.
func (r *benchRun) capScale() {
	const largest = 1 << 30
	src := filepath.Join(r.dir, "cap.bin")
	writeRandom(r.b, src, 3*largest)
	r.progress("wrote %s", src)
	tor := r.create(src, "")
	seeder := start(r.b, nil, append([]string{"seed", tor, src}, loopback...)...)
	defer seeder.stop(r.b, syscall.SIGINT)
	peer := seeder.seedAddr(r.b)
	for _, capSize := range []int64{64 << 20, largest} {
		for _, prefetch := range []bool{false, true} {
			extra := []string{"--cache-max-size", strconv.FormatInt(capSize, 10)}
			what := "a stream"
			if prefetch {
				extra = append(extra, "--prefetch", "all")
				what = "--prefetch all, then a stream"
			}
			mnt, p, _ := r.mount(tor, "", extra, peer)
			stopDu := watchDu(r.b, p.cmd.Args[3])
			if prefetch {
				// The first eviction stops the background fill (fetch.Client.Evicted).
				waitStatus(r.b, mnt, anyTorrent(func(tr status.Torrent) bool { return tr.Evicted > 0 }))
			}
			d := timeRead(r.b, filepath.Join(mnt, filepath.Base(src)), 0, 3*largest)
			peak := stopDu()
			unmount(r.b, p)
			r.add(benchRow{fmt.Sprintf("cap %s", human.Bytes(capSize)),
				fmt.Sprintf("peak du while %s of %s went through (%s)", what, human.Bytes(3*largest), mibps(3*largest, d)),
				fmt.Sprintf("%.1f MiB", float64(peak)/(1<<20)), human.Bytes(capSize) + " (the cap)",
				fmt.Sprintf("%.1f%%", float64(peak)*100/float64(capSize)), "≤ cap + 8 MiB", peak <= capSize+capBound})
		}
	}
}
