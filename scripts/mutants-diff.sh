#!/usr/bin/env bash
# Mutation testing of what a change did to the library (see TESTING.md): every mutant of the
# changed lines must be caught by the fast tests (.cargo/mutants.toml). Fails on a survivor.
# Bounded: at most MAX mutants (a slice chosen by the commit id when there are more), so a large
# change costs CI a few minutes, not hours.
#
# Usage: scripts/mutants-diff.sh [BASE] [--in-place]
#   BASE        the commit to compare with (default HEAD~1, the previous commit of main)
#   --in-place  mutate this checkout itself (CI's throwaway clone); without it cargo-mutants
#               works on a copy
set -euo pipefail
cd "$(dirname "$0")/.."
base="HEAD~1"
in_place=()
for a in "$@"; do
  case "$a" in
    --in-place) in_place=(--in-place) ;;
    *) base="$a" ;;
  esac
done
max="${MUTANTS_MAX:-30}"
if ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
  echo "mutants: no commit $base to compare with; skipped"
  exit 0
fi
command -v cargo-mutants >/dev/null || cargo install --locked --quiet cargo-mutants
mkdir -p target
git diff "$base" HEAD -- src > target/mutants.diff
n=$(cargo mutants --list --in-diff target/mutants.diff | wc -l)
if [ "$n" -eq 0 ]; then
  echo "mutants: the change from $base has no mutants in the library"
  exit 0
fi
shards=$(( (n + max - 1) / max ))
shard=$(( 0x$(git rev-parse --short=7 HEAD) % shards ))
echo "mutants: $n in the change from $base; testing slice $shard of $shards"
set +e
cargo mutants --in-diff target/mutants.diff --shard "$shard/$shards" --baseline skip \
  --timeout 120 --no-times -o target/mutants-diff "${in_place[@]}"
code=$?
set -e
case $code in
  0) echo "mutants: every mutant caught" ;;
  3) echo "mutants: some mutants timed out (counted as caught: a change that hangs is seen)" ;;
  *) echo "mutants: surviving mutants (target/mutants-diff/mutants.out/missed.txt):"
     cat target/mutants-diff/mutants.out/missed.txt 2>/dev/null || true
     echo "Kill each with a test, or list it in TESTING.md and exclude it in .cargo/mutants.toml."
     exit 1 ;;
esac
