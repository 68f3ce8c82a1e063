package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// TestSwarmSharesTheSeed mounts one torrent in three processes, each with its own cache,
// that find an aria2 seeder and each other only through a tracker, and reads the file
// through all three at once, each in its own random order of 4 MiB blocks. Every byte read
// equals the source, and the seeder sends fewer than 1.7 copies of the file: the mounts ask
// it for different pieces and pass them on (anacrolix patch 0011). Before that change, each
// mount took much of its own copy from the seeder: 2.0 copies here, against 1.3 to 1.4 after.
// Patch 0014 takes it to about 1.1, but under -race with other tests running it still sent
// 1.45 to 1.69 in some runs (1.64 with 0011 alone), so the bound stays.
func TestSwarmSharesTheSeed(t *testing.T) {
	const size, block, mounts = 64<<20 + 12345, 4 << 20, 3
	const maxCopies = 1.7
	src := t.TempDir()
	data := writePayload(t, filepath.Join(src, "f.bin"), size, 47)
	base := filepath.Join(t.TempDir(), "f.torrent")
	mktorrent(t, base, filepath.Join(src, "f.bin"), 18, "http://127.0.0.1:1/announce")
	sw := newSwarmNet(t, base, src)

	var ps []*proc
	var mnts []string
	for range mounts {
		mnt := t.TempDir()
		p := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), sw.tor, mnt}, loopback...)...)
		p.waitReady(t)
		sw.announced(t)
		ps, mnts = append(ps, p), append(mnts, mnt)
	}

	errs := make([]error, mounts)
	var wg sync.WaitGroup
	for i, mnt := range mnts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = readBlocksEqual(filepath.Join(mnt, "f.bin"), data, block, uint64(i))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	up, _ := aria2Transfer(t, sw.rpc)
	copies := float64(up) / size
	t.Logf("the seeder sent %.2f copies", copies)
	if copies >= maxCopies {
		t.Errorf("the seeder sent %.2f copies of the file to %d mounts reading it at once; want < %.1f", copies, mounts, maxCopies)
	}
	for _, p := range ps {
		if code := p.stop(t, syscall.SIGINT); code != 0 {
			t.Errorf("mount: exit %d", code)
		}
	}
}

// readBlocksEqual reads the file at path in blocks of block bytes, in a random order seeded
// by seed, and compares each with want.
func readBlocksEqual(path string, want []byte, block int, seed uint64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	order := rand.New(rand.NewPCG(seed, 47)).Perm((len(want) + block - 1) / block)
	buf := make([]byte, block)
	for _, b := range order {
		off := b * block
		n := min(block, len(want)-off)
		if _, err := f.ReadAt(buf[:n], int64(off)); err != nil {
			return fmt.Errorf("read %s at %d: %w", path, off, err)
		}
		if !bytes.Equal(buf[:n], want[off:off+n]) {
			return fmt.Errorf("%s: the %d bytes at %d differ from the source", path, n, off)
		}
	}
	return nil
}
