#!/usr/bin/env bash
# Prints the path of a headless Chromium for the browser tests (ui/),
# installing Debian's chromium package when none is found. $CHROMIUM, when
# set, names the browser to use. The install output goes to stderr, so
# stdout is the path alone.
set -euo pipefail

find_chromium() {
  local c p
  for c in "${CHROMIUM:-}" chromium chromium-browser google-chrome-stable google-chrome headless-shell; do
    [ -n "$c" ] || continue
    if p="$(command -v "$c" 2>/dev/null)"; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

find_chromium && exit 0

sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "chromium not found, and not root to install it: apt-get install chromium" >&2; exit 1; }
  sudo="sudo"
fi
echo "chromium not found: installing Debian's chromium package (once)" >&2
# Two test processes may get here at once: one installs, the other waits.
exec 9>"${TMPDIR:-/tmp}/configsync-chromium-install.lock"
flock 9
if ! find_chromium >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  # The package lists on the machine may do; refresh them only when not.
  { $sudo apt-get install -y -qq chromium || { $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium; }; } >&2
fi
find_chromium
