#!/usr/bin/env bash
# make test-e2e: the end-to-end suite. The built binaries run as separate processes (the
# control plane from bin/localcp, bin/pcsim, bin/manager; logs in tmp/e2e/), and everything
# is driven and checked with kubectl only, as a user would: apply, wait, patch, get -o
# jsonpath, delete. Every assertion prints PASS or FAIL; any FAIL exits non-zero with the
# tail of the logs. Needs the binaries: 'make test-e2e' builds them first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=hack/lib/stack.sh
source hack/lib/stack.sh

NS=e2e
WAIT=${E2E_TIMEOUT:-60s}
start=$SECONDS
failures=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stack_stop
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n==> %s (%ss)\n' "$*" "$((SECONDS - start))"; }
pass() { printf 'PASS: %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*"
  failures=$((failures + 1))
}
# fatal DESCRIPTION: a step later steps depend on failed; stop here.
fatal() {
  fail "$*"
  stack_die "$failures failure(s); the suite cannot go on after: $*" manager pcsim localcp
}

# jp NAME JSONPATH: a field of a PartnerCart.
jp() { kubectl get pcart "$1" -o jsonpath="$2" 2>&1; }
# expect_eq DESCRIPTION ACTUAL EXPECTED
expect_eq() {
  if [[ $2 == "$3" ]]; then pass "$1 = '$3'"; else fail "$1: got '$2', want '$3'"; fi
}
# expect_match DESCRIPTION ACTUAL EXTENDED-REGEX
expect_match() {
  if [[ $2 =~ $3 ]]; then pass "$1 ~ /$3/"; else fail "$1: got '$2', want a match of /$3/"; fi
}
# must DESCRIPTION CMD...: CMD succeeds, or the suite stops.
must() {
  local desc=$1 out
  shift
  if out=$("$@" 2>&1); then pass "$desc"; else
    printf '%s\n' "$out" | sed 's/^/    /'
    fatal "$desc"
  fi
}
# refused DESCRIPTION PATTERN CMD...: CMD fails, and its message matches PATTERN (grep -E).
refused() {
  local desc=$1 pattern=$2 out
  shift 2
  if out=$("$@" 2>&1); then
    fail "$desc: the command succeeded: $out"
  elif grep -qE -- "$pattern" <<<"$out"; then
    pass "$desc"
    printf '%s\n' "$out" | sed 's/^/    /'
  else
    fail "$desc: refused, but the message does not match /$pattern/: $out"
  fi
}
# pcsim_get PATH: an admin endpoint of pcsim.
pcsim_get() { http_get "$PCSIM_ADDR" "$1" || fatal "pcsim answered GET $1"; }
wait_ready() { must "kubectl wait --for=condition=Ready pcart/$1" kubectl wait --for=condition=Ready --timeout="$WAIT" "pcart/$1"; }
wait_phase() {
  must "kubectl wait for pcart/$1 phase $2" kubectl wait --for=jsonpath='{.status.phase}'="$2" --timeout="$WAIT" "pcart/$1"
}

stack_init tmp/e2e

step "Start the control plane, pcsim and the manager"
stack_start_control_plane
pass "control plane ready (kubeconfig tmp/e2e/kubeconfig)"
stack_sign_in_material || fatal "the sign-in material of the accounts (Secrets, certificate, service-account token)"
pass "sign-in material: client secret and certificate Secrets in $STACK_CREDENTIALS_NAMESPACE, a token of $STACK_MANAGER_SERVICE_ACCOUNT from issuer $STACK_SA_ISSUER"
stack_start_pcsim --order-complete-after 2s "${STACK_PCSIM_SIGN_IN_FLAGS[@]}"
pass "pcsim serving at $PCSIM_URL, taking the client secret, the certificate and the issuer's tokens"
stack_start_manager "${STACK_MANAGER_SIGN_IN_FLAGS[@]}"
pass "manager ready at $MANAGER_PROBE_ADDR (--credentials-namespace $STACK_CREDENTIALS_NAMESPACE)"

step "Apply the samples"
must "kubectl create namespace $NS" kubectl create namespace "$NS"
kubectl config set-context --current --namespace "$NS" >/dev/null
must "kubectl apply -f config/samples/partnercenteraccount.yaml (the platform team's account)" \
  kubectl apply -f config/samples/partnercenteraccount.yaml
