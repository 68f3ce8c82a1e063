package library

import (
	"encoding/base32"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/metainfo"

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
