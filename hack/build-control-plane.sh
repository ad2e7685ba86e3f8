#!/usr/bin/env bash
# Builds the local control plane (kube-apiserver, kubectl, etcd) from their Go modules
# through the module proxy, into $BIN_DIR (default bin/k8s). No Docker, no release
# downloads. A binary is rebuilt only when its pinned version changes: each build
# writes a stamp file next to the binaries, and the stamp is checked first.
#
# k8s.io/kubernetes cannot be built with `go install pkg@version`: its go.mod points the
# k8s.io/* staging modules at ./staging/... So we build from a throwaway tools module
# that requires k8s.io/kubernetes and replaces every staging module named in its own
# go.mod with the published v0.<minor>.<patch> release.
set -euo pipefail

KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.37.0}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${BIN_DIR:-$ROOT/bin/k8s}"
WORK_DIR="${WORK_DIR:-$ROOT/bin/.build}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" GOFLAGS="-mod=mod" CGO_ENABLED=0

mkdir -p "$BIN_DIR" "$WORK_DIR"
log() { printf '==> %s\n' "$*" >&2; }

up_to_date() { # name version
  [[ -x "$BIN_DIR/$1" && -f "$BIN_DIR/.$1.version" && "$(cat "$BIN_DIR/.$1.version")" == "$2" ]]
}

build_kube() { # builds kube-apiserver and kubectl from one tools module (they share the build cache)
  local staging_version="v0.${KUBERNETES_VERSION#v1.}" mod dir="$WORK_DIR/kubernetes-$KUBERNETES_VERSION"
  local minor; minor="$(cut -d. -f2 <<<"$KUBERNETES_VERSION")"
  mkdir -p "$dir"
  mod="$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [[ -f "$mod" ]] || { echo "cannot download k8s.io/kubernetes@$KUBERNETES_VERSION" >&2; exit 1; }
  {
    echo "module partnercart.dev/tools/kubernetes"
    echo
    echo "go $(sed -n 's/^go \(.*\)/\1/p' "$mod")"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    # Every staging module k8s.io/kubernetes replaces with ./staging/... gets its published version.
    sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#replace \1 => \1 '"$staging_version"'#p' "$mod"
  } >"$dir/go.mod"
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  log "resolving k8s.io/kubernetes $KUBERNETES_VERSION ($(grep -c '^replace' "$dir/go.mod") staging modules)"
  (cd "$dir" && go mod tidy -e >/dev/null)
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  for cmd in kube-apiserver kubectl; do
    if up_to_date "$cmd" "$KUBERNETES_VERSION"; then continue; fi
    if [[ $cmd == kube-apiserver ]]; then
      log "building $cmd $KUBERNETES_VERSION (4 to 8 minutes on 2 cores the first time; cached in $BIN_DIR afterwards)"
    else
      log "building $cmd $KUBERNETES_VERSION"
    fi
    local start=$SECONDS
    (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$BIN_DIR/$cmd" "k8s.io/kubernetes/cmd/$cmd")
    echo "$KUBERNETES_VERSION" >"$BIN_DIR/.$cmd.version"
    log "built $cmd in $((SECONDS - start))s"
  done
}

build_etcd() {
  local dir="$WORK_DIR/etcd-$ETCD_VERSION" start=$SECONDS
  mkdir -p "$dir"
  printf 'module partnercart.dev/tools/etcd\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$dir/tools.go"
  log "building etcd $ETCD_VERSION"
  (cd "$dir" && go mod tidy -e >/dev/null && go build -trimpath -ldflags "-s -w" -o "$BIN_DIR/etcd" go.etcd.io/etcd/server/v3)
  echo "$ETCD_VERSION" >"$BIN_DIR/.etcd.version"
  log "built etcd in $((SECONDS - start))s"
}

up_to_date etcd "$ETCD_VERSION" || build_etcd
if ! up_to_date kube-apiserver "$KUBERNETES_VERSION" || ! up_to_date kubectl "$KUBERNETES_VERSION"; then
  build_kube
fi
log "control plane ready in $BIN_DIR (kube-apiserver/kubectl $KUBERNETES_VERSION, etcd $ETCD_VERSION)"