must "kubectl label namespace $NS (the account allows it)" \
  kubectl label namespace "$NS" partnercenter.partnercart.dev/account=example-partner
must "kubectl apply -f config/samples/credentials-secret.yaml (the simple mode's namespace Secret)" \
  kubectl apply -f config/samples/credentials-secret.yaml
must "kubectl apply -k config/samples (the demo trio)" kubectl apply -k config/samples
for f in config/samples/indirect-reseller.yaml config/samples/azure-reservation.yaml; do
  must "kubectl apply -f $f" kubectl apply -f "$f"
done
expect_eq "number of PartnerCarts" "$(kubectl get pcart -o name | wc -l | tr -d ' ')" 5

step "An approved cart is bought once and becomes Ready"
E5=contoso-m365-e5
wait_ready "$E5"
expect_eq "$E5 phase" "$(jp $E5 '{.status.phase}')" Completed
expect_eq "$E5 orders" "$(jp $E5 '{.status.orders[*].id}' | wc -w | tr -d ' ')" 1
expect_eq "$E5 orderCount" "$(jp $E5 '{.status.orderCount}')" 1
expect_eq "$E5 order status" "$(jp $E5 '{.status.orders[0].status}')" completed
expect_match "$E5 subscriptionId" "$(jp $E5 '{.status.orders[0].lineItems[0].subscriptionId}')" '^[0-9a-f-]{36}$'
expect_match "$E5 total" "$(jp $E5 '{.status.total}')" '^17100\.00 USD$'
expect_match "$E5 checkout.requestId" "$(jp $E5 '{.status.checkout.requestId}')" '^[0-9a-f-]{36}$'
E5_CART=$(jp $E5 '{.status.cart.id}')
expect_eq "$E5 checkout.cartId = cart.id" "$(jp $E5 '{.status.checkout.cartId}')" "$E5_CART"
expect_eq "$E5 observedGeneration" "$(jp $E5 '{.status.observedGeneration}')" "$(jp $E5 '{.metadata.generation}')"
expect_eq "$E5 Stalled condition" "$(jp $E5 '{.status.conditions[?(@.type=="Stalled")].status}')" ""
# Receipts live in the manager's namespace (--receipt-namespace defaults to its
# --credentials-namespace), out of the tenant's reach; none in the cart's namespace.
RECEIPT_NS=$STACK_CREDENTIALS_NAMESPACE
E5_RECEIPT=$(jp $E5 '{.status.receiptName}')
expect_match "$E5 receiptName" "$E5_RECEIPT" "^$NS\.$E5-receipt-"
expect_eq "receipt $E5_RECEIPT cartId" \
  "$(kubectl -n "$RECEIPT_NS" get configmap "$E5_RECEIPT" -o jsonpath='{.data.cartId}' 2>&1)" "$E5_CART"
expect_eq "receipt $E5_RECEIPT immutable" "$(kubectl -n "$RECEIPT_NS" get configmap "$E5_RECEIPT" -o jsonpath='{.immutable}' 2>&1)" true
expect_match "receipts listed by label" \
  "$(kubectl -n "$RECEIPT_NS" get configmaps -l partnercenter.partnercart.dev/receipt=true,partnercenter.partnercart.dev/cart-namespace=$NS -o name 2>&1)" "configmap/$E5_RECEIPT"
expect_eq "no receipt in the tenant namespace $NS" "$(kubectl get configmaps -l partnercenter.partnercart.dev/receipt=true -o name 2>/dev/null)" ""
# Events are written asynchronously: give the last one a few seconds to arrive.
for _ in $(seq 50); do
  e5_events=$(kubectl get events --field-selector involvedObject.name=$E5 -o jsonpath='{.items[*].reason}' 2>&1)
  [[ $e5_events == *OrdersCreated* ]] && break
  sleep 0.2
done
# One Event for the purchase (the orders pending for 2s then); the completion is Ready=True,
# not an Event; nothing else.
expect_eq "$E5 Events (one for the purchase)" "$e5_events" "OrdersCreated"

