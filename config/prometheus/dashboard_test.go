package prometheus

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const dashboardPath = "../grafana/partnercart-dashboard.json"

type grafanaPanel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Datasource  *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaDashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Query    any    `json:"query"`
			AllValue string `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

// grafanaVariables stand in for the dashboard's variables and Grafana's built-ins when a query
// is checked as PromQL.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__range", "1d", "$namespace", ".*")

// dashboardQueries returns every query of the dashboard by panel title, with Grafana's
// variables replaced, and the panels (rows' panels included) that are not rows.
func dashboardQueries(t *testing.T) (*grafanaDashboard, map[string][]string, []grafanaPanel) {
	t.Helper()
	body, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	queries := map[string][]string{}
	var panels []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			panels = append(panels, p)
			for _, tg := range p.Targets {
				queries[p.Title] = append(queries[p.Title], grafanaVariables.Replace(tg.Expr))
			}
		}
	}
	walk(d.Panels)
	return &d, queries, panels
}

// TestDashboardUsesExportedMetrics checks the Grafana dashboard as alerts_test.go checks the
// rules: every metric, label and label value its queries use is one the operator exports; and
// it shows what on-call needs, reads from the datasource variable, and has no overlapping
// panels.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	d, queries, panels := dashboardQueries(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard needs a uid and a title: %q %q", d.UID, d.Title)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
		if v.Name == "datasource" && (v.Type != "datasource" || v.Query != "prometheus") {
			t.Errorf("variable datasource must be a Prometheus datasource variable: %+v", v)
		}
	}
	if !slices.Equal(vars, []string{"datasource", "namespace"}) {
		t.Errorf("variables %v, want datasource and namespace", vars)
	}
	registered, sources := registeredMetrics(t)
	used := map[string]bool{}
	titles := map[string]bool{}
	for i, p := range panels {
		if titles[p.Title] || p.Title == "" || p.Description == "" {
			t.Errorf("panel %d: needs a unique title and a description (%q)", p.ID, p.Title)
		}
		titles[p.Title] = true
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: needs queries on the datasource variable", p.Title)
		}
		for _, q := range queries[p.Title] {
			if strings.Contains(q, "$") {
				t.Errorf("panel %q: unknown variable in %q", p.Title, q)
			}
			for _, m := range checkExpr(t, p.Title, q, registered, sources, nil) {
				used[m] = true
			}
		}
		for _, o := range panels[:i] {
			a, b := p.GridPos, o.GridPos
			if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
				t.Errorf("panels %q and %q overlap", p.Title, o.Title)
			}
		}
		if p.GridPos.W == 0 || p.GridPos.H == 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
		}
	}

	// What the issue asks the dashboard to show.
	all := strings.Join(slices.Concat(slices.Collect(maps.Values(queries))...), "\n")
	for _, want := range []string{
		"sum by (phase) (max without (instance, pod) (partnercart_carts{", // carts by phase
		"sum by (result) ((last_over_time(partnercart_checkouts_total{",   // checkouts by result
		"sum by (currency) ((last_over_time(partnercart_spend_total{",     // spend per currency
		"sum by (operation) (rate(partnercenter_requests_total{",          // request rate
		"histogram_quantile(0.5, sum by (le) (rate(partnercenter_request_duration_seconds_bucket{",
		"histogram_quantile(0.95, sum by (le) (rate(partnercenter_request_duration_seconds_bucket{",
		"histogram_quantile(0.99, sum by (le) (rate(partnercenter_request_duration_seconds_bucket{",
		`partnercenter_requests_total{code=~"5..",`, // errors by status class
		`partnercenter_requests_total{code=~"4..",`,
		`partnercenter_requests_total{code="429",`,                   // 429s
		"partnercart_awaiting_approval_oldest_timestamp_seconds{",    // approval wait
		`partnercart_carts_stalled{reason="CheckoutOutcomeUnknown",`, // unknown outcomes
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no dashboard query contains %q", want)
		}
	}
	// A counter series that appears with its first event (a new account or currency, a
	// restarted manager) is invisible to increase(): every panel over a purchase counter also
	// counts a series' first appearance, as the alerts do.
	for title, qs := range queries {
		for _, q := range qs {
			for _, counter := range []string{"partnercart_checkouts_total", "partnercart_spend_total", "partnercart_orders_created_total"} {
				if strings.Contains(q, "increase("+counter) && !strings.Contains(q, "unless "+counter) {
					t.Errorf("panel %q counts %s with increase() alone, missing the first event of a new series: %s", title, counter, q)
				}
			}
		}
	}
	for _, m := range []string{"partnercart_carts", "partnercart_carts_stalled", "partnercart_checkouts_total", "partnercart_spend_total",
		"partnercenter_requests_total", "partnercenter_request_duration_seconds", "partnercart_checkout_duration_seconds"} {
		if !used[m] {
			t.Errorf("the dashboard does not show %s", m)
		}
	}
	t.Logf("%d panels, %d metrics: %v", len(panels), len(used), slices.Sorted(maps.Keys(used)))
}

// TestDashboardQueriesParse parses every dashboard query with the pinned promtool, as
// recording rules (`promtool check rules`), Grafana's variables replaced.
func TestDashboardQueriesParse(t *testing.T) {
	_, queries, panels := dashboardQueries(t)
	type rule struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	var rules []rule
	for _, p := range panels {
		for i, q := range queries[p.Title] {
			rules = append(rules, rule{Record: fmt.Sprintf("dashboard:panel_%d_%d", p.ID, i), Expr: q})
		}
	}
	spec, err := json.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeRules(t, filepath.Join(dir, "dashboard.rules.yaml"), spec)
	runPromtool(t, dir, "check", "rules", "dashboard.rules.yaml")
}

// TestDashboardConfigMap: the kustomization ships the JSON with the sidecar's label.
func TestDashboardConfigMap(t *testing.T) {
	body, err := os.ReadFile("../grafana/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		GeneratorOptions struct {
			DisableNameSuffixHash bool              `json:"disableNameSuffixHash"`
			Labels                map[string]string `json:"labels"`
		} `json:"generatorOptions"`
		ConfigMapGenerator []struct {
			Name  string   `json:"name"`
			Files []string `json:"files"`
		} `json:"configMapGenerator"`
	}
	if err := yaml.UnmarshalStrict(body, &k); err != nil {
		t.Fatal(err)
	}
	if k.GeneratorOptions.Labels["grafana_dashboard"] != "1" || !k.GeneratorOptions.DisableNameSuffixHash {
		t.Errorf("the ConfigMap needs the label grafana_dashboard: \"1\" and a stable name: %+v", k.GeneratorOptions)
	}
	if len(k.ConfigMapGenerator) != 1 || !slices.Equal(k.ConfigMapGenerator[0].Files, []string{filepath.Base(dashboardPath)}) {
		t.Errorf("configMapGenerator %+v must hold %s", k.ConfigMapGenerator, filepath.Base(dashboardPath))
	}
}
