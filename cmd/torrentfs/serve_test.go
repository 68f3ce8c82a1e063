package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// noFUSE runs torrentfs with args in a mount namespace of its own whose /dev is an empty
// tmpfs: no /dev/fuse, as in a container without it. A serve gets a readiness socket, as
// from start.
func noFUSE(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command("unshare", append([]string{"-m", "sh", "-c", `mount -t tmpfs none /dev && exec "$@"`, "sh", bin}, args...)...)
	return startReadyAs(t, "torrentfs", cmd, nil)
}

// serveName returns a name for a test's serve instance that no other test's takes: the
// control sockets of every test binary share one directory.
func serveName(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	return "test-" + hex.EncodeToString(b)
}

// multiSwarm starts a seeder of a directory torrent called name holding files (by path in
// the torrent), writes the same files under a source directory, and returns the torrent,
// the seeder's address and the source directory (holding name/...).
func multiSwarm(t *testing.T, name string, files map[string][]byte) (string, string, string) {
	var fs []fetchtest.File
	src := t.TempDir()
	for p, b := range files {
		fs = append(fs, fetchtest.File{Path: strings.Split(p, "/"), Data: b})
		writeTree(t, src, map[string][]byte{name + "/" + p: b})
	}
	s := fetchtest.NewSwarm(t, name, fs, 64<<10)
	_, addr := s.StartSeeder(t)
	return s.TorrentPath, addr, src
}

// serve starts torrentfs serve without /dev/fuse, with --http on a free loopback port, and
// returns the process, its base URL and its @NAME.
func serve(t *testing.T, peers []string, sources ...string) (*proc, string, string) {
	t.Helper()
	name := serveName(t)
	hp := freePort(t)
	args := []string{"serve", "--name", name, "--cache-dir", t.TempDir(), "--http", fmt.Sprintf("127.0.0.1:%d", hp)}
	for _, p := range peers {
		args = append(args, "--peer", p)
	}
	p := noFUSE(t, append(append(args, sources...), loopback...)...)
	p.waitReady(t)
	// The line is what this checks: it tells the user the instance's name. It was written
	// before serve said it was ready.
	p.wantLogged(t, "msg=serving ", "name=@"+name+" ")
	return p, fmt.Sprintf("http://127.0.0.1:%d", hp), "@" + name
}

// TestServe serves a torrent where /dev/fuse is missing: its file over /files/, the status
// page, and add, ls, status and remove through @NAME; Ctrl-C ends it with exit 0 and takes
// its control socket away.
func TestServe(t *testing.T) {
	tor1, data1, addr1 := swarm(t, "one.bin", 1<<20+1)
	tor2, data2, addr2 := swarm(t, "two.bin", 300<<10+2)
	p, base, ref := serve(t, []string{addr1, addr2}, tor1)

	if resp, b := get(t, base+"/files/one.bin"); resp.StatusCode != 200 || !bytes.Equal(b, data1) {
		t.Fatalf("GET /files/one.bin: %s, %d bytes, equal %v", resp.Status, len(b), bytes.Equal(b, data1))
	}
	if resp, _ := get(t, base+"/"); resp.StatusCode != 200 {
		t.Fatalf("GET /: %s", resp.Status)
	}
	if code, out, errOut := torrentfs(t, nil, "add", ref, tor2); code != 0 || !strings.Contains(out, "added") {
		t.Fatalf("add %s: exit %d, %q %q", ref, code, out, errOut)
	}
	if resp, b := get(t, base+"/files/two.bin"); resp.StatusCode != 200 || !bytes.Equal(b, data2) {
		t.Fatalf("GET /files/two.bin after add: %s, %d bytes", resp.Status, len(b))
	}
	code, out, errOut := torrentfs(t, nil, "ls", ref)
	if code != 0 || !strings.Contains(out, "one.bin") || !strings.Contains(out, "two.bin") {
		t.Fatalf("ls %s: exit %d, %q %q", ref, code, out, errOut)
	}
	if code, out, errOut := torrentfs(t, nil, "status", ref); code != 0 || !strings.Contains(out, "two.bin") {
		t.Fatalf("status %s: exit %d, %q %q", ref, code, out, errOut)
	}
	if code, out, errOut := torrentfs(t, nil, "status"); code != 0 || !strings.Contains(out, "== "+ref) {
		t.Fatalf("status lists no %s: exit %d, %q %q", ref, code, out, errOut)
	}
	if code, out, errOut := torrentfs(t, nil, "remove", ref, "two.bin"); code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("remove %s: exit %d, %q %q", ref, code, out, errOut)
	}
	if resp, _ := get(t, base+"/files/two.bin"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /files/two.bin after remove: %s", resp.Status)
	}

	// A second instance of the same name is refused; another name is not.
	name := strings.TrimPrefix(ref, "@")
	if code, _, errOut := torrentfs(t, nil, append([]string{"serve", "--name", name, "--cache-dir", t.TempDir(), "--http", "127.0.0.1:0", tor1}, loopback...)...); code != 1 || !strings.Contains(errOut, "running already") {
		t.Fatalf("a second serve called %s: exit %d, %q", name, code, errOut)
	}
	if code, _, errOut := torrentfs(t, nil, "serve", tor1); code != 2 || !strings.Contains(errOut, "--http") {
		t.Fatalf("serve without --http: exit %d, %q", code, errOut)
	}

	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("serve after Ctrl-C: exit %d", code)
	}
	sock, _ := serveSocket(ref)
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("%s outlives its serve (%v)", filepath.Base(sock), err)
	}
	if code, _, errOut := torrentfs(t, nil, "ls", ref); code != 1 || !strings.Contains(errOut, "no torrentfs serve") {
		t.Fatalf("ls %s after it ended: exit %d, %q", ref, code, errOut)
	}
}

