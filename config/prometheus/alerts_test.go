// Package prometheus holds the operator's alert rules; this test keeps them honest.
package prometheus

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type ruleFile struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Record      string            `json:"record"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// registeredMetrics finds the metrics the operator registers, with their label names, in the
// Go sources (tests left out): prometheus.*Opts{Name: ...} followed by the label list of its
// *Vec, and prometheus.NewDesc.
func registeredMetrics(t *testing.T) (map[string][]string, string) {
	t.Helper()
	root := filepath.Join("..", "..")
	optsRe := regexp.MustCompile(`prometheus\.(?:Counter|Gauge|Histogram|Summary)Opts\{\s*Name:\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"`)
	labelsRe := regexp.MustCompile(`\},\s*\[\]string\{([^}]*)\}\)`)
	// NewDesc(name, help (maybe concatenated), []string{labels} or nil, constant labels).
	descRe := regexp.MustCompile(`prometheus\.NewDesc\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)",(?s:.*?)(?:\[\]string\{([^}]*)\}|nil),\s*(?:nil|prometheus\.Labels\{[^}]*\})\)`)
	metrics := map[string][]string{}
	var sources strings.Builder
	for _, dir := range []string{"api", "internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			src := string(b)
			sources.WriteString(src)
			for _, m := range optsRe.FindAllStringSubmatchIndex(src, -1) {
				name := src[m[2]:m[3]]
				rest := src[m[1]:]
				if next := optsRe.FindStringIndex(rest); next != nil {
					rest = rest[:next[0]]
				}
				metrics[name] = nil
				if l := labelsRe.FindStringSubmatch(rest); l != nil {
					metrics[name] = splitLabels(l[1])
				}
			}
			for _, m := range descRe.FindAllStringSubmatch(src, -1) {
				metrics[m[1]] = splitLabels(m[2])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return metrics, sources.String()
}

func splitLabels(list string) []string {
	var out []string
	for l := range strings.SplitSeq(list, ",") {
		if l = strings.Trim(strings.TrimSpace(l), `"`); l != "" {
			out = append(out, l)
		}
	}
	return out
}

var (
	stringRe   = regexp.MustCompile(`"[^"]*"`)
	rangeRe    = regexp.MustCompile(`\[[0-9smhdwy:]+\]`)
	offsetRe   = regexp.MustCompile(`\boffset\s+-?[0-9smhdwy]+`)
	selectorRe = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	matcherRe  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	groupingRe = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	identRe    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	// keywords are PromQL words that are not metric names.
	keywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool"}
	// targetLabels are added by the scrape, not by the operator.
	targetLabels = []string{"instance", "pod", "job", "namespace", "service", "container", "endpoint"}
	// histogramSuffixes are the series a histogram exports besides its name.
	histogramSuffixes = []string{"_bucket", "_sum", "_count"}
)

// exprRefs returns the metric names an expression reads, the label matchers on each, and the
// labels it groups or matches by.
func exprRefs(expr string) (metrics map[string][][3]string, grouping []string) {
	metrics = map[string][][3]string{}
	for _, m := range selectorRe.FindAllStringSubmatch(expr, -1) {
		for _, mm := range matcherRe.FindAllStringSubmatch(m[2], -1) {
			metrics[m[1]] = append(metrics[m[1]], [3]string{mm[1], mm[2], mm[3]})
		}
	}
	for _, g := range groupingRe.FindAllStringSubmatch(expr, -1) {
		grouping = append(grouping, splitLabels(g[1])...)
	}
	rest := groupingRe.ReplaceAllString(expr, " ")
	rest = regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(rest, " ")
	rest = rangeRe.ReplaceAllString(stringRe.ReplaceAllString(rest, " "), " ")
	rest = offsetRe.ReplaceAllString(rest, " ")
	for _, loc := range identRe.FindAllStringIndex(rest, -1) {
		word := rest[loc[0]:loc[1]]
		after := strings.TrimSpace(rest[loc[1]:])
		if slices.Contains(keywords, word) || strings.HasPrefix(after, "(") {
			continue // a keyword or a function
		}
		if _, ok := metrics[word]; !ok {
			metrics[word] = nil
		}
	}
	return metrics, grouping
}

func TestAlertsUseExportedMetrics(t *testing.T) {
	body, err := os.ReadFile("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(body, &rf); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	if rf.APIVersion != "monitoring.coreos.com/v1" || rf.Kind != "PrometheusRule" || rf.Metadata.Name == "" {
		t.Fatalf("alerts.yaml is not a PrometheusRule: %s %s %q", rf.APIVersion, rf.Kind, rf.Metadata.Name)
	}
	registered, sources := registeredMetrics(t)
	for _, want := range []string{"partnercart_checkouts_total", "partnercart_carts", "partnercart_carts_stalled",
		"partnercart_awaiting_approval_oldest_timestamp_seconds", "partnercart_spend_total", "partnercenter_requests_total"} {
		if _, ok := registered[want]; !ok {
			t.Fatalf("the source scan did not find %s (found %v): fix registeredMetrics", want, registered)
		}
	}
	// Recording rules are metrics too, with the labels their rules set, here and in the
	// documented threshold overlay.
	rule, err := yaml.YAMLToJSON(body)
	if err != nil {
		t.Fatal(err)
	}
	var overlay ruleFile
	if err := yaml.Unmarshal(overlayPatches(t, filepath.Join("..", "examples", "alert-thresholds", "kustomization.yaml"), rule), &overlay); err != nil {
		t.Fatal(err)
	}
	for _, f := range []ruleFile{rf, overlay} {
		for _, g := range f.Spec.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					// Its labels: those it sets, and those it aggregates by (sum by (currency) ...).
					_, by := exprRefs(r.Expr)
					registered[r.Record] = append(registered[r.Record], slices.Collect(maps.Keys(r.Labels))...)
					registered[r.Record] = append(registered[r.Record], by...)
				}
			}
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := markdownAnchors(string(doc))

	seen := map[string]bool{}
	used := map[string]bool{}
	for _, g := range rf.Spec.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if r.Record != "" {
				name = r.Record
				if r.Alert != "" || r.For != "" || len(r.Annotations) > 0 {
					t.Errorf("recording rule %s has alerting fields", r.Record)
				}
			} else {
				if r.Alert == "" || seen[r.Alert] {
					t.Errorf("group %s: rule without a name or with a repeated name %q", g.Name, r.Alert)
				}
				seen[r.Alert] = true
				if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
					t.Errorf("%s: severity %q", r.Alert, r.Labels["severity"])
				}
				if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Errorf("%s: needs a summary and a description", r.Alert)
				}
				url := r.Annotations["runbook_url"]
				anchor := url[strings.LastIndex(url, "#")+1:]
				if !strings.HasPrefix(url, "https://github.com/partnercart/partnercart-operator/blob/main/docs/operations.md#") ||
					anchor != strings.ToLower(r.Alert) || !anchors[anchor] {
					t.Errorf("%s: runbook_url %q is not the section %s of docs/operations.md", r.Alert, url, strings.ToLower(r.Alert))
				}
			}
			for _, m := range checkExpr(t, name, r.Expr, registered, sources, nil) {
				used[m] = true
			}
			if refs, _ := exprRefs(r.Expr); len(refs) == 0 && r.Record == "" {
				t.Errorf("%s: reads no metric: %q", name, r.Expr)
			}
		}
	}
	// Every runbook section belongs to an alert that exists.
	for _, want := range []string{"PartnerCartCheckoutOutcomeUnknown", "PartnerCartAwaitingApprovalTooLong", "PartnerCartsStalled",
		"PartnerCenterThrottling", "PartnerCenterErrors", "PartnerCartSpendHigh"} {
		if !seen[want] {
			t.Errorf("alert %s is missing", want)
		}
	}
	for _, h := range regexp.MustCompile(`(?m)^### (Partner\w+)$`).FindAllStringSubmatch(string(doc), -1) {
		if !seen[h[1]] {
			t.Errorf("docs/operations.md has a runbook for %s, which is not an alert", h[1])
		}
	}
	if !strings.Contains(string(doc), "config/examples/alert-thresholds") {
		t.Error("docs/operations.md#thresholds must show the tested overlay config/examples/alert-thresholds")
	}
	t.Logf("metrics alerted on: %v", slices.Sorted(maps.Keys(used)))
}

