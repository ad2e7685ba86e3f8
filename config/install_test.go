// Package config holds the kustomize configuration; this test checks what it builds.
package config

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/yaml"
)

// Kinds the kustomize entry points may build, by scope. A kind in neither list fails the test:
// say which it is (kubectl api-resources), so that a new cluster-scoped kind is checked too.
var (
	clusterScopedKinds = []string{
		"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
		"MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding",
		"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "PriorityClass",
		"PartnerCenterAccount", // config/crd/bases: scope Cluster
	}
	namespacedKinds = []string{
		"ServiceAccount", "Role", "RoleBinding", "Deployment", "Service", "ConfigMap", "Secret",
		"PrometheusRule", "ServiceMonitor", "PartnerCart",
	}
)

type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// kustomize returns the pinned kustomize that `make kustomize` installs ($KUSTOMIZE, or bin/kustomize).
func kustomize(t *testing.T) string {
	t.Helper()
	path := os.Getenv("KUSTOMIZE")
	if path == "" {
		path = filepath.Join("..", "bin", "kustomize")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("kustomize not found (%v): run `make kustomize`, or set KUSTOMIZE", err)
	}
	return abs
}

// entryPoints returns every directory under config/ with a kustomization.yaml.
func entryPoints(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "kustomization.yaml" {
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func decode(t *testing.T, data []byte) []object {
	t.Helper()
	var objs []object
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatal(err)
		}
		if o.Kind != "" {
			objs = append(objs, o)
		}
	}
}

// scopeProblems lists the cluster-scoped objects that carry a namespace, and kinds of unknown scope.
func scopeProblems(objs []object) []string {
	var out []string
	for _, o := range objs {
		switch {
		case slices.Contains(clusterScopedKinds, o.Kind):
			if o.Metadata.Namespace != "" {
				out = append(out, o.Kind+" "+o.Metadata.Name+" is cluster-scoped but has namespace "+o.Metadata.Namespace)
			}
		case slices.Contains(namespacedKinds, o.Kind):
		default:
			out = append(out, o.Kind+" "+o.Metadata.Name+": kind of unknown scope; add it to clusterScopedKinds or namespacedKinds")
		}
	}
	return out
}

// TestNoNamespaceOnClusterScopedObjects builds every kustomize entry point under config/ (make
// deploy, make build-installer, make install and the overlays users copy) and fails if a
// cluster-scoped object carries a namespace: kustomize's namespace transformer gives one to
// every kind it does not know as cluster-scoped (MutatingAdmissionPolicy in v5.8).
func TestNoNamespaceOnClusterScopedObjects(t *testing.T) {
	bin := kustomize(t)
	dirs := entryPoints(t)
	for _, want := range []string{"default", "accounts-only", "policy", "crd", "rbac"} {
		if !slices.Contains(dirs, want) {
			t.Fatalf("entry point config/%s not found among %v", want, dirs)
		}
	}
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), bin, "build", dir)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("kustomize build config/%s: %v\n%s", dir, err, stderr.String())
			}
			objs := decode(t, out)
			if len(objs) == 0 {
				t.Fatalf("kustomize build config/%s built nothing", dir)
			}
			for _, p := range scopeProblems(objs) {
				t.Errorf("kustomize build config/%s: %s", dir, p)
			}
		})
	}
}

// TestScopeProblemsCatchesANamespace proves the check can fail.
func TestScopeProblemsCatchesANamespace(t *testing.T) {
	objs := decode(t, []byte(`
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: p, namespace: partnercart-system}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa, namespace: partnercart-system}
---
apiVersion: example.dev/v1
kind: Gadget
metadata: {name: g}
`))
	got := scopeProblems(objs)
	if len(got) != 2 || !strings.Contains(got[0], "MutatingAdmissionPolicyBinding p is cluster-scoped") || !strings.Contains(got[1], "Gadget") {
		t.Errorf("scopeProblems = %q", got)
	}
}
