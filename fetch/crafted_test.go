package fetch_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// Each crafted torrent loads, consistent, in bounded time, or is refused with an error.
// cmd/torrentfs's TestCrafted mounts them.
func TestCraftedTorrents(t *testing.T) {
	dir := t.TempDir()
	for _, c := range fetchtest.CraftedTorrents() {
		t.Run(c.Name, func(t *testing.T) {
			path := filepath.Join(dir, c.Name+".torrent")
			if err := c.Write(path); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, info, err := fetch.LoadTorrentFile(path)
			t.Logf("loaded in %v: %v", time.Since(start), err)
			switch {
			case c.Refused && err == nil:
				t.Fatal("accepted")
			case c.TooLarge && !errors.Is(err, fetch.ErrTooLarge):
				t.Fatalf("%v, want ErrTooLarge", err)
			case !c.Refused && err != nil:
				t.Fatal(err)
			case err == nil:
				checkLoaded(t, info)
			}
		})
	}
}

// A torrent of one piece more than MaxPieces is refused as too large, though its file is not.
func TestMaxPieces(t *testing.T) {
	for _, n := range []int64{fetch.MaxPieces, fetch.MaxPieces + 1} {
		info := metainfo.Info{Name: "x", PieceLength: 1 << 14, Length: n << 14, Pieces: make([]byte, 20*n)}
		ib, err := bencode.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		b, err := bencode.Marshal(metainfo.MetaInfo{InfoBytes: ib})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = fetch.ParseTorrent(b, "x.torrent")
		if too := n > fetch.MaxPieces; too != errors.Is(err, fetch.ErrTooLarge) || !too && err != nil {
			t.Errorf("%d pieces: %v", n, err)
		}
	}
}