// checkExpr reports, as test errors, metrics an expression reads that the operator does not
// register, labels they do not have, label values the code never writes, and grouping by
// labels none of them has (extraLabels are labels the expression makes itself). It returns the
// metrics read.
func checkExpr(t *testing.T, name, expr string, registered map[string][]string, sources string, extraLabels []string) []string {
	t.Helper()
	if strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "[") != strings.Count(expr, "]") {
		t.Errorf("%s: unbalanced brackets in %q", name, expr)
	}
	refs, grouping := exprRefs(expr)
	var used []string
	labels := slices.Clone(extraLabels)
	for metric, matchers := range refs {
		base, ok := metric, false
		if _, ok = registered[metric]; !ok {
			for _, suf := range histogramSuffixes {
				if _, ok = registered[strings.TrimSuffix(metric, suf)]; ok && strings.HasSuffix(metric, suf) {
					base = strings.TrimSuffix(metric, suf)
					break
				}
				ok = false
			}
		}
		if !ok {
			t.Errorf("%s: metric %s is not registered by the operator", name, metric)
			continue
		}
		used = append(used, base)
		known := registered[base]
		if strings.HasSuffix(metric, "_bucket") {
			known = append(slices.Clone(known), "le")
		}
		labels = append(labels, known...)
		for _, m := range matchers {
			if !slices.Contains(known, m[0]) && !slices.Contains(targetLabels, m[0]) {
				t.Errorf("%s: %s has no label %q (labels: %v)", name, base, m[0], known)
				continue
			}
			if slices.Contains(targetLabels, m[0]) {
				continue // a scrape label: its values are the cluster's
			}
			// Plain values (not numbers or patterns) must be ones the code writes.
			for v := range strings.SplitSeq(m[2], "|") {
				if regexp.MustCompile(`^[A-Za-z_]+$`).MatchString(v) && !strings.Contains(sources, `"`+v+`"`) {
					t.Errorf("%s: %s{%s%s%q}: no %q in the sources", name, base, m[0], m[1], m[2], v)
				}
			}
		}
	}
	for _, l := range grouping {
		if !slices.Contains(labels, l) && !slices.Contains(targetLabels, l) {
			t.Errorf("%s: groups or matches by %q, a label none of its metrics has", name, l)
		}
	}
	return used
}

