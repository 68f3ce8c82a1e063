package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/web"
)

// httpMount mounts tor from the peer at addr with --http on a free loopback port, plus
// extra flags, and returns the process, the mount point and the server's base URL.
func httpMount(t *testing.T, tor, addr string, extra ...string) (*proc, string, string) {
	t.Helper()
	mnt := t.TempDir()
	hp := freePort(t)
	args := append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr, "--http", fmt.Sprintf("127.0.0.1:%d", hp)}, extra...)
	p := start(t, nil, append(append(args, tor, mnt), loopback...)...)
	p.waitReady(t)
	// The line is what this checks: it tells the user where the server listens. It was
	// written before the mount said it was ready.
	p.wantLogged(t, "msg=http ", fmt.Sprintf("addr=127.0.0.1:%d ", hp))
	return p, mnt, fmt.Sprintf("http://127.0.0.1:%d", hp)
}

// metricValue scrapes base's /metrics and returns the value of the one series called name: a
// counter's or a gauge's, or a histogram's count of samples. The families named in present
// must be in the scrape too.
func metricValue(t testing.TB, base, name string, present ...string) float64 {
	t.Helper()
	resp, b := get(t, base+"/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	tp := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := tp.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, b)
	}
	for _, want := range present {
		if mfs[want] == nil {
			t.Errorf("/metrics has no %s", want)
		}
	}
	mf := mfs[name]
	if mf == nil || len(mf.Metric) != 1 {
		t.Fatalf("/metrics: %s is %v", name, mf)
	}
	switch m := mf.Metric[0]; {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	t.Fatalf("/metrics: %s is neither a counter, a gauge nor a histogram", name)
	return 0
}

// get sends a GET of url, with header's name, value pairs, and returns the response with its
// whole body.
func get(t testing.TB, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return doBody(t, req)
}

// TestHTTP serves a torrent's file over HTTP, with ranges and ETags, its numbers as JSON and
// Prometheus metrics, and the status page.
func TestHTTP(t *testing.T) {
	files := []fetchtest.File{
		{Path: []string{"a", "big.bin"}, Data: fetchtest.Payload(3<<20+12345, 7)},
		{Path: []string{"c.txt"}, Data: []byte("hello\n")},
	}
	s := fetchtest.NewSwarm(t, "tree", files, 256<<10)
	_, addr := s.StartSeeder(t)
	p, mnt, base := httpMount(t, s.TorrentPath, addr)
	big := files[0].Data
	url := base + "/files/tree/a/big.bin"

	metric := func(name string) float64 {
		t.Helper()
		return metricValue(t, base, name, "torrentfs_reads_waiting", "torrentfs_read_duration_seconds", "torrentfs_downloaded_bytes_total",
			"torrentfs_uploaded_bytes_total", "torrentfs_cached_bytes", "torrentfs_evicted_bytes_total", "torrentfs_peers",
			"torrentfs_hash_failures_total", "torrentfs_cache_used_bytes", "go_goroutines")
	}
	if n := metric("torrentfs_read_bytes_total"); n != 0 {
		t.Fatalf("read bytes before any read: %v", n)
	}

	// Ranges, the first across a piece boundary, the last to the end.
	for _, r := range [][2]int{{100, 300000}, {2 << 20, 2<<20 + 99}, {len(big) - 1000, len(big) - 1}} {
		resp, b := get(t, url, "Range", fmt.Sprintf("bytes=%d-%d", r[0], r[1]))
		if resp.StatusCode != http.StatusPartialContent {
			t.Fatalf("range %v: %s", r, resp.Status)
		}
		if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes %d-%d/%d", r[0], r[1], len(big)) {
			t.Errorf("range %v: Content-Range %q", r, cr)
		}
		if !bytes.Equal(b, big[r[0]:r[1]+1]) {
			t.Fatalf("range %v: %d bytes differ from the source's", r, len(b))
		}
	}
	if n := metric("torrentfs_read_bytes_total"); n < 300000 {
		t.Errorf("read bytes after ranged reads: %v", n)
	}
	if n := metric("torrentfs_read_duration_seconds"); n == 0 {
		t.Error("no read latency observed")
	}
	resp, b := get(t, url)
	if resp.StatusCode != 200 || !bytes.Equal(b, big) {
		t.Fatalf("full GET: %s, %d bytes, equal %v", resp.Status, len(b), bytes.Equal(b, big))
	}
	etag := resp.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("headers: %v", resp.Header)
	}
	if resp, _ := get(t, url, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %s: %s", etag, resp.Status)
	}
	if resp, b := get(t, url, "Range", "bytes=0-9", "If-Range", `"other"`); resp.StatusCode != 200 || len(b) != len(big) {
		t.Errorf("If-Range with another ETag: %s, %d bytes", resp.Status, len(b))
	}
	resp, b = get(t, base+"/files/tree/c.txt")
	if resp.StatusCode != 200 || string(b) != "hello\n" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("c.txt: %s %q %q", resp.Status, b, resp.Header.Get("Content-Type"))
	}
	for _, u := range []string{"/files/tree/nope", "/files/nope", "/files/tree/a/big.bin/x", "/nope", "/api/torrents/0123"} {
		if resp, _ := get(t, base+u); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", u, resp.Status)
		}
	}
	// Listings link to what the mount shows.
	if resp, b := get(t, base+"/files/tree/a"); resp.StatusCode != 200 || !strings.Contains(string(b), `href="./big.bin"`) {
		t.Errorf("listing of tree/a: %s\n%s", resp.Status, b)
	}
	if _, err := os.Stat(filepath.Join(mnt, "tree", "a", "big.bin")); err != nil {
		t.Fatal(err)
	}

	// The JSON API.
	resp, b = get(t, base+"/api/torrents")
	var ts []web.Torrent
	if err := json.Unmarshal(b, &ts); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/api/torrents: %s %v\n%s", resp.Status, err, b)
	}
	if len(ts) != 1 || ts[0].Name != "tree" || ts[0].Cached < int64(len(big)) || ts[0].Peers != 1 || len(ts[0].Files) != 2 ||
		ts[0].Files[0].URL != "/files/tree/a/big.bin" || ts[0].Files[0].Cached != int64(len(big)) || ts[0].PieceMap != "" {
		t.Errorf("/api/torrents:\n%s", b)
	}
	resp, b = get(t, base+"/api/torrents/"+ts[0].InfoHash)
	var one web.Torrent
	if err := json.Unmarshal(b, &one); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/api/torrents/%s: %s %v", ts[0].InfoHash, resp.Status, err)
	}
	if one.InfoHash != ts[0].InfoHash || len(one.PieceMap) != one.Pieces || one.Pieces != (len(big)+6+256<<10-1)/(256<<10) ||
		strings.Trim(one.PieceMap, "1") != "" {
		t.Errorf("/api/torrents/%s:\n%s", one.InfoHash, b)
	}
	if resp, b := get(t, base+"/"); resp.StatusCode != 200 || !strings.Contains(string(b), "<h2>tree</h2>") || !strings.Contains(string(b), `class="c4"`) ||
		strings.Count(string(b), `<div class="m f">`) != len(ts[0].Files) ||
		!regexp.MustCompile(`started: first peer after [0-9.]+m?s, first piece after [0-9.]+m?s \(from torrentfs/`).Match(b) {
		t.Errorf("status page: %s\n%s", resp.Status, b)
	}
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// TestHTTPMedia: ffprobe reads an MP4 over HTTP (ranges: the index is at the end) and
// reports what it reports for the source file; ffmpeg seeks in it and decodes the source's
// frame; curl's ranged reads return the source's bytes.
func TestHTTPMedia(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Fatal("ffprobe not installed: run make deps")
	}
	src := filepath.Join(t.TempDir(), "movie.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=duration=5:size=320x240:rate=25", "-c:v", "mpeg4", "-q:v", "5", src)
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	s := fetchtest.NewSwarm(t, "movie.mp4", []fetchtest.File{{Data: data}}, 64<<10)
	_, addr := s.StartSeeder(t)
	p, _, base := httpMount(t, s.TorrentPath, addr)
	url := base + "/files/movie.mp4"
	if got, want := ffprobe(t, url), ffprobe(t, src); got != want {
		t.Fatalf("ffprobe over HTTP:\n%s\nof the source:\n%s", got, want)
	}
	if resp, _ := get(t, url, "Range", "bytes=0-0"); resp.Header.Get("Content-Type") != "video/mp4" {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	// A seek as a player makes it: the frame decoded 3 s in is the source's.
	if got, want := frameAt3(t, url), frameAt3(t, src); got != want {
		t.Errorf("ffmpeg -ss 3 over HTTP decoded:\n%s\nfrom the source:\n%s", got, want)
	}
	// Ranged reads with curl: a middle range, and the last bytes.
	for _, r := range []struct {
		arg      string
		from, to int
	}{{"1000-70999", 1000, 71000}, {"-500", len(data) - 500, len(data)}} {
		out, err := exec.Command("curl", "-sSf", "-r", r.arg, url).Output()
		if err != nil || !bytes.Equal(out, data[r.from:r.to]) {
			t.Errorf("curl -r %s: %v; %d bytes, want bytes [%d, %d) of the source", r.arg, err, len(out), r.from, r.to)
		}
	}
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// TestHTTPAuth: an address other than loopback needs credentials, which an empty password
// or a file others may read are not; with them, every request without them gets 401. A
// failed login is logged, and its address is refused for a second, even with the right
// password. The server binds 0.0.0.0 but the test only ever reaches it through 127.0.0.1.
func TestHTTPAuth(t *testing.T) {
	tor, _, addr := swarm(t, "one.bin", 100000)
	hp := freePort(t)
	mnt := t.TempDir()
	mount := func(extra ...string) []string {
		return append(append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr,
			"--http", fmt.Sprintf("0.0.0.0:%d", hp)}, extra...), append([]string{tor, mnt}, loopback...)...)
	}
	authFile := filepath.Join(t.TempDir(), "auth")
	writeAuth := func(content string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(authFile, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(authFile, mode); err != nil { // WriteFile keeps an existing file's mode
			t.Fatal(err)
		}
	}
	refused := func(what, want string, extra ...string) {
		t.Helper()
		code, _, stderr := torrentfs(t, nil, mount(extra...)...)
		if code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, %q; want an error with %q", what, code, stderr, want)
		}
		if mounted(mnt) {
			t.Fatalf("%s: mounted anyway", what)
		}
	}
	refused("--http 0.0.0.0 without credentials", "--http-auth")
	refused("--http-auth with an empty password", "password is empty", "--http-auth", "me:")
	writeAuth("me:\n", 0o600)
	refused("--http-auth-file with an empty password", "password is empty", "--http-auth-file", authFile)
	writeAuth("me:s3cret\n", 0o644)
	refused("--http-auth-file of mode 0644", "chmod 600 "+authFile, "--http-auth-file", authFile)
	writeAuth("me:s3cret\n", 0o640)
	refused("--http-auth-file of mode 0640", "chmod 600 "+authFile, "-o", "http_auth_file="+authFile)

	writeAuth("me:s3cret\n", 0o600)
	p := start(t, nil, mount("--http-auth-file", authFile)...)
	p.waitReady(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", hp)
	do := func(u, user, pass string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", base+u, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, u := range []string{"/", "/metrics", "/api/torrents", "/files/one.bin", "/dav/one.bin"} {
		// A browser asks first without credentials: that is not a failed login.
		if resp := do(u, "", ""); resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s without credentials: %s", u, resp.Status)
		}
		if resp := do(u, "me", "s3cret"); resp.StatusCode != http.StatusOK {
			t.Errorf("%s with credentials: %s", u, resp.Status)
		}
	}
	if resp := do("/", "me", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong password: %s", resp.Status)
	}
	// The warning an operator reads, naming the address, is what this checks: the server
	// wrote it before it answered 401.
	p.wantLogged(t, "http login failed", "remote=127.0.0.1 ")
	if resp := do("/", "me", "s3cret"); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("the right password at once after a wrong one: %s, Retry-After %q; want 429 for a second", resp.Status, resp.Header.Get("Retry-After"))
	}
	if code := p.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}
