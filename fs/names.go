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

// uniqueName returns name, or name with " (2)", " (3)"… before its extension, whichever
// taken does not hold, keeping the result within maxName bytes.
func uniqueName(name string, taken func(string) bool) string {
	if !taken(name) {
		return name
	}
	ext := path.Ext(name)
	if len(ext) > 32 {
		ext = ""
	}
	stem := strings.TrimSuffix(name, ext)
	for i := 2; ; i++ {
		suffix := " (" + strconv.Itoa(i) + ")" + ext
		c := truncate(stem, maxName-len(suffix)) + suffix
		if !taken(c) {
			return c
		}
	}
}