step "An unapproved cart waits, and nothing is bought"
BB=fabrikam-business-basic
wait_phase "$BB" AwaitingApproval
BB_CART=$(jp $BB '{.status.cart.id}')
expect_match "$BB cart.id" "$BB_CART" '^[0-9a-f-]{36}$'
expect_eq "$BB quoted total" "$(jp $BB '{.status.total}')" "2040.00 USD"
expect_eq "$BB Approved reason" "$(jp $BB '{.status.conditions[?(@.type=="Approved")].reason}')" WaitingForApproval
expect_eq "$BB Ready" "$(jp $BB '{.status.conditions[?(@.type=="Ready")].status}')" False
expect_eq "$BB checkout" "$(jp $BB '{.status.checkout}')" ""
sleep 2
expect_eq "$BB phase after 2s more" "$(jp $BB '{.status.phase}')" AwaitingApproval
if grep -q "$BB_CART" <<<"$(pcsim_get /_pcsim/stats)$(pcsim_get /_pcsim/orders)"; then
  fail "pcsim shows a checkout or an order for the unapproved cart $BB_CART"
else
  pass "pcsim shows no checkout and no order for cart $BB_CART"
fi

step "Approving with kubectl patch checks it out"
must "kubectl patch pcart $BB (approve)" kubectl patch pcart "$BB" --type merge -p '{"spec":{"approval":{"approved":true}}}'
wait_ready "$BB"
expect_eq "$BB phase" "$(jp $BB '{.status.phase}')" Completed
expect_eq "$BB checkout.cartId" "$(jp $BB '{.status.checkout.cartId}')" "$BB_CART"
expect_eq "$BB order lines (base + add-on)" "$(jp $BB '{.status.orders[0].lineItems[*].lineItemNumber}' | wc -w | tr -d ' ')" 2
expect_eq "$BB add-on parentSubscriptionId = base subscriptionId" \
  "$(jp $BB '{.status.orders[0].lineItems[1].parentSubscriptionId}')" "$(jp $BB '{.status.orders[0].lineItems[0].subscriptionId}')"

step "A line-item error stalls the cart"
W365=northwind-windows365
must "kubectl wait --for=condition=Stalled pcart/$W365" kubectl wait --for=condition=Stalled --timeout="$WAIT" "pcart/$W365"
expect_eq "$W365 phase" "$(jp $W365 '{.status.phase}')" Failed
expect_eq "$W365 Stalled reason" "$(jp $W365 '{.status.conditions[?(@.type=="Stalled")].reason}')" LineItemErrors
expect_eq "$W365 Ready" "$(jp $W365 '{.status.conditions[?(@.type=="Ready")].status}')" False
expect_eq "$W365 lineItemErrors[0]" "$(jp $W365 '{.status.lineItemErrors[0].lineItemId}:{.status.lineItemErrors[0].errorCode}')" 0:10012
expect_eq "$W365 checkout" "$(jp $W365 '{.status.checkout}')" ""

step "Fixing the line resumes it"
must "kubectl patch pcart $W365 (attestationAccepted: true)" \
  kubectl patch pcart "$W365" --type json -p '[{"op":"add","path":"/spec/lineItems/0/attestationAccepted","value":true}]'
wait_ready "$W365"
expect_eq "$W365 lineItemErrors after the fix" "$(jp $W365 '{.status.lineItemErrors}')" ""
expect_eq "$W365 Stalled after the fix" "$(jp $W365 '{.status.conditions[?(@.type=="Stalled")].status}')" ""

step "The other samples: an indirect-reseller cart and an Azure reservation"
for c in tailspin-via-reseller contoso-reserved-vms; do
  wait_phase "$c" AwaitingApproval
  expect_eq "$c lineItemErrors" "$(jp $c '{.status.lineItemErrors}')" ""
  must "kubectl patch pcart $c (approve)" kubectl patch pcart "$c" --type merge -p '{"spec":{"approval":{"approved":true}}}'
done
for c in tailspin-via-reseller contoso-reserved-vms; do wait_ready "$c"; done
expect_eq "contoso-reserved-vms order" \
  "$(jp contoso-reserved-vms '{.status.orders[0].billingCycle} {.status.orders[0].totalPrice}')" "one_time 5045.76"

step "Admission refuses what must not happen"
refused "the admission policy refuses editing spec.lineItems after checkout" \
  'spec\.lineItems is immutable after checkout' \
  kubectl patch pcart "$E5" --type json -p '[{"op":"replace","path":"/spec/lineItems/0/quantity","value":30}]'
