#!/usr/bin/env bash
# Runs the suites where races live (source and controllers, by default)
# STRESS_COUNT times under -race while stress-ng keeps every core busy, so
# that a race or a test waiting on time instead of on state, which shows
# only on a slow shared machine, shows here too. The test binaries are
# built before the burner starts: only the tests run under load.
set -euo pipefail
cd "$(dirname "$0")/.."

count="${STRESS_COUNT:-2}"
pkgs="${STRESS_PKGS:-./source/... ./controllers/...}"
export GOTOOLCHAIN=local

if ! command -v stress-ng >/dev/null 2>&1; then
  echo "test-stress: installing stress-ng from Debian's packages" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-stress: stress-ng is missing and this user cannot install it (apt-get install stress-ng)" >&2
    exit 1
  fi
  apt-get update -qq && apt-get install -y -qq stress-ng >/dev/null
fi

assets="$(hack/control-plane.sh)"
export KUBEBUILDER_ASSETS="$assets"

# Build (and cache) every test binary first: compiling under the burner
# would only make the run longer.
# shellcheck disable=SC2086
go test -race -count=1 -run '^$' $pkgs >/dev/null

workers="$(nproc)"
echo "test-stress: $workers CPU burners (stress-ng), $count runs of: $pkgs" >&2
stress-ng --cpu "$workers" --cpu-method matrixprod --quiet --timeout 0 &
burner=$!
trap 'kill "$burner" 2>/dev/null; wait "$burner" 2>/dev/null || true' EXIT

start=$SECONDS
# The reliability report (written by the controllers' TestMain) checks
# itself only for -count=1: with more it would see each case count times.
# shellcheck disable=SC2086
# -timeout is the whole package's budget: count runs of the controllers
# suite on a machine whose every core is burnt take longer than go test's
# default 10 minutes.
go test -race -count="$count" -timeout "$((count * 15))m" $pkgs
echo "test-stress: $count runs passed with every core busy in $((SECONDS - start))s"
