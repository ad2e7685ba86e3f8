package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// object is one Kubernetes object as YAML decodes it.
type object = map[string]any

// readObjects decodes every non-empty document of a multi-document YAML file.
func readObjects(path string) ([]object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return decodeObjects(f)
}

func decodeObjects(r io.Reader) ([]object, error) {
	var out []object
	docs := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var o object
		if err := yaml.Unmarshal(doc, &o); err != nil {
			return nil, fmt.Errorf("decode %q...: %w", firstLine(doc), err)
		}
		if len(o) > 0 {
			out = append(out, o)
		}
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// clusterScoped are the kinds of both installs that have no namespace. kustomize does not
// know that MutatingAdmissionPolicy(Binding) is one and gives them its namespace; the API
// server drops it, so it is dropped here too.
var clusterScoped = []string{
	"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
	"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
	"MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding",
}

// objectKey names an object as the API server would store it.
type objectKey struct{ Kind, Namespace, Name string }

func (k objectKey) String() string {
	if k.Namespace == "" {
		return k.Kind + " " + k.Name
	}
	return k.Kind + " " + k.Namespace + "/" + k.Name
}

func keyOf(o object) objectKey {
	k := objectKey{Kind: str(o, "kind"), Namespace: str(o, "metadata", "namespace"), Name: str(o, "metadata", "name")}
	if slices.Contains(clusterScoped, k.Kind) {
		k.Namespace = ""
	}
	return k
}

// get walks nested maps; nil when a step is missing.
func get(o any, path ...string) any {
	for _, p := range path {
		m, ok := o.(map[string]any)
		if !ok {
			return nil
		}
		o = m[p]
	}
	return o
}

func str(o any, path ...string) string {
	s, _ := get(o, path...).(string)
	return s
}

// diff lists where a and b differ, by path; at most a few entries per call. Strings that
// differ only in whitespace are equal: kustomize re-emits a folded block scalar with
// more-indented lines (the CEL of config/policy) with an extra line break.
func diff(path string, a, b any) []string {
	if reflect.DeepEqual(a, b) {
		return nil
	}
	if as, ok := a.(string); ok {
		if bs, ok := b.(string); ok && slices.Equal(strings.Fields(as), strings.Fields(bs)) {
			return nil
		}
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		var out []string
		for _, k := range sorted {
			out = append(out, diff(path+"."+k, am[k], bm[k])...)
			if len(out) >= 5 {
				return out
			}
		}
		return out
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && len(as) == len(bs) {
		var out []string
		for i := range as {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), as[i], bs[i])...)
			if len(out) >= 5 {
				return out
			}
		}
		return out
	}
	return []string{fmt.Sprintf("%s: kustomize %s, helm %s", path, short(a), short(b))}
}

func short(v any) string {
	if v == nil {
		return "(none)"
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return strings.ReplaceAll(s, "\n", " ")
}