expect_eq "$E5 quantity unchanged" "$(jp $E5 '{.spec.lineItems[0].quantity}')" 25
must "a label can still be added after checkout" kubectl label pcart "$E5" team=finance
refused "the CRD refuses a customerId that is not a GUID, naming the field" \
  'spec\.customerId' \
  kubectl apply -f - <<'YAML'
apiVersion: partnercenter.partnercart.dev/v1alpha1
kind: PartnerCart
metadata:
  name: bad-customer
spec:
  customerId: contoso
  credentialsSecretRef: {name: partner-center}
  lineItems:
  - {id: 0, catalogItemId: "CFQ7TTC0LF8S:0001:CFQ7TTC0N81H", quantity: 1, billingCycle: monthly, termDuration: P1M}
YAML
refused "the CRD refuses quantity 0, naming the field" \
  'spec\.lineItems\[0\]\.quantity' \
  kubectl apply -f - <<'YAML'
apiVersion: partnercenter.partnercart.dev/v1alpha1
kind: PartnerCart
metadata:
  name: bad-quantity
spec:
  customerId: 3f2504e0-4f89-41d3-9a0c-0305e82c3301
  credentialsSecretRef: {name: partner-center}
  lineItems:
  - {id: 0, catalogItemId: "CFQ7TTC0LF8S:0001:CFQ7TTC0N81H", quantity: 0, billingCycle: monthly, termDuration: P1M}
YAML

step "Deleting a bought cart keeps its receipt"
must "kubectl delete pcart $E5" kubectl delete pcart "$E5" --timeout="$WAIT"
if out=$(kubectl get pcart "$E5" 2>&1); then fail "$E5 still exists: $out"; else pass "$E5 is gone"; fi
expect_eq "receipt $E5_RECEIPT after the delete" \
  "$(kubectl -n "$RECEIPT_NS" get configmap "$E5_RECEIPT" -o jsonpath='{.data.cartId}' 2>&1)" "$E5_CART"

step "Re-applying the deleted cart from Git (an Argo CD prune and re-sync) does not buy again"
must "kubectl apply -f config/samples/m365-e5-seats.yaml" kubectl apply -f config/samples/m365-e5-seats.yaml
must "kubectl wait --for=condition=Stalled pcart/$E5" kubectl wait --for=condition=Stalled --timeout="$WAIT" "pcart/$E5"
expect_eq "$E5 Stalled reason" "$(jp $E5 '{.status.conditions[?(@.type=="Stalled")].reason}')" PreviouslyPurchased
expect_match "$E5 Stalled message names the receipt" "$(jp $E5 '{.status.conditions[?(@.type=="Stalled")].message}')" "$E5_RECEIPT"
expect_eq "$E5 checkout" "$(jp $E5 '{.status.checkout}')" ""
must "kubectl delete pcart $E5 (never bought: it goes at once)" kubectl delete pcart "$E5" --timeout="$WAIT"

step "The samples' accounts: example-partner bought, the certificate and workload-identity ones are valid"
must "kubectl wait --for=condition=Ready pcacct/example-partner" \
  kubectl wait --for=condition=Ready --timeout="$WAIT" pcacct/example-partner
expect_eq "contoso-reserved-vms (credentialsSecretRef) checkout.account" "$(jp contoso-reserved-vms '{.status.checkout.account}')" ""
expect_eq "$BB checkout.account" "$(jp $BB '{.status.checkout.account}')" example-partner
for f in config/samples/partnercenteraccount-certificate.yaml config/samples/partnercenteraccount-workload-identity.yaml; do
  must "kubectl apply --dry-run=server -f $f" kubectl apply --dry-run=server -f "$f"
done

step "Accounts: one cart bought through each sign-in method, from a namespace the accounts allow"
# The platform team's side: three accounts of the same app registration, each signing in its
# own way, allowing tenant-a by name or by label. The Secrets are in the credentials
# namespace (stack_sign_in_material); the workload-identity account has no Secret at all.
for ns in tenant-a tenant-b; do must "kubectl create namespace $ns" kubectl create namespace "$ns"; done
must "kubectl label namespace tenant-a" kubectl label namespace tenant-a partnercenter.partnercart.dev/tenant=a
must "kubectl apply three PartnerCenterAccounts" kubectl apply -f - <<YAML
apiVersion: partnercenter.partnercart.dev/v1alpha1
kind: PartnerCenterAccount
metadata: {name: partner-client-secret}
spec:
  tenantId: $STACK_TENANT_ID
  clientId: $STACK_CLIENT_ID
  auth: {clientSecret: {secretRef: {name: partner-center-app-client-secret}}}
  namespaces: {names: [tenant-a]}
