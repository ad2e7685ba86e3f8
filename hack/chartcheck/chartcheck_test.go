package main

import (
	"bytes"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"
)

func decode(t *testing.T, text string) []object {
	t.Helper()
	objs, err := decodeObjects(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// kustomizeInstall is a small install as kustomize renders it: the Namespace, a
// MutatingAdmissionPolicy with the namespace kustomize wrongly gives it, the manager's
// flags with $(POD_NAMESPACE).
const kustomizeInstall = `
apiVersion: v1
kind: Namespace
metadata: {name: ops}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: p-manager-role}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get, create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: p-manager-rolebinding}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: p-manager-role}
subjects: [{kind: ServiceAccount, name: p-controller-manager, namespace: ops}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: p-stamp, namespace: ops}
spec:
  matchConditions:
  - name: c
    expression: "a\n\n && b"
---
apiVersion: v1
kind: Service
metadata: {name: p-metrics, namespace: ops}
spec:
  ports: [{name: https, port: 8443, targetPort: 8443, protocol: TCP}]
  selector: {control-plane: controller-manager}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: p-controller-manager, namespace: ops}
spec:
  template:
    metadata:
      labels: {control-plane: controller-manager}
    spec:
      serviceAccountName: p-controller-manager
      terminationGracePeriodSeconds: 170
      containers:
      - name: manager
        args: [--leader-elect, --credentials-namespace=$(POD_NAMESPACE)]
        env:
        - name: POD_NAMESPACE
          valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
`

// helmInstall is the same install as the chart renders it.
const helmInstall = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: p-manager-role, labels: {helm.sh/chart: x}}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get, create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: p-manager-rolebinding}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: p-manager-role}
subjects: [{kind: ServiceAccount, name: p-controller-manager, namespace: ops}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: p-stamp}
spec:
  matchConditions:
  - name: c
    expression: "a\n && b"
---
apiVersion: v1
kind: Service
metadata: {name: p-metrics, namespace: ops}
spec:
  type: ClusterIP
  ports: [{name: https, port: 8443, targetPort: 8443, protocol: TCP}]
  selector: {control-plane: controller-manager, app.kubernetes.io/name: p}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: p-controller-manager, namespace: ops}
spec:
  template:
    metadata:
      labels: {control-plane: controller-manager, app.kubernetes.io/name: p}
    spec:
      serviceAccountName: p-controller-manager
      terminationGracePeriodSeconds: 170
      containers:
      - name: manager
        args: [--leader-elect=true, --credentials-namespace=ops, --purchase-freeze=false]
`

func TestCompareInstalls(t *testing.T) {
	if got := compareInstalls(decode(t, kustomizeInstall), decode(t, helmInstall)); len(got) > 0 {
		t.Fatalf("equal installs differ:\n  %s", strings.Join(got, "\n  "))
	}
	for _, tc := range []struct {
		name  string
		old   string // replaced in helmInstall
		new   string
		wants string // in one of the differences
	}{
		{"an object missing", "kind: ClusterRoleBinding", "kind: RoleBinding", "ClusterRoleBinding p-manager-rolebinding: in the kustomize install, not in the chart"},
		{"another namespace", "metadata: {name: p-metrics, namespace: ops}", "metadata: {name: p-metrics, namespace: default}", "Service default/p-metrics: in the chart"},
		{"a verb more", "verbs: [get, create]", "verbs: [get, create, update]", "rules[0].verbs"},
		{"another subject", "namespace: ops}]", "namespace: default}]", "subjects[0].namespace"},
		{"a policy changed", `expression: "a\n && b"`, `expression: "a || b"`, "spec.matchConditions[0].expression"},
		{"a flag value", "--credentials-namespace=ops", "--credentials-namespace=other", `argument --credentials-namespace: kustomize "ops", helm "other"`},
		{"a flag missing", "--leader-elect=true, ", "", "argument --leader-elect=true: not passed by the chart"},
		{"a grace period", "terminationGracePeriodSeconds: 170\n      containers:\n      - name: manager\n        args: [--leader-elect=true", "terminationGracePeriodSeconds: 30\n      containers:\n      - name: manager\n        args: [--leader-elect=true", "terminationGracePeriodSeconds"},
		{"a port", "port: 8443, targetPort: 8443, protocol: TCP}]\n  selector: {control-plane: controller-manager, app", "port: 8080, targetPort: 8443, protocol: TCP}]\n  selector: {control-plane: controller-manager, app", "spec.ports.https"},
		{"a selector", "selector: {control-plane: controller-manager, app.kubernetes.io/name: p}", "selector: {control-plane: manager}", "helm: Service ops/p-metrics selects control-plane=manager"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed := strings.Replace(helmInstall, tc.old, tc.new, 1)
			if changed == helmInstall {
				t.Fatalf("%q is not in the Helm install", tc.old)
			}
			got := compareInstalls(decode(t, kustomizeInstall), decode(t, changed))
			if !slices.ContainsFunc(got, func(d string) bool { return strings.Contains(d, tc.wants) }) {
				t.Errorf("want a difference with %q, got:\n  %s", tc.wants, strings.Join(got, "\n  "))
			}
		})
	}
}

// usage is what the flag package prints for a manager with these flags.
func usage() string {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.String("partner-center-endpoint", "https://api.example", "Partner Center API base URL.")
	fs.String("credentials-namespace", "", "Namespace of account Secrets.")
	fs.Bool("leader-elect", false, "Elect a leader.")
	fs.Bool("metrics-secure", true, "Serve metrics over HTTPS.")
	fs.Duration("order-poll-interval", 5*time.Minute, "First wait.")
	fs.Float64("partner-center-qps", 8, "Calls per second.")
	fs.Int("partner-center-burst", 0, "Burst.")
	fs.Func("zap-log-level", "Zap level.", func(string) error { return nil })
	fs.String("kubeconfig", "", "Paths to a kubeconfig.")
	var b bytes.Buffer
	fs.SetOutput(&b)
	fs.PrintDefaults()
	return "Usage of bin/manager:\n" + b.String()
}

func TestParseUsage(t *testing.T) {
	got := parseUsage(usage())
	want := []managerFlag{
		{Name: "credentials-namespace", Type: "string"},
		{Name: "kubeconfig", Type: "string"},
		{Name: "leader-elect"},
		{Name: "metrics-secure", Default: "true"},
		{Name: "order-poll-interval", Type: "duration", Default: "5m0s"},
		{Name: "partner-center-burst", Type: "int"},
		{Name: "partner-center-endpoint", Type: "string", Default: "https://api.example"},
		{Name: "partner-center-qps", Type: "float", Default: "8"},
		{Name: "zap-log-level", Type: "value"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("parseUsage:\n got %+v\nwant %+v", got, want)
	}
}

const chartDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: p-controller-manager, namespace: ops}
spec:
  template:
    spec:
      containers:
      - name: manager
        args:
        - --leader-elect=true
        - --credentials-namespace=ops
        - --partner-center-endpoint=https://api.example
        - --metrics-secure=true
        - --order-poll-interval=5m
        - --partner-center-qps=8
        - --partner-center-burst=0
`

