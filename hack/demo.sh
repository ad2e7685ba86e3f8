#!/usr/bin/env bash
# make demo: the product as a newcomer meets it. Starts a local control plane, the Partner
# Center simulator and the operator as separate processes (logs in tmp/demo/), creates the
# platform team's PartnerCenterAccount, shows the project's roles aggregated into edit and view,
# applies the samples, shows the carts progress, approves the waiting one with the kubectl
# plugin (kubectl partnercart approve), shows the purchase metrics the manager serves and
# writes a Prometheus configuration for them, and leaves everything running until Ctrl-C.
# DEMO_EXIT=1 exits after the show instead.
# Needs bin/localcp, bin/pcsim, bin/manager, bin/kubectl-partnercart and bin/k8s: 'make demo'
# builds them first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=hack/lib/stack.sh
source hack/lib/stack.sh
# kubectl finds its plugins on PATH: bin/kubectl-partnercart is `kubectl partnercart`.
export PATH=$PWD/bin:$PATH
[[ -x bin/kubectl-partnercart ]] || { echo "error: bin/kubectl-partnercart is missing; run 'make build' (make demo does it)" >&2; exit 1; }

NS=partnercart-demo
ACCOUNT=example-partner
CREDS_NS=$STACK_CREDENTIALS_NAMESPACE
APPROVED=contoso-m365-e5
WAITING=fabrikam-business-basic
BROKEN=northwind-windows365
STEP_TIMEOUT=${DEMO_TIMEOUT:-90}

