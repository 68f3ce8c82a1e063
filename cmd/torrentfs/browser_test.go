package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// browser starts Debian's Chromium, headless, with nothing that would reach the network on
// its own (no background networking, component updates, sync or QUIC), and returns a
// context of its first tab. It is stopped when the test ends.
func browser(t testing.TB) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not installed: run make deps")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 760),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // kills the browser and waits for it
	})
	if err := chromedp.Do(ctx); err != nil { // starts it
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// openPage starts Chromium (browser) and loads url in it. It returns the browser's context
// and one that ends a minute from now, for what the test waits for on the page.
func openPage(t testing.TB, url string) (ctx, tctx context.Context) {
	t.Helper()
	ctx = browser(t)
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(cancel)
	if _, err := chromedp.Run(tctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	return ctx, tctx
}

// waitPage polls the page until the JavaScript expression cond is true, while tctx lasts;
// if it never is, it ends the test saying the page never showed what, with the page.
func waitPage(t testing.TB, ctx, tctx context.Context, cond, what string) {
	t.Helper()
	if _, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](cond)); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.OuterHTML("main"))
		t.Fatalf("the page never showed %s: %v\n%s", what, err, page)
	}
}

// tableRow is a JavaScript function that finds the row of the status page's table of class
// class whose first cell is its argument, as its cells' text.
func tableRow(class string) string {
	return `(u => [...document.querySelectorAll("table.` + class + ` tr")].map(r => [...r.cells].map(c => c.textContent)).find(c => c[0] === u))`
}

// TestStatusPageInBrowser opens a mount's status page in Chromium and watches it while a
// file is read through the mount: the torrent is named, and its piece map fills, half then
// all, without the page being loaded again. A screenshot of the half-filled page is kept as
// an artifact (go test -artifacts).
func TestStatusPageInBrowser(t *testing.T) {
	tor, data, addr := swarm(t, "film.bin", 32<<20) // 128 pieces of 256 KiB
	mnt, hp := t.TempDir(), freePort(t)
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr,
		"--http", fmt.Sprintf("127.0.0.1:%d", hp), tor, mnt}, loopback...)...)
	m.waitReady(t)
	ctx := browser(t)
	// run runs one action with a minute to do it; on failure, the test ends showing the page.
	run := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := chromedp.Run(tctx, a); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.OuterHTML("body"))
			t.Fatalf("%s: %v; the page:\n%s", what, err, page)
		}
	}
	// value evaluates a JavaScript expression.
	value := func(expr string) int {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	cached := `document.querySelectorAll(".m i.c4").length`
	run("open the page", chromedp.Navigate(fmt.Sprintf("http://127.0.0.1:%d/", hp)))
	name, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("section.torrent h2")))
	if err != nil {
		t.Fatal(err)
	}
	value(`window.loadedOnce = 1`) // gone if the page were loaded again
	if cells, have := value(`document.querySelectorAll(".m i").length`), value(cached); name != "film.bin" || cells != 128 || have != 0 {
		t.Fatalf("the page shows %q with %d cells, %d cached; want film.bin, 128, 0", name, cells, have)
	}

	readEqual(t, filepath.Join(mnt, "film.bin"), 0, data[:16<<20])
	run("wait for half the map", chromedp.Poll[chromedp.Void](cached+` >= 64 && window.loadedOnce === 1`))
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), "status-page.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	streamEqual(t, filepath.Join(mnt, "film.bin"), data)
	run("wait for the whole map", chromedp.Poll[chromedp.Void](cached+` === 128 && window.loadedOnce === 1`))

	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"32.0 MiB of 32.0 MiB cached (100%)", "1 peers of", "torrentfs/", "100%"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q on the page:\n%s", want, text)
		}
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// TestStatusPageWebSeeds opens the status page of a mount of two torrents whose only sources
// are web seeds, on nginx: one serves its file, the other answers 404. After a read of each
// file, the page shows, without being loaded again, what `status` does: each web seed's URL,
// the bytes the first sent, and the other's 404.
func TestStatusPageWebSeeds(t *testing.T) {
	root := t.TempDir()
	good, bad := fetchtest.Payload(1<<20+7, 5), fetchtest.Payload(300<<10, 6)
	writeTree(t, root, map[string][]byte{"good.bin": good, "bad.bin": bad})
	port := nginx(t, root, `location /404/ { return 404; }`)
	goodURL, badURL := fmt.Sprintf("http://127.0.0.1:%d/", port), fmt.Sprintf("http://127.0.0.1:%d/404/", port)
	goodTor := createWebSeeded(t, filepath.Join(root, "good.bin"), "64K", goodURL)
	badTor := createWebSeeded(t, filepath.Join(root, "bad.bin"), "64K", badURL)
	mnt, hp := t.TempDir(), freePort(t)
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--read-timeout", "2s",
		"--http", fmt.Sprintf("127.0.0.1:%d", hp), goodTor, badTor, mnt}, loopback...)...)
	m.waitReady(t)
	ctx, tctx := openPage(t, fmt.Sprintf("http://127.0.0.1:%d/", hp))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.loadedOnce = 1`)); err != nil {
		t.Fatal(err)
	}

	checkTree(t, mnt, map[string][]byte{"good.bin": good})
	if _, err := os.ReadFile(filepath.Join(mnt, "bad.bin")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of the file whose web seed answers 404: want EIO, got %v", err)
	}
	shown := fmt.Sprintf(`(() => { const g = %[1]s(%[2]q), b = %[1]s(%[3]q);
		return window.loadedOnce === 1 && g !== undefined && g[1] !== "0 B" && g[4] === "" && b !== undefined && b[4].includes("404") })()`,
		tableRow("webseeds"), goodURL, badURL)
	waitPage(t, ctx, tctx, shown, "both web seeds, the bytes of one and the 404 of the other")
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}

// TestTorrentPageSandboxed opens a torrent's index.html over HTTP in Chromium: its script
// must not run, and the page must not be of the status page's origin, so that even a
// script given to it (here by DevTools) cannot read the API. The same page from a data:
// URL shows that the script would have run.
func TestTorrentPageSandboxed(t *testing.T) {
	page := []byte(`<!doctype html><html><head><meta charset="utf-8"><title>untouched</title></head><body>