// markdownAnchors returns the GitHub anchors of a document's headings.
func markdownAnchors(doc string) map[string]bool {
	anchors := map[string]bool{}
	strip := regexp.MustCompile(`[^a-z0-9 _-]`)
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		anchors[strings.ReplaceAll(strip.ReplaceAllString(h, ""), " ", "-")] = true
	}
	return anchors
}

func TestExprRefs(t *testing.T) {
	refs, grouping := exprRefs(`min_over_time((max without (instance, pod) (partnercart_carts{phase="AwaitingApproval"}))[6d:1h]) > 0`)
	if len(refs) != 1 || refs["partnercart_carts"][0] != [3]string{"phase", "=", "AwaitingApproval"} || !slices.Equal(grouping, []string{"instance", "pod"}) {
		t.Errorf("refs %v grouping %v", refs, grouping)
	}
	refs, _ = exprRefs("sum by (operation) (rate(partnercenter_requests_total{code=~\"5..|0\"}[10m]))\n / sum by (operation) (rate(partnercenter_requests_total[10m])) > 0.1")
	if len(refs) != 1 || len(refs["partnercenter_requests_total"]) != 1 {
		t.Errorf("refs %v", refs)
	}
	refs, grouping = exprRefs(`sum by (currency) (increase(partnercart_spend_total[24h])) > on (currency) group_left () max (partnercart:spend_limit_24h{currency=""})`)
	if len(refs) != 2 || refs["partnercart:spend_limit_24h"][0] != [3]string{"currency", "=", ""} || !slices.Equal(grouping, []string{"currency", "currency"}) {
		t.Errorf("refs %v grouping %v", refs, grouping)
	}
	refs, _ = exprRefs(`last_over_time(partnercart_spend_total[24h]) unless partnercart_spend_total offset 24h`)
	if len(refs) != 1 {
		t.Errorf("an offset is not a metric: refs %v", refs)
	}
	refs, _ = exprRefs(`absent(partnercart_bogus) and on() partnercart_other`)
	if _, ok := refs["partnercart_bogus"]; !ok || len(refs) != 2 {
		t.Errorf("refs %v", refs)
	}
}
