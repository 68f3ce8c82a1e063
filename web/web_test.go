package web_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/torrentfs/torrentfs/engine"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/internal/testnet"
	"github.com/torrentfs/torrentfs/library"
)

// TestMain runs the tests, which start peers, in a network namespace of their own when
// run as root: see testnet.
func TestMain(m *testing.M) {
	testnet.Isolate()
	os.Exit(m.Run())
}

const pieceLen = 64 << 10

// TestPage serves a two-file torrent from an engine without a mount, reads one file over
// HTTP, and checks what the status page, its live part and the metrics show of it.
func TestPage(t *testing.T) {
	first := fetchtest.Payload(3*pieceLen+5, 1)
	second := append(fetchtest.Payload(2*pieceLen+77, 2), 0)
	s := fetchtest.NewSwarm(t, "album", []fetchtest.File{
		{Path: []string{"cd 1", "one.bin"}, Data: first},
		{Path: []string{"two.bin"}, Data: second},
	}, pieceLen)
	_, addr := s.StartSeeder(t)
	e, err := engine.Open(t.Context(), engine.Config{
		CacheDir:     t.TempDir(),
		CacheMaxSize: 256 << 20,
		Client:       fetchtest.Loopback(fetch.Config{}),
		Library:      library.Options{Add: fetch.AddOptions{Peers: []string{addr}}},
		Sources:      []string{s.TorrentPath},
		HTTP:         &engine.HTTPConfig{Addr: "127.0.0.1:0"},
		Logger:       fetchtest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		if err := e.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	base := "http://" + e.HTTPAddr().String()
	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}

	if resp, b := get("/files/album/cd%201/one.bin"); resp.StatusCode != http.StatusOK || !bytes.Equal([]byte(b), first) {
		t.Fatalf("GET the first file: %s, %d bytes unequal to its %d", resp.Status, len(b), len(first))
	}

	resp, page := get("/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
		resp.Header.Get("Cache-Control") != "no-store" || !strings.Contains(page, "<script>") {
		t.Fatalf("GET /: %s %v\n%s", resp.Status, resp.Header, page)
	}
	resp, main := get("/?part=main")
	if resp.StatusCode != http.StatusOK || strings.Contains(main, "<script>") || strings.Contains(main, "<html>") {
		t.Fatalf("GET /?part=main: %s\n%s", resp.Status, main)
	}
	for _, b := range []string{page, main} {
		for _, want := range []string{
			"<h2>album</h2>", "<small>" + s.InfoHash + "</small>",
			`<a href="/files/album/cd%201/one.bin">album/cd 1/one.bin</a>`,
			`<a href="/files/album/two.bin">album/two.bin</a>`,
			// The first file was read: its pieces are cached. Readahead may have fetched the rest.
			`<tr><td>100%</td><td><a href="/files/album/cd%201/one.bin">`, `<div class="m f"><i class="c4"></i>`, `<table class="peers">`,
		} {
			if !strings.Contains(b, want) {
				t.Errorf("the page has no %q:\n%s", want, b)
			}
		}
		if n := strings.Count(b, `<div class="m f">`); n != 2 {
			t.Errorf("the page draws %d files' piece maps, want 2:\n%s", n, b)
		}
		if !regexp.MustCompile(`KiB cached \(<span class="pct">[0-9]+%</span>\)`).MatchString(b) {
			t.Errorf("the page has no percentage cached:\n%s", b)
		}
		if !regexp.MustCompile(`started: first peer after [0-9.]+m?s, first piece after [0-9.]+m?s \(from torrentfs/`).MatchString(b) {
			t.Errorf("the page has no started line:\n%s", b)
		}
	}

	resp, m := get("/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	for _, want := range []string{
		`torrentfs_torrents{state="mounted"} 1`,
		`torrentfs_size_bytes{infohash="` + s.InfoHash + `",torrent="album"} ` + strconv.Itoa(len(first)+len(second)),
		`torrentfs_cache_limit_bytes 2.68435456e+08`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("the metrics have no %q:\n%s", want, m)
		}
	}
}
