package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// outside returns a directory outside the cache holding one file, and a check that fails
// the test if anything in it changed: its names, the file's bytes, mode or times.
func outside(t *testing.T) (dir, file string, unchanged func()) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(dir, "precious")
	if err := os.WriteFile(file, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(file, old, old); err != nil {
		t.Fatal(err)
	}
	return dir, file, func() {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) != 1 || entries[0].Name() != "precious" {
			t.Fatalf("the directory outside the cache was written in: %v, %v", entries, err)
		}
		b, err := os.ReadFile(file)
		st, serr := os.Stat(file)
		if err != nil || serr != nil || string(b) != "precious\n" || st.Mode().Perm() != 0o644 || !st.ModTime().Equal(old) {
			t.Fatalf("the file outside the cache was touched: %q %v %v %v", b, st, err, serr)
		}
	}
}

// TestCacheDirMode checks that Open refuses a cache directory its group or others may
// write in, with a *ModeError, and writes nothing in it; 0755 (systemd's CacheDirectory=
// default) and 0700 are taken.
func TestCacheDirMode(t *testing.T) {
	for _, mode := range []os.FileMode{0o777, 0o770, os.ModeSticky | 0o777, 0o702} {
		dir := t.TempDir()
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		c, err := Open(dir, Options{})
		if err == nil {
			c.Close()
			t.Fatalf("Open of a directory of mode %04o succeeded", mode)
		}
		me, ok := errors.AsType[*ModeError](err)
		if !ok || me.Dir != dir || !strings.Contains(err.Error(), "writable by other users") {
			t.Fatalf("Open of a directory of mode %04o: %v; want a *ModeError naming it", mode, err)
		}
		if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
			t.Fatalf("Open wrote in the refused directory: %v, %v", entries, err)
		}
	}
	for _, mode := range []os.FileMode{0o755, 0o700, 0o711} {
		dir := t.TempDir()
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		c, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("Open of a directory of mode %04o: %v", mode, err)
		}
		c.Close()
	}
}

// TestPlantedTorrentDir checks that a torrent's directory planted in the cache, a symlink
// or another user's directory, is refused with a *PlantedError that names it, nothing is
// written through it, and the other torrents of the cache keep working.
func TestPlantedTorrentDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("this test gives a directory to another user: run it as root (uid is %d)", os.Geteuid())
	}
	const nobody = 65534
	dir := t.TempDir()
	c, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, _ := testInfo(t)
	victim, _, unchanged := outside(t)

	link := metainfo.HashBytes([]byte("symlink"))
	if err := os.Symlink(victim, filepath.Join(dir, link.HexString())); err != nil {
		t.Fatal(err)
	}
	theirs := metainfo.HashBytes([]byte("theirs"))
	theirDir := filepath.Join(dir, theirs.HexString())
	if err := os.Mkdir(theirDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirDir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	open := func(ih metainfo.Hash) error {
		if err := c.Acquire(ih); err != nil {
			return err
		}
		_, err := storage.NewClient(c).OpenTorrent(context.Background(), info, ih)
		return err
	}
	for ih, what := range map[metainfo.Hash]string{link: "is a symlink", theirs: "belongs to uid 65534"} {
		err := open(ih)
		pe, ok := errors.AsType[*PlantedError](err)
		if !ok || pe.Path != filepath.Join(dir, ih.HexString()) || pe.What != what || !strings.HasSuffix(err.Error(), ": remove it") {
			t.Fatalf("open of a planted torrent dir (%s): %v; want a *PlantedError saying so", what, err)
		}
	}
	if entries, err := os.ReadDir(theirDir); err != nil || len(entries) != 0 {
		t.Fatalf("the other user's directory was written in: %v, %v", entries, err)
	}
	unchanged()

	// The cache tools refuse them too, and touch nothing.
	for _, ih := range []metainfo.Hash{link, theirs} {
		if _, err := Verify(dir, ih); !isPlanted(err) {
			t.Fatalf("Verify of a planted torrent dir: %v; want a *PlantedError", err)
		}
		if err := Remove(dir, ih); !isPlanted(err) {
			t.Fatalf("Remove of a planted torrent dir: %v; want a *PlantedError", err)
		}
	}
	unchanged()

	// Another torrent is served as ever.
	if err := open(metainfo.HashBytes([]byte("good"))); err != nil {
		t.Fatalf("a torrent beside planted ones: %v", err)
	}
}