// rawStatus sends a request with target exactly as given, no body, and returns the status
// and the body.
func rawStatus(t *testing.T, base, method, target string, header ...string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n", method, target)
	for i := 0; i+1 < len(header); i += 2 {
		req += header[i] + ": " + header[i+1] + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rclone runs Debian's rclone with no configuration file and returns its exit code and
// output.
func rclone(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command("rclone", append([]string{"--config", "", "--low-level-retries", "1", "--retries", "1"}, args...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("rclone: %v", err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// TestServeWebDAV serves a directory torrent without FUSE and reads it over WebDAV with
// rclone: the listing and every file equal the source. Writes get 405, path tricks 404,
// PROPFIND of depth 0 and 1 says sizes, dates, types and ETags, infinite depth is refused,
// and the root's entries come and go with the torrents.
func TestServeWebDAV(t *testing.T) {
	files := map[string][]byte{
		"a/b.bin":           fetchtest.Payload(1<<20+12345, 1),
		"c.txt":             []byte("hello\n"),
		"d/e/film.mkv":      fetchtest.Payload(300<<10, 2),
		"sp ace/é 100%.srt": []byte("1\n00:00:01,000 --> 00:00:02,000\nhi\n"),
	}
	tor, addr, src := multiSwarm(t, "tree", files)
	tor2, _, addr2 := swarm(t, "two.bin", 100<<10)
	_, base, ref := serve(t, []string{addr, addr2}, tor)
	remote := `:webdav,url="` + base + `/dav/":`

	code, out := rclone(t, "lsf", "-R", "--files-only", remote)
	var want []string
	for p := range files {
		want = append(want, "tree/"+p)
	}
	got := strings.Fields(strings.ReplaceAll(out, " ", "\x00"))
	for i := range got {
		got[i] = strings.ReplaceAll(got[i], "\x00", " ")
	}
	slices.Sort(want)
	slices.Sort(got)
	if code != 0 || !slices.Equal(got, want) {
		t.Fatalf("rclone lsf -R: exit %d, %q; want %q", code, got, want)
	}
	if code, out := rclone(t, "check", "--download", filepath.Join(src, "tree"), remote+"tree"); code != 0 || !strings.Contains(out, "0 differences found") || !strings.Contains(out, fmt.Sprintf("%d matching files", len(files))) {
		t.Fatalf("rclone check --download: exit %d:\n%s", code, out)
	}

	// Read-only.
	for _, m := range []string{"PUT", "MKCOL", "DELETE", "MOVE", "COPY", "PROPPATCH", "LOCK", "UNLOCK", "POST"} {
		want := http.StatusForbidden
		if m == "LOCK" || m == "UNLOCK" || m == "POST" {
			want = http.StatusMethodNotAllowed
		}
		for _, p := range []string{"/dav/tree/c.txt", "/dav/tree/new", "/dav/"} {
			if code, _ := rawStatus(t, base, m, p, "Destination", base+"/dav/tree/x"); code != want {
				t.Errorf("%s %s: %d, want %d", m, p, code, want)
			}
		}
	}
	if code, _ := rclone(t, "mkdir", remote+"tree/new"); code == 0 {
		t.Errorf("rclone mkdir succeeded on a read-only server")
	}
	if code, out := rawStatus(t, base, "OPTIONS", "/dav/"); code != 200 || strings.Contains(out, "LOCK") {
		t.Errorf("OPTIONS /dav/: %d %q", code, out)
	}

	// Path tricks.
	for _, p := range []string{"/dav/../files/tree/c.txt", "/dav/tree/../tree/c.txt", "/dav/%2e%2e/files/tree/c.txt",
		"/dav/tree/%2e%2e/tree/c.txt", "/dav/tree%2fc.txt", "/dav/./tree/c.txt", "/dav/tree/..%2f..%2fetc/passwd", "/dav/tree//c.txt",
		"/dav/tree/c.txt%00", "/dav/tree\\c.txt"} {
		for _, m := range []string{"GET", "PROPFIND"} {
			if code, _ := rawStatus(t, base, m, p, "Depth", "0"); code != http.StatusNotFound {
				t.Errorf("%s %s: %d, want 404", m, p, code)
			}
		}
	}

	// GET: the bytes, the type and the ETag of /files/, and a range.
	resp, b := get(t, base+"/dav/tree/d/e/film.mkv", "Range", "bytes=1000-1999")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, files["d/e/film.mkv"][1000:2000]) {
		t.Fatalf("GET a range over WebDAV: %s, %d bytes", resp.Status, len(b))
	}
	fresp, _ := get(t, base+"/files/tree/d/e/film.mkv", "Range", "bytes=0-0")
	for _, h := range []string{"ETag", "Content-Type"} {
		if resp.Header.Get(h) == "" || resp.Header.Get(h) != fresp.Header.Get(h) {
			t.Errorf("%s: %q over WebDAV, %q over /files/", h, resp.Header.Get(h), fresp.Header.Get(h))
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); csp != "sandbox" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET over WebDAV: CSP %q, nosniff %q", csp, resp.Header.Get("X-Content-Type-Options"))
	}

	// PROPFIND.
	code, body := rawStatus(t, base, "PROPFIND", "/dav/tree/d/e/", "Depth", "1")
	for _, s := range []string{"<D:href>/dav/tree/d/e/</D:href>", "<D:href>/dav/tree/d/e/film.mkv</D:href>",
		fmt.Sprintf("<D:getcontentlength>%d</D:getcontentlength>", 300<<10), "<D:getcontenttype>video/x-matroska</D:getcontenttype>",
		"<D:getlastmodified>", "<D:getetag>" + resp.Header.Get("ETag"), "<D:collection"} {
		if code != 207 || !strings.Contains(body, s) {
			t.Errorf("PROPFIND Depth 1: %d, no %q in\n%s", code, s, body)
		}
	}
	if code, body := rawStatus(t, base, "PROPFIND", "/dav/tree/", "Depth", "0"); code != 207 || strings.Contains(body, "c.txt") {
		t.Errorf("PROPFIND Depth 0: %d\n%s", code, body)
	}
	for _, d := range []string{"infinity", ""} {
		if code, body := rawStatus(t, base, "PROPFIND", "/dav/", "Depth", d); code != http.StatusForbidden || !strings.Contains(body, "propfind-finite-depth") {
			t.Errorf("PROPFIND Depth %q: %d %q", d, code, body)
		}
	}

	// Entries come and go.
	if code, out, errOut := torrentfs(t, nil, "add", ref, tor2); code != 0 {
		t.Fatalf("add: exit %d, %q %q", code, out, errOut)
	}
	if _, body := rawStatus(t, base, "PROPFIND", "/dav/", "Depth", "1"); !strings.Contains(body, "<D:href>/dav/two.bin</D:href>") {
		t.Errorf("PROPFIND after add lists no two.bin:\n%s", body)
	}
	if code, out, errOut := torrentfs(t, nil, "remove", ref, "two.bin"); code != 0 {
		t.Fatalf("remove: exit %d, %q %q", code, out, errOut)
	}
	if _, body := rawStatus(t, base, "PROPFIND", "/dav/", "Depth", "1"); strings.Contains(body, "two.bin") {
		t.Errorf("PROPFIND after remove still lists two.bin:\n%s", body)
	}
	if code, _ := rawStatus(t, base, "PROPFIND", "/dav/two.bin", "Depth", "0"); code != http.StatusNotFound {
		t.Errorf("PROPFIND of a removed torrent: %d", code)
	}
}

// TestMountWebDAV: mount --http serves /dav/ too, from the same tree as the mount.
func TestMountWebDAV(t *testing.T) {
	tor, data, addr := swarm(t, "m.bin", 200<<10+3)
	p, _, base := httpMount(t, tor, addr)
	if code, body := rawStatus(t, base, "PROPFIND", "/dav/", "Depth", "1"); code != 207 || !strings.Contains(body, "<D:href>/dav/m.bin</D:href>") {
		t.Fatalf("PROPFIND /dav/ of a mount: %d\n%s", code, body)
	}
	if resp, b := get(t, base+"/dav/m.bin"); resp.StatusCode != 200 || !bytes.Equal(b, data) {
		t.Fatalf("GET /dav/m.bin of a mount: %s, %d bytes", resp.Status, len(b))
	}
	if code, _ := rawStatus(t, base, "PUT", "/dav/m.bin"); code != http.StatusForbidden {
		t.Fatalf("PUT /dav/m.bin of a mount: %d", code)
	}
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// TestServeDavfs mounts serve's /dav/ with davfs2, read-only: cp of each file equals the
// source, a write fails, ffprobe reads the film as it reads the source, and ffmpeg's seek decodes the
// source's frame.
func TestServeDavfs(t *testing.T) {
	dir := t.TempDir()
	film := filepath.Join(dir, "movie.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=duration=5:size=320x240:rate=25", "-c:v", "mpeg4", "-q:v", "5", film)
	data, err := os.ReadFile(film)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"movie.mp4": data, "sub/notes.txt": []byte("notes\n"), "sub/x.bin": fetchtest.Payload(700<<10, 3)}
	tor, addr, src := multiSwarm(t, "films", files)
	_, base, _ := serve(t, []string{addr}, tor)

	// davfs2 asks nothing (ask_auth 0) and locks nothing (use_locks 0: the server has none).
	// Its cache is written by its daemon, which runs as the user davfs2.
	davcache, err := os.MkdirTemp("", "torrentfs-davfs2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(davcache) })
	os.Chmod(davcache, 0o777)
	conf := filepath.Join(dir, "davfs2.conf")
	if err := os.WriteFile(conf, []byte("ask_auth 0\nuse_locks 0\ncache_dir "+davcache+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "davfs", "-o", "ro,conf="+conf, base+"/dav/", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount -t davfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v\n%s", mnt, err, out)
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	// Each file by its path, with cp. Not cp -r: on this machine's kernel (6.18) davfs2
	// 1.6.1 fails every readdir with EINVAL, against rclone's WebDAV server as well.
	dst := t.TempDir()
	for p := range files {
		to := filepath.Join(dst, "films", p)
		os.MkdirAll(filepath.Dir(to), 0o755)
		if out, err := exec.Command("cp", filepath.Join(mnt, "films", p), to).CombinedOutput(); err != nil {
			t.Fatalf("cp from davfs2: %v\n%s", err, out)
		}
		if st, err := os.Stat(filepath.Join(mnt, "films", p)); err != nil || st.Size() != int64(len(files[p])) {
			t.Fatalf("stat through davfs2: %v, %v", st, err)
		}
	}
	checkTree(t, filepath.Join(dst, "films"), files)
	if err := os.WriteFile(filepath.Join(mnt, "films", "new.txt"), []byte("x"), 0o644); err == nil {
		t.Error("a write through a read-only davfs2 mount succeeded")
	}

	in, from := filepath.Join(mnt, "films", "movie.mp4"), filepath.Join(src, "films", "movie.mp4")
	if got, want := ffprobe(t, in), ffprobe(t, from); got != want {
		t.Fatalf("ffprobe through davfs2:\n%s\nof the source:\n%s", got, want)
	}
	if got, want := frameAt3(t, in), frameAt3(t, from); got != want {
		t.Errorf("ffmpeg -ss 3 through davfs2 decoded:\n%s\nfrom the source:\n%s", got, want)
	}
}

// TestServeLitmus runs litmus, the WebDAV conformance suite, against serve's /dav/. Every
// suite of litmus starts by creating a collection to work in (MKCOL /dav/litmus/), so on a
// read-only server no test past that runs: each suite's init passes and its begin is
// refused with 403, which is what this test holds.
func TestServeLitmus(t *testing.T) {
	tor, _, addr := swarm(t, "l.bin", 10<<10)
	_, base, _ := serve(t, []string{addr}, tor)
	for _, suite := range []string{"basic", "copymove", "props", "locks", "http"} {
		cmd := exec.Command("litmus", base+"/dav/")
		cmd.Env = append(os.Environ(), "TESTS="+suite)
		cmd.Dir = t.TempDir() // its debug.log
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), "init.................. pass") ||
			!strings.Contains(string(out), "Could not create new collection `/dav/litmus/' for tests: 403 Forbidden") {
			t.Errorf("litmus %s:\n%s", suite, out)
		}
	}
}
