package printable

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"short text is kept", "o-1 done", "o-1 done"},
		{"control characters become spaces", "a\nb\tc", "a b c"},
		{"long text is cut with an ellipsis", strings.Repeat("x", 20), strings.Repeat("x", 7) + "..."},
		// "ó" is bytes 6 and 7: a cut at byte 7 would split it, so the cut moves before it.
		{"a UTF-8 sequence is never split", "abcdefóxyz", "abcdef..."},
	} {
		got := Truncate(tc.in, 10)
		if got != tc.want {
			t.Errorf("%s: Truncate(%q, 10) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
		if len(got) > 10 || !utf8.ValidString(got) {
			t.Errorf("%s: %q is longer than 10 bytes or not valid UTF-8", tc.name, got)
		}
	}
}
