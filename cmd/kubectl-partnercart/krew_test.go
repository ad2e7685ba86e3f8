package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/yaml"
)

// TestKrewManifest renders hack/krew/partnercart.yaml as krew-release-bot does for a tag and
// checks the result is a krew Plugin that installs this binary on every platform.
func TestKrewManifest(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "hack", "krew", "partnercart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const tag = "v0.1.0"
	funcs := template.FuncMap{"addURIAndSha": func(url, tag string) string {
		return "uri: " + strings.ReplaceAll(url, "{{ .TagName }}", tag) + "\n    sha256: " + strings.Repeat("ab", 32)
	}}
	tmpl, err := template.New("krew").Funcs(funcs).Parse(string(src))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, map[string]string{"TagName": tag}); err != nil {
		t.Fatal(err)
	}
	var plugin struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Version          string `json:"version"`
			Homepage         string `json:"homepage"`
			ShortDescription string `json:"shortDescription"`
			Description      string `json:"description"`
			Caveats          string `json:"caveats"`
			Platforms        []struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
				URI    string `json:"uri"`
				Sha256 string `json:"sha256"`
				Bin    string `json:"bin"`
			} `json:"platforms"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(out.Bytes(), &plugin); err != nil {
		t.Fatalf("rendered manifest: %v\n%s", err, out.String())
	}
	if plugin.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || plugin.Kind != "Plugin" || plugin.Metadata.Name != "partnercart" ||
		plugin.Spec.Version != tag || plugin.Spec.ShortDescription == "" {
		t.Errorf("manifest header: %+v", plugin)
	}
	if len(plugin.Spec.Platforms) < 4 {
		t.Errorf("%d platforms", len(plugin.Spec.Platforms))
	}
	for _, p := range plugin.Spec.Platforms {
		goos, arch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
		wantBin := "kubectl-partnercart"
		if goos == "windows" {
			wantBin += ".exe"
		}
		if p.Bin != wantBin || !strings.Contains(p.URI, "/"+tag+"/kubectl-partnercart_"+tag+"_"+goos+"_"+arch+".") || len(p.Sha256) != 64 {
			t.Errorf("platform %s/%s: %+v", goos, arch, p)
		}
	}
}
