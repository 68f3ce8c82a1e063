package library

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/fetch"
)

const (
	// MaxTorrentSize bounds a .torrent fetched from a URL, as fetch bounds one read from a
	// file.
	MaxTorrentSize = fetch.MaxTorrentSize
	// urlTimeout bounds the download of a .torrent from a URL.
	urlTimeout = 30 * time.Second
	// maxMagnetFile bounds a .magnet file: one link, its trackers and web seeds.
	maxMagnetFile = 1 << 20
)

// source is a torrent named by one of the ways a user names one, made ready for fetch.Add.
type source struct {
	given string             // as the user gave it, for messages
	add   string             // what fetch.Add takes: a magnet link, or a label for mi
	mi    *metainfo.MetaInfo // a .torrent's contents, loaded; nil for a magnet link
	ih    metainfo.Hash
}

// IsURL reports whether s is an http(s) URL.
func IsURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

// isMagnetFile reports whether path names a file holding a magnet link.
func isMagnetFile(path string) bool { return strings.EqualFold(filepath.Ext(path), ".magnet") }

// ParseInfoHash parses a bare v1 info-hash: 40 hex digits or 32 base32 characters.
func ParseInfoHash(s string) (metainfo.Hash, bool) {
	var ih metainfo.Hash
	switch len(s) {
	case 40:
		b, err := hex.DecodeString(s)
		if err != nil {
			return ih, false
		}
		copy(ih[:], b)
		return ih, true
	case 32:
		b, err := base32.StdEncoding.DecodeString(strings.ToUpper(s))
		if err != nil || len(b) != len(ih) {
			return ih, false
		}
		copy(ih[:], b)
		return ih, true
	}
	return ih, false
}

// resolve checks a source that is not a directory and loads what can be loaded locally (or,
// for a URL, downloaded): a .torrent file, a .magnet file, a magnet link, a bare info-hash
// or an http(s) URL of a .torrent.
func resolve(ctx context.Context, hc *http.Client, s string) (source, error) {
	switch {
	case fetch.IsMagnet(s):
		return magnet(s, s)
	case IsURL(s):
		data, err := download(ctx, hc, s)
		if err != nil {
			return source{}, err
		}
		mi, _, err := fetch.ParseTorrent(data, s)
		if err != nil {
			return source{}, err
		}
		return source{given: s, add: s, mi: mi, ih: mi.HashInfoBytes()}, nil
	}
	if ih, ok := ParseInfoHash(s); ok {
		if _, err := os.Stat(s); err != nil { // a file may be named like a hash
			return source{given: s, add: "magnet:?xt=urn:btih:" + ih.HexString(), ih: ih}, nil
		}
	}
	if isMagnetFile(s) {
		b, err := fetch.ReadSourceFile(s, maxMagnetFile)
		if err != nil {
			return source{}, err
		}
		link := strings.TrimSpace(string(b))
		if !fetch.IsMagnet(link) {
			return source{}, fmt.Errorf("%s: no magnet link in it", s)
		}
		return magnet(s, link)
	}
	mi, _, err := fetch.LoadTorrentFile(s)
	if err != nil {
		return source{}, err
	}
	return source{given: s, add: s, mi: mi, ih: mi.HashInfoBytes()}, nil
}

// magnet checks a magnet link given as s.
func magnet(s, link string) (source, error) {
	m, err := metainfo.ParseMagnetV2Uri(link)
	switch {
	case err != nil:
		return source{}, fmt.Errorf("%s: bad magnet link: %w", s, err)
	case !m.InfoHash.Ok && m.V2InfoHash.Ok:
		return source{}, fmt.Errorf("%s: a v2-only magnet link (urn:btmh, no urn:btih): torrentfs reads v1 and hybrid torrents only", s)
	case !m.InfoHash.Ok:
		return source{}, fmt.Errorf("%s: bad magnet link: no info-hash (xt=urn:btih:…)", s)
	}
	return source{given: s, add: link, ih: m.InfoHash.Value}, nil
}

// URLError is a URL that did not give a .torrent file.
type URLError struct {
	URL string
	// What came back instead, for people.
	What string
}

func (e *URLError) Error() string { return e.URL + ": " + e.What }

// download fetches a .torrent over HTTP, refusing what is not one: an error status, an
// HTML page, or more than MaxTorrentSize bytes. hc is the swarm's client's (fetch.Client.
// HTTPClient), so that the download leaves as its connections do.
func download(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, urlTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	req.Header.Set("Accept", "application/x-bittorrent")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err // *url.Error names the URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &URLError{url, "HTTP " + resp.Status + ", not a .torrent file"}
	}
	if resp.ContentLength > MaxTorrentSize {
		return nil, &URLError{url, fmt.Sprintf("%d bytes, more than a .torrent file may have (%d MiB)", resp.ContentLength, MaxTorrentSize>>20)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxTorrentSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	if len(data) > MaxTorrentSize {
		return nil, &URLError{url, fmt.Sprintf("more than a .torrent file may have (%d MiB)", MaxTorrentSize>>20)}
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "text/html" || bytes.HasPrefix(bytes.TrimSpace(data), []byte("<")) {
		return nil, &URLError{url, "an HTML page (" + cmp.Or(mt, "no content type") + "), not a .torrent file"}
	}
	return data, nil
}

// Check checks a source as far as it can without the network, so that a mistake is
// reported before anything starts: a directory must exist, a URL must parse, and the rest
// must load.
func Check(s string) error {
	if st, err := os.Stat(s); err == nil && st.IsDir() {
		return nil
	}
	if IsURL(s) {
		_, err := neturl.Parse(s)
		return err
	}
	_, err := resolve(context.Background(), nil, s) // a URL is not fetched
	return err
}
