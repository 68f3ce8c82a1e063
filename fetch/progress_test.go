package fetch

import "testing"

// A read's timeout restarts on progress. Chunks that only ever fail their hash are not
// progress: peers that all send bad data (and are not banned, as when two share a piece)
// would otherwise keep a read waiting forever.
func TestProgressSince(t *testing.T) {
	start := progress{chunks: 10, good: 2, bad: 1}
	for _, tc := range []struct {
		name string
		now  progress
		want bool
	}{
		{"nothing arrived", start, false},
		{"chunks arrived", progress{chunks: 20, good: 2, bad: 1}, true},
		{"a piece passed", progress{chunks: 10, good: 3, bad: 1}, true},
		{"chunks arrived and a piece failed", progress{chunks: 20, good: 2, bad: 2}, false},
		{"a piece failed and another passed", progress{chunks: 20, good: 3, bad: 2}, true},
	} {
		if got := tc.now.since(start); got != tc.want {
			t.Errorf("%s: since = %v, want %v", tc.name, got, tc.want)
		}
	}
}
