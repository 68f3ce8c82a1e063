package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// noFUSE runs torrentfs with args in a mount namespace of its own whose /dev is an empty
// tmpfs: no /dev/fuse, as in a container without it.
func noFUSE(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command("unshare", append([]string{"-m", "sh", "-c", `mount -t tmpfs none /dev && exec "$@"`, "sh", bin}, args...)...)
	return startProc(t, "torrentfs", cmd, nil)
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
	line := p.waitFor(t, "msg=serving")
	if !strings.Contains(line, "name=@"+name) {
		t.Fatalf("the serving line does not name the instance @%s: %s", name, line)
	}
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
