package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/status"
)

// Web seeds (BEP 19 url-list, issue #23): nginx is the HTTP server, as Debian's nginx-light;
// a Go server only for what nginx cannot be made to do.

// createWebSeeded makes a torrent of path whose url-list is urls, with pieces of pieceLen.
func createWebSeeded(t *testing.T, path, pieceLen string, urls ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(path)+".torrent")
	args := []string{"create", "-o", out, "--piece-length", pieceLen}
	for _, u := range urls {
		args = append(args, "--web-seed", u)
	}
	if code, _, errOut := torrentfs(t, nil, append(args, path)...); code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	return out
}

// mountTorrent mounts tor on a fresh cache with extra flags and returns the mount point and
// the process.
func mountTorrent(t *testing.T, tor string, extra ...string) (string, *proc) {
	t.Helper()
	mnt := t.TempDir()
	args := append([]string{"mount", "--cache-dir", t.TempDir(), tor, mnt}, loopback...)
	p := start(t, nil, append(args, extra...)...)
	p.waitReady(t)
	return mnt, p
}

// webStatus returns the one torrent of the mount at mnt, from its status.
func webStatus(t *testing.T, mnt string) status.Torrent {
	t.Helper()
	return waitWebSeedStatus(t, mnt, func(status.Torrent) bool { return true })
}

// waitWebSeedStatus waits (waitStatus) until the mount at mnt lists one torrent and ok
// accepts it, and returns it.
func waitWebSeedStatus(t *testing.T, mnt string, ok func(status.Torrent) bool) status.Torrent {
	t.Helper()
	return waitStatus(t, mnt, func(r status.Report) bool { return len(r.Torrents) == 1 && ok(r.Torrents[0]) }).Torrents[0]
}

// TestWebSeedOnly: a torrent whose only source is nginx (no tracker, no peer) mounts and
// reads back equal to its source, and status names the web seed and what it sent.
func TestWebSeedOnly(t *testing.T) {
	root := t.TempDir()
	files := sampleTree(t, root)
	port := nginx(t, root, "")
	tor := createWebSeeded(t, filepath.Join(root, "sample"), "64K", fmt.Sprintf("http://127.0.0.1:%d/", port))
	mnt, _ := mountTorrent(t, tor)
	checkTree(t, mnt, files)
	st := webStatus(t, mnt)
	if len(st.WebSeeds) != 1 || st.WebSeeds[0].Downloaded == 0 || st.WebSeeds[0].Error != "" {
		t.Fatalf("status: want the web seed, with data from it and no error: %+v", st.WebSeeds)
	}
	code, out, _ := torrentfs(t, nil, "status", mnt)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("http://127.0.0.1:%d/", port)) {
		t.Fatalf("status does not name the web seed:\n%s", out)
	}
}

// TestWebSeedSeek: a fresh mount's read in the middle of a file is served by ranged
// requests near it (and the file's first and last 512 KiB, which an open asks for), not by
// requests for far-away pieces. nginx logs each request's Range header.
func TestWebSeedSeek(t *testing.T) {
	const size, pieceLen = 48<<20 + 4321, 256 << 10
	root := t.TempDir()
	data := writePayload(t, filepath.Join(root, "f.bin"), size, 7)
	logPath := filepath.Join(t.TempDir(), "access.log")
	port := nginxLogged(t, root, logPath)
	tor := createWebSeeded(t, filepath.Join(root, "f.bin"), "256K", fmt.Sprintf("http://127.0.0.1:%d/", port))
	mnt, p := mountTorrent(t, tor)
	const at = 30<<20 + 777
	f, err := os.Open(filepath.Join(mnt, "f.bin"))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 64<<10)
	if _, err := f.ReadAt(got, at); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if !bytes.Equal(got, data[at:at+len(got)]) {
		t.Fatal("the read differs from the source")
	}
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount exited %d", code)
	}
	// nginx logs a request when it ends; the mount's exit ended them all.
	var ranges [][2]int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		ranges = ranges[:0]
		b, _ := os.ReadFile(logPath)
		covered := false
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if line == "" {
				continue
			}
			var from, to int64
			if _, err := fmt.Sscanf(line, "bytes=%d-%d", &from, &to); err != nil {
				t.Fatalf("a request for the whole file, or no range: %q\n%s", line, b)
			}
			ranges = append(ranges, [2]int64{from, to})
			covered = covered || (from <= at && to >= at)
		}
		if covered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request covered the read at %d: %v", at, ranges)
		}
		time.Sleep(20 * time.Millisecond) // polling nginx's access log: nothing tells when it writes a line
	}
	const headTail = 512 << 10
	for _, r := range ranges {
		near := r[0] >= at-pieceLen && r[0] < at+8<<20
		if r[0] < headTail || r[0] >= size-headTail-pieceLen || near {
			continue
		}
		t.Errorf("a request for %d-%d, far from the read at %d: %v", r[0], r[1], at, ranges)
	}
}

