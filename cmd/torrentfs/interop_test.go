package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// aria2Proc is a running aria2c; exited is closed when it has exited.
type aria2Proc struct {
	cmd    *exec.Cmd
	port   int
	exited chan struct{}
}

// aria2 runs Debian's aria2c on 127.0.0.1 with DHT, local discovery and PEX off, on torrent,
// with its files under dir. It is stopped when the test ends.
func aria2(t testing.TB, torrent, dir string, args ...string) *aria2Proc {
	t.Helper()
	return aria2At(t, "127.0.0.1", torrent, dir, args...)
}

// aria2At is aria2 at the address host (loopbackHost's): its listening socket, its peer
// connections and its tracker announces are bound to it (--interface binds them all).
func aria2At(t testing.TB, host, torrent, dir string, args ...string) *aria2Proc {
	t.Helper()
	if _, err := exec.LookPath("aria2c"); err != nil {
		t.Fatal("aria2c not installed: run make deps")
	}
	p := freePortAt(t, host)
	cmd := exec.Command("aria2c",
		append([]string{
			"--interface=" + host, "--disable-ipv6",
			"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
			fmt.Sprintf("--listen-port=%d", p), "--bt-require-crypto=false",
			"--file-allocation=none", "--summary-interval=0", "--console-log-level=warn",
			"--dir", dir,
		}, append(args, torrent)...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &aria2Proc{cmd, p, make(chan struct{})}
	go func() { cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-a.exited
		if t.Failed() {
			t.Logf("aria2c %s:\n%s", strings.Join(cmd.Args[1:], " "), out.String())
		}
	})
	return a
}

// TestInterop runs torrentfs in a swarm of other clients: a torrent made by mktorrent, seeded
// by aria2, is read through a mount; then aria2 downloads the whole torrent from the mount
// alone, with opentracker introducing them.
func TestInterop(t *testing.T) {
	if _, err := exec.LookPath("mktorrent"); err != nil {
		t.Fatal("mktorrent not installed: run make deps")
	}
	dir := t.TempDir()
	files := sampleTree(t, dir)
	tor := filepath.Join(dir, "sample.torrent")

	var tport int
	trackedTorrent(t, tor, filepath.Join(dir, "sample"), 18, atOpentracker(t, &tport))

	seeder := aria2(t, tor, dir, "--check-integrity=true", "--seed-ratio=0.0")
	mnt := t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), tor, mnt}, loopback...)...)
	m.waitReady(t)
	checkTree(t, mnt, files)

	// With the aria2 seeder gone, a new aria2 downloads everything from the mount.
	seeder.cmd.Process.Signal(syscall.SIGTERM)
	<-seeder.exited
	got := t.TempDir()
	leecher := aria2(t, tor, got, "--seed-time=0")
	select {
	case <-leecher.exited:
		if code := leecher.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("aria2c download from the mount: exit %d", code)
		}
	case <-m.done:
		t.Fatal("mount exited while aria2 downloaded")
	}
	checkTree(t, got, files)
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// TestBadPeer mounts a torrent whose only peer sends a corrupted piece: aria2 seeding a
// damaged copy without checking it. The peer is banned, reads of the piece fail with EIO
// once --read-timeout passes, no byte of it is ever served, and the cache keeps none of it:
// a remount with an honest seeder reads the file whole.
func TestBadPeer(t *testing.T) {
	dir := t.TempDir()
	data := fetchtest.Payload(4<<20, 7)
	const badAt = 9<<18 + 1000 // in piece 9 of 16
	for _, d := range []string{"good", "bad"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		b := bytes.Clone(data)
		if d == "bad" {
			b[badAt] ^= 0xff
		}
		if err := os.WriteFile(filepath.Join(dir, d, "f.bin"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tor := filepath.Join(dir, "f.torrent")
	if code, _, errOut := torrentfs(t, nil, "create", "--piece-length", "256K", "-o", tor, filepath.Join(dir, "good", "f.bin")); code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	cache, mnt := t.TempDir(), t.TempDir()
	mount := func(peer *aria2Proc) *proc {
		m := start(t, nil, append([]string{"mount", "--cache-dir", cache, "--read-timeout", "3s",
			"--peer", fmt.Sprintf("127.0.0.1:%d", peer.port), tor, mnt}, loopback...)...)
		m.waitReady(t)
		return m
	}

	bad := aria2(t, tor, filepath.Join(dir, "bad"), "--bt-seed-unverified=true", "--check-integrity=false", "--seed-ratio=0.0")
	waitAccepting(t, "aria2c", bad.port, bad.exited)
	m := mount(bad)
	type result struct {
		got []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := os.Open(filepath.Join(mnt, "f.bin"))
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer f.Close()
		got, err := io.ReadAll(f)
		done <- result{got, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("a read from a peer sending bad data still blocks after 2 minutes, with --read-timeout 3s")
	}
	if !errors.Is(r.err, syscall.EIO) {
		t.Fatalf("reading past the bad piece: err %v after %d bytes, want EIO", r.err, len(r.got))
	}
	if len(r.got) > badAt || !bytes.Equal(r.got, data[:len(r.got)]) {
		t.Fatalf("read %d bytes before EIO; they must be the source's, and stop before byte %d", len(r.got), badAt)
	}
	// The ban a user is told of is what this checks: the read that timed out said so before
	// it failed with EIO.
	m.wantLogged(t, "banned_for_bad_data=1")
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
	bad.cmd.Process.Kill()
	<-bad.exited

	good := aria2(t, tor, filepath.Join(dir, "good"), "--check-integrity=true", "--seed-ratio=0.0")
	waitAccepting(t, "aria2c", good.port, good.exited)
	m = mount(good)
	checkTree(t, mnt, map[string][]byte{"f.bin": data})
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// transmission runs Debian's transmission-cli on torrent with its files under dir, on
// 127.0.0.1 with DHT, local discovery, PEX, µTP, port mapping and RPC off, and args (such
// as -er, encryption required), and returns it and its peer port. It is stopped when the
// test ends.
func transmission(t testing.TB, torrent, dir string, args ...string) (*proc, int) {
	t.Helper()
	return transmissionAt(t, "127.0.0.1", torrent, dir, args...)
}

// transmissionAt is transmission at the address host (loopbackHost's): bind-address-ipv4
// binds its listening socket, its peer connections and its tracker announces to it.
func transmissionAt(t testing.TB, host, torrent, dir string, args ...string) (*proc, int) {
	t.Helper()
	cfg := transmissionConfig(t, "transmission-cli", map[string]any{
		"bind-address-ipv4": host, "bind-address-ipv6": "::1", "rpc-bind-address": "127.0.0.1",
	})
	port := freePortAt(t, host)
	// stdbuf -o0: transmission-cli prints its status ("Seeding", "Progress:") with stdio, which
	// holds it back in a 4 KiB buffer when stdout is a pipe: about 10 s of status lines.
	p := startProc(t, "transmission-cli", exec.Command("stdbuf", append(append([]string{"-o0", "transmission-cli",
		"-g", cfg, "--no-portmap", "-p", fmt.Sprint(port), "-w", dir}, args...), torrent)...), nil)
	waitAcceptingAt(t, "transmission-cli", net.JoinHostPort(host, fmt.Sprint(port)), p.done)
	return p, port
}

// transmissionConfig checks that program (a Transmission binary) is installed, and writes
// a settings.json for it in a new directory, which it returns (-g): everything that reaches
// out on its own off (DHT, local discovery, PEX, µTP, port mapping, RPC, the blocklist), then
// settings on top.
func transmissionConfig(t testing.TB, program string, settings map[string]any) string {
	t.Helper()
	if _, err := exec.LookPath(program); err != nil {
		t.Fatal(program + " not installed: run make deps")
	}
	all := map[string]any{
		"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
		"port-forwarding-enabled": false, "rpc-enabled": false, "blocklist-enabled": false,
	}
	maps.Copy(all, settings)
	b, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	cfg := t.TempDir()
	if err := os.WriteFile(filepath.Join(cfg, "settings.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTransmission runs torrentfs with Transmission: a torrent made by transmission-create,
// seeded by transmission-cli, is mounted from its magnet link (the metadata comes from
// Transmission) and read; then a new transmission-cli downloads it from a mount of the
// .torrent file alone, which serves it from its cache.
func TestTransmission(t *testing.T) {
	if _, err := exec.LookPath("transmission-create"); err != nil {
		t.Fatal("transmission-create not installed: run make deps")
	}
	dir := t.TempDir()
	files := sampleTree(t, dir)
	tor := filepath.Join(dir, "sample.torrent")
	if out, err := exec.Command("transmission-create", "-s", "256", "-o", tor, filepath.Join(dir, "sample")).CombinedOutput(); err != nil {
		t.Fatalf("transmission-create: %v\n%s", err, out)
	}
	cache, mnt := t.TempDir(), t.TempDir()
	mount := func(source string, peer int) *proc {
		m := start(t, nil, append([]string{"mount", "--cache-dir", cache, "--peer", fmt.Sprintf("127.0.0.1:%d", peer), source, mnt}, loopback...)...)
		m.waitReady(t)
		waitStatus(t, mnt, named) // a magnet link's, once the metadata came
		return m
	}
	mi, _, err := fetch.LoadTorrentFile(tor)
	if err != nil {
		t.Fatal(err)
	}

	seeder, port := transmission(t, tor, dir)
	seeder.waitFor(t, "Seeding") // it has checked the files against the torrent
	m := mount("magnet:?xt=urn:btih:"+mi.HashInfoBytes().HexString(), port)
	checkTree(t, mnt, files) // Transmission unchokes a new peer within its 10 s rechoke period
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
	seeder.cmd.Process.Kill()
	<-seeder.done

	got := t.TempDir()
	leecher, port := transmission(t, tor, got)
	leecher.waitFor(t, "Progress:") // it refuses peers while it checks the (missing) files
	m = mount(tor, port)
	leecher.waitFor(t, "Seeding")
	checkTree(t, got, files)
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// libtorrent runs testdata/ltpeer.py, Debian's python3-libtorrent (the engine of qBittorrent
// and Deluge) on 127.0.0.1, on torrent with its files under dir, connecting to peers; it
// returns once libtorrent listens, with its port. It is stopped when the test ends.
func libtorrent(t testing.TB, torrent, dir string, peers ...string) (*proc, int) {
	t.Helper()
	return libtorrentEnv(t, nil, torrent, dir, peers...)
}

// libtorrentEnv is libtorrent with env added to the environment (LTPEER_ENCRYPTION=forced).
func libtorrentEnv(t testing.TB, env []string, torrent, dir string, peers ...string) (*proc, int) {
	t.Helper()
	return libtorrentAt(t, "127.0.0.1", env, torrent, dir, peers...)
}

// libtorrentAt is libtorrentEnv at the address host (loopbackHost's): listen_interfaces and
// outgoing_interfaces bind its listening socket, its peer connections and its tracker
// announces to it.
func libtorrentAt(t testing.TB, host string, env []string, torrent, dir string, peers ...string) (*proc, int) {
	t.Helper()
	port := freePortAt(t, host)
	args := append([]string{"testdata/ltpeer.py", "run", torrent, dir, net.JoinHostPort(host, fmt.Sprint(port))}, peers...)
	cmd := exec.Command("/usr/bin/python3", args...)
	cmd.Env = append(os.Environ(), env...)
	p := startProc(t, "libtorrent", cmd, nil)
	waitAcceptingAt(t, "libtorrent", net.JoinHostPort(host, fmt.Sprint(port)), p.done)
	return p, port
}

// ltCreate makes a torrent of dir/sample with libtorrent: hybrid (v1 and v2), or v2-only
// with the flag --v2-only. It returns the torrent file and its magnet link.
func ltCreate(t *testing.T, dir, name string, flags ...string) (string, string) {
	t.Helper()
	tor := filepath.Join(dir, name)
	args := append(append([]string{"testdata/ltpeer.py", "create"}, flags...), filepath.Join(dir, "sample"), tor)
	out, err := exec.Command("/usr/bin/python3", args...).Output()
	if err != nil {
		t.Fatalf("libtorrent create: %v", err)
	}
	return tor, strings.TrimSpace(string(out))
}

// TestLibtorrent runs torrentfs with libtorrent on a hybrid (v1 and v2) torrent, as
// qBittorrent makes them: files aligned to pieces by padding files (BEP 47), which the mount
// does not show. It is mounted from its magnet link (the metadata comes from a libtorrent
// seeder) and read; then a new libtorrent downloads it from the mount alone, asking for
// blocks that run into the padding; and cache verify checks the cached pieces against their
// v1 hashes. A v2-only torrent, file or magnet link, is refused with a message that says so.
func TestLibtorrent(t *testing.T) {
	dir := t.TempDir()
	files := sampleTree(t, dir)
	files["sample/g/tiny"] = []byte("x")
	writeTree(t, dir, files)
	tor, magnet := ltCreate(t, dir, "hybrid.torrent")
	if !strings.Contains(magnet, "xt=urn:btih:") || !strings.Contains(magnet, "xt=urn:btmh:") {
		t.Fatalf("libtorrent's magnet link of a hybrid torrent: %s", magnet)
	}

	seeder, lport := libtorrent(t, tor, dir)
	seeder.waitFor(t, "seeding")
	cache, mnt := t.TempDir(), t.TempDir()
	m := start(t, nil, append([]string{"mount", "--cache-dir", cache, "--peer", fmt.Sprintf("127.0.0.1:%d", lport), magnet, mnt}, loopback...)...)
	m.waitReady(t)
	mountAddr := m.listenAddr(t)
	waitStatus(t, mnt, named) // once the metadata came
	checkTree(t, mnt, files)
	if entries, err := os.ReadDir(filepath.Join(mnt, "sample")); err != nil || len(entries) != 4 {
		t.Fatalf("the mount's sample/ has %d entries (%v), want a, c.txt, d and g: no padding files", len(entries), err)
	}
	seeder.cmd.Process.Kill()
	<-seeder.done

	got := t.TempDir()
	leecher, _ := libtorrent(t, tor, got, mountAddr)
	leecher.waitFor(t, "seeding")
	checkTree(t, got, files)
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
	code, out, errOut := torrentfs(t, nil, "cache", "verify", "--cache-dir", cache)
	if code != 0 || !strings.Contains(out, ", 0 bad") || strings.Contains(out, " 0 pieces checked") {
		t.Fatalf("cache verify: exit %d, %q, %q", code, out, errOut)
	}

	v2, magnet := ltCreate(t, dir, "v2.torrent", "--v2-only")
	for _, source := range []string{v2, magnet} {
		code, _, errOut = torrentfs(t, nil, append([]string{"mount", "--cache-dir", cache, source, mnt}, loopback...)...)
		if code != 1 || !strings.Contains(errOut, "v2-only") || !strings.Contains(errOut, "v1 and hybrid torrents only") {
			t.Fatalf("mount of a v2-only torrent %s: exit %d, %q", source, code, errOut)
		}
	}
}

// TestMedia plays videos the way players do, through a mount that holds none of them yet:
// ffprobe reads each container's header and its index (MP4 keeps it at the end, and so do
// Matroska's cues), and ffmpeg seeks to the middle and decodes frames there. What both
// tools report equals what they report on the source files, while most of the bytes are
// still in the swarm.
func TestMedia(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: run make deps", tool)
		}
	}
	src := filepath.Join(t.TempDir(), "media")
	os.Mkdir(src, 0o755)
	// 20 s of noisy test pattern (so that it does not compress to nothing) and a tone.
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=duration=20:size=480x270:rate=25", "-f", "lavfi", "-i", "sine=duration=20",
		"-vf", "noise=alls=20:allf=t", "-c:v", "mpeg4", "-q:v", "6", "-g", "50", "-c:a", "aac", "-shortest",
		filepath.Join(src, "movie.mp4"))
	ffmpeg(t, "-i", filepath.Join(src, "movie.mp4"), "-c", "copy", filepath.Join(src, "movie.mkv"))
	var files []fetchtest.File
	var total int64
	for _, name := range []string{"movie.mp4", "movie.mkv"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fetchtest.File{Path: []string{name}, Data: data})
		total += int64(len(data))
	}
	s := fetchtest.NewSwarm(t, "media", files, 64<<10)
	_, addr := s.StartSeeder(t)
	mnt, cacheDir := t.TempDir(), t.TempDir()
	p := start(t, nil, append([]string{"mount", "--cache-dir", cacheDir, "--readahead", "2M", "--peer", addr, s.TorrentPath, mnt}, loopback...)...)
	p.waitReady(t)

	for _, f := range files {
		name := f.Path[0]
		mounted, source := filepath.Join(mnt, "media", name), filepath.Join(src, name)
		if got, want := ffprobe(t, mounted), ffprobe(t, source); got != want {
			t.Fatalf("ffprobe of %s through the mount:\n%s\nand of the source:\n%s", name, got, want)
		}
		// One second of video and audio from the middle, each frame's checksum.
		seek := func(path string) []byte { return ffmpeg(t, "-ss", "13", "-i", path, "-t", "1", "-f", "framemd5", "-") }
		if got, want := seek(mounted), seek(source); !bytes.Equal(got, want) {
			t.Fatalf("frames of %s at 13 s through the mount differ from the source's:\n%s\nwant:\n%s", name, got, want)
		}
	}
	cached := statusMiB(t, cacheDir, mnt, "cached:")
	t.Logf("ffprobe and a seek into both files fetched %.1f of %.1f MiB", cached, float64(total)/(1<<20))
	if cached > 0.75*float64(total)/(1<<20) {
		t.Fatalf("probing and seeking fetched %.1f of %.1f MiB: the mount read far more than players need", cached, float64(total)/(1<<20))
	}
	for _, f := range files {
		streamEqual(t, filepath.Join(mnt, "media", f.Path[0]), f.Data)
	}
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// frameAt3 is the framemd5 of the video frame ffmpeg decodes 3 s into in (a file or a URL),
// after a seek as a player makes it.
func frameAt3(t *testing.T, in string) string {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-ss", "3", "-i", in, "-frames:v", "1", "-f", "framemd5", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg -ss 3 -i %s: %v\n%s", in, err, out)
	}
	return string(out)
}

// ffprobe returns what ffprobe reports of a media file's format and streams, with the
// file's path left out so that reports of two copies compare equal.
func ffprobe(t *testing.T, path string) string {
	t.Helper()
	out := toolOutput(t, "ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", path)
	return strings.ReplaceAll(string(out), path, "FILE")
}

// ffmpeg runs ffmpeg -v error -nostdin with args and returns what it wrote to stdout.
func ffmpeg(t testing.TB, args ...string) []byte {
	t.Helper()
	return toolOutput(t, "ffmpeg", append([]string{"-v", "error", "-nostdin"}, args...)...)
}

// toolOutput runs a program and returns what it wrote to stdout; it fails t, with what the
// program wrote to stderr, if the program fails.
func toolOutput(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

// TestCreateVerifiedByOthers makes torrents with torrentfs create, of a tree with an empty
// file, of a single file, and with a piece length not the default, and has aria2,
// Transmission and libtorrent load each one, check the source files against it and find
// them complete, and name the info-hash create printed. A damaged copy of the files is
// found incomplete, so a check that passes is one that ran.
func TestCreateVerifiedByOthers(t *testing.T) {
	for _, tool := range []string{"aria2c", "transmission-cli", "transmission-show"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: run make deps", tool)
		}
	}
	for _, tc := range []struct {
		name  string
		files map[string][]byte // by path under the data's parent
		path  string            // what create is given, under the data's parent
		flags []string
	}{
		{"tree", map[string][]byte{
			"sample/a/b.bin": fetchtest.Payload(5<<20+12345, 1), "sample/c.txt": []byte("hello\n"),
			"sample/d/e/f.gz": fetchtest.Payload(300<<10, 2), "sample/g/empty": {},
		}, "sample", nil},
		{"single file", map[string][]byte{"one.bin": fetchtest.Payload(3<<20+777, 3)}, "one.bin", nil},
		{"piece length", map[string][]byte{
			"sample/a/b.bin": fetchtest.Payload(2<<20+1, 4), "sample/c.txt": []byte("x"),
			"sample/d.bin": fetchtest.Payload(700<<10+3, 5),
		}, "sample", []string{"--piece-length", "1M"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			tor := filepath.Join(t.TempDir(), "made.torrent")
			code, out, errOut := torrentfs(t, nil, append(append([]string{"create", "-o", tor}, tc.flags...), filepath.Join(dir, tc.path))...)
			if code != 0 {
				t.Fatalf("create: exit %d: %s", code, errOut)
			}
			ih := strings.Fields(out)[0]
			if _, info, err := fetch.LoadTorrentFile(tor); err != nil || tc.flags != nil && info.PieceLength != 1<<20 {
				t.Fatalf("the torrent made: %v, piece length %d", err, info.PieceLength)
			}

			// Transmission and libtorrent check the files they find when the torrent is added,
			// then seed them; aria2 checks meanwhile. None of them writes to complete files.
			out2, err := exec.Command("transmission-show", tor).CombinedOutput()
			if err != nil || !strings.Contains(string(out2), "Hash: "+ih+"\n") {
				t.Fatalf("transmission-show: %v; want hash %s in:\n%s", err, ih, out2)
			}
			tr, _ := transmission(t, tor, dir)
			lt, _ := libtorrent(t, tor, dir)
			if got := strings.TrimPrefix(lt.waitFor(t, "infohash "), "infohash "); got != ih {
				t.Fatalf("libtorrent's info-hash %s; create's %s", got, ih)
			}

			// aria2: --check-integrity hashes every piece; with nothing to fetch and no seeding
			// it exits 0, and, missing a piece no peer has, 7 once --bt-stop-timeout passes.
			if out, err := exec.Command("aria2c", "--show-files", tor).CombinedOutput(); err != nil ||
				!strings.Contains(string(out), "Info Hash: "+ih+"\n") {
				t.Fatalf("aria2c --show-files: %v; want info hash %s in:\n%s", err, ih, out)
			}
			check := []string{"--check-integrity=true", "--seed-time=0", "--bt-stop-timeout=1"}
			if code := aria2(t, tor, dir, check...).wait(t); code != 0 {
				t.Fatalf("aria2c found the source files incomplete: exit %d", code)
			}
			damaged := t.TempDir()
			writeTree(t, damaged, tc.files)
			for p, b := range tc.files {
				if len(b) > 1<<20 {
					b = bytes.Clone(b)
					b[1<<20] ^= 1
					writeTree(t, damaged, map[string][]byte{p: b})
					break
				}
			}
			if code := aria2(t, tor, damaged, check...).wait(t); code != 7 {
				t.Fatalf("aria2c on damaged files: exit %d; want 7 (unfinished)", code)
			}

			tr.waitFor(t, "Seeding")
			lt.waitFor(t, "seeding")
		})
	}
}

// wait waits for aria2c to exit and returns its exit code.
func (a *aria2Proc) wait(t testing.TB) int {
	t.Helper()
	select {
	case <-a.exited:
	case <-time.After(time.Minute):
		t.Fatal("aria2c did not exit in a minute")
	}
	return a.cmd.ProcessState.ExitCode()
}
