package fs

import (
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxName is the longest file name the kernel accepts (NAME_MAX).
const maxName = 255

// cleanName makes an untrusted torrent path element safe to use as one directory entry: no
// '/' or NUL, not "", "." or "..", at most maxName bytes, cut on a UTF-8 boundary.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == 0 {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		s = "_" + s
	}
	return truncate(s, maxName)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for i := 0; i < utf8.UTFMax-1 && len(s) > 0; i++ {
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// suffixes remembers, for one directory whose names are only ever added, how far uniqueName
// found " (i)" names taken, so that n files of one name cost O(n) checks rather than
// O(n²). A key is a family of candidates that differ only in i: the stem as cut for i's
// number of digits, the extension, and that number of digits. Its value is the first i of
// the family not known to be taken: every candidate of the family below it is taken.
type suffixes map[suffixKey]int

type suffixKey struct {
	stem, ext string
	digits    int
}

// uniqueName returns name, or name with " (2)", " (3)"… before its extension, the first of
// these that taken does not hold, keeping the result within maxName bytes. seen may be nil.
// If it is not, it belongs to the directory taken looks in, whose names are only ever added,
// and the caller adds the name returned.
func uniqueName(name string, taken func(string) bool, seen suffixes) string {
	if !taken(name) {
		return name
	}
	ext := path.Ext(name)
	if len(ext) > 32 {
		ext = ""
	}
	stem := strings.TrimSuffix(name, ext)
	// i from lo to hi have the same number of digits, so the same stem.
	for lo, hi, digits := 2, 10, 1; ; lo, hi, digits = hi, hi*10, digits+1 {
		k := suffixKey{stem: truncate(stem, maxName-len(" ()")-digits-len(ext)), ext: ext, digits: digits}
		i := lo
		if seen != nil {
			i = max(i, seen[k])
		}
		for ; i < hi; i++ {
			c := k.stem + " (" + strconv.Itoa(i) + ")" + ext
			if !taken(c) {
				if seen != nil {
					seen[k] = i + 1
				}
				return c
			}
		}
		if seen != nil {
			seen[k] = hi
		}
	}
}
