#!/usr/bin/env bash
# Replays four training runs of the example repo in fixtures/safelife (v1..v4) into a fresh store,
# logging each run's code the way a training script would, then shows what was recorded.
# Usage: scripts/demo.sh [WORKDIR]   (default: a new temp directory)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
codever="$here/target/release/codever"
work=${1:-$(mktemp -d)}
mkdir -p "$work"
export CODEVER_DIR="$work/.codever"
[ -d "$CODEVER_DIR" ] || "$codever" init "$work"

show() { printf '\n$ codever %s\n' "$*"; "$codever" "$@"; }

for v in v1 v2 v3 v4; do
  repo="$here/fixtures/safelife/$v"
  export CODEVER_RUN_ID="run-$v"
  printf '\n== run %s: training with the code of fixtures/safelife/%s ==\n' "$CODEVER_RUN_ID" "$v"
  (cd "$repo" &&
    "$codever" commit ppo --type rl_algo_code training/ppo.py &&
    "$codever" commit dqn --type rl_algo_code training/dqn.py &&
    "$codever" commit model_code --type model_code training/models.py=models.py &&
    "$codever" commit safelife --type code . -m "whole repo at $v")
done

show list
show versions ppo
show versions code/safelife
show runs
show show rl_algo_code/ppo:v1
show cat ppo:v1 ppo.py
printf '\n# what changed in ppo.py between the run that made ppo:v0 and the one that made ppo:v1:\n'
"$codever" checkout ppo:v0 --into "$work/ppo-v0" >/dev/null
"$codever" checkout ppo:v1 --into "$work/ppo-v1" >/dev/null
(cd "$work" && diff -u ppo-v0/ppo.py ppo-v1/ppo.py) || true
show fsck
printf '\nstore and checkouts are in %s\n' "$work"
