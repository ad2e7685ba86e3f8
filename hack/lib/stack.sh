# shellcheck shell=bash
# The local stack shared by hack/demo.sh and hack/e2e.sh: the control plane (bin/localcp:
# etcd and kube-apiserver from bin/k8s, with the CRD and the admission policy), the Partner
# Center simulator (bin/pcsim) and the operator (bin/manager), each a process of its own with
# its log in $STACK_DIR. Source it from the repository root, call stack_init, then the
# stack_start_* functions; stack_stop stops every process started here, newest first.

# Demo credentials: pcsim accepts exactly these, and config/samples/credentials-secret.yaml
# holds the same values.
STACK_TENANT_ID=4a5f7e1c-2b3d-4c8e-9f10-1a2b3c4d5e6f
STACK_CLIENT_ID=9b2c6d1e-3f4a-4b5c-8d6e-7f8091a2b3c4
STACK_CLIENT_SECRET=demo-only-secret-for-pcsim

# Where PartnerCenterAccount Secrets live (the manager's --credentials-namespace, as in the
# kustomize install), and the manager's ServiceAccount, whose token a workloadIdentity
# account presents: config/samples/partnercenteraccount*.yaml name them.
STACK_CREDENTIALS_NAMESPACE=partnercart-system
STACK_MANAGER_SERVICE_ACCOUNT=partnercart-controller-manager
STACK_FEDERATED_AUDIENCE=api://AzureADTokenExchange

STACK_PIDS=()   # pids of the processes started, oldest first
STACK_NAMES=()  # their names, for messages and log files

# stack_init DIR: fresh state and log directory; checks the binaries.
stack_init() {
  STACK_DIR=$1
  KUBECTL=${KUBECTL:-$PWD/bin/k8s/kubectl}
  local b
  for b in bin/localcp bin/pcsim bin/manager "$KUBECTL"; do
    if [[ ! -x $b ]]; then
      echo "error: $b is missing; run 'make build control-plane' and 'go build -o bin/localcp ./hack/localcp' (make demo and make test-e2e do it)" >&2
      return 1
    fi
  done
  rm -rf "$STACK_DIR"
  mkdir -p "$STACK_DIR"
  export KUBECONFIG=$STACK_DIR/kubeconfig
  # The simulator's client secret, for pcsim and the account Secrets: a file, never a
  # command line.
  (umask 077 && printf '%s' "$STACK_CLIENT_SECRET" >"$STACK_DIR/client-secret")
}

# kubectl runs bin/k8s/kubectl against the local control plane.
kubectl() { "$KUBECTL" "$@"; }

# stack_spawn NAME CMD...: start CMD in the background, logging to $STACK_DIR/NAME.log.
stack_spawn() {
  local name=$1
  shift
  "$@" >"$STACK_DIR/$name.log" 2>&1 </dev/null &
  STACK_PIDS+=("$!")
  STACK_NAMES+=("$name")
}

stack_pid() {
  local i
  for i in "${!STACK_NAMES[@]}"; do
    [[ ${STACK_NAMES[$i]} == "$1" ]] && { echo "${STACK_PIDS[$i]}"; return 0; }
  done
  return 1
}

# stack_alive NAME: the process is still running.
stack_alive() {
  local pid
  pid=$(stack_pid "$1") && kill -0 "$pid" 2>/dev/null
}

# stack_tail NAME [LINES]: the end of a process's log, indented.
stack_tail() {
  local f=$STACK_DIR/$1.log
  [[ -f $f ]] || return 0
  echo "---- last ${2:-25} lines of $f ----" >&2
  tail -n "${2:-25}" "$f" | sed 's/^/    /' >&2
}

