#!/usr/bin/env bash
# Builds kube-apiserver and etcd for envtest from source through the Go module
# proxy, because setup-envtest cannot download them on our machines. The binaries
# land in a cache folder outside the clone, keyed by version, so every clone on a
# machine shares one build. Prints the folder on stdout; progress goes to stderr.
#
# Safe under concurrent runs: one flock serialises builders, and binaries are
# moved into place only when complete.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.3}"
# k8s.io/kubernetes v1.X.Y publishes its staging modules as v0.X.Y.
STAGING_VERSION="v0.${K8S_VERSION#1.}"

has_binaries() { [ -x "$1/kube-apiserver" ] && [ -x "$1/etcd" ]; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  if has_binaries "$KUBEBUILDER_ASSETS"; then
    echo "$KUBEBUILDER_ASSETS"
    exit 0
  fi
  echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks kube-apiserver or etcd" >&2
  exit 1
fi

root="${CONFIGSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/configsync}/k8s"
dest="$root/v${K8S_VERSION}-etcd-v${ETCD_VERSION}"
if has_binaries "$dest"; then
  echo "$dest"
  exit 0
fi

mkdir -p "$root"
exec 9>"$root/.build.lock"
echo "control plane: waiting for the build lock $root/.build.lock" >&2
flock 9
if has_binaries "$dest"; then # another run built it while we waited
  echo "$dest"
  exit 0
fi

export GOTOOLCHAIN=local GOFLAGS=-mod=mod
work="$(mktemp -d "$root/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
out="$work/bin"
mkdir -p "$out"

# heartbeat prints elapsed time while a long step runs, so CI logs show life.
heartbeat() {
  local what="$1" start=$SECONDS
  while sleep 60; do echo "control plane: still building $what ($((SECONDS - start))s)" >&2; done
}

run_step() {
  local what="$1"; shift
  local start=$SECONDS
  echo "control plane: building $what (cold: kube-apiserver about 12 min, etcd about 2 min on 2 cores)" >&2
  heartbeat "$what" & local hb=$!
  if ! "$@" >"$work/$what.log" 2>&1; then
    kill "$hb" 2>/dev/null || true
    echo "control plane: building $what failed; log follows" >&2
    tail -n 60 "$work/$what.log" >&2
    exit 1
  fi
  kill "$hb" 2>/dev/null || true
  echo "control plane: built $what in $((SECONDS - start))s" >&2
}

build_apiserver() {
  local mod="$work/kapi"
  mkdir -p "$mod"
  {
    echo "module configsync.local/kapi"
    echo "go 1.26.0"
    echo "godebug default=go1.26"
    echo "require k8s.io/kubernetes v${K8S_VERSION}"
    # Kubernetes' own replace list (its staging modules), minus the samples.
    for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider \
      cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api \
      cri-client cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice externaljwt \
      kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics \
      mount-utils pod-security-admission sample-apiserver streaming; do
      echo "replace k8s.io/$m => k8s.io/$m $STAGING_VERSION"
    done
  } >"$mod/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' >"$mod/tools.go"
  (cd "$mod" && go mod tidy &&
    go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=${K8S_VERSION%%.*} -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)" \
      -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
}

build_etcd() {
  local mod="$work/etcd"
  mkdir -p "$mod"
  printf 'module configsync.local/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" >"$mod/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$mod/tools.go"
  (cd "$mod" && go mod tidy && go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3)
}

total=$SECONDS
run_step etcd build_etcd
run_step kube-apiserver build_apiserver
"$out/kube-apiserver" --version >&2
# Publish atomically: readers see either no folder or a complete one.
mv "$out" "$dest.tmp.$$"
mv -T "$dest.tmp.$$" "$dest"
echo "control plane: ready in $dest after $((SECONDS - total))s" >&2
echo "$dest"
