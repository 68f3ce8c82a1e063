package status_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	"github.com/torrentfs/torrentfs/library"
	"github.com/torrentfs/torrentfs/status"
)

// offline is the transport of the control fuzzer's HTTP client: no request leaves.
type offline struct{}

var errOffline = errors.New("offline")

func (offline) RoundTrip(*http.Request) (*http.Response, error) { return nil, errOffline }

// harmless reports whether adding s touches nothing outside the test: a magnet link naming
// no tracker, peer, web seed or source, or a name that is no file, directory or URL.
func harmless(s string) bool {
	if fetch.IsMagnet(s) {
		u, err := neturl.Parse(s)
		if err != nil {
			return true // refused
		}
		for k := range u.Query() {
			if k != "xt" && k != "dn" {
				return false
			}
		}
		return true
	}
	_, err := os.Stat(s)
	return !library.IsURL(s) && err != nil && !strings.EqualFold(filepath.Ext(s), ".magnet")
}

// FuzzControl sends the control API requests from the fuzzer (method, path and query, body)
// through the control handler of a Library over a real cache and client (loopback, no DHT, trackers or PEX). Every
// request gets an answer under 500, and an accepted POST one result per source. Requests
// that would reach beyond the test (URLs, files, magnet links naming peers or trackers) are
// skipped; magnet links added are dropped for want of metadata within a millisecond, so
// the mount, which only a torrent with metadata reaches, is left out.
func FuzzControl(f *testing.F) {
	ih := strings.Repeat("ab", 20)
	f.Add("GET", "/torrents", "")
	f.Add("GET", "/status", "")
	f.Add("POST", "/torrents", `{"sources":["magnet:?xt=urn:btih:`+ih+`","`+ih+`","no-such.torrent",""]}`)
	f.Add("POST", "/torrents", `{"sources":`)
	f.Add("POST", "/torrents", `[1,2]`)
	f.Add("DELETE", "/torrents?key="+ih+"&purge=1", "")
	f.Add("DELETE", "/torrents?key=%zz", "")
	f.Add("PUT", "/torrents/../status", "x")
	http.DefaultClient.Transport = offline{}
	c, err := cache.Open(f.TempDir(), cache.Options{Logger: fetchtest.Logger()})
	if err != nil {
		f.Fatal(err)
	}
	cl, err := fetch.New(fetchtest.Loopback(fetch.Config{Storage: c}))
	if err != nil {
		f.Fatal(err)
	}
	l := library.New(cl, c, nil, library.Options{MetadataTimeout: time.Millisecond, Logger: fetchtest.Logger()})
	f.Cleanup(func() { l.Close(); cl.Close(); c.Close() })
	h := status.New(l, c, status.Options{}).ControlHandler()
	f.Fuzz(func(t *testing.T, method, target, body string) {
		var add status.AddRequest // decoded as the handler decodes it
		if json.NewDecoder(strings.NewReader(body)).Decode(&add) == nil {
			for _, s := range add.Sources {
				if !harmless(s) {
					return // out of scope: ignored, not a failure
				}
			}
		}
		if len(add.Sources) > 20 {
			return // out of scope: ignored, not a failure
		}
		r, err := http.NewRequest(method, "http://control"+target, strings.NewReader(body))
		if err != nil || r.URL.Host != "control" {
			return
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, target, body, w.Code, w.Body)
		}
		if method == "POST" && w.Code == http.StatusOK {
			var res []status.Result
			if err := json.NewDecoder(bytes.NewReader(w.Body.Bytes())).Decode(&res); err != nil || len(res) != len(add.Sources) {
				t.Fatalf("%s %s %q: %d results (%v) for %d sources", method, target, body, len(res), err, len(add.Sources))
			}
		}
	})
}
