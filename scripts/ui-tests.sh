#!/usr/bin/env bash
# Browser tests of codever's HTML pages (`codever diff --html`, `codever ui`): installs Debian's
# Chromium (/usr/bin/chromium) and Node.js when missing, the pinned npm dependencies of
# ui-tests/ (playwright-core, from package-lock.json), builds codever, and runs ui-tests/ with
# node's test runner. Each browser starts with a fresh profile and no network use.
# Usage: scripts/ui-tests.sh [--screenshots]   (--screenshots: rewrite docs/compare-{light,dark}.png)
#        BENCH=FILE scripts/ui-tests.sh        (also write the browser timings as JSON)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}"
fi
cargo build --quiet --locked --manifest-path "$here/Cargo.toml"
# The binary is where cargo puts it (CARGO_TARGET_DIR or a config may move target/).
target_dir=$(cargo metadata --format-version 1 --no-deps --locked --manifest-path "$here/Cargo.toml" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
cd "$here/ui-tests"
npm ci --no-audit --no-fund --loglevel=error
if [ "${1:-}" = "--screenshots" ]; then
  export SCREENSHOTS="$here/docs"
fi
export CODEVER="$target_dir/debug/codever" CHROMIUM=/usr/bin/chromium
npm test
