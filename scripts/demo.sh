#!/usr/bin/env bash
# Replays four training runs of the example repo in fixtures/safelife into a fresh store, logging
# each run's code the way a training script would, then shows what was recorded. The four steps
# are named for what changed (baseline, ppo-lr, layernorm, tuned) so that their names cannot be
# mistaken for the version numbers codever gives (v0, v1, ...).
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

for step in baseline ppo-lr layernorm tuned; do
  repo="$here/fixtures/safelife/$step"
  export CODEVER_RUN_ID="run-$step"
  printf '\n== run %s: training with the code of fixtures/safelife/%s ==\n' "$CODEVER_RUN_ID" "$step"
  (cd "$repo" &&
    "$codever" commit ppo --type rl_algo_code training/ppo.py &&
    "$codever" commit dqn --type rl_algo_code training/dqn.py &&
    "$codever" commit model_code --type model_code training/models.py=models.py &&
    "$codever" commit safelife --type code . -m "whole repo, step $step")
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
show diff --runs run-baseline run-tuned --name-status
show log safelife training/models.py
printf '\n# Which run introduced each line of ppo.py at v2 of the whole-repo artifact?\n'
show blame safelife:v2 training/ppo.py
show fsck
printf '\n# The same comparisons as pages (GitHub-style, offline):\n'
show diff --runs run-baseline run-tuned --html="$work/runs.html"
cat <<EOF

The store is in $work/.codever. To explore it:

  export PATH="$here/target/release:\$PATH"     # or: cargo install --locked --path $here
  export CODEVER_DIR=$work/.codever
  codever versions ppo
  codever diff ppo:v0 ppo:v1
  codever runs show run-layernorm
  codever ui                                    # a read-only web view: versions, compare, blame, runs
  xdg-open $work/runs.html    # (open on macOS) the two runs compared, as one page

To use codever in your own project: cd into it, then
  codever init && codever commit train --type code .
EOF
