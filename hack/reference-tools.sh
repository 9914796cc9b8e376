#!/usr/bin/env bash
# Builds the reference CLIs that the renderers must match (helm template,
# kustomize build, jsonnet, sops -d, plus age-keygen for fixtures) at the same
# versions as the libraries in go.mod, through the Go module proxy, into a
# cache folder outside the clone. Prints the folder; progress goes to stderr.
# Safe under concurrent runs (flock, atomic rename).
set -euo pipefail

tools=(
  "helm.sh/helm/v3/cmd/helm@v3.22.0"
  "sigs.k8s.io/kustomize/kustomize/v5@v5.8.2"
  "github.com/google/go-jsonnet/cmd/jsonnet@v0.22.0"
  "github.com/getsops/sops/v3/cmd/sops@v3.13.3"
  "filippo.io/age/cmd/age-keygen@v1.3.2"
  "filippo.io/age/cmd/age@v1.3.2"
)
# helm as its release binary is built: its Makefile sets the Kubernetes
# version Capabilities assume without a cluster (client-go's, v1.37) instead
# of the library's fallback (v1.20); the helm step uses the same default.
helm_ldflags="-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37"
key=$(printf '%s\n' "${tools[@]}" "$helm_ldflags" | sha256sum | cut -c1-12)
root="${CONFIGSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/configsync}/tools"
dest="$root/$key"
complete() { [ -x "$1/helm" ] && [ -x "$1/kustomize" ] && [ -x "$1/jsonnet" ] && [ -x "$1/sops" ] && [ -x "$1/age-keygen" ] && [ -x "$1/age" ]; }
if complete "$dest"; then echo "$dest"; exit 0; fi

mkdir -p "$root"
exec 9>"$root/.build.lock"
flock 9
if complete "$dest"; then echo "$dest"; exit 0; fi

work="$(mktemp -d "$root/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export GOTOOLCHAIN=local GOBIN="$work/bin" GOFLAGS=-mod=mod
for t in "${tools[@]}"; do
  start=$SECONDS
  echo "reference tools: go install $t" >&2
  ldflags="-s -w"
  case "$t" in helm.sh/*) ldflags="$ldflags $helm_ldflags" ;; esac
  go install -ldflags "$ldflags" "$t" >&2
  echo "reference tools: built ${t%@*} in $((SECONDS - start))s" >&2
done
mv "$work/bin" "$dest.tmp.$$"
mv -T "$dest.tmp.$$" "$dest"
echo "$dest"