# stack_die MESSAGE [LOG...]: print MESSAGE and the tail of the named logs (all by default), fail.
stack_die() {
  local msg=$1
  shift
  echo >&2
  echo "FAILED: $msg" >&2
  local logs=("$@")
  ((${#logs[@]})) || logs=("${STACK_NAMES[@]}")
  local n
  for n in "${logs[@]}"; do stack_tail "$n"; done
  exit 1
}

# stack_wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.2s until it succeeds.
stack_wait_for() {
  local secs=$1 what=$2
  shift 2
  local deadline=$((SECONDS + secs)) n
  until "$@" >/dev/null 2>&1; do
    for n in "${STACK_NAMES[@]}"; do
      stack_alive "$n" || stack_die "$n exited while waiting for $what" "$n"
    done
    ((SECONDS < deadline)) || stack_die "timed out after ${secs}s waiting for $what"
    sleep 0.2
  done
}

# stack_free_port: a TCP port on 127.0.0.1 that nothing listens on.
stack_free_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "error: no free port found" >&2
  return 1
}

# http_get HOST:PORT PATH: the body of a plain-HTTP GET (bash only, no curl needed).
http_get() {
  local host=${1%:*} port=${1##*:} path=$2
  { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$1" >&3
  local status body
  IFS= read -r status <&3 || { exec 3<&-; return 1; }
  body=$(cat <&3)
  exec 3<&-
  [[ $status == *" 200 "* ]] || return 1
  # Drop the headers: everything up to the first empty line.
  printf '%s\n' "${body#*$'\r\n\r\n'}"
}

# stack_start_control_plane: bin/localcp; waits until it prints ready.
stack_start_control_plane() {
  stack_spawn localcp bin/localcp --kubeconfig "$KUBECONFIG"
  stack_wait_for 120 "the control plane to be ready" grep -qx ready "$STACK_DIR/localcp.log"
}

# stack_sign_in_material: after the control plane, before pcsim and the manager, the key
# material of the three ways a PartnerCenterAccount signs in (needs bin/e2ekit):
#   - the credentials namespace with the manager's ServiceAccount;
#   - Secret partner-center-app-client-secret (clientSecret, the simulator's one);
#   - Secret partner-center-app-certificate (kubernetes.io/tls): a self-signed RSA certificate
#     generated now; its private key exists only in the Secret (the file is removed), and
#     pcsim trusts the certificate;
#   - a real service-account token of the manager's ServiceAccount, minted by the API server
#     (kubectl create token, audience api://AzureADTokenExchange), written where a projected
#     volume would put it; pcsim trusts the API server's issuer and JWKS, read from its OIDC
#     discovery endpoints as Entra ID reads a cluster's.
# Sets STACK_PCSIM_SIGN_IN_FLAGS and STACK_MANAGER_SIGN_IN_FLAGS (arrays) for the
# stack_start_* calls.
stack_sign_in_material() {
  local dir=$STACK_DIR/sign-in ns=$STACK_CREDENTIALS_NAMESPACE sa=$STACK_MANAGER_SERVICE_ACCOUNT out
  mkdir -p "$dir/certificate" "$dir/workload-identity"
  chmod 700 "$dir"
  _stack_quiet kubectl create namespace "$ns" || return 1
  _stack_quiet kubectl -n "$ns" create serviceaccount "$sa" || return 1
  _stack_quiet kubectl -n "$ns" create secret generic partner-center-app-client-secret \
    --from-literal=tenantId="$STACK_TENANT_ID" --from-literal=clientId="$STACK_CLIENT_ID" \
    --from-file=clientSecret="$STACK_DIR/client-secret" || return 1
  _stack_quiet bin/e2ekit certificate --out "$dir/certificate" || return 1
  _stack_quiet kubectl -n "$ns" create secret tls partner-center-app-certificate \
    --cert "$dir/certificate/tls.crt" --key "$dir/certificate/tls.key" || return 1
  rm -f "$dir/certificate/tls.key"
  # The issuer and its keys, as a relying party discovers them.
  out=$(kubectl get --raw /.well-known/openid-configuration) || return 1
  STACK_SA_ISSUER=$(sed -n 's/.*"issuer":"\([^"]*\)".*/\1/p' <<<"$out")
  [[ -n $STACK_SA_ISSUER ]] || { echo "error: no issuer in the API server's openid-configuration: $out" >&2; return 1; }
  kubectl get --raw /openid/v1/jwks >"$dir/jwks.json" || return 1
  stack_mint_workload_identity_token || return 1
  STACK_PCSIM_SIGN_IN_FLAGS=(--client-certificate "$dir/certificate/tls.crt"
    --federated-issuer "$STACK_SA_ISSUER" --federated-jwks "$dir/jwks.json"
    --federated-subject "system:serviceaccount:$ns:$sa" --federated-audience "$STACK_FEDERATED_AUDIENCE")
  STACK_MANAGER_SIGN_IN_FLAGS=(--credentials-namespace "$ns"
    --workload-identity-token-path "$STACK_WORKLOAD_IDENTITY_TOKEN")
}

# stack_mint_workload_identity_token: a fresh token of the manager's ServiceAccount in
# $STACK_WORKLOAD_IDENTITY_TOKEN, replaced atomically as the kubelet does. The token is never
# printed.
stack_mint_workload_identity_token() {
  STACK_WORKLOAD_IDENTITY_TOKEN=$STACK_DIR/sign-in/workload-identity/token
  local tmp=$STACK_WORKLOAD_IDENTITY_TOKEN.tmp
  (umask 077 && kubectl -n "$STACK_CREDENTIALS_NAMESPACE" create token "$STACK_MANAGER_SERVICE_ACCOUNT" \
    --audience "$STACK_FEDERATED_AUDIENCE" --duration 1h >"$tmp") || return 1
  mv -f "$tmp" "$STACK_WORKLOAD_IDENTITY_TOKEN"
}

# _stack_quiet CMD...: run CMD; its output is shown only when it fails.
_stack_quiet() {
  local out
  out=$("$@" 2>&1) && return 0
  echo "error: $* failed:" >&2
  printf '%s\n' "$out" | sed 's/^/    /' >&2
  return 1
}

# stack_start_pcsim [FLAGS...]: bin/pcsim on a free port; sets PCSIM_ADDR (host:port) and PCSIM_URL.
stack_start_pcsim() {
  stack_spawn pcsim bin/pcsim --listen 127.0.0.1:0 \
    --client-id "$STACK_CLIENT_ID" --client-secret-file "$STACK_DIR/client-secret" "$@"
  stack_wait_for 30 "pcsim to listen" grep -q 'pcsim listening' "$STACK_DIR/pcsim.log"
  PCSIM_URL=$(sed -n 's/.*pcsim listening.* url=\([^ ]*\).*/\1/p' "$STACK_DIR/pcsim.log" | head -n1)
  PCSIM_ADDR=${PCSIM_URL#http://}
  [[ -n $PCSIM_ADDR ]] || stack_die "could not read pcsim's address from its log" pcsim
  stack_wait_for 30 "pcsim to answer /_pcsim/healthz" http_get "$PCSIM_ADDR" /_pcsim/healthz
}

# stack_start_manager [FLAGS...]: bin/manager against pcsim; waits for /readyz.
stack_start_manager() {
  local probe
  probe=$(stack_free_port)
  MANAGER_PROBE_ADDR=127.0.0.1:$probe
  stack_spawn manager bin/manager \
    --kubeconfig "$KUBECONFIG" \
    --partner-center-endpoint "$PCSIM_URL" --authority-host "$PCSIM_URL" \
    --metrics-bind-address 0 --health-probe-bind-address "$MANAGER_PROBE_ADDR" \
    --order-poll-interval 1s --max-order-poll-interval 2s --admission-check-interval 2s "$@"
  stack_wait_for 60 "the manager to be ready" http_get "$MANAGER_PROBE_ADDR" /readyz
}

# stack_stop: SIGTERM every process started, newest first, and wait for each to exit
# (SIGKILL after 30s). Safe to call more than once.
stack_stop() {
  local i pid name
  for ((i = ${#STACK_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${STACK_PIDS[$i]} name=${STACK_NAMES[$i]}
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      local deadline=$((SECONDS + 30))
      while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then
        echo "warning: $name (pid $pid) did not stop in 30s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
    wait "$pid" 2>/dev/null || true
  done
  STACK_PIDS=()
  STACK_NAMES=()
}
