// Package printable keeps text that people read in kubectl (condition and status messages,
// Event notes) short and printable.
package printable

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Truncate replaces control characters with spaces (upstream descriptions are free text, and
// control characters would garble `kubectl describe`) and cuts the result to at most limit
// bytes, ending in "..." when cut. It never cuts a UTF-8 sequence.
func Truncate(m string, limit int) string {
	m = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, m)
	if len(m) <= limit {
		return m
	}
	cut := limit - 3
	for cut > 0 && !utf8.RuneStart(m[cut]) {
		cut--
	}
	return m[:cut] + "..."
}