---
apiVersion: partnercenter.partnercart.dev/v1alpha1
kind: PartnerCenterAccount
metadata: {name: partner-certificate}
spec:
  tenantId: $STACK_TENANT_ID
  clientId: $STACK_CLIENT_ID
  auth: {certificate: {secretRef: {name: partner-center-app-certificate}}}
  namespaces: {selector: {matchLabels: {partnercenter.partnercart.dev/tenant: a}}}
---
apiVersion: partnercenter.partnercart.dev/v1alpha1
kind: PartnerCenterAccount
metadata: {name: partner-workload-identity}
spec:
  tenantId: $STACK_TENANT_ID
  clientId: $STACK_CLIENT_ID
  auth: {workloadIdentity: {audience: $STACK_FEDERATED_AUDIENCE}}
  namespaces: {names: [tenant-a]}
  maxTotalPricePerCart: "20000"
YAML
declare -A AUTH_OF=([partner-client-secret]=ClientSecret [partner-certificate]=Certificate [partner-workload-identity]=WorkloadIdentity)
ACCOUNTS=(partner-client-secret partner-certificate partner-workload-identity)
for a in "${ACCOUNTS[@]}"; do
  must "kubectl wait --for=condition=Ready pcacct/$a (a token obtained)" kubectl wait --for=condition=Ready --timeout="$WAIT" "pcacct/$a"
  expect_eq "pcacct/$a AUTH" "$(kubectl get pcacct "$a" -o jsonpath='{.status.authMethod}' 2>&1)" "${AUTH_OF[$a]}"
  expect_eq "pcacct/$a Ready reason" "$(kubectl get pcacct "$a" -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}' 2>&1)" TokenObtained
done
# The tenant's side: one cart per account, approved, in tenant-a.
seats=5
for a in "${ACCOUNTS[@]}"; do
  must "kubectl apply pcart tenant-a/e5-via-${a#partner-}" kubectl apply -f - <<YAML
