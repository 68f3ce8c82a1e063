package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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

// TestStatusPageInBrowser opens a mount's status page in Chromium and watches it while a
// file is read through the mount: the torrent is named, and its piece map fills, half then
// all, without the page being loaded again. A screenshot of the half-filled page is kept as
// an artifact (go test -artifacts).
func TestStatusPageInBrowser(t *testing.T) {
	tor, data, addr := swarm(t, "film.bin", 32<<20) // 128 pieces of 256 KiB
	mnt, hp := t.TempDir(), freePort(t)
	m := start(t, nil, append([]string{"mount", "--cache-dir", t.TempDir(), "--peer", addr,
		"--http", fmt.Sprintf("127.0.0.1:%d", hp), tor, mnt}, loopback...)...)
	m.waitFor(t, "msg=mounted")
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
