package bencheck

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
)

func nested(open string, n int) []byte {
	return []byte(strings.Repeat(open, n) + strings.Repeat("e", n))
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
		want error
	}{
		{"string", []byte("4:spam"), nil},
		{"empty string", []byte("0:"), nil},
		{"integer", []byte("i-42e"), nil},
		{"dictionary", []byte("d3:cow3:moo4:spaml1:a1:bee"), nil},
		{"trailing bytes are not looked at", []byte("i1eXYZ"), nil},
		{"nesting at the limit", nested("l", MaxDepth), nil},
		{"dictionaries at the limit", []byte(strings.Repeat("d1:k", MaxDepth-1) + "de" + strings.Repeat("e", MaxDepth-1)), nil},
		{"lists one deeper", nested("l", MaxDepth+1), ErrTooDeep},
		{"10 MB of l", bytes.Repeat([]byte("l"), 10<<20), ErrTooDeep},
		{"dictionaries one deeper", []byte(strings.Repeat("d1:k", MaxDepth) + "de" + strings.Repeat("e", MaxDepth)), ErrTooDeep},
		{"string past the end", []byte("5:spam"), ErrTruncated},
		{"absurd length", []byte("99999999999999999999999999:x"), ErrTruncated},
		{"absurd length in a list", []byte("l4000000000:e"), ErrTruncated},
		{"unterminated list", []byte("l4:spam"), ErrTruncated},
		{"unterminated integer", []byte("i123"), ErrTruncated},
		{"empty", nil, ErrTruncated},
		{"length without colon", []byte("4spam"), ErrSyntax},
		{"stray end", []byte("e"), ErrSyntax},
		{"not bencode", []byte("<html>"), ErrSyntax},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Check(c.data)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, c.want)
			}
		})
	}
}

func TestListLen(t *testing.T) {
	for _, c := range []struct {
		data string
		want int
	}{
		{"d4:infod5:filesl1:a1:bd1:xi1eeee3:zzzi0ee", 3},
		{"d1:ai1e4:infod4:name1:x5:filesleee", 0},
		{"d4:infod5:filesl1:ae5:filesl1:a1:beee", 2}, // the last, as the decoder takes it
		{"d4:infod6:lengthi1eee", -1},
		{"d4:infod5:files3:abcee", -1},
		{"d4:infol5:filesee", -1},
		{"l4:infoe", -1},
	} {
		if got := ListLen([]byte(c.data), "info", "files"); got != c.want {
			t.Errorf("ListLen(%q) = %d, want %d", c.data, got, c.want)
		}
	}
}

// depth is how deep v, a value bencode decoded into an interface, nests lists and
// dictionaries.
func depth(v any) int {
	d := 0
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			d = max(d, depth(e))
		}
		return d + 1
	case map[string]any:
		for _, e := range v {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}

// FuzzCheck: Check never refuses what the decoder takes within MaxDepth, so it cannot turn
// away a good torrent, and what it lets through the decoder takes with a bounded stack.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"d8:announce3:url4:infod4:name1:a6:lengthi3e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee",
		"d4:infod5:filesld6:lengthi1e4:pathl1:aeed6:lengthi2e4:pathl1:beee4:name1:dee",
		"l4:spami42ed1:ai-1eee", "i0e", "0:", "le", "de",
		strings.Repeat("l", MaxDepth+1), strings.Repeat("d1:k", 200), "99999999999:", "i12",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Check(data)
		var v any
		derr := bencode.Unmarshal(data, &v)
		var trailing bencode.ErrUnusedTrailingBytes
		if errors.As(derr, &trailing) {
			derr = nil
		}
		if derr == nil && depth(v) <= MaxDepth && err != nil {
			t.Fatalf("Check refused what the decoder takes (depth %d): %v", depth(v), err)
		}
		if err == nil && derr == nil {
			want := -1
			top, _ := v.(map[string]any)
			info, _ := top["info"].(map[string]any)
			if files, ok := info["files"].([]any); ok {
				want = len(files)
			}
			if got := ListLen(data, "info", "files"); got != want {
				t.Fatalf("ListLen(info, files) = %d, the decoder found %d", got, want)
			}
		}
	})
}
