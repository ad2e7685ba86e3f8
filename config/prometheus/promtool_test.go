package prometheus

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"sigs.k8s.io/yaml"
)

// promtool returns the pinned promtool that `make promtool` installs ($PROMTOOL, or bin/promtool).
func promtool(t *testing.T) string {
	t.Helper()
	path := os.Getenv("PROMTOOL")
	if path == "" {
		path = filepath.Join("..", "..", "bin", "promtool")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("promtool not found (%v): run `make promtool`, or set PROMTOOL", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// runPromtool runs promtool in dir and fails the test with its output if it fails.
func runPromtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("promtool %s: %v", strings.Join(args, " "), err)
	}
}

// ruleSpec returns the spec of a PrometheusRule (as JSON): a plain Prometheus rules file.
func ruleSpec(t *testing.T, prometheusRule []byte) []byte {
	t.Helper()
	var obj struct {
		Kind string          `json:"kind"`
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(prometheusRule, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.Kind != "PrometheusRule" || len(obj.Spec) == 0 {
		t.Fatalf("not a PrometheusRule with a spec: kind %q", obj.Kind)
	}
	return obj.Spec
}

// writeRules writes a rules file for promtool (YAML) from its JSON form.
func writeRules(t *testing.T, path string, spec []byte) {
	t.Helper()
	y, err := yaml.JSONToYAML(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, y, 0o600); err != nil {
		t.Fatal(err)
	}
}

// overlayPatches applies the JSON 6902 patches a kustomization makes to the PrometheusRule, as
// kustomize does (RFC 6902 operations, `test` included).
func overlayPatches(t *testing.T, kustomization string, prometheusRule []byte) []byte {
	t.Helper()
	body, err := os.ReadFile(kustomization)
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
		Patches   []struct {
			Target struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"target"`
			Patch string `json:"patch"`
		} `json:"patches"`
	}
	if err := yaml.UnmarshalStrict(body, &k); err != nil {
		t.Fatalf("%s: %v", kustomization, err)
	}
	if len(k.Patches) == 0 {
		t.Fatalf("%s has no patches", kustomization)
	}
	for _, p := range k.Patches {
		if p.Target.Kind != "PrometheusRule" || p.Target.Name != "partnercart-alerts" {
			t.Fatalf("%s: patch target %+v is not the PrometheusRule partnercart-alerts", kustomization, p.Target)
		}
		ops, err := yaml.YAMLToJSON([]byte(p.Patch))
		if err != nil {
			t.Fatal(err)
		}
		patch, err := jsonpatch.DecodePatch(ops)
		if err != nil {
			t.Fatalf("%s: %v", kustomization, err)
		}
		if prometheusRule, err = patch.Apply(prometheusRule); err != nil {
			t.Fatalf("%s: the patch does not apply to alerts.yaml: %v", kustomization, err)
		}
	}
	return prometheusRule
}

// TestPromtool checks the rules with the pinned promtool: `promtool check rules` on the spec
// of alerts.yaml, and on it as changed by the documented threshold overlay, then `promtool
// test rules` with the unit tests in tests/ (which name those two files in rule_files).
func TestPromtool(t *testing.T) {
	dir := t.TempDir()
	alerts, err := os.ReadFile("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rule, err := yaml.YAMLToJSON(alerts)
	if err != nil {
		t.Fatal(err)
	}
	writeRules(t, filepath.Join(dir, "partnercart.rules.yaml"), ruleSpec(t, rule))
	overlay := overlayPatches(t, filepath.Join("..", "examples", "alert-thresholds", "kustomization.yaml"), rule)
	writeRules(t, filepath.Join(dir, "partnercart-alert-thresholds.rules.yaml"), ruleSpec(t, overlay))

	tests, err := filepath.Glob(filepath.Join("tests", "*_test.yaml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool unit tests in tests/ (%v)", err)
	}
	var names []string
	for _, src := range tests {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(src)), b, 0o600); err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Base(src))
	}

	runPromtool(t, dir, "check", "rules", "partnercart.rules.yaml", "partnercart-alert-thresholds.rules.yaml")
	runPromtool(t, dir, append([]string{"test", "rules"}, names...)...)
}

// TestPromtoolFailsOnABrokenRule proves the check can fail: a rule with a PromQL syntax error
// and a unit test expecting an alert that cannot fire are both reported.
func TestPromtoolFailsOnABrokenRule(t *testing.T) {
	dir := t.TempDir()
	writeRules(t, filepath.Join(dir, "broken.rules.yaml"),
		[]byte(`{"groups":[{"name":"g","rules":[{"alert":"A","expr":"sum(rate(x[5m]) > 0"}]}]}`))
	cmd := exec.CommandContext(t.Context(), promtool(t), "check", "rules", "broken.rules.yaml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(out), "parse error") {
		t.Errorf("promtool check rules accepted a syntax error: %v\n%s", err, out)
	}

	writeRules(t, filepath.Join(dir, "ok.rules.yaml"),
		[]byte(`{"groups":[{"name":"g","rules":[{"alert":"A","expr":"x > 1"}]}]}`))
	test := `rule_files: [ok.rules.yaml]
tests:
- interval: 1m
  input_series: [{series: x, values: 0x10}]
  alert_rule_test: [{eval_time: 5m, alertname: A, exp_alerts: [{exp_labels: {}}]}]
`
	if err := os.WriteFile(filepath.Join(dir, "wrong_test.yaml"), []byte(test), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = exec.CommandContext(t.Context(), promtool(t), "test", "rules", "wrong_test.yaml")
	cmd.Dir = dir
	out, err = cmd.CombinedOutput()
	if !errors.As(err, &exit) || !strings.Contains(string(out), "FAILED") {
		t.Errorf("promtool test rules passed a test whose alert cannot fire: %v\n%s", err, out)
	}
}

// TestEveryAlertFiresOnSeriesThatStartAbsent holds tests/first-appearance_test.yaml to its
// promise: every alert of alerts.yaml has a test there that expects it to fire and one that
// expects it silent, and every input series there starts without a sample (`_`), as series do
// after the manager starts. (A counter created at its first event is invisible to increase():
// the spend and failed-checkout alerts once missed the first purchase after every start, while
// the other tests, whose series all start at 0, passed.)
func TestEveryAlertFiresOnSeriesThatStartAbsent(t *testing.T) {
	const file = "tests/first-appearance_test.yaml"
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var tf struct {
		Tests []struct {
			Name        string `json:"name"`
			InputSeries []struct {
				Series string `json:"series"`
				Values string `json:"values"`
			} `json:"input_series"`
			AlertRuleTest []struct {
				Alertname string            `json:"alertname"`
				ExpAlerts []json.RawMessage `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(body, &tf); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, s := range tc.InputSeries {
			if !strings.HasPrefix(strings.TrimSpace(s.Values), "_") {
				t.Errorf("%s: test %q: series %s starts with a sample (%q); every series here starts absent", file, tc.Name, s.Series, s.Values)
			}
		}
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	alerts, err := os.ReadFile("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(alerts, &rf); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rf.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !fires[r.Alert] {
				t.Errorf("%s: no test expects %s to fire on series that start absent", file, r.Alert)
			}
			if !silent[r.Alert] {
				t.Errorf("%s: no test expects %s to stay silent", file, r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("alerts.yaml has no alerts")
	}
}
