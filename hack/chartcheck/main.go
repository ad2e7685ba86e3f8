// Command chartcheck holds the Helm chart (charts/partnercart-operator) to the kustomize
// install it packages. `make helm-lint` renders both and runs:
//
//	chartcheck compare KUSTOMIZE.yaml HELM.yaml      same objects (kind, namespace, name) and the same content where it matters
//	chartcheck flags MANAGER_HELP.txt HELM.yaml VALUES.yaml   every manager flag is a chart value, at the manager's default
//	chartcheck alerts ALERTS.yaml HELM.yaml          the chart's PrometheusRule is config/prometheus/alerts.yaml
//
// It prints each difference and exits 1 when there is one.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

func main() {
	problems, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "chartcheck:", err)
		os.Exit(2)
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "chartcheck %s: %d difference(s):\n  %s\n", os.Args[1], len(problems), strings.Join(problems, "\n  "))
		os.Exit(1)
	}
	fmt.Printf("chartcheck %s: %s: no difference\n", os.Args[1], strings.Join(os.Args[2:], " "))
}

var errUsage = errors.New("usage: chartcheck compare KUSTOMIZE HELM | flags MANAGER_HELP HELM VALUES | alerts ALERTS HELM")

func run(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, errUsage
	}
	read := func(paths ...string) ([][]object, error) {
		var out [][]object
		for _, p := range paths {
			objs, err := readObjects(p)
			if err != nil {
				return nil, err
			}
			out = append(out, objs)
		}
		return out, nil
	}
	switch cmd, files := args[0], args[1:]; {
	case cmd == "compare" && len(files) == 2:
		objs, err := read(files...)
		if err != nil {
			return nil, err
		}
		return compareInstalls(objs[0], objs[1]), nil
	case cmd == "flags" && len(files) == 3:
		usage, err := os.ReadFile(files[0])
		if err != nil {
			return nil, err
		}
		objs, err := read(files[1], files[2])
		if err != nil {
			return nil, err
		}
		if len(objs[1]) != 1 {
			return nil, fmt.Errorf("%s: want one YAML document", files[2])
		}
		return checkFlags(parseUsage(string(usage)), objs[0], objs[1][0]), nil
	case cmd == "alerts" && len(files) == 2:
		objs, err := read(files...)
		if err != nil {
			return nil, err
		}
		if len(objs[0]) != 1 {
			return nil, fmt.Errorf("%s: want one PrometheusRule", files[0])
		}
		return checkAlerts(objs[0][0], objs[1]), nil
	}
	return nil, errUsage
}