apiVersion: partnercenter.partnercart.dev/v1alpha1
kind: PartnerCart
metadata: {name: e5-via-${a#partner-}, namespace: tenant-a}
spec:
  customerId: 3f2504e0-4f89-41d3-9a0c-0305e82c3301
  accountRef: {name: $a}
  lineItems:
  - {id: 0, catalogItemId: "CFQ7TTC0LF8S:0001:CFQ7TTC0N81H", quantity: $seats, billingCycle: monthly, termDuration: P1Y, friendlyName: "Contoso E5 via ${AUTH_OF[$a]}"}
  approval: {approved: true}
YAML
  seats=$((seats + 5))
done
for a in "${ACCOUNTS[@]}"; do
  c=e5-via-${a#partner-}
  must "kubectl wait --for=condition=Ready pcart/$c -n tenant-a" kubectl -n tenant-a wait --for=condition=Ready --timeout="$WAIT" "pcart/$c"
  expect_eq "$c phase" "$(kubectl -n tenant-a get pcart "$c" -o jsonpath='{.status.phase}' 2>&1)" Completed
  expect_eq "$c checkout.account" "$(kubectl -n tenant-a get pcart "$c" -o jsonpath='{.status.checkout.account}' 2>&1)" "$a"
  receipt=$(kubectl -n tenant-a get pcart "$c" -o jsonpath='{.status.receiptName}' 2>&1)
  expect_eq "$c receipt $receipt account" "$(kubectl -n "$RECEIPT_NS" get configmap "$receipt" -o jsonpath='{.data.account}' 2>&1)" "$a"
  must "pcacct/$a counts its cart (CARTS 1)" \
    kubectl wait --for=jsonpath='{.status.cartsUsing}'=1 --timeout="$WAIT" "pcacct/$a"
done
expect_match "orders of the three carts" \
  "$(for a in "${ACCOUNTS[@]}"; do kubectl -n tenant-a get pcart "e5-via-${a#partner-}" -o jsonpath='{.status.orders[0].status} {.status.total}{"\n"}'; done | tr '\n' ';')" \
  '^completed 3420\.00 USD;completed 6840\.00 USD;completed 10260\.00 USD;$'

step "A namespace the account does not allow: the cart stops, and nothing reaches Partner Center"
# Every earlier cart is final, so pcsim's Partner Center counters (token requests aside)
# move only if this cart makes a call.
pcsim_calls() { pcsim_get /_pcsim/stats | grep -o '"requests":{\("[A-Za-z]*":{[^}]*},\{0,1\}\)*}' | sed -E 's/"Token":\{[^}]*\},?//'; }
calls_before=$(pcsim_calls)
must "kubectl apply pcart tenant-b/e5-not-allowed (accountRef partner-certificate)" kubectl apply -f - <<'YAML'
apiVersion: partnercenter.partnercart.dev/v1alpha1
kind: PartnerCart
metadata: {name: e5-not-allowed, namespace: tenant-b}
spec:
  customerId: 3f2504e0-4f89-41d3-9a0c-0305e82c3301
  accountRef: {name: partner-certificate}
  lineItems:
  - {id: 0, catalogItemId: "CFQ7TTC0LF8S:0001:CFQ7TTC0N81H", quantity: 5, billingCycle: monthly, termDuration: P1Y}
  approval: {approved: true}
YAML
must "kubectl wait --for=condition=Stalled pcart/e5-not-allowed -n tenant-b" \
  kubectl -n tenant-b wait --for=condition=Stalled --timeout="$WAIT" pcart/e5-not-allowed
expect_eq "e5-not-allowed Stalled reason" \
  "$(kubectl -n tenant-b get pcart e5-not-allowed -o jsonpath='{.status.conditions[?(@.type=="Stalled")].reason}' 2>&1)" AccountNotAllowed
expect_match "e5-not-allowed Stalled message" \
  "$(kubectl -n tenant-b get pcart e5-not-allowed -o jsonpath='{.status.conditions[?(@.type=="Stalled")].message}' 2>&1)" \
  'partner-certificate does not allow namespace tenant-b'
expect_eq "e5-not-allowed cart and checkout" "$(kubectl -n tenant-b get pcart e5-not-allowed -o jsonpath='{.status.cart.id}{.status.checkout}' 2>&1)" ""
expect_eq "pcsim Partner Center calls after the disallowed cart (no new call)" "$(pcsim_calls)" "$calls_before"
must "kubectl delete pcart e5-not-allowed -n tenant-b" kubectl -n tenant-b delete pcart e5-not-allowed --timeout="$WAIT"
must "pcacct/partner-certificate counts one cart again" \
  kubectl wait --for=jsonpath='{.status.cartsUsing}'=1 --timeout="$WAIT" pcacct/partner-certificate

step "A workload-identity account naming another audience than the projected token's is refused"
must "kubectl apply pcacct/partner-wrong-audience" kubectl apply -f - <<YAML
apiVersion: partnercenter.partnercart.dev/v1alpha1
kind: PartnerCenterAccount
metadata: {name: partner-wrong-audience}
spec:
  tenantId: $STACK_TENANT_ID
  clientId: $STACK_CLIENT_ID
  auth: {workloadIdentity: {audience: "api://not-the-projected-one"}}
YAML
must "kubectl wait --for=condition=Stalled pcacct/partner-wrong-audience" \
  kubectl wait --for=condition=Stalled --timeout="$WAIT" pcacct/partner-wrong-audience
expect_eq "partner-wrong-audience Ready reason" \
  "$(kubectl get pcacct partner-wrong-audience -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}' 2>&1)" WorkloadIdentityUnavailable
expect_match "partner-wrong-audience Ready message" \
  "$(kubectl get pcacct partner-wrong-audience -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}' 2>&1)" \
  'is for audience "api://AzureADTokenExchange", not "api://not-the-projected-one"'
must "kubectl delete pcacct/partner-wrong-audience" kubectl delete pcacct partner-wrong-audience --timeout="$WAIT"

step "Without the approval admission policies nothing is bought, and the carts say why"
# As an admin who removed them would: the validating policy's binding goes.
must "kubectl delete validatingadmissionpolicybinding partnercart-approval" \
  kubectl delete validatingadmissionpolicybinding partnercart-approval
for _ in $(seq 100); do
  grep -q 'The approval admission policies are not in force' "$STACK_DIR/manager.log" && break
  sleep 0.2
done
if grep -q 'The approval admission policies are not in force' "$STACK_DIR/manager.log"; then
  pass "the manager logs that the policies are not in force"
else
  fail "the manager did not notice the missing binding"
fi
UNGUARDED=unguarded-e5
sed -e "s/name: contoso-m365-e5/name: $UNGUARDED/" -e 's/quantity: 25/quantity: 7/' config/samples/m365-e5-seats.yaml >"$STACK_DIR/$UNGUARDED.yaml"
must "kubectl apply an approved cart (anyone could have typed the approval now)" kubectl apply -f "$STACK_DIR/$UNGUARDED.yaml"
must "kubectl wait for $UNGUARDED: Approved reason AdmissionPoliciesNotInForce" \
  kubectl wait --for=jsonpath='{.status.conditions[?(@.type=="Approved")].reason}'=AdmissionPoliciesNotInForce --timeout="$WAIT" "pcart/$UNGUARDED"
expect_match "$UNGUARDED Approved message" "$(jp $UNGUARDED '{.status.conditions[?(@.type=="Approved")].message}')" \
  'partnercart-approval has no binding'
expect_eq "$UNGUARDED checkout" "$(jp $UNGUARDED '{.status.checkout}')" ""
cat >"$STACK_DIR/binding.yaml" <<'YAML'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: partnercart-approval
spec:
  policyName: partnercart-approval
  validationActions: [Deny]
YAML
must "kubectl create the binding again" kubectl create -f "$STACK_DIR/binding.yaml"
must "kubectl wait for $UNGUARDED: the approval seen meanwhile is not taken (ApprovalNotStamped)" \
  kubectl wait --for=jsonpath='{.status.conditions[?(@.type=="Approved")].reason}'=ApprovalNotStamped --timeout="$WAIT" "pcart/$UNGUARDED"
expect_eq "$UNGUARDED checkout" "$(jp $UNGUARDED '{.status.checkout}')" ""
must "kubectl patch pcart $UNGUARDED (withdraw)" kubectl patch pcart "$UNGUARDED" --type merge -p '{"spec":{"approval":{"approved":false}}}'
must "kubectl patch pcart $UNGUARDED (approve again, under the policies)" kubectl patch pcart "$UNGUARDED" --type merge -p '{"spec":{"approval":{"approved":true}}}'
wait_ready "$UNGUARDED"

step "pcsim: every cart checked out once, nothing bought twice"
stats=$(pcsim_get /_pcsim/stats)
expect_eq "duplicateCheckouts" "$(grep -o '"duplicateCheckouts":[0-9]*' <<<"$stats" | cut -d: -f2)" 0
expect_eq "ordersCreated" "$(grep -o '"ordersCreated":[0-9]*' <<<"$stats" | cut -d: -f2)" 9
per_cart=$(grep -o '"checkoutsExecuted":{[^}]*}' <<<"$stats" || true)
expect_eq "carts checked out" "$(grep -o '":[0-9]*' <<<"${per_cart#*:}" | wc -l | tr -d ' ')" 9
expect_eq "carts checked out more than once" "$(grep -o '":[0-9]*' <<<"${per_cart#*:}" | grep -vc '":1$' || true)" 0

step "No secret, token, private key or assertion in the logs or the cluster"
if out=$(bin/e2ekit leaks --kubeconfig "$KUBECONFIG" --secret-file "$STACK_DIR/client-secret" \
  --namespaces "$NS,tenant-a,tenant-b,$STACK_CREDENTIALS_NAMESPACE" "$STACK_DIR"/*.log 2>&1); then
  pass "$out"
else
  printf '%s\n' "$out" | sed 's/^/    /'
  fail "the leak scan found secrets"
fi

step "Summary"
printf '  $ kubectl get pcacct -o wide\n'
kubectl get pcacct -o wide | sed 's/^/    /'
printf '  $ kubectl get partnercarts -A -o wide\n'
kubectl get partnercarts -A -o wide | sed 's/^/    /'
if ((failures)); then
  stack_die "$failures assertion(s) failed" manager pcsim
fi
printf '\ne2e: all assertions passed in %ss\n' "$((SECONDS - start))"
