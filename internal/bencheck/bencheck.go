// Package bencheck bounds bencoded data from strangers before a decoder sees it.
//
// anacrolix's bencode decoder recurses once for each level of nesting, with no limit, at
// about 250 bytes of stack a level: 64 KiB of "l" (one peer message) takes 16 MiB of stack,
// 10 MB (a .torrent, a tracker's reply) overflows Go's 1 GB stack, a fatal error that no
// recover catches and that takes every torrent of the process with it. A string's length
// prefix is allocated before its bytes are read, so "99999999:" costs 100 MB for nine
// bytes. Check walks the data once, without recursion or allocation, and refuses both
// before any decoder runs. It bounds shape, not size: callers bound the bytes they read.
package bencheck

import (
	"errors"
	"fmt"
)

// MaxDepth bounds the nesting of lists and dictionaries, as libtorrent's bdecode does by
// default (depth_limit 100). The deepest structure of a real torrent, a v1 file's path
// list inside the file list inside the info dictionary, is four levels; a v2 file tree
// adds one level a directory.
const MaxDepth = 100

var (
	// ErrTooDeep is wrapped by the error for data nested deeper than MaxDepth.
	ErrTooDeep = errors.New("bencode nested too deep")
	// ErrTruncated is wrapped by the error for data that ends inside a value, a string's
	// length prefix included: the string would run past the end.
	ErrTruncated = errors.New("bencode truncated")
	// ErrSyntax is wrapped by the error for data that is not bencode.
	ErrSyntax = errors.New("not bencode")
)

// Check reports whether data starts with one complete bencoded value that any decoder may
// take: lists and dictionaries nested at most MaxDepth deep, and every string within the
// data. Bytes after the value are not looked at. The errors wrap ErrTooDeep, ErrTruncated
// or ErrSyntax and give the offset.
func Check(data []byte) error {
	depth := 0
	for i := 0; ; {
		if i >= len(data) {
			return fmt.Errorf("%w: ends at byte %d, inside a value", ErrTruncated, len(data))
		}
		switch c := data[i]; {
		case c == 'l' || c == 'd':
			if depth++; depth > MaxDepth {
				return fmt.Errorf("%w: more than %d levels at byte %d", ErrTooDeep, MaxDepth, i)
			}
			i++
			continue
		case c == 'e' && depth > 0:
			depth--
			i++
		case c == 'i':
			j := i + 1
			for j < len(data) && data[j] != 'e' {
				j++
			}
			if j == len(data) {
				return fmt.Errorf("%w: integer at byte %d has no end", ErrTruncated, i)
			}
			i = j + 1
		case '0' <= c && c <= '9':
			n, j := 0, i
			for ; j < len(data) && '0' <= data[j] && data[j] <= '9'; j++ {
				if n > (len(data)-j)/10 { // past what is left: no such string fits
					return fmt.Errorf("%w: string at byte %d is longer than the data", ErrTruncated, i)
				}
				n = n*10 + int(data[j]-'0')
			}
			if j == len(data) || data[j] != ':' {
				return fmt.Errorf("%w: string length at byte %d has no ':'", ErrSyntax, i)
			}
			if n > len(data)-j-1 {
				return fmt.Errorf("%w: string at byte %d is %d bytes, %d are left", ErrTruncated, i, n, len(data)-j-1)
			}
			i = j + 1 + n
		default:
			return fmt.Errorf("%w: byte %q at %d", ErrSyntax, c, i)
		}
		if depth == 0 {
			return nil
		}
	}
}

// ListLen returns how many values the list at the end of the dictionary path keys holds in
// data, which Check accepted: ListLen(torrent, "info", "files") counts a torrent's files
// without decoding them (a million files take a decoder seconds). A key given twice counts
// as its last value, as the decoder takes it. It returns -1 if a key is missing or the value
// there is not a list.
func ListLen(data []byte, keys ...string) int {
	i := 0
	for _, k := range keys {
		if i >= len(data) || data[i] != 'd' {
			return -1
		}
		at := -1
		for i++; i < len(data) && data[i] != 'e'; i = skip(data, i) {
			key, v := str(data, i)
			if v < 0 {
				return -1
			}
			if i = v; key == k {
				at = v
			}
		}
		if i = at; at < 0 {
			return -1
		}
	}
	if i >= len(data) || data[i] != 'l' {
		return -1
	}
	n := 0
	for i++; i < len(data) && data[i] != 'e'; i = skip(data, i) {
		n++
	}
	return n
}

// str returns the string at i and the index after it, or -1 if there is none.
func str(data []byte, i int) (string, int) {
	n, j := 0, i
	for ; j < len(data) && '0' <= data[j] && data[j] <= '9'; j++ {
		n = n*10 + int(data[j]-'0')
	}
	if j == i || j >= len(data) || data[j] != ':' || n > len(data)-j-1 {
		return "", -1
	}
	return string(data[j+1 : j+1+n]), j + 1 + n
}

// skip returns the index after the value at i, in data that Check accepted.
func skip(data []byte, i int) int {
	depth := 0
	for i < len(data) {
		switch c := data[i]; {
		case c == 'l' || c == 'd':
			depth++
			i++
			continue
		case c == 'e':
			depth--
			i++
		case c == 'i':
			for i < len(data) && data[i] != 'e' {
				i++
			}
			i++
		default:
			_, j := str(data, i)
			if j < 0 {
				return len(data)
			}
			i = j
		}
		if depth <= 0 {
			return i
		}
	}
	return len(data)
}
