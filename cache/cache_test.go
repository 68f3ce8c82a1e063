package cache

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	storagetest "github.com/torrentfs/torrentfs/third_party/anacrolix-torrent/test"
	"github.com/torrentfs/torrentfs/third_party/badger"
	"golang.org/x/sys/unix"
)

func TestLeecherStorage(t *testing.T) {
	storagetest.TestLeecherStorage(t, storagetest.LeecherStorageTestCase{
		Name: "badger",
		Factory: func(dir string) storage.ClientImplCloser {
			c, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
	})
}

const testPieceLen = 64 << 10

// testInfo returns a torrent of 3 full pieces and a short one, and its bytes.
func testInfo(t *testing.T) (*metainfo.Info, []byte) {
	data := make([]byte, 3*testPieceLen+1000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	info := &metainfo.Info{Name: "x", PieceLength: testPieceLen, Length: int64(len(data))}
	for off := 0; off < len(data); off += testPieceLen {
		h := sha1.Sum(data[off:min(off+testPieceLen, len(data))])
		info.Pieces = append(info.Pieces, h[:]...)
	}
	return info, data
}

func openTest(t *testing.T, dir string, info *metainfo.Info) (*Cache, *storage.Torrent) {
	t.Helper()
	c, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ti, err := storage.NewClient(c).OpenTorrent(context.Background(), info, metainfo.HashBytes([]byte("test")))
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c, ti
}

// writePiece writes piece i of data in 16 KiB chunks, in reverse order, as peers might.
func writePiece(t *testing.T, ti *storage.Torrent, info *metainfo.Info, data []byte, i int) storage.Piece {
	t.Helper()
	p := ti.Piece(info.Piece(i))
	start := int64(i) * info.PieceLength
	plen := info.Piece(i).Length()
	for off := (plen - 1) / blockSize * blockSize; off >= 0; off -= blockSize {
		end := min(off+blockSize, plen)
		if _, err := p.WriteAt(data[start+off:start+end], off); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// writeAll writes every piece of data and marks it complete.
func writeAll(t *testing.T, ti *storage.Torrent, info *metainfo.Info, data []byte) {
	t.Helper()
	for i := range info.NumPieces() {
		if err := writePiece(t, ti, info, data, i).MarkComplete(); err != nil {
			t.Fatal(err)
		}
	}
}

func readPiece(t *testing.T, p storage.Piece) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReopenKeepsCompletion(t *testing.T) {
	info, data := testInfo(t)
	dir := t.TempDir()
	c, ti := openTest(t, dir, info)
	for _, i := range []int{0, 3} {
		if err := writePiece(t, ti, info, data, i).MarkComplete(); err != nil {
			t.Fatal(err)
		}
	}
	writePiece(t, ti, info, data, 1) // written, never verified
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c, ti = openTest(t, dir, info)
	defer c.Close()
	for i, want := range []bool{true, false, false, true} {
		p := ti.Piece(info.Piece(i))
		if got := p.Completion(); !got.Ok || got.Complete != want {
			t.Errorf("piece %d: completion %+v, want complete=%v", i, got, want)
		}
	}
	for _, i := range []int{0, 3} {
		start := int64(i) * info.PieceLength
		want := data[start : start+info.Piece(i).Length()]
		if got := readPiece(t, ti.Piece(info.Piece(i))); !bytes.Equal(got, want) {
			t.Errorf("piece %d: bytes differ after reopen", i)
		}
	}
	// The torrent-wide reader crosses block boundaries and stops at the end of a piece
	// (anacrolix's Reader comes back for the next one); where nothing is stored (piece 2)
	// it stops too.
	r := ti.NewReader()
	defer r.Close()
	got := make([]byte, 5000)
	off := int64(testPieceLen - 2000)
	n, err := r.ReadAt(got, off)
	if n != 2000 || err == nil || !bytes.Equal(got[:n], data[off:off+2000]) {
		t.Fatalf("read up to a piece end: n=%d err=%v", n, err)
	}
	if n, err := r.ReadAt(got, testPieceLen); n != len(got) || err != nil || !bytes.Equal(got, data[testPieceLen:testPieceLen+5000]) {
		t.Fatalf("read across blocks in piece 1: n=%d err=%v", n, err)
	}
	if n, err := r.ReadAt(got, 2*testPieceLen-100); n != 100 || err == nil {
		t.Fatalf("read into a missing piece: n=%d err=%v, want 100 and an error", n, err)
	}
}

func TestMarkCompleteNeedsEveryBlock(t *testing.T) {
	info, data := testInfo(t)
	c, ti := openTest(t, t.TempDir(), info)
	defer c.Close()
	p := ti.Piece(info.Piece(0))
	if _, err := p.WriteAt(data[:blockSize], 0); err != nil {
		t.Fatal(err)
	}
	if err := p.MarkComplete(); err == nil {
		t.Fatal("MarkComplete succeeded with 1 of 4 blocks stored")
	}
	if p.Completion().Complete {
		t.Fatal("piece reported complete")
	}
}

func TestPartialWritesMerge(t *testing.T) {
	info, data := testInfo(t)
	c, ti := openTest(t, t.TempDir(), info)
	defer c.Close()
	p := ti.Piece(info.Piece(3)) // the short last piece
	plen := int(info.Piece(3).Length())
	start := 3 * testPieceLen
	for off := 0; off < plen; off += 7 {
		end := min(off+7, plen)
		if _, err := p.WriteAt(data[start+off:start+end], int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.MarkComplete(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readPiece(t, p), data[start:]) {
		t.Fatal("bytes differ")
	}
}

func TestMarkNotCompleteForgets(t *testing.T) {
	info, data := testInfo(t)
	c, ti := openTest(t, t.TempDir(), info)
	defer c.Close()
	p := writePiece(t, ti, info, data, 0)
	if err := p.MarkComplete(); err != nil {
		t.Fatal(err)
	}
	if err := p.MarkNotComplete(); err != nil {
		t.Fatal(err)
	}
	if p.Completion().Complete {
		t.Fatal("still complete")
	}
	if _, err := p.WriteTo(io.Discard); err == nil {
		t.Fatal("blocks of a forgotten piece are still readable")
	}
}

func TestSecondOpenIsInUse(t *testing.T) {
	info, _ := testInfo(t)
	dir := t.TempDir()
	c, _ := openTest(t, dir, info)
	defer c.Close()
	c2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_, err = c2.OpenTorrent(context.Background(), info, metainfo.HashBytes([]byte("test")))
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second open: %v, want ErrInUse", err)
	}
}

func TestUnwritableDir(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(f, "cache"), Options{}); err == nil {
		t.Fatal("Open under a regular file succeeded")
	}
	ro := t.TempDir()
	if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	// Root ignores permission bits; a read-only bind is not available everywhere, so only
	// check the message when the kernel does refuse.
	if _, err := os.CreateTemp(ro, "x"); err != nil {
		if _, err := Open(ro, Options{}); err == nil {
			t.Fatal("Open of a read-only dir succeeded")
		}
	}
}

// TestOtherUsersDir checks that Open refuses a cache directory that belongs to another
// user, with an *OwnerError, and writes nothing in it.
func TestOtherUsersDir(t *testing.T) {
	dir, owner := t.TempDir(), 65534 // nobody
	if os.Geteuid() == 0 {
		if err := os.Chown(dir, owner, owner); err != nil {
			t.Fatal(err)
		}
	} else {
		st, err := os.Stat("/")
		if err != nil {
			t.Fatal(err)
		}
		dir, owner = "/", int(st.Sys().(*syscall.Stat_t).Uid)
		if owner == os.Geteuid() {
			t.Fatal("not root, and / is ours: no directory of another user to try")
		}
	}
	c, err := Open(dir, Options{})
	if err == nil {
		c.Close()
		t.Fatalf("Open of a directory of uid %d succeeded", owner)
	}
	oe, ok := errors.AsType[*OwnerError](err)
	if !ok || oe.Dir != dir || oe.Owner != owner || oe.Uid != os.Geteuid() {
		t.Fatalf("Open of a directory of uid %d: %v; want an *OwnerError naming it", owner, err)
	}
	if owner != 0 {
		if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
			t.Fatalf("Open wrote in the refused directory: %v, %v", entries, err)
		}
	}
}

// TestCrash kills a process with SIGKILL after it has verified piece 0 and written, but not
// verified, piece 1. On reopen piece 0 must be complete with its exact bytes and piece 1 must
// not be complete.
func TestCrash(t *testing.T) {
	if dir := os.Getenv("CACHE_CRASH_DIR"); dir != "" {
		crashChild(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
	cmd.Env = append(os.Environ(), "CACHE_CRASH_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q %v", line, err)
	}
	cmd.Process.Kill()
	cmd.Wait()

	info, data := testInfo(t)
	c, ti := openTest(t, dir, info)
	defer c.Close()
	p0, p1 := ti.Piece(info.Piece(0)), ti.Piece(info.Piece(1))
	if !p0.Completion().Complete {
		t.Fatal("verified piece lost in crash")
	}
	if !bytes.Equal(readPiece(t, p0), data[:testPieceLen]) {
		t.Fatal("verified piece has wrong bytes after crash")
	}
	if p1.Completion().Complete {
		t.Fatal("unverified piece complete after crash")
	}
}

func crashChild(t *testing.T, dir string) {
	info, data := testInfo(t)
	_, ti := openTest(t, dir, info)
	if err := writePiece(t, ti, info, data, 0).MarkComplete(); err != nil {
		t.Fatal(err)
	}
	writePiece(t, ti, info, data, 1)
	os.Stdout.WriteString("ready\n")
	select {} // killed by the parent
}

// benchTorrent opens a cache holding a torrent of one 4 MiB piece, for benchmarks.
func benchTorrent(b *testing.B) (*Cache, *storage.Torrent, *metainfo.Info, []byte) {
	data := make([]byte, 4<<20)
	rand.NewChaCha8([32]byte{5}).Read(data)
	info := &metainfo.Info{Name: "b", PieceLength: 4 << 20, Length: int64(len(data))}
	h := sha1.Sum(data)
	info.Pieces = h[:]
	c, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	ti, err := storage.NewClient(c).OpenTorrent(context.Background(), info, metainfo.HashBytes([]byte("bench")))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c, ti, info, data
}

// BenchmarkWriteChunk writes 16 KiB chunks as they come from peers.
func BenchmarkWriteChunk(b *testing.B) {
	_, ti, info, data := benchTorrent(b)
	p := ti.Piece(info.Piece(0))
	b.SetBytes(blockSize)
	i := 0
	for b.Loop() {
		off := int64(i%256) * blockSize
		if _, err := p.WriteAt(data[off:off+blockSize], off); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkReadPiece reads a complete 4 MiB piece through the torrent-wide reader, as a
// FUSE read or an upload does.
func BenchmarkReadPiece(b *testing.B) {
	_, ti, info, data := benchTorrent(b)
	p := ti.Piece(info.Piece(0))
	if _, err := p.WriteAt(data, 0); err != nil {
		b.Fatal(err)
	}
	if err := p.MarkComplete(); err != nil {
		b.Fatal(err)
	}
	r := ti.NewReader()
	buf := make([]byte, len(data))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := r.ReadAt(buf, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashPiece hashes a complete 4 MiB piece as anacrolix does to verify it
// (piece.WriteTo into SHA-1).
func BenchmarkHashPiece(b *testing.B) {
	_, ti, info, data := benchTorrent(b)
	p := ti.Piece(info.Piece(0))
	if _, err := p.WriteAt(data, 0); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		h := sha1.New()
		if _, err := p.WriteTo(h); err != nil {
			b.Fatal(err)
		}
		if !bytes.Equal(h.Sum(nil), info.Pieces) {
			b.Fatal("hash mismatch")
		}
	}
}

// BenchmarkMarkComplete checks the blocks of a 4 MiB piece and writes its marker.
func BenchmarkMarkComplete(b *testing.B) {
	_, ti, info, data := benchTorrent(b)
	p := ti.Piece(info.Piece(0))
	if _, err := p.WriteAt(data, 0); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := p.MarkComplete(); err != nil {
			b.Fatal(err)
		}
	}
}

// anacrolix can deliver a chunk after the client and the cache are closed: the write must
// fail, not crash.
func TestWriteAfterClose(t *testing.T) {
	info, data := testInfo(t)
	c, ti := openTest(t, t.TempDir(), info)
	p := ti.Piece(info.Piece(0))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := p.WriteAt(data[:blockSize], 0)
	var we *WriteError
	if !errors.As(err, &we) || we.Piece != 0 || !errors.Is(err, errClosed) {
		t.Fatalf("write after close: %v, want a *WriteError for piece 0 wrapping errClosed", err)
	}
}

// A database Badger cannot open is started afresh only if the directory can be written:
// a damaged manifest is damage, a read-only file system is the system refusing, an error
// the user must see.
func TestRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "MANIFEST"), []byte("not a manifest"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := badger.Open(badgerOptions(dir, slog.New(slog.DiscardHandler), 4<<20)); err == nil {
		t.Fatal("badger opened a damaged manifest")
	}
	if err := refused(dir); err != nil {
		t.Fatalf("a writable directory with a damaged manifest: %v; want damage, not a refusal", err)
	}

	ro := t.TempDir()
	if err := unix.Mount("tmpfs", ro, "tmpfs", unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("mount a read-only tmpfs (the tests run as root): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(ro, unix.MNT_DETACH) })
	err := refused(ro)
	if !errors.As(err, new(*refusal)) || !errors.Is(err, syscall.EROFS) {
		t.Fatalf("a read-only file system: %v; want a refusal wrapping EROFS", err)
	}
}

// anacrolix hashes, marks and reads pieces from goroutines its Client.Close does not wait
// for, so the cache can close under them. Each use must either finish or fail with an
// error; Badger alone panics ("DB Closed") when a transaction starts during its Close, and
// reading its mmapped value log after Close faults. Each round closes after a few more
// uses, so that Close lands at a different point of them.
func TestUseDuringClose(t *testing.T) {
	info, data := testInfo(t)
	for round := range 20 {
		c, ti := openTest(t, t.TempDir(), info)
		var pieces []storage.Piece
		for i := range info.NumPieces() {
			p := writePiece(t, ti, info, data, i)
			if err := p.MarkComplete(); err != nil {
				t.Fatal(err)
			}
			pieces = append(pieces, p)
		}
		done := make(chan error)
		var started sync.WaitGroup
		started.Add(len(pieces))
		for _, p := range pieces {
			go func() {
				for n := 0; ; n++ {
					if n == round {
						started.Done()
					}
					var err error
					switch rand.IntN(3) {
					case 0:
						err = p.MarkComplete()
					case 1:
						_, err = p.WriteTo(io.Discard)
					default:
						_, err = p.ReadAt(make([]byte, 1000), 0)
					}
					if err != nil {
						if n < round {
							started.Done()
						}
						done <- err
						return
					}
				}
			}()
		}
		started.Wait()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		for range pieces {
			if err := <-done; !errors.Is(err, errClosed) {
				t.Fatalf("round %d: a use during close failed with %v, want %v", round, err, errClosed)
			}
		}
	}
}

func TestInfoKept(t *testing.T) {
	info, _ := testInfo(t)
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	ih := metainfo.HashBytes(ib)
	dir := t.TempDir()
	c, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Acquire(ih); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadInfo(ih); !errors.Is(err, ErrNoInfo) {
		t.Fatalf("LoadInfo before SaveInfo: %v, want ErrNoInfo", err)
	}
	if err := c.SaveInfo(ih, ib); err != nil {
		t.Fatal(err)
	}
	c.Close()

	c, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Acquire(ih); err != nil {
		t.Fatal(err)
	}
	got, err := c.LoadInfo(ih)
	if err != nil || !bytes.Equal(got, ib) {
		t.Fatalf("LoadInfo after reopen: %v, equal=%v", err, bytes.Equal(got, ib))
	}
	// Info that does not hash to the info-hash is refused.
	other := metainfo.HashBytes([]byte("other"))
	if err := c.Acquire(other); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveInfo(other, ib); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadInfo(other); err == nil {
		t.Fatal("LoadInfo returned info that does not match the info-hash")
	}
}

// Mounting again saves the same info dictionary again; Badger starts a value-log file per
// open, and a rewritten info dictionary (above 4 KiB, so in the value log) kept each one:
// a cache remounted a thousand times had a thousand files open.
func TestRemountWritesNothing(t *testing.T) {
	info, _ := bigInfo(t, 32<<20, 16<<10) // 2048 piece hashes: a 40 KiB info dictionary
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	ih := metainfo.HashBytes(ib)
	dir := t.TempDir()
	vlogs := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, ih.HexString(), "*.vlog"))
		return len(m)
	}
	for i := range 6 {
		c, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Acquire(ih); err != nil {
			t.Fatal(err)
		}
		if err := c.SaveInfo(ih, ib); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		// Badger deletes an empty value-log file at open, unless it is the last one: the
		// files settle at the one with data and two empty ones.
		if n := vlogs(); i >= 2 && n != 3 {
			t.Fatalf("open %d: %d value-log files, want 3", i+1, n)
		}
	}
}

// TestDamagedCache damages a closed cache's files, as a failing disk or a stray edit would.
// A block whose bytes changed fails its checksum: the read fails, and the piece is no longer
// complete, so anacrolix fetches it again; nothing of it is returned, and the other pieces
// still are. A database that cannot be opened at all is started afresh.
func TestDamagedCache(t *testing.T) {
	info, data := testInfo(t)
	dir := t.TempDir()
	c, ti := openTest(t, dir, info)
	writeAll(t, ti, info, data)
	c.Close()
	// Rewrite piece 0 in a second session: its new values go to a new value-log file. Badger
	// checks only the last file when it opens, and truncates it at a damaged entry; in the
	// older one, a damaged value is found when read.
	c, ti = openTest(t, dir, info)
	if err := ti.Piece(info.Piece(0)).MarkNotComplete(); err != nil {
		t.Fatal(err)
	}
	if err := writePiece(t, ti, info, data, 0).MarkComplete(); err != nil {
		t.Fatal(err)
	}
	c.Close()

	// Flip a byte of piece 2, block 1, where it lies in the value log.
	db := filepath.Join(dir, hex.EncodeToString(metainfo.HashBytes([]byte("test")).Bytes()))
	vlogs, _ := filepath.Glob(filepath.Join(db, "*.vlog"))
	off := 2*testPieceLen + blockSize + 100
	flipped := false
	for _, v := range vlogs {
		b, err := os.ReadFile(v)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, data[off:off+64]); i >= 0 {
			b[i+10] ^= 0xff
			if err := os.WriteFile(v, b, 0o644); err != nil {
				t.Fatal(err)
			}
			flipped = true
		}
	}
	if !flipped {
		t.Fatal("piece 2's bytes not found in the value log")
	}

	c, ti = openTest(t, dir, info)
	r := ti.NewReader()
	buf := make([]byte, testPieceLen)
	n, err := r.ReadAt(buf, 2*testPieceLen)
	if !errors.Is(err, errDamaged) || n != 0 {
		t.Fatalf("read of the damaged piece: n=%d, err=%v; want nothing and errDamaged", n, err)
	}
	r.Close()
	for i := range info.NumPieces() {
		p := ti.Piece(info.Piece(i))
		if got := p.Completion().Complete; got != (i != 2) {
			t.Errorf("piece %d: complete=%v after the damage was found", i, got)
		}
		if i != 2 {
			start := int64(i) * testPieceLen
			if got := readPiece(t, p); !bytes.Equal(got, data[start:start+info.Piece(i).Length()]) {
				t.Errorf("piece %d: bytes differ", i)
			}
		}
	}
	c.Close()

	// A manifest of garbage: the database cannot open, and the torrent starts empty.
	if err := os.WriteFile(filepath.Join(db, "MANIFEST"), []byte("not a manifest"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, ti = openTest(t, dir, info)
	defer c.Close()
	for i := range info.NumPieces() {
		if ti.Piece(info.Piece(i)).Completion().Complete {
			t.Errorf("piece %d complete in a database started afresh", i)
		}
	}
	if err := writePiece(t, ti, info, data, 0).MarkComplete(); err != nil {
		t.Fatal(err)
	}
}

// A torrent removed and at once added again: the add's Acquire comes while the removal still
// closes the torrent's database. It must wait for that close and open the database again,
// not hand back the one closing, whose every use then fails ("cache: torrent closed").
func TestAcquireDuringClose(t *testing.T) {
	info, data := testInfo(t)
	infoBytes, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	ih := metainfo.HashBytes(infoBytes)
	c, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The first close (the removal's) stops once it has begun, until proceed.
	began, proceed := make(chan struct{}), make(chan struct{})
	var first sync.Once
	c.hookClosing = func(metainfo.Hash) {
		first.Do(func() {
			close(began)
			<-proceed
		})
	}
	ti, err := storage.NewClient(c).OpenTorrent(t.Context(), info, ih)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SaveInfo(ih, infoBytes); err != nil {
		t.Fatal(err)
	}
	if err := writePiece(t, ti, info, data, 0).MarkComplete(); err != nil {
		t.Fatal(err)
	}

	closed := make(chan error, 1)
	go func() { closed <- ti.Close() }()
	<-began
	acquired := make(chan error, 1)
	go func() { acquired <- c.Acquire(ih) }()
	// Until the close goes on, the Acquire must wait for it, not return.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case err := <-acquired:
			close(proceed)
			t.Fatalf("Acquire returned (%v) while the torrent's database was still closing", err)
		case <-tick.C:
			c.mu.Lock()
			n := c.waiting
			c.mu.Unlock()
			if n > 0 {
				break wait
			}
		case <-t.Context().Done():
			t.Fatal("Acquire neither returned nor waited")
		}
	}
	close(proceed)
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := <-acquired; err != nil {
		t.Fatalf("Acquire after the close: %v", err)
	}
	// The database acquired is open, and is the torrent's: its info and piece are there.
	if got, err := c.LoadInfo(ih); err != nil || !bytes.Equal(got, infoBytes) {
		t.Fatalf("LoadInfo after the re-acquire: %v", err)
	}
	ti, err = storage.NewClient(c).OpenTorrent(t.Context(), info, ih)
	if err != nil {
		t.Fatal(err)
	}
	if got := readPiece(t, ti.Piece(info.Piece(0))); !bytes.Equal(got, data[:testPieceLen]) {
		t.Fatal("piece 0 read after the re-acquire differs from what was written")
	}
}

// TestBadgerLoggerLevels checks the bridge from Badger's printf logger: its errors and
// warnings reach slog at their levels, its info and debug lines at debug, and lines below
// the handler's level are dropped.
func TestBadgerLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	l := badgerLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	l.Errorf("e %d", 1)
	l.Warningf("w %d", 2)
	l.Infof("i %d", 3)
	l.Debugf("d %d", 4)
	got := buf.String()
	for _, want := range []string{`level=ERROR msg="e 1" src=badger`, `level=WARN msg="w 2" src=badger`} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "i 3") || strings.Contains(got, "d 4") {
		t.Errorf("log %q has Badger's info or debug lines above debug level", got)
	}
	buf.Reset()
	l = badgerLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Infof("i %d", 3)
	l.Debugf("d %d", 4)
	for _, want := range []string{`level=DEBUG msg="i 3" src=badger`, `level=DEBUG msg="d 4" src=badger`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log %q lacks %q", buf.String(), want)
		}
	}
}
