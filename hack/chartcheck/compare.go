package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// helmCreatesNamespace: config/default creates its Namespace; a Helm release's namespace is
// made by `helm install --create-namespace` (or beforehand), never by the chart.
const helmCreatesNamespace = "Namespace"

// compareInstalls lists the differences between the kustomize install and the Helm render:
// objects one has and the other lacks, and, object by object, the content that decides what
// the install does (CRD and policy specs, RBAC rules and bindings, the Service, the manager's
// Deployment).
func compareInstalls(kustomize, helm []object) []string {
	kobjs, hobjs := index(kustomize), index(helm)
	var out []string
	for _, k := range sortedKeys(kobjs) {
		if _, ok := hobjs[k]; !ok && k.Kind != helmCreatesNamespace {
			out = append(out, fmt.Sprintf("%s: in the kustomize install, not in the chart", k))
		}
	}
	for _, k := range sortedKeys(hobjs) {
		kobj, ok := kobjs[k]
		if !ok {
			out = append(out, fmt.Sprintf("%s: in the chart, not in the kustomize install", k))
			continue
		}
		for _, d := range compareObject(kobj, hobjs[k]) {
			out = append(out, fmt.Sprintf("%s: %s", k, d))
		}
	}
	for _, render := range []struct {
		name string
		objs []object
	}{{"kustomize", kustomize}, {"helm", helm}} {
		for _, p := range servicesSelectManager(render.objs) {
			out = append(out, render.name+": "+p)
		}
	}
	return out
}

func sortedKeys(m map[objectKey]object) []objectKey {
	return slices.SortedFunc(maps.Keys(m), func(a, b objectKey) int { return strings.Compare(a.String(), b.String()) })
}

func index(objs []object) map[objectKey]object {
	out := map[objectKey]object{}
	for _, o := range objs {
		out[keyOf(o)] = o
	}
	return out
}

// compareObject compares what matters for the object's kind.
func compareObject(k, h object) []string {
	var fields [][]string
	switch str(k, "kind") {
	case "CustomResourceDefinition", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
		"MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding":
		fields = [][]string{{"spec"}}
	case "ClusterRole", "Role":
		fields = [][]string{{"rules"}, {"aggregationRule"}}
		if d := diff("aggregation labels", aggregationLabels(k), aggregationLabels(h)); d != nil {
			return d
		}
	case "ClusterRoleBinding", "RoleBinding":
		fields = [][]string{{"roleRef"}, {"subjects"}}
	case "Service":
		return compareServicePorts(k, h)
	case "Deployment":
		return compareDeployment(k, h)
	}
	var out []string
	for _, f := range fields {
		out = append(out, diff(strings.Join(f, "."), get(k, f...), get(h, f...))...)
	}
	return out
}

func aggregationLabels(o object) map[string]any {
	out := map[string]any{}
	labels, _ := get(o, "metadata", "labels").(map[string]any)
	for k, v := range labels {
		if strings.HasPrefix(k, "rbac.authorization.k8s.io/aggregate-to-") {
			out[k] = v
		}
	}
	return out
}

// compareServicePorts: the same ports by name, port and target; type and labels may differ.
func compareServicePorts(k, h object) []string {
	ports := func(o object) map[string]any {
		out := map[string]any{}
		list, _ := get(o, "spec", "ports").([]any)
		for _, p := range list {
			out[str(p, "name")] = fmt.Sprintf("%v->%v/%v", get(p, "port"), get(p, "targetPort"), get(p, "protocol"))
		}
		return out
	}
	return diff("spec.ports", ports(k), ports(h))
}

// compareDeployment: the manager gets every kustomize argument with the same value (the
// chart passes every flag, so it may pass more), the same service account, security
// contexts, grace period, resources and projected token.
func compareDeployment(k, h object) []string {
	var out []string
	kargs, hargs := managerArgs(k), managerArgs(h)
	for _, name := range slices.Sorted(maps.Keys(kargs)) {
		if hv, ok := hargs[name]; !ok {
			out = append(out, fmt.Sprintf("argument --%s=%s: not passed by the chart", name, kargs[name]))
		} else if hv != kargs[name] {
			out = append(out, fmt.Sprintf("argument --%s: kustomize %q, helm %q", name, kargs[name], hv))
		}
	}
	pod := []string{"spec", "template", "spec"}
	for _, f := range [][]string{{"serviceAccountName"}, {"securityContext"}, {"terminationGracePeriodSeconds"}, {"volumes"}} {
		out = append(out, diff(strings.Join(f, "."), get(k, append(pod, f...)...), get(h, append(pod, f...)...))...)
	}
	kc, hc := managerContainer(k), managerContainer(h)
	for _, f := range []string{"securityContext", "resources", "volumeMounts"} {
		out = append(out, diff("manager."+f, get(kc, f), get(hc, f))...)
	}
	return out
}

func managerContainer(d object) object {
	containers, _ := get(d, "spec", "template", "spec", "containers").([]any)
	for _, c := range containers {
		if str(c, "name") == "manager" {
			m, _ := c.(map[string]any)
			return m
		}
	}
	return nil
}

// managerArgs maps each --flag of the manager container to its value, as the container
// sees it: $(VAR) of an env var taken from metadata.namespace is the Deployment's
// namespace, and a bare boolean flag is "true".
func managerArgs(d object) map[string]string {
	c := managerContainer(d)
	vars := map[string]string{}
	envs, _ := get(c, "env").([]any)
	for _, e := range envs {
		if str(e, "valueFrom", "fieldRef", "fieldPath") == "metadata.namespace" {
			vars[str(e, "name")] = str(d, "metadata", "namespace")
		} else if v, ok := get(e, "value").(string); ok {
			vars[str(e, "name")] = v
		}
	}
	out := map[string]string{}
	args, _ := get(c, "args").([]any)
	for _, a := range args {
		s, _ := a.(string)
		name, value, found := strings.Cut(strings.TrimLeft(s, "-"), "=")
		if !found {
			value = "true"
		}
		for v, val := range vars {
			value = strings.ReplaceAll(value, "$("+v+")", val)
		}
		out[name] = value
	}
	return out
}

// servicesSelectManager: every Service of the install selects the manager's Pods.
func servicesSelectManager(objs []object) []string {
	var podLabels map[string]any
	for _, o := range objs {
		if str(o, "kind") == "Deployment" {
			podLabels, _ = get(o, "spec", "template", "metadata", "labels").(map[string]any)
		}
	}
	var out []string
	for _, o := range objs {
		if str(o, "kind") != "Service" {
			continue
		}
		selector, _ := get(o, "spec", "selector").(map[string]any)
		if len(selector) == 0 {
			out = append(out, fmt.Sprintf("%s selects nothing", keyOf(o)))
		}
		for k, v := range selector {
			if podLabels[k] != v {
				out = append(out, fmt.Sprintf("%s selects %s=%v, which the manager's Pods do not have", keyOf(o), k, v))
			}
		}
	}
	return out
}
