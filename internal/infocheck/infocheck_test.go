package infocheck

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
)

// withFiles is a v1 torrent of one-byte files at paths, with the right number of hashes.
func withFiles(paths func(yield func([]string) bool)) *metainfo.Info {
	info := &metainfo.Info{Name: "shape", PieceLength: 1 << 30}
	for p := range paths {
		info.Files = append(info.Files, metainfo.FileInfo{Path: p, Length: 1})
	}
	info.Pieces = make([]byte, 20)
	return info
}

// Torrents at each limit of their shape are accepted; one more file, directory, element or
// byte is refused with ErrTooLarge and a message that names the limit.
func TestShape(t *testing.T) {
	n := func(n int, path func(i int) []string) func(yield func([]string) bool) {
		return func(yield func([]string) bool) {
			for i := range n {
				if !yield(path(i)) {
					return
				}
			}
		}
	}
	file := func(i int) []string { return []string{"f"} }
	inDir := func(i int) []string { return []string{"d" + strconv.Itoa(i), "f"} }
	deep := func(depth int) func(int) []string {
		return func(int) []string { return strings.Split(strings.Repeat("d", depth), "") }
	}
	// MaxPathBytes in paths of 2 + 1022 bytes, 1 KiB a file.
	long := func(i int) []string { return []string{strconv.Itoa(i % 10), strings.Repeat("x", 1021)} }
	for _, c := range []struct {
		name  string
		files func(yield func([]string) bool)
		want  string // in the error; "" if accepted
	}{
		{"files at the cap", n(MaxFiles, file), ""},
		{"files over the cap", n(MaxFiles+1, file), "more than 1048576 files"},
		{"directories at the cap", n(MaxDirs, inDir), ""},
		{"directories over the cap", n(MaxDirs+1, inDir), "more than 262144 directories"},
		{"depth at the cap", n(1, deep(MaxPathDepth)), ""},
		{"depth over the cap", n(1, deep(MaxPathDepth+1)), "a path 2049 elements deep: too large for torrentfs (at most 2048)"},
		{"path bytes at the cap", n(MaxPathBytes/1024, long), ""},
		{"path bytes over the cap", n(MaxPathBytes/1024+1, long), "more than 32 MiB of file paths"},
		{"empty elements count", n(1, func(int) []string { return make([]string, MaxPathDepth+1) }), "2049 elements deep"},
		{"directories of empty names", n(MaxDirs/2+1, func(i int) []string { return []string{strconv.Itoa(i), "", "f"} }), "more than 262144 directories"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Check(withFiles(c.files))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want == "":
			case !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), c.want):
				t.Fatalf("got %v, want an ErrTooLarge saying %q", err, c.want)
			}
		})
	}
}
