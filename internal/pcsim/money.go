package pcsim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Money is handled in integer US cents: prices come in as decimal strings and leave as
// decimal strings, so no float ever touches an amount the operator compares.

// maxCentsDigits bounds the integer part so that price*quantity cannot overflow int64.
const maxCentsDigits = 12

// parseCents parses a non-negative decimal such as "57", "57.5" or "57.50" into cents.
// More than two decimal places is an error rather than a silent rounding.
func parseCents(s string) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") {
		return 0, fmt.Errorf("%q is not a decimal amount", s)
	}
	if len(frac) > 2 {
		return 0, fmt.Errorf("%q has more than two decimal places", s)
	}
	if len(whole) > maxCentsDigits {
		return 0, fmt.Errorf("%q is too large", s)
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%q is not a non-negative decimal amount", s)
		}
	}
	units, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %q: %w", s, err)
	}
	frac += strings.Repeat("0", 2-len(frac))
	cents, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %q: %w", s, err)
	}
	return units*100 + cents, nil
}

// formatCents renders cents as a JSON number with two decimals, e.g. 68400 -> 684.00.
func formatCents(c int64) json.Number {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return json.Number(fmt.Sprintf("%s%d.%02d", sign, c/100, c%100))
}