const chartValues = `
flags:
  partner-center-endpoint: https://api.example
  metrics-secure: true
  order-poll-interval: 5m
  partner-center-qps: 8
  partner-center-burst: 0
  zap-log-level: null
`

func TestCheckFlags(t *testing.T) {
	flags := parseUsage(usage())
	values := decode(t, chartValues)[0]
	if got := checkFlags(flags, decode(t, chartDeployment), values); len(got) > 0 {
		t.Fatalf("a chart with every flag at its default differs:\n  %s", strings.Join(got, "\n  "))
	}
	for _, tc := range []struct {
		name       string
		deployment [2]string // old, new in chartDeployment
		values     [2]string // old, new in chartValues
		wants      string
	}{
		{name: "an unknown flag", deployment: [2]string{"--partner-center-burst=0", "--partner-center-bursts=0"}, wants: "passes --partner-center-bursts, which the manager does not have"},
		{name: "a flag not offered", values: [2]string{"  zap-log-level: null\n", ""}, wants: "--zap-log-level: a manager flag the chart does not offer"},
		{name: "a value without flag", values: [2]string{"zap-log-level", "zap-level"}, wants: "values.yaml flags.zap-level: the manager has no such flag"},
		{name: "another duration", deployment: [2]string{"--order-poll-interval=5m", "--order-poll-interval=5s"}, wants: `--order-poll-interval: the chart passes "5s", the manager's default is "5m0s"`},
		{name: "another number", deployment: [2]string{"--partner-center-qps=8", "--partner-center-qps=80"}, wants: "--partner-center-qps: the chart passes"},
		{name: "another bool", deployment: [2]string{"--metrics-secure=true", "--metrics-secure=false"}, wants: "--metrics-secure: the chart passes"},
		{name: "another string", deployment: [2]string{"https://api.example", "https://evil.example"}, wants: "--partner-center-endpoint: the chart passes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deployment, chart := chartDeployment, chartValues
			if tc.deployment[0] != "" {
				deployment = strings.Replace(deployment, tc.deployment[0], tc.deployment[1], 1)
			}
			if tc.values[0] != "" {
				chart = strings.Replace(chart, tc.values[0], tc.values[1], 1)
			}
			if deployment == chartDeployment && chart == chartValues {
				t.Fatal("the case changes nothing")
			}
			got := checkFlags(flags, decode(t, deployment), decode(t, chart)[0])
			if !slices.ContainsFunc(got, func(d string) bool { return strings.Contains(d, tc.wants) }) {
				t.Errorf("want a difference with %q, got:\n  %s", tc.wants, strings.Join(got, "\n  "))
			}
		})
	}
}

func TestCheckAlerts(t *testing.T) {
	const alerts = `
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: partnercart-alerts}
spec:
  groups:
  - name: g
    rules:
    - alert: A
      expr: sum(x) > 0
      annotations: {description: '{{ $value | humanize }} carts'}
`
	rendered := strings.Replace(alerts, "metadata: {name: partnercart-alerts}", "metadata: {name: p-alerts, namespace: ops, labels: {release: prom}}", 1)
	if got := checkAlerts(decode(t, alerts)[0], decode(t, rendered)); len(got) > 0 {
		t.Errorf("the same rules differ: %v", got)
	}
	if got := checkAlerts(decode(t, alerts)[0], decode(t, strings.Replace(rendered, "sum(x) > 0", "sum(x) > 1", 1))); len(got) == 0 {
		t.Error("a changed expression goes unseen")
	}
	if got := checkAlerts(decode(t, alerts)[0], decode(t, "kind: Service\nmetadata: {name: s}\n")); len(got) == 0 {
		t.Error("a render without the PrometheusRule goes unseen")
	}
}