// nginxLogged is nginx serving root that logs each request's Range header to logPath.
func nginxLogged(t *testing.T, root, logPath string) int {
	t.Helper()
	return nginx(t, root, fmt.Sprintf("access_log %s ranges;", logPath))
}

// TestWebSeedFaults: a torrent whose only web seed fails in one way each. No read returns
// bytes that failed their hash: the read fails (EIO after --read-timeout), and `status`
// gives the seed's error; the mount's log has it too. A redirect to the file is followed.
func TestWebSeedFaults(t *testing.T) {
	const size = 3<<20 + 999
	root := t.TempDir()
	data := fetchtest.Payload(size, 3)
	writeTree(t, root, map[string][]byte{
		"f.bin":       data,
		"other/f.bin": fetchtest.Payload(size, 4), // the same size, other bytes
	})
	port := nginx(t, root, `
		location /404/ { return 404; }
		location /500/ { return 500; }
		location /416/ { return 416; }
		location /loop/ { return 302 $uri; }
		location /wrong/ { rewrite ^/wrong/(.*)$ /other/$1 break; }
		location /moved/ { rewrite ^/moved/(.*)$ /$1 redirect; }`)
	short := shortBodyServer(t, data)
	src := filepath.Join(root, "f.bin")
	cases := []struct {
		name, url string
		want      func(status.Torrent) bool // what status shows
	}{
		{"404", fmt.Sprintf("http://127.0.0.1:%d/404/", port), errorHas("404")},
		{"500", fmt.Sprintf("http://127.0.0.1:%d/500/", port), errorHas("500")},
		{"416", fmt.Sprintf("http://127.0.0.1:%d/416/", port), errorHas("416")},
		{"redirect loop", fmt.Sprintf("http://127.0.0.1:%d/loop/", port), errorHas("redirects")},
		{"wrong bytes", fmt.Sprintf("http://127.0.0.1:%d/wrong/", port), func(st status.Torrent) bool {
			return st.HashFailures > 0 && errorHas("bad data")(st)
		}},
		{"short body", short, errorHas("EOF")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each waits out its --read-timeout
			tor := createWebSeeded(t, src, "64K", c.url)
			mnt, p := mountTorrent(t, tor, "--read-timeout", "2s")
			_, err := os.ReadFile(filepath.Join(mnt, "f.bin"))
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("read: want EIO, got %v", err)
			}
			waitWebSeedStatus(t, mnt, c.want)
			if !strings.Contains(p.output(), "webseed") && !strings.Contains(p.output(), "piece failed hash") {
				t.Fatalf("the mount's log does not tell of the web seed's failure:\n%s", p.output())
			}
		})
	}
	t.Run("redirect", func(t *testing.T) {
		tor := createWebSeeded(t, src, "64K", fmt.Sprintf("http://127.0.0.1:%d/moved/", port))
		mnt, _ := mountTorrent(t, tor)
		checkTree(t, mnt, map[string][]byte{"f.bin": data})
	})
}

// errorHas is a status check: the one web seed's last error names s.
func errorHas(s string) func(status.Torrent) bool {
	return func(st status.Torrent) bool {
		return len(st.WebSeeds) == 1 && strings.Contains(st.WebSeeds[0].Error, s)
	}
}

// shortBodyServer serves data as f.bin at its top, but ends each ranged response after half
// its body, with the length and range it announced for all of it: what nginx cannot be made
// to do. It returns its URL.
func shortBodyServer(t *testing.T, data []byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var from, to int64
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &from, &to); err != nil {
			from, to = 0, int64(len(data))-1
		}
		to = min(to, int64(len(data))-1)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, to, len(data)))
		w.Header().Set("Content-Length", strconv.FormatInt(to-from+1, 10))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data[from : from+(to-from+1)/2])
		panic(http.ErrAbortHandler) // closes the connection mid-body
	})}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return "http://" + l.Addr().String() + "/"
}

// TestWebSeedRetry: a web seed that fails once (a 503, then it serves) is asked again after
// its back-off, and the read completes. A Go server: nginx cannot fail only once.
func TestWebSeedRetry(t *testing.T) {
	data := fetchtest.Payload(1<<20+5, 5)
	root := t.TempDir()
	src := filepath.Join(root, "f.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var failed atomic.Bool
	fileServer := http.FileServer(http.Dir(root))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !failed.Swap(true) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fileServer.ServeHTTP(w, r)
	})}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	tor := createWebSeeded(t, src, "64K", "http://"+l.Addr().String()+"/")
	mnt, _ := mountTorrent(t, tor)
	checkTree(t, mnt, map[string][]byte{"f.bin": data})
	if !failed.Load() {
		t.Fatal("the server never failed")
	}
}