func isPlanted(err error) bool {
	_, ok := errors.AsType[*PlantedError](err)
	return ok
}

// TestPlantedRecord checks that symlinks planted where the cache keeps its records are not
// followed: a torrent's lock file refuses the torrent, its torrent.json and a record written
// with WriteRecord are replaced, not written through, and ReadRecord refuses to read one.
func TestPlantedRecord(t *testing.T) {
	dir := t.TempDir()
	_, file, unchanged := outside(t)
	info, _ := testInfo(t)
	ih := metainfo.HashBytes([]byte("test"))
	tdir := filepath.Join(dir, ih.HexString())
	if err := os.Mkdir(tdir, 0o700); err != nil {
		t.Fatal(err)
	}

	// The lock file: the torrent is refused.
	lock := filepath.Join(tdir, "torrentfs.lock")
	if err := os.Symlink(file, lock); err != nil {
		t.Fatal(err)
	}
	c, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Acquire(ih)
	if pe, ok := errors.AsType[*PlantedError](err); !ok || pe.Path != lock {
		t.Fatalf("Acquire with a symlink as lock file: %v; want a *PlantedError naming it", err)
	}
	c.Close()
	unchanged()
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}

	// torrent.json: replaced, as it is rewritten, and its time set on the link alone.
	meta := filepath.Join(tdir, metaFile)
	if err := os.Symlink(file, meta); err != nil {
		t.Fatal(err)
	}
	c, ti := openTest(t, dir, info)
	ti.Close()
	c.Close()
	unchanged()
	if st, err := os.Lstat(meta); err != nil || !st.Mode().IsRegular() {
		t.Fatalf("torrent.json after a reopen: %v, %v; want a file of the cache's", st, err)
	}
	if err := os.Remove(meta); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(file, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := List(dir); err != nil { // reads torrent.json and keeps its time
		t.Fatal(err)
	}
	unchanged()

	// Records by name (names.json, say).
	rec := filepath.Join(dir, "names.json")
	if err := os.Symlink(file, rec); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadRecord(dir, "names.json"); !isPlanted(err) {
		t.Fatalf("ReadRecord of a symlink: %q, %v; want a *PlantedError", b, err)
	}
	if err := WriteRecord(dir, "names.json", []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	unchanged()
	if b, err := ReadRecord(dir, "names.json"); err != nil || string(b) != "{}\n" {
		t.Fatalf("ReadRecord after WriteRecord: %q, %v", b, err)
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(entries) != 0 {
		t.Fatalf("WriteRecord left temporary files: %v", entries)
	}

	// The ballast is never made through a symlink.
	ballast := filepath.Join(dir, ballastName)
	if err := os.Remove(ballast); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if err := os.Symlink(file, ballast); err != nil {
		t.Fatal(err)
	}
	keepBallast(dir, 1<<20, 1<<40, 0)
	unchanged()
}

// TestCacheDirLink: a cache directory named through a symlink of another user's (one planted
// in /tmp, pointing root's cache at a directory of root's) is refused; the user's own link,
// to a cache on another disk say, is followed.
func TestCacheDirLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("run as root: the test makes a link that belongs to nobody")
	}
	target, links := t.TempDir(), t.TempDir()
	planted, own := filepath.Join(links, "planted"), filepath.Join(links, "own")
	for _, l := range []string{planted, own} {
		if err := os.Symlink(target, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Lchown(planted, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := Open(planted, Options{})
	if pe, ok := errors.AsType[*PlantedError](err); !ok || pe.Path != planted {
		t.Fatalf("Open through another user's link: %v; want a *PlantedError naming it", err)
	}
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Fatalf("Open wrote through the refused link: %v", entries)
	}
	c, err := Open(own, Options{})
	if err != nil {
		t.Fatalf("Open through the user's own link: %v", err)
	}
	c.Close()
}
