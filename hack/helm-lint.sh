#!/usr/bin/env bash
# make helm-lint: lint the Helm chart and hold its renders to the kustomize installs.
#   1. helm lint --strict, with the default and the accounts-only values;
#   2. per install mode, helm template against kustomize build config/<mode> (hack/chartcheck compare);
#   3. every manager flag is a chart value at the manager's default (chartcheck flags);
#   4. the PrometheusRule is config/prometheus/alerts.yaml (chartcheck alerts);
#   5. the real kube-apiserver of bin/k8s accepts every rendered object (server-side dry run,
#      strict field validation), in both modes;
#   6. the ServiceMonitor authenticates with `authorization` (not the deprecated bearerTokenFile
#      or bearerTokenSecret) from the scraper's token Secret, and that scraper may GET /metrics
#      once the render is applied (the manager's SubjectAccessReview).
# Needs HELM, KUSTOMIZE, KUBERNETES_VERSION (the Makefile passes them) and bin/k8s.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${HELM:?}" "${KUSTOMIZE:?}" "${KUBERNETES_VERSION:?}"
chart=charts/partnercart-operator
out=tmp/helm-lint
modes=(default accounts-only)
mkdir -p "$out"

go build -o bin/manager ./cmd/manager
go build -o bin/chartcheck ./hack/chartcheck
go build -o bin/localcp ./hack/localcp

render() { # render MODE [helm args...]
  local mode=$1; shift
  local values=()
  [[ $mode == default ]] || values=(-f "$chart/ci/$mode-values.yaml")
  "$HELM" template partnercart "$chart" --namespace partnercart-system --kube-version "$KUBERNETES_VERSION" "${values[@]}" "$@"
}

for mode in "${modes[@]}"; do
  values=()
  [[ $mode == default ]] || values=(-f "$chart/ci/$mode-values.yaml")
  "$HELM" lint --strict "$chart" "${values[@]}"
  "$KUSTOMIZE" build "config/$mode" > "$out/kustomize-$mode.yaml"
  render "$mode" > "$out/helm-$mode.yaml"
  bin/chartcheck compare "$out/kustomize-$mode.yaml" "$out/helm-$mode.yaml"
done
bin/manager -help 2> "$out/manager-help.txt"
bin/chartcheck flags "$out/manager-help.txt" "$out/helm-default.yaml" "$chart/values.yaml"
render default --set serviceMonitor.enabled=true,prometheusRule.enabled=true > "$out/helm-monitoring.yaml"
bin/chartcheck alerts config/prometheus/alerts.yaml "$out/helm-monitoring.yaml"
if grep -nE '^ *bearerToken(File|Secret):' "$out/helm-monitoring.yaml"; then
  echo "helm-lint: the ServiceMonitor uses a deprecated bearer token field; use authorization" >&2
  exit 1
fi
grep -q 'name: partnercart-metrics-scraper-token' <(grep -A4 '^    authorization:' "$out/helm-monitoring.yaml") ||
  { echo "helm-lint: the ServiceMonitor's authorization does not name the scraper's token Secret" >&2; exit 1; }

# The API server's own validation of what the chart renders (the monitoring kinds need the
# Prometheus Operator's CRDs, which the local control plane does not have).
kubeconfig=$out/kubeconfig
rm -f "$out/localcp.log" "$kubeconfig" # a "ready" of an earlier run must not count
bin/localcp --kubeconfig "$kubeconfig" > "$out/localcp.log" 2>&1 &
localcp=$!
trap 'kill "$localcp" 2>/dev/null; wait "$localcp" 2>/dev/null || true' EXIT
until grep -q '^ready$' "$out/localcp.log"; do
  kill -0 "$localcp" 2>/dev/null || { cat "$out/localcp.log" >&2; echo "helm-lint: the local control plane did not start" >&2; exit 1; }
  sleep 1
done
kubectl=(bin/k8s/kubectl --kubeconfig "$kubeconfig")
"${kubectl[@]}" create namespace partnercart-system >/dev/null
for mode in "${modes[@]}"; do
  "${kubectl[@]}" apply --server-side --dry-run=server --field-manager=helm-lint -f "$out/helm-$mode.yaml" > "$out/dry-run-$mode.txt"
  echo "helm-lint: the API server accepts all $(wc -l < "$out/dry-run-$mode.txt") objects of the $mode render"
done
# Apply the monitoring render (without the Prometheus Operator's kinds) and ask the API server
# what the manager asks for each scrape: may the ServiceMonitor's identity GET /metrics?
awk 'BEGIN { RS = "\n---\n"; ORS = "\n---\n" } !/\nkind: (ServiceMonitor|PrometheusRule)\n/' \
  "$out/helm-monitoring.yaml" > "$out/helm-monitoring-core.yaml"
"${kubectl[@]}" apply --server-side --field-manager=helm-lint -f "$out/helm-monitoring-core.yaml" > /dev/null
scraper=system:serviceaccount:partnercart-system:partnercart-metrics-scraper
[[ $("${kubectl[@]}" auth can-i get /metrics --as "$scraper") == yes ]] ||
  { echo "helm-lint: $scraper may not GET /metrics" >&2; exit 1; }
[[ $("${kubectl[@]}" auth can-i get /debug/pprof --as "$scraper" 2>/dev/null) == no ]] ||
  { echo "helm-lint: $scraper may GET more than /metrics" >&2; exit 1; }
echo "helm-lint: the ServiceMonitor scrapes with authorization from $scraper's token Secret, which may GET /metrics"
