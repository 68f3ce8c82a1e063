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
	})
}
