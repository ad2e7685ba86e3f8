package partnercenter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The published samples (testdata/published, listed with their pages in SOURCES) are what
// Microsoft shows Partner Center sending and accepting. Each must decode with the production
// model and re-encode without losing or changing a field.

const publishedDir = "testdata/published"

// PublishedSample is one file of testdata/published with the model SOURCES names for it.
type publishedSample struct {
	File  string
	Model string // Cart, CartCheckoutResult, Order, OrderCollection, ErrorBody, ThrottleBody
	Role  string // request or response
}

// readPublishedSources parses SOURCES: an entry is a file name line followed by indented
// "key: value" lines, of which "model:  <Model> (<role>)" is used.
func readPublishedSources(t testing.TB) []publishedSample {
	t.Helper()
	f, err := os.Open(filepath.Join(publishedDir, "SOURCES"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out []publishedSample
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasSuffix(line, ".json") && !strings.HasPrefix(line, " "):
			out = append(out, publishedSample{File: line})
		case strings.HasPrefix(line, "  model:") && len(out) > 0:
			var model, role string
			if _, err := fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "  model:")), "%s (%s", &model, &role); err != nil {
				t.Fatalf("SOURCES: bad model line %q: %v", line, err)
			}
			out[len(out)-1].Model, out[len(out)-1].Role = model, strings.TrimSuffix(role, ")")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// newPublishedModel returns a pointer to a zero value of the named production model.
func newPublishedModel(name string) (any, error) {
	switch name {
	case "Cart":
		return new(Cart), nil
	case "CartCheckoutResult":
		return new(CartCheckoutResult), nil
	case "Order":
		return new(Order), nil
	case "OrderCollection":
		return new(OrderCollection), nil
	case "ErrorBody":
		return new(ErrorBody), nil
	case "ThrottleBody":
		return new(ThrottleBody), nil
	}
	return nil, fmt.Errorf("unknown model %q", name)
}

func TestPublishedSamplesAreListedOnceAndOnlyOnce(t *testing.T) {
	samples := readPublishedSources(t)
	files, err := filepath.Glob(filepath.Join(publishedDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var listed, present []string
	for _, s := range samples {
		listed = append(listed, s.File)
		if s.Model == "" {
			t.Errorf("%s: SOURCES names no model", s.File)
		}
	}
	for _, f := range files {
		present = append(present, filepath.Base(f))
	}
	slices.Sort(listed)
	if !slices.Equal(listed, slices.Compact(slices.Clone(listed))) {
		t.Errorf("SOURCES lists a file twice: %v", listed)
	}
	if !slices.Equal(listed, present) {
		t.Errorf("SOURCES lists %v\nbut the directory holds %v", listed, present)
	}
}

// TestPublishedSamplesRoundTrip decodes every published sample with its production model,
// re-encodes it and compares the two JSON documents. Differences that are not losses are
// allowed: member names are compared case-insensitively (requests send PascalCase, Partner
// Center matches names case-insensitively, answers are camelCase), members with an empty value
// (null, "", [] or {}) may be omitted, and a number may come back as a string holding the same
// digits or the reverse (error codes are either on the wire), and a member the model always
// writes may be added with the value 0 (a line's id, which the spec hash has always included
// even when 0, so it cannot become omitempty). Anything else, a lost member, a
// changed value or a number written differently (30.4 must stay 30.4, 438.0 must stay 438.0),
// fails.
func TestPublishedSamplesRoundTrip(t *testing.T) {
	samples := readPublishedSources(t)
	if len(samples) < 30 {
		t.Fatalf("only %d published samples; SOURCES is incomplete", len(samples))
	}
	for _, s := range samples {
		t.Run(s.File, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(publishedDir, s.File))
			if err != nil {
				t.Fatal(err)
			}
			model, err := newPublishedModel(s.Model)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, model); err != nil {
				t.Fatalf("decode as %s: %v", s.Model, err)
			}
			again, err := json.Marshal(model)
			if err != nil {
				t.Fatalf("encode %s: %v", s.Model, err)
			}
			want, got := mustGeneric(t, raw), mustGeneric(t, again)
			for _, d := range jsonDiff("$", normalizeJSON(want), normalizeJSON(got)) {
				t.Error(d)
			}
		})
	}
}

func mustGeneric(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("generic decode: %v", err)
	}
	return v
}

// normalizeJSON lower-cases member names and drops members whose value is empty.
func normalizeJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range t {
			n := normalizeJSON(val)
			if isEmptyJSON(n) {
				continue
			}
			out[strings.ToLower(k)] = n
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i := range t {
			out[i] = normalizeJSON(t[i])
		}
		return out
	}
	return v
}

func isEmptyJSON(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// jsonDiff lists where got differs from want.
func jsonDiff(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", path, got)}
		}
		var diffs []string
		for _, k := range sortedKeys(w) {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: lost (was %s)", path, k, compact(w[k])))
				continue
			}
			diffs = append(diffs, jsonDiff(path+"."+k, w[k], gv)...)
		}
		for _, k := range sortedKeys(g) {
			if _, ok := w[k]; !ok && !isZeroNumber(g[k]) {
				diffs = append(diffs, fmt.Sprintf("%s.%s: added %s", path, k, compact(g[k])))
			}
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %s, got %s", path, compact(w), compact(got))}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, jsonDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return diffs
	}
	if scalarText(want) != scalarText(got) {
		return []string{fmt.Sprintf("%s: changed from %s to %s", path, compact(want), compact(got))}
	}
	return nil
}

// scalarText is a scalar's text; a number and a string holding the same digits compare equal.
func scalarText(v any) string {
	switch t := v.(type) {
	case json.Number:
		return "n:" + t.String()
	case string:
		if json.Valid([]byte(t)) && decimalPattern.MatchString(t) {
			return "n:" + t
		}
		return "s:" + t
	}
	return fmt.Sprintf("%T:%v", v, v)
}

func isZeroNumber(v any) bool {
	n, ok := v.(json.Number)
	return ok && n.String() == "0"
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 120 {
		return string(b[:120]) + "..."
	}
	return string(b)
}