// TestWebSeedFillsForPeers: a seeder that has only some of a torrent's files (the others
// are missing from its data), and nginx with all of them: a mount of the torrent with both
// reads every file, the peer's from the peer and the rest from the web seed.
func TestWebSeedFillsForPeers(t *testing.T) {
	root := t.TempDir()
	files := sampleTree(t, root)
	web := nginx(t, root, "")
	sample := filepath.Join(root, "sample")
	tor := createWebSeeded(t, sample, "64K", fmt.Sprintf("http://127.0.0.1:%d/", web))
	// The seeder's copy lacks the big file; its torrent has no url-list (the same info).
	partial := filepath.Join(t.TempDir(), "sample")
	if out, err := exec.Command("cp", "-r", sample, partial).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	if err := os.Remove(filepath.Join(partial, "a", "b.bin")); err != nil {
		t.Fatal(err)
	}
	seedTor := createWebSeeded(t, sample, "64K")
	s := start(t, nil, append([]string{"seed", seedTor, partial}, loopback...)...)
	peer := s.seedAddr(t)
	mnt, _ := mountTorrent(t, tor, "--peer", peer)
	// The peer's bitfield known before the first read: a read that comes first may rightly
	// ask the web seed for a piece the peer has (it failed CI that way once, by 20 KB).
	waitWebSeedStatus(t, mnt, func(tr status.Torrent) bool {
		return slices.ContainsFunc(tr.PeerList, func(p fetch.Peer) bool { return p.Have > 0 })
	})
	checkTree(t, mnt, files)
	st := webStatus(t, mnt)
	if len(st.WebSeeds) != 1 || st.WebSeeds[0].Downloaded == 0 {
		t.Fatalf("nothing came from the web seed: %+v", st.WebSeeds)
	}
	// The web seed sends the pieces that hold some of the missing file, no more.
	missing := int64(len(files["sample/a/b.bin"])) + 2*64<<10
	if ws := st.WebSeeds[0].Downloaded; ws > missing || st.Downloaded-ws <= 0 {
		t.Fatalf("%d bytes came from the web seed, %d from the peer: want at most %d from the web seed, the rest from the peer",
			ws, st.Downloaded-ws, missing)
	}
}

// TestCreateWebSeed: create --web-seed (repeatable) writes the URLs as the torrent's url-list,
// in order, and refuses one that is not an http(s) URL, with exit 1 and no torrent written.
func TestCreateWebSeed(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "f.bin")
	writePayload(t, src, 100<<10+1, 9)
	urls := []string{"http://mirror.example/pub/", "https://other.example/f.bin"}
	tor := createWebSeeded(t, src, "16K", urls...)
	mi, err := metainfo.LoadFromFile(tor)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal([]string(mi.UrlList), urls) {
		t.Fatalf("url-list %q, want %q", mi.UrlList, urls)
	}
	out := filepath.Join(dir, "bad.torrent")
	code, _, errOut := torrentfs(t, nil, "create", "-o", out, "--web-seed", "ftp://mirror.example/", src)
	if code != 1 || !strings.Contains(errOut, "ftp://mirror.example/") {
		t.Fatalf("create with an ftp web seed: exit %d, %q; want exit 1 naming the URL", code, errOut)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a torrent was written: %v", err)
	}
}

// TestWebSeedHostileClaimer: a peer that says it has every piece and unchokes us, but never
// answers a request, and nginx with every file: the mount reads every file, from the web
// seed, once the peer has sent nothing for what it was asked (anacrolix patch 0027); before,
// web seeds left every piece to it and reads failed at --read-timeout.
func TestWebSeedHostileClaimer(t *testing.T) {
	root := t.TempDir()
	files := sampleTree(t, root)
	web := nginx(t, root, "")
	tor := createWebSeeded(t, filepath.Join(root, "sample"), "64K", fmt.Sprintf("http://127.0.0.1:%d/", web))
	_, info, err := fetch.LoadTorrentFile(tor)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte // the torrent's bytes, for the peer to index (it sends none)
	for _, f := range info.UpvertedFiles() {
		data = append(data, files[filepath.Join(append([]string{"sample"}, f.BestPath()...)...)]...)
	}
	h := newHostile(t, tor, data, claimsIgnore)
	mnt, _ := mountTorrent(t, tor, "--peer", h.addr, "--read-timeout", "30s")
	h.waitUntil(t, func() bool { return h.handshakes.Load() > 0 }, func() string { return "the mount never connected to the peer" })
	checkTree(t, mnt, files)
	if h.rejected.Load() == 0 {
		t.Fatal("the mount asked the lying peer for nothing: it was not in the game")
	}
	st := webStatus(t, mnt)
	if len(st.WebSeeds) != 1 || st.WebSeeds[0].Downloaded < int64(len(data)) {
		t.Fatalf("the web seed sent less than the torrent: %+v", st.WebSeeds)
	}
	t.Logf("the peer was asked for %d chunks and sent none; the web seed sent %d bytes", h.rejected.Load(), st.WebSeeds[0].Downloaded)
}
