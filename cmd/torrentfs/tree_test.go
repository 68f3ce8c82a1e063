package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// TestTreeCopy copies a many-file torrent out of a fresh mount with cp -r, as issue #13's
// tree copy does: every file equals its source, the empty ones and those smaller than a
// piece that span a piece boundary included. Files read to their end read ahead into the
// next ones (fetch's TestTreeCopy checks that part).
func TestTreeCopy(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{}
	for i, n := range []int{0, 1, 100, 16<<10 - 7, 30 << 10, 0, 3<<20 + 12345, 9, 40 << 10, 0, 1 << 20, 5000} {
		files[fmt.Sprintf("tree/d%d/f%02d", i/4, i)] = fetchtest.Payload(n, uint64(i+1))
	}
	writeTree(t, dir, files)
	tor := filepath.Join(dir, "tree.torrent")
	if code, _, errOut := torrentfs(t, nil, "create", "--piece-length", "16K", "-o", tor, filepath.Join(dir, "tree")); code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	seeder := start(t, nil, append([]string{"seed", tor, filepath.Join(dir, "tree")}, loopback...)...)
	addr := seeder.seedAddr(t)
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr, tor, mnt}, loopback...)...)
	m.waitReady(t)
	dst := t.TempDir()
	if out, err := exec.Command("cp", "-r", filepath.Join(mnt, "tree"), dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -r: %v\n%s", err, out)
	}
	checkTree(t, dst, files)
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}
