package library

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/cache"
	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
	torrent "github.com/torrentfs/torrentfs/third_party/anacrolix-torrent"
)

// FuzzParseInfoHash: an info-hash accepted round-trips: hex to the same hex, lower-cased,
// and base32 to the same base32, upper-cased; as a magnet link it names the same torrent.
func FuzzParseInfoHash(f *testing.F) {
	for _, s := range []string{"0123456789abcdef0123456789ABCDEF01234567", strings.Repeat("A", 32),
		"0123456789abcdef0123456789abcdef0123456g", "abcdefghijklmnopqrstuvwxyz234567", "ſ" + strings.Repeat("a", 30)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ih, ok := ParseInfoHash(s)
		if !ok {
			if ih != (metainfo.Hash{}) {
				t.Fatalf("%q: refused, with %x", s, ih)
			}
			return
		}
		switch len(s) {
		case 40:
			if ih.HexString() != strings.ToLower(s) {
				t.Fatalf("%q: parsed as %s", s, ih.HexString())
			}
		case 32:
			if b := base32.StdEncoding.EncodeToString(ih[:]); b != strings.ToUpper(s) {
				t.Fatalf("%q: parsed as %s", s, b)
			}
		default:
			t.Fatalf("%q: accepted, %d bytes long", s, len(s))
		}
		src, err := magnet(s, "magnet:?xt=urn:btih:"+ih.HexString())
		if err != nil || src.ih != ih {
			t.Fatalf("%q: as a magnet link: %v, %x", s, err, src.ih)
		}
	})
}

// FuzzMagnet: a magnet link the library accepts has a v1 info-hash, and fetch's reading of
// the same link (anacrolix's TorrentSpecFromMagnetUri) finds the same one.
func FuzzMagnet(f *testing.F) {
	for _, s := range []string{
		"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=x",
		"magnet:?xt=urn:btih:" + strings.Repeat("A", 32),
		"magnet:?xt=urn:btmh:1220" + strings.Repeat("ab", 32),
		"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&xt=urn:btmh:1220" + strings.Repeat("ab", 32),
		"magnet:?dn=nothing", "magnet:", "magnet:?xt=urn:btih:%zz", "magnet:?xt=urn:btih:" + strings.Repeat("0", 39),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		src, err := magnet(s, s)
		if err != nil {
			return
		}
		spec, err := torrent.TorrentSpecFromMagnetUri(s)
		if err != nil {
			t.Fatalf("%q: accepted, but fetch refuses it: %v", s, err)
		}
		if spec.InfoHash != src.ih {
			t.Fatalf("%q: info-hash %x, fetch's %x", s, src.ih, spec.InfoHash)
		}
	})
}

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
	return !IsURL(s) && err != nil && !isMagnetFile(s)
}

// FuzzControl sends the control API requests from the fuzzer (method, path and query, body)
// through a Library over a real cache and client (loopback, no DHT, trackers or PEX). Every
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
	l := New(cl, c, nil, Options{MetadataTimeout: time.Millisecond, Logger: fetchtest.Logger()})
	f.Cleanup(func() { l.Close(); cl.Close(); c.Close() })
	h := l.Handler()
	f.Fuzz(func(t *testing.T, method, target, body string) {
		var add AddRequest // decoded as the handler decodes it
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
			var res []Result
			if err := json.NewDecoder(bytes.NewReader(w.Body.Bytes())).Decode(&res); err != nil || len(res) != len(add.Sources) {
				t.Fatalf("%s %s %q: %d results (%v) for %d sources", method, target, body, len(res), err, len(add.Sources))
			}
		}
	})
}
