#!/usr/bin/env bash
# Times `codever diff` against `git diff` on the same trees: 20,000 files (200 dirs x 100), then
# one file changed, then 1,000 files changed. Both tools get the same files and print a full
# patch to /dev/null; ratios are from the same run.
# Usage: benches/diff_vs_git.sh [RUNS]   (default 15 runs per command, median reported)
# With CODEVER_BASELINE=/path/to/an/older/codever, that build is timed too, interleaved on the same
# store (before/after ratios from the same run), and CPU time (user + system) is reported beside
# wall time: on a loaded machine it varies less.
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

python3 - "$runs" "$cv" "${CODEVER_BASELINE:-}" <<'PY'
import resource, statistics, subprocess, sys, time
runs, cv, base = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def once(cmd):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    wall = (time.perf_counter() - s) * 1000
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) * 1000
    return wall, cpu
def t(*cmds):
    # Interleaved, so every command sees the same machine state; medians of wall and CPU time.
    xs = [[] for _ in cmds]
    for _ in range(runs):
        for i, c in enumerate(cmds):
            xs[i].append(once(c))
    return [(statistics.median(w for w, _ in x), statistics.median(c for _, c in x)) for x in xs]
cases = [
    ("20,000 files, 1 changed, patch", ["git", "-C", "tree", "diff", "HEAD~2", "HEAD~1"], ["diff", "big:v0", "big:v1"]),
    ("20,000 files, 1,000 changed, patch", ["git", "-C", "tree", "diff", "HEAD~2", "HEAD"], ["diff", "big:v0", "big:v2"]),
    ("20,000 files, 1,000 changed, --stat", ["git", "-C", "tree", "diff", "--stat", "HEAD~2", "HEAD"], ["diff", "--stat", "big:v0", "big:v2"]),
]
if base:
    print(f"{'case (wall ms / CPU ms)':40} {'git':>13} {'codever':>13} {'baseline':>13} {'codever/git':>12} {'codever/baseline':>17}")
else:
    print(f"{'case (wall ms / CPU ms)':40} {'git':>13} {'codever':>13} {'codever/git':>12}")
for name, g, c in cases:
    cmds = [g, [cv] + c] + ([[base] + c] if base else [])
    res = t(*cmds)
    fmt = lambda r: f"{r[0]:6.1f}/{r[1]:6.1f}"
    line = f"{name:40} {fmt(res[0]):>13} {fmt(res[1]):>13}"
    if base:
        line += f" {fmt(res[2]):>13} {res[1][0]/res[0][0]:12.2f} {res[1][0]/res[2][0]:8.2f}/{res[1][1]/res[2][1]:.2f} cpu"
    else:
        line += f" {res[1][0]/res[0][0]:12.2f}"
    print(line)
PY
