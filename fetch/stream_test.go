package fetch_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/torrentfs/torrentfs/fetch"
	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// TestTreeCopy reads every file of a many-file torrent in torrent order, open, read to the
// end in 128 KiB reads, close, as cp -r does: each returns the source's bytes, the empty
// files and the files smaller than a piece that span a piece boundary included. A file read
// from its start to its end reads ahead into the next files: their pieces arrive before they
// are opened. The next file's read head keeps the stream's readahead.
func TestTreeCopy(t *testing.T) {
	sizes := []int{0, 1, 100, pieceLen - 50, 100, 0, 3*pieceLen + 7, 20 << 10, 0, 1 << 20, 5, pieceLen + 1, 300 << 10, 17}
	var total int64
	var files []fetchtest.File
	for i, n := range sizes {
		files = append(files, fetchtest.File{Path: []string{fmt.Sprintf("d%d", i/5), fmt.Sprintf("f%02d", i)}, Data: fetchtest.Payload(n, uint64(i+1))})
		total += int64(n)
	}
	s := fetchtest.NewSwarm(t, "tree", files, pieceLen)
	_, addr := s.StartSeeder(t)
	tt := s.Leech(t, newCache(t), fetch.Config{}, addr)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // fails rather than hangs
	defer cancel()
	streamed := int64(0) // read in sequence so far
	for i, f := range files {
		h := open(t, tt, i)
		var got []byte
		for off := int64(0); ; off += 128 << 10 {
			b := readAt(t, h, off, 128<<10)
			got = append(got, b...)
			if i > 0 && off == 0 && len(b) > 0 && streamed >= 1<<20 {
				// The head continues the stream: its window is the stream's, not a
				// fresh head's.
				// (The window stops at the torrent's end.)
				if w, want := widest(tt.Active()), min(streamed, total-streamed-int64(len(b))); w < want {
					t.Errorf("file %d: read head's window %d bytes after %d streamed, want %d", i, w, streamed, want)
				}
			}
			if len(b) < 128<<10 {
				break
			}
		}
		if !bytes.Equal(got, f.Data) {
			t.Fatalf("file %d: %d bytes differ from the source's %d", i, len(got), len(f.Data))
		}
		streamed += int64(len(got))
		if next := i + 1; next < len(files) && len(f.Data) >= 1<<20 {
			// Read to its end from its start: the readahead ran on into the next file,
			// which arrives without being opened.
			if err := tt.WaitCached(ctx, next, 0, int64(len(files[next].Data))); err != nil {
				t.Fatalf("file %d was not fetched ahead after file %d: %v", next, i, err)
			}
		}
		h.Close()
	}
}

// widest is the length of the widest window.
func widest(ws [][2]int64) int64 {
	var w int64
	for _, r := range ws {
		w = max(w, r[1]-r[0])
	}
	return w
}