if [[ -t 1 ]]; then B=$'\e[1m' G=$'\e[32m' D=$'\e[2m' R=$'\e[0m'; else B='' G='' D='' R=''; fi
start=$SECONDS
phase() { printf '\n%s==> %s%s %s(%ss)%s\n' "$B" "$*" "$R" "$D" "$((SECONDS - start))" "$R"; }
say() { if (($#)); then printf '    %s\n' "$*"; else echo; fi; }
indent() { sed 's/^/    /'; }
# quote ARG: ARG as a person would type it in a shell.
quote() {
  if [[ $1 =~ ^[-A-Za-z0-9_./:=,@%+]+$ ]]; then printf '%s' "$1"; else printf "'%s'" "$1"; fi
}
# show CMD...: print the kubectl command as a user would type it, then run it, output indented.
show() {
  local line=kubectl a
  for a in "$@"; do line+=" $(quote "$a")"; done
  printf '  %s$ %s%s\n' "$G" "$line" "$R"
  kubectl "$@" 2>&1 | indent
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((${#STACK_PIDS[@]})); then
    printf '\n%s==> Stopping the manager, pcsim and the control plane%s\n' "$B" "$R"
    stack_stop
    say "All processes stopped. Logs are kept in tmp/demo/."
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

stack_init tmp/demo

phase "Starting the local control plane (etcd + kube-apiserver from bin/k8s)"
stack_start_control_plane
say "The PartnerCart CRD and the freeze-after-checkout admission policy are installed."
say "kubeconfig: tmp/demo/kubeconfig    log: tmp/demo/localcp.log"

phase "Starting pcsim, the Partner Center simulator"
stack_start_pcsim --order-complete-after 3s
say "Serving the token endpoint and the carts/orders API at $PCSIM_URL"
say "Orders complete 3s after checkout.    log: tmp/demo/pcsim.log"

phase "Starting the operator (bin/manager), pointed at pcsim"
# Metrics over plain HTTP on loopback, for curl and a local Prometheus; in a cluster they are
# HTTPS with Kubernetes authentication and authorization (--metrics-secure, the default).
METRICS_ADDR=127.0.0.1:$(stack_free_port)
stack_start_manager --credentials-namespace "$CREDS_NS" --metrics-bind-address "$METRICS_ADDR" --metrics-secure=false
say "Healthy at http://$MANAGER_PROBE_ADDR/readyz    log: tmp/demo/manager.log"
say "Metrics at http://$METRICS_ADDR/metrics (--metrics-secure=false: plain HTTP, on loopback only)"
say "Account Secrets live in $CREDS_NS (--credentials-namespace), where tenants have no access."

phase "The platform team: a PartnerCenterAccount holds the partner's credentials"
show create namespace "$CREDS_NS"
show apply -f config/samples/partnercenteraccount.yaml
kubectl wait --for=condition=Ready --timeout="${STEP_TIMEOUT}s" pcacct/"$ACCOUNT" >/dev/null 2>&1 ||
  stack_die "PartnerCenterAccount $ACCOUNT did not become Ready" manager pcsim
show get pcacct
say "READY True: the operator proved the account by obtaining a token (no Partner Center call)."

phase "A tenant namespace, $NS, that the account allows"
show create namespace "$NS"
show label namespace "$NS" partnercenter.partnercart.dev/account="$ACCOUNT"
kubectl config set-context --current --namespace "$NS" >/dev/null
say "(the kubeconfig's context now defaults to $NS, so the commands below need no -n)"
say "The carts name the account in spec.accountRef; no credential is stored in $NS."

phase "Who may do what: the project's roles, aggregated into edit and view"
say "config/rbac's viewer and editor roles carry aggregate-to-view/edit labels; the approver role does not."
say "(bin/localcp runs the ClusterRole aggregation of kube-controller-manager, which it does not run otherwise.)"
show apply -f config/rbac/partnercart_viewer_role.yaml -f config/rbac/partnercart_editor_role.yaml -f config/rbac/partnercart_approver_role.yaml
show create rolebinding dana-edit --clusterrole=edit --user=dana
show create rolebinding bob-approver --clusterrole=approver --user=bob
show create rolebinding erin-view --clusterrole=view --user=erin
# can_i WANT ARGS...: show `kubectl auth can-i ARGS`, and stop the demo if the answer is not WANT.
can_i() {
  local want=$1 got
  shift
  printf '  %s$ kubectl auth can-i %s%s\n' "$G" "$*" "$R"
  got=$(kubectl auth can-i "$@" 2>/dev/null) || true
  indent <<<"$got"
  [[ $got == "$want" ]] || stack_die "kubectl auth can-i $*: got '$got', want $want (are the roles aggregated?)" localcp
}
# The aggregation runs every second: wait for edit to hold the editor's rules.
stack_wait_for 20 "edit to aggregate the PartnerCart editor role" \
  bash -c '[[ $("$0" auth can-i create partnercarts --as dana) == yes ]]' "$KUBECTL"
can_i yes create partnercarts --as dana
can_i no approve partnercarts --subresource=approval --as dana
can_i yes approve partnercarts --subresource=approval --as bob
can_i yes list partnercarts --as erin
can_i no create partnercarts --as erin
say "dana (edit in $NS) may request carts but not approve them; bob (approver) may approve; erin (view) may read."

phase "Applying config/samples: three carts, bought through $ACCOUNT"
say "$APPROVED          approved from the start: 25 seats of Microsoft 365 E5"
say "$WAITING  not approved yet: Business Basic with a Teams Phone add-on"
say "$BROKEN     approved, but Windows 365 needs attestationAccepted, which is missing"
show apply -k config/samples

# Watching: print `kubectl get pcart` whenever a row changes (AGE aside).
last=''
snapshot() {
  local table key
  table=$(kubectl get pcart 2>&1) || true
  key=$(awk '{ $NF = ""; print }' <<<"$table")
  if [[ $key != "$last" ]]; then
    last=$key
    printf '  %s[+%ss] kubectl get pcart%s\n' "$D" "$((SECONDS - start))" "$R"
    indent <<<"$table"
  fi
}
phase_of() { kubectl get pcart "$1" -o jsonpath='{.status.phase}' 2>/dev/null; }
# watch_until SECONDS DESCRIPTION CMD...: snapshots until CMD succeeds.
watch_until() {
  local secs=$1 what=$2
  shift 2
  local deadline=$((SECONDS + secs)) n
  while :; do
    snapshot
    "$@" && return 0
    for n in "${STACK_NAMES[@]}"; do
      stack_alive "$n" || stack_die "$n exited while waiting for $what" "$n"
    done
    ((SECONDS < deadline)) || stack_die "timed out after ${secs}s waiting for $what" manager pcsim
    sleep 1
  done
}
waiting_completed() { [[ $(phase_of "$WAITING") == Completed ]]; }
first_states() {
  [[ $(phase_of "$APPROVED") == Completed && $(phase_of "$WAITING") == AwaitingApproval &&
    $(phase_of "$BROKEN") == Failed ]]
}

phase "Watching the carts (a new table whenever something changes)"
watch_until "$STEP_TIMEOUT" "$APPROVED Completed, $WAITING AwaitingApproval, $BROKEN Failed" first_states
say
say "$APPROVED was checked out once and its order completed."
say "$WAITING has a cart upstream (quoted $(kubectl get pcart "$WAITING" -o jsonpath='{.status.total}')) and waits: nothing is bought."
say "$BROKEN is stalled; Partner Center said:"
kubectl get pcart "$BROKEN" -o jsonpath='{range .status.lineItemErrors[*]}line {.lineItemId}: error {.errorCode}: {.errorDescription}{"\n"}{end}' | indent | indent

phase "Approving $WAITING with the kubectl plugin, as an approver would"
show partnercart quote "$WAITING"
show partnercart approve "$WAITING" ||
  stack_die "kubectl partnercart approve $WAITING failed" manager
watch_until "$STEP_TIMEOUT" "$WAITING to complete" waiting_completed

phase "Checking the final states with kubectl wait"
show wait --for=condition=Ready --timeout="${STEP_TIMEOUT}s" pcart/"$APPROVED" pcart/"$WAITING" ||
  stack_die "the approved carts did not become Ready" manager
show wait --for=condition=Stalled --timeout="${STEP_TIMEOUT}s" pcart/"$BROKEN" ||
  stack_die "$BROKEN did not stall" manager
show get pcart -o wide
show get pcacct
say
say "Receipts (immutable ConfigMaps that outlive the PartnerCarts, kept in $CREDS_NS where tenants cannot touch them; each names its account):"
show -n "$CREDS_NS" get configmaps -l partnercenter.partnercart.dev/receipt=true
stats=$(http_get "$PCSIM_ADDR" /_pcsim/stats) || stack_die "pcsim did not answer /_pcsim/stats" pcsim
dups=$(sed -n 's/.*"duplicateCheckouts": *\([0-9]*\).*/\1/p' <<<"$stats")
say "pcsim: $(sed -n 's/.*"ordersCreated": *\([0-9]*\).*/\1/p' <<<"$stats") orders created, $dups duplicate checkouts."
[[ $dups == 0 ]] || stack_die "pcsim counted duplicate checkouts: $stats" manager pcsim

phase "The purchase metrics the manager serves (what the alerts and the dashboard read)"
printf '  %s$ curl -s http://%s/metrics | grep -E %s%s\n' "$G" "$METRICS_ADDR" "'^partnercart_(carts|checkouts_total|spend_total)'" "$R"
metrics=$(http_get "$METRICS_ADDR" /metrics) || stack_die "the manager did not serve http://$METRICS_ADDR/metrics" manager
grep -E '^partnercart_(carts|checkouts_total|spend_total)[{ ]' <<<"$metrics" | indent
grep -q '^partnercart_checkouts_total{account="example-partner",result="succeeded"} 2$' <<<"$metrics" ||
  stack_die "partnercart_checkouts_total does not count the two checkouts" manager
# A Prometheus configuration for this manager, with the alert rules (the PrometheusRule's spec).
sed -n '/^spec:/,$p' config/prometheus/alerts.yaml | sed '1d;s/^  //' >tmp/demo/partnercart.rules.yaml
cat >tmp/demo/prometheus.yml <<PROM
# Written by make demo: scrape the demo's manager and evaluate the operator's alert rules.
global: {scrape_interval: 5s, evaluation_interval: 5s}
rule_files: [partnercart.rules.yaml]
scrape_configs:
- job_name: partnercart-operator
  static_configs:
  - targets: ['$METRICS_ADDR']
    labels: {namespace: partnercart-system}
PROM
say
say "tmp/demo/prometheus.yml scrapes it and loads the alert rules (tmp/demo/partnercart.rules.yaml,"
say "the spec of config/prometheus/alerts.yaml); with a Prometheus binary, see below."

phase "Done: all three carts reached their final state. Explore further:"
cat <<MSG
    export KUBECONFIG=$PWD/tmp/demo/kubeconfig
    bin/k8s/kubectl get pcart
    bin/k8s/kubectl describe pcart $WAITING
    bin/k8s/kubectl get pcart $BROKEN -o jsonpath='{.status.lineItemErrors}'
    bin/k8s/kubectl get events --sort-by=.metadata.creationTimestamp
    bin/k8s/kubectl -n $CREDS_NS get configmaps -l partnercenter.partnercart.dev/receipt=true -o yaml
    bin/k8s/kubectl get pcacct $ACCOUNT -o yaml
    # the simple mode: a cart with a Secret of its own namespace instead of an account
    bin/k8s/kubectl apply -f config/samples/credentials-secret.yaml -f config/samples/azure-reservation.yaml
    export PATH=$PWD/bin:\$PATH                     # for the plugin: kubectl partnercart
    bin/k8s/kubectl partnercart get
    curl -s http://$METRICS_ADDR/metrics | grep ^partnercart_
    prometheus --config.file=tmp/demo/prometheus.yml   # then http://localhost:9090/alerts
    # Grafana: add that Prometheus as a data source, import config/grafana/partnercart-dashboard.json
    curl -s $PCSIM_URL/_pcsim/stats
    curl -s $PCSIM_URL/_pcsim/orders
    tail -f tmp/demo/manager.log

MSG

if [[ ${DEMO_EXIT:-} == 1 ]]; then
  say "DEMO_EXIT=1: stopping now."
  exit 0
fi
say "${B}Everything keeps running. Press Ctrl-C to stop it.${R}"
while :; do
  for n in "${STACK_NAMES[@]}"; do
    stack_alive "$n" || stack_die "$n exited" "$n"
  done
  sleep 1
done
