package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/chromedp/chromedp"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/status"
)

// garbageTracker is the answer of trackerGarbage: not bencode, and markup, which the status
// page must show as text.
const garbageTracker = `<b id="injected">not a tracker</b>`

// TestStatusTrackers mounts a torrent with three trackers: opentracker, which knows aria2
// seeding it (its answers name aria2, and the mount itself once it announced); a port where
// nothing listens; and an HTTP server that answers garbage (HTML).
// Once a file of it is read, `torrentfs status`, its JSON and the status page in Chromium show
// each tracker: opentracker's last answer and the peer it named, and the two others' errors,
// the garbage's markup as text.
func TestStatusTrackers(t *testing.T) {
	seedDir := t.TempDir()
	src := filepath.Join(seedDir, "tracked.bin")
	data := writePayload(t, src, 3<<20+5, 22)
	tor := filepath.Join(seedDir, "tracked.torrent")
	mi := mktorrent(t, tor, src, 16, "")
	ih := mi.HashInfoBytes()
	otPort := opentracker(t, ih.HexString())
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, garbageTracker)
	}))
	t.Cleanup(garbage.Close)
	good := fmt.Sprintf("http://127.0.0.1:%d/announce", otPort)
	refused := fmt.Sprintf("http://127.0.0.1:%d/announce", freePort(t))
	junk := garbage.URL + "/announce"
	mi.Announce, mi.AnnounceList = good, metainfo.AnnounceList{{good}, {refused}, {junk}}
	writeMetaInfo(t, tor, mi)

	// aria2 seeds it, through opentracker: the mount's announce then names one peer.
	aria2(t, tor, seedDir, "--check-integrity=true", "--seed-ratio=0.0")
	waitUntil(t, "opentracker to know aria2 as a seed", func() bool { return scrape(t, otPort, ih).Complete == 1 })

	hp := freePort(t)
	mnt, m := mountTorrent(t, tor, "--http", fmt.Sprintf("127.0.0.1:%d", hp))
	readEqual(t, filepath.Join(mnt, "tracked.bin"), 0, data)

	byURL := func(trs []fetch.Tracker, u string) fetch.Tracker {
		if k := slices.IndexFunc(trs, func(tr fetch.Tracker) bool { return tr.URL == u }); k >= 0 {
			return trs[k]
		}
		return fetch.Tracker{}
	}
	var last []fetch.Tracker
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the trackers when status was last asked: %+v", last)
		}
	})
	shown := func(trs []fetch.Tracker) bool {
		last = trs
		ok := byURL(trs, good)
		return len(trs) == 3 && !ok.LastAnnounce.IsZero() && ok.Peers >= 1 && ok.Error == "" &&
			byURL(trs, refused).Error != "" && byURL(trs, junk).Error != ""
	}
	r := waitStatus(t, mnt, anyTorrent(func(tr status.Torrent) bool { return shown(tr.Trackers) }))
	t.Logf("trackers: %+v", r.Torrents[0].Trackers)
	for _, u := range []string{refused, junk} {
		if tr := byURL(r.Torrents[0].Trackers, u); !tr.LastAnnounce.IsZero() || tr.ErrorAt.IsZero() {
			t.Errorf("tracker %s: %+v: want an error with its time and no answer", u, tr)
		}
	}

	code, out, errOut := torrentfs(t, nil, "status", mnt)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	if !regexp.MustCompile(`\ntrackers: 3, 1 answered \(last at [0-9:]+: [12] peers\), 2 failing\n`).MatchString(out) {
		t.Errorf("no line of the trackers in status:\n%s", out)
	}
	for _, want := range []string{"  " + refused + ": Get: dial tcp ", "connection refused", "  " + junk + ": ", "not a tracker"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in status:\n%s", want, out)
		}
	}
	if strings.Contains(out, "  "+good+": ") {
		t.Errorf("status details the tracker that answers:\n%s", out)
	}
	t.Logf("status:\n%s", out)

	// The web API's JSON is the same model.
	_, js := get(t, fmt.Sprintf("http://127.0.0.1:%d/api/torrents/%s", hp, ih.HexString()))
	var api status.Torrent
	if err := json.Unmarshal(js, &api); err != nil || !shown(api.Trackers) {
		t.Errorf("/api/torrents/%s: %v: trackers %+v", ih.HexString(), err, api.Trackers)
	}

	// The page: a row per tracker; the garbage's markup is text, not an element.
	ctx, tctx := openPage(t, fmt.Sprintf("http://127.0.0.1:%d/", hp))
	cond := fmt.Sprintf(`(() => { const g = %[1]s(%[2]q), r = %[1]s(%[3]q), j = %[1]s(%[4]q);
		return g !== undefined && g[1] !== "" && (g[2] === "1" || g[2] === "2") && g[3] === "" && r !== undefined && r[3] !== "" && j !== undefined && j[3] !== "" })()`,
		tableRow("trackers"), good, refused, junk)
	waitPage(t, ctx, tctx, cond, "the three trackers, one answering and two failing")
	injected, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("injected") !== null`))
	if err != nil || injected {
		t.Errorf("the garbage tracker's answer became markup on the page (%v)", err)
	}
	if code := m.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("mount: exit %d:\n%s", code, m.output())
	}
}
