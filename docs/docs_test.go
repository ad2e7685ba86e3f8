// Package docs holds the project's documentation; this test keeps the paths it names real.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	// A markdown link's target: [text](target).
	linkRe = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// A path in backticks: `config/default/` or `shared/seeds/`.
	codeRe = regexp.MustCompile("`([A-Za-z0-9_.-]+/[A-Za-z0-9_./-]*)`")
)

// generated are directories that builds make and the repository does not hold.
var generated = []string{"bin", "tmp", "dist"}

// docFiles returns the markdown files to check, relative to the repository root.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "charts/partnercart-operator/README.md"}
	more, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range more {
		files = append(files, filepath.Join("docs", filepath.Base(f)))
	}
	return files
}

// missingPaths lists the repository paths a document names that do not exist: relative link
// targets (from the document's directory), and backticked paths that start at a top-level
// directory of the repository or name a directory (`x/y/`) from the root.
func missingPaths(root, doc, text string, exists func(string) bool) []string {
	var out []string
	for _, m := range linkRe.FindAllStringSubmatch(text, -1) {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		target, _, _ = strings.Cut(target, "#")
		p := filepath.Join(filepath.Dir(doc), target)
		if !exists(filepath.Join(root, p)) {
			out = append(out, "link "+m[1])
		}
	}
	for _, m := range codeRe.FindAllStringSubmatch(text, -1) {
		p := m[1]
		first, _, _ := strings.Cut(p, "/")
		if strings.ContainsAny(first, ".:") || strings.Contains(p, "//") || slices.Contains(generated, first) {
			continue // a domain (kubernetes.io/...), a label key, a URL, or a build output
		}
		// A path from a top-level directory, or a directory of two segments or more (`x/y/`);
		// a lone `fake/` or `apps/v1` is not checked.
		dir := strings.HasSuffix(p, "/") && strings.Count(p, "/") >= 2
		if !exists(filepath.Join(root, first)) && !dir {
			continue
		}
		if !exists(filepath.Join(root, p)) && !exists(filepath.Join(root, filepath.Dir(doc), p)) {
			out = append(out, "path `"+p+"`")
		}
	}
	return out
}

func pathExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestDocumentedPathsExist fails when a document names a file or directory of the repository
// that is not there (docs/api.md once pointed at `shared/seeds/`, which never was).
func TestDocumentedPathsExist(t *testing.T) {
	root := ".."
	for _, doc := range docFiles(t) {
		body, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range missingPaths(root, doc, string(body), pathExists) {
			t.Errorf("%s names %s, which is not in the repository", doc, p)
		}
	}
}

func TestMissingPathsCatchesAMissingDirectory(t *testing.T) {
	exists := func(p string) bool {
		p = filepath.ToSlash(p)
		return p == "r/internal" || p == "r/docs/ops.md" || p == "r/internal/partnercenter"
	}
	got := missingPaths("r", "docs/api.md",
		"(`shared/seeds/`) `internal/partnercenter` `internal/nothere.go` `apps/v1` `app.kubernetes.io/name` [ops](ops.md#x) [gone](gone.md) [web](https://example.com/x)", exists)
	want := []string{"link gone.md", "path `shared/seeds/`", "path `internal/nothere.go`"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("missingPaths = %q, want %q", got, want)
	}
}
