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
printf '\n# What changed in the PPO code between the run that made v0 and the one that made v1?\n'
show diff ppo:v0 ppo:v1
show diff code/safelife:v0 code/safelife:latest --stat
show diff --runs run-v1 run-v4 --name-status
show log safelife training/models.py
printf '\n# Which run introduced each line of ppo.py at v2 of the whole-repo artifact?\n'
show blame safelife:v2 training/ppo.py
show fsck
printf '\nthe store is in %s (export CODEVER_DIR=%s to explore it)\n' "$work/.codever" "$work/.codever"
