package main

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// managerFlag is one flag of `manager -help`.
type managerFlag struct {
	Name, Type string // Type: "" for a boolean, else the word the flag package prints
	Default    string // "" when the usage shows none
}

var (
	flagLine    = regexp.MustCompile(`^  -([a-z0-9-]+)(?: ([a-z0-9]+))?$`)
	defaultText = regexp.MustCompile(`\(default (.*)\)$`)
)

// parseUsage reads the flag package's usage text (`manager -help`).
func parseUsage(text string) []managerFlag {
	var out []managerFlag
	for line := range strings.SplitSeq(text, "\n") {
		if m := flagLine.FindStringSubmatch(line); m != nil {
			out = append(out, managerFlag{Name: m[1], Type: m[2]})
			continue
		}
		if len(out) == 0 || !strings.HasPrefix(line, "    \t") {
			continue
		}
		if m := defaultText.FindStringSubmatch(line); m != nil {
			d := m[1]
			if u, err := strconv.Unquote(d); err == nil {
				d = u
			}
			out[len(out)-1].Default = d
		}
	}
	return out
}

// notInChart are manager flags the chart does not offer, and why.
var notInChart = map[string]string{
	"kubeconfig": "in a Pod the manager uses its service account",
}

// chartDefaults are the flags whose chart default differs from the manager's on purpose.
var chartDefaults = map[string]string{
	"leader-elect":          "a Deployment may run standby replicas",
	"metrics-bind-address":  "the chart serves metrics (metrics.enabled)",
	"credentials-namespace": "account Secrets live in the release namespace (credentialsNamespace)",
	"receipt-namespace":     "receipts live in the release namespace (receiptNamespace)",
}

// checkFlags holds the chart's default Deployment to the manager's flags: it passes no flag
// the manager lacks; every manager flag is passed or is a key of values.yaml's flags (null:
// left to the manager's default); and every value passed is the manager's default, except
// chartDefaults.
func checkFlags(usage []managerFlag, helm []object, values object) []string {
	if len(usage) == 0 {
		return []string{"the manager's usage text lists no flag"}
	}
	var deployment object
	for _, o := range helm {
		if str(o, "kind") == "Deployment" {
			deployment = o
		}
	}
	if deployment == nil {
		return []string{"the chart renders no Deployment"}
	}
	flags := map[string]managerFlag{}
	for _, f := range usage {
		flags[f.Name] = f
	}
	passed := managerArgs(deployment)
	valueFlags, _ := get(values, "flags").(map[string]any)
	var out []string
	for _, name := range slices.Sorted(maps.Keys(passed)) {
		f, ok := flags[name]
		if !ok {
			out = append(out, fmt.Sprintf("the chart passes --%s, which the manager does not have", name))
			continue
		}
		if _, deliberate := chartDefaults[name]; deliberate {
			continue
		}
		if !sameValue(f, passed[name]) {
			out = append(out, fmt.Sprintf("--%s: the chart passes %q, the manager's default is %q (change values.yaml, or list it in chartDefaults with a reason)", name, passed[name], f.Default))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		_, isPassed := passed[name]
		_, isValue := valueFlags[name]
		_, skipped := notInChart[name]
		if !isPassed && !isValue && !skipped {
			out = append(out, fmt.Sprintf("--%s: a manager flag the chart does not offer (add it to values.yaml's flags and values.schema.json)", name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(valueFlags)) {
		if _, ok := flags[name]; !ok {
			out = append(out, fmt.Sprintf("values.yaml flags.%s: the manager has no such flag", name))
		}
	}
	return out
}

// sameValue compares a passed value with the flag's default by the flag's type.
func sameValue(f managerFlag, value string) bool {
	def := f.Default
	switch f.Type {
	case "":
		a, errA := strconv.ParseBool(value)
		b, errB := strconv.ParseBool(cmpOr(def, "false"))
		return errA == nil && errB == nil && a == b
	case "duration":
		a, errA := time.ParseDuration(value)
		b, errB := time.ParseDuration(cmpOr(def, "0s"))
		return errA == nil && errB == nil && a == b
	case "int", "float", "uint", "int64", "uint64":
		a, errA := strconv.ParseFloat(value, 64)
		b, errB := strconv.ParseFloat(cmpOr(def, "0"), 64)
		return errA == nil && errB == nil && a == b
	}
	return value == def
}

func cmpOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