<p id="m">untouched</p>
<script>document.title = "ran"; fetch("/api/torrents").then(r => r.text()).then(() => { document.title = "read the API" })</script>
</body></html>
`)
	s := fetchtest.NewSwarm(t, "site", []fetchtest.File{
		{Path: []string{"index.html"}, Data: page},
		{Path: []string{"x.bin"}, Data: fetchtest.Payload(100000, 3)},
	}, 16<<10)
	_, addr := s.StartSeeder(t)
	m, _, base := httpMount(t, s.TorrentPath, addr)
	ctx := browser(t)
	eval := func(expr string, opts ...chromedp.EvaluateOption) string {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		v, err := chromedp.Run(tctx, chromedp.Evaluate[string](expr, opts...))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	open := func(url string) {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := chromedp.Run(tctx, chromedp.Navigate(url)); err != nil {
			t.Fatalf("open %s: %v", url, err)
		}
	}

	open("data:text/html;base64," + base64.StdEncoding.EncodeToString(page))
	if title := eval(`document.title`); title != "ran" {
		t.Fatalf("the page's script did not run from a data: URL either (title %q): the test shows nothing", title)
	}

	open(base + "/files/site/index.html")
	if text := eval(`document.getElementById("m").textContent`); text != "untouched" {
		t.Fatalf("not the torrent's page: %q", text)
	}
	if title := eval(`document.title`); title != "untouched" {
		t.Errorf("the torrent's script ran: title %q", title)
	}
	if origin := eval(`window.origin`); origin != "null" {
		t.Errorf("the torrent's page has the origin %q, want an opaque one (null)", origin)
	}
	if got := eval(`fetch("/api/torrents").then(r => r.text(), e => "refused: " + e)`, chromedp.EvalAwaitPromise); !strings.HasPrefix(got, "refused") {
		t.Errorf("a script in the torrent's page read the API: %.80q", got)
	}
	// The status page itself is not sandboxed: its script runs and reads the API.
	open(base + "/")
	if got := eval(`fetch("/api/torrents").then(r => r.text(), e => "refused: " + e)`, chromedp.EvalAwaitPromise); !strings.Contains(got, `"site"`) {
		t.Errorf("the status page cannot read the API: %.80q", got)
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d", code)
	}
}
