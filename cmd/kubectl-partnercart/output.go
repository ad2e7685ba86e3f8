package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"
)

// Output formats of -o.
const (
	outputTable = ""
	outputWide  = "wide"
	outputJSON  = "json"
	outputYAML  = "yaml"
)

// checkOutput refuses an -o value the command does not print.
func checkOutput(cmd, format string, allowed ...string) error {
	if format == outputTable || slices.Contains(allowed, format) {
		return nil
	}
	return usageError(cmd, "-o %q is not one of %s", format, strings.Join(allowed, ", "))
}

// printData writes v as indented JSON or as YAML.
func printData(out io.Writer, format string, v any) error {
	body, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	switch format {
	case outputJSON:
		_, err = fmt.Fprintf(out, "%s\n", body)
	case outputYAML:
		if body, err = yaml.JSONToYAML(body); err == nil {
			_, err = out.Write(body)
		}
	default:
		err = fmt.Errorf("unknown output format %q", format)
	}
	return err
}

// forOutput is a copy of obj as kubectl prints it: with apiVersion and kind, without
// managedFields.
func forOutput(obj client.Object) (client.Object, error) {
	cp, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return nil, fmt.Errorf("%T is not an object", obj)
	}
	gvk, err := apiutil.GVKForObject(cp, newScheme())
	if err != nil {
		return nil, err
	}
	cp.GetObjectKind().SetGroupVersionKind(gvk)
	cp.SetManagedFields(nil)
	return cp, nil
}

// printObjects writes one object as itself and several (or none) as a v1 List, as kubectl
// get -o json|yaml does.
func printObjects(out io.Writer, format string, objs []client.Object, single bool) error {
	items := make([]client.Object, 0, len(objs))
	for _, o := range objs {
		cp, err := forOutput(o)
		if err != nil {
			return err
		}
		items = append(items, cp)
	}
	if single && len(items) == 1 {
		return printData(out, format, items[0])
	}
	return printData(out, format, map[string]any{
		"apiVersion": "v1",
		"kind":       "List",
		"metadata":   map[string]any{"resourceVersion": ""},
		"items":      items,
	})
}
