package human

import (
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"plain.mkv":               "plain.mkv",
		"日本語 é \\x1b":             "日本語 é \\x1b",
		"\x1b[2J\a\x00\t\n\r\x7f": `\x1b[2J\x07\x00\x09\x0a\x0d\x7f`,
		"a\u202egpj.exe":          `a\u202egpj.exe`,
		"\u0085\u009b\u061c\u200e\u200f\u2066\u2069\u2028": `\u0085\u009b\u061c\u200e\u200f\u2066\u2069\u2028`,
		"bad\xff\xc3": `bad\xff\xc3`,
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("\x1bx", 1000)
	if got := Clip(long, 64); len([]rune(got)) != 64 || !strings.HasSuffix(got, "…") || strings.Contains(got, "\x1b") {
		t.Errorf("Clip of 1000 escapes: %q", got)
	}
	if got := Clip("short", 64); got != "short" {
		t.Errorf("Clip(short) = %q", got)
	}
}
