#!/usr/bin/env bash
# Instruction counts (callgrind: deterministic, so comparable on a noisy machine) of a 1-file
# commit into an artifact with 10,000 versions and of `codever versions` on it, per binary.
# Usage: benches/icount.sh STORE_DIR BINARY...
#   STORE_DIR: a directory holding .codever with `code/model` at 10,000 versions and m.py; made
#   (10,000 commits with the first BINARY, some minutes) when absent. Each binary gets its own
#   copy, warmed (versions twice, one commit) so that its caches are its own.
# Build binaries with line tables: CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release
set -euo pipefail
store=$1; shift
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
if [ ! -d "$store/.codever" ]; then
  mkdir -p "$store"; (cd "$store" && "$1" init . >/dev/null
    for i in $(seq 0 9999); do echo "hidden = $i" > m.py; "$1" commit -t code model m.py --run "r$i" >/dev/null; done)
fi
for bin in "$@"; do
  d=$(mktemp -d); cp -a "$store/." "$d/"; cd "$d"
  "$bin" --store .codever versions model >/dev/null; "$bin" --store .codever versions model >/dev/null
  echo "hidden = warm" > m.py; "$bin" commit -t code model m.py --run warm >/dev/null
  echo "hidden = measured" > m.py
  count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | awk '/refs:/ {print $NF}'; }
  c=$(count "$bin" commit -t code model m.py --run measured)
  v=$(count "$bin" --store .codever versions model)
  echo "$bin: 1-file commit $c instructions; versions $v instructions"
  cd /; rm -rf "$d"
done
