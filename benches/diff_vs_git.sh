#!/usr/bin/env bash
# Times `codever diff` against `git diff` on the same trees: 20,000 files (200 dirs x 100), then
# one file changed, then 1,000 files changed. Both tools get the same files and print a full
# patch to /dev/null; ratios are from the same run.
# Usage: benches/diff_vs_git.sh [RUNS]   (default 15 runs per command, median reported)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-15}
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
cv="$here/target/release/codever"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

gen() { # gen REV PREDICATE: write the tree; files matching PREDICATE get revision REV
  python3 - "$1" "$2" <<'PY'
import os, sys
rev, pred = int(sys.argv[1]), sys.argv[2]
for d in range(200):
    os.makedirs(f"tree/pkg{d}", exist_ok=True)
    for f in range(100):
        r = rev if eval(pred) else 0
        lines = []
        for line in range(40):
            if line == 20 and r > 0:
                lines.append(f"    value = {r}  # edited\n")
            else:
                lines.append(f"    x_{d}_{f}_{line} = compute({line}, {f})\n")
        p = f"tree/pkg{d}/mod{f}.py"
        data = "".join(lines)
        if not os.path.exists(p) or open(p).read() != data:
            open(p, "w").write(data)
PY
}

git init -q tree 2>/dev/null || true
gen 0 "False"
git -C tree add -A && git -C tree -c user.name=b -c user.email=b@b commit -qm base
"$cv" init "$work" >/dev/null
export CODEVER_DIR="$work/.codever"
"$cv" commit big --type code tree --run base >/dev/null
gen 1 "d == 7 and f == 3"
git -C tree add -A && git -C tree -c user.name=b -c user.email=b@b commit -qm one
"$cv" commit big --type code tree --run one >/dev/null
gen 2 "f < 5"
git -C tree add -A && git -C tree -c user.name=b -c user.email=b@b commit -qm many
"$cv" commit big --type code tree --run many >/dev/null

python3 - "$runs" "$cv" <<'PY'
import statistics, subprocess, sys, time
runs, cv = int(sys.argv[1]), sys.argv[2]
def t(cmd):
    xs = []
    for _ in range(runs):
        s = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        xs.append((time.perf_counter() - s) * 1000)
    return statistics.median(xs)
cases = [
    ("20,000 files, 1 changed, patch", ["git", "-C", "tree", "diff", "HEAD~2", "HEAD~1"], [cv, "diff", "big:v0", "big:v1"]),
    ("20,000 files, 1,000 changed, patch", ["git", "-C", "tree", "diff", "HEAD~2", "HEAD"], [cv, "diff", "big:v0", "big:v2"]),
    ("20,000 files, 1,000 changed, --stat", ["git", "-C", "tree", "diff", "--stat", "HEAD~2", "HEAD"], [cv, "diff", "--stat", "big:v0", "big:v2"]),
]
print(f"{'case':40} {'git ms':>8} {'codever ms':>11} {'codever/git':>12}")
for name, g, c in cases:
    # Interleave so both tools see the same machine state.
    gm, cm = t(g), t(c)
    print(f"{name:40} {gm:8.1f} {cm:11.1f} {cm/gm:12.2f}")
PY
