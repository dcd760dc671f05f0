#!/usr/bin/env python3
"""Two codever builds against each other on the Django corpus of compare.py: the full diff of the
first and last release and a no-op re-commit, run alternately (A, B, B, A, ...) on one store so
both see the same machine state. Prints medians and the B/A ratio.

Usage: python3 benches/ab.py --a OLD_BINARY --b NEW_BINARY [--rounds 31] [--cache DIR]
(e.g. build the old commit in a git worktree with `cargo build --release`).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--rounds", type=int, default=31)
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/codever-bench"))
    args = ap.parse_args()
    bins = {"A": args.a, "B": args.b}
    work = tempfile.mkdtemp()
    try:
        releases = []
        for i, a in enumerate(compare.fetch(args.cache)):
            d = os.path.join(work, f"rel{i}")
            os.makedirs(d)
            releases.append(compare.extract(a, d))
        proj = os.path.join(work, "proj")
        os.makedirs(proj)
        store = os.path.join(work, "store")
        env = dict(os.environ, CODEVER_DIR=os.path.join(store, ".codever"))
        quiet = dict(check=True, stdout=subprocess.DEVNULL)
        subprocess.run([bins["B"], "init", store], **quiet)
        for i, r in enumerate(releases):
            compare.replay(r, proj)
            subprocess.run([bins["B"], "commit", "django", "--type", "code", ".", "--run", f"r{i}"],
                           cwd=proj, env=env, **quiet)
        time.sleep(2.5)  # past the racy-clean window, as a real re-run would be

        def timed(cmd):
            start = time.perf_counter()
            subprocess.run(cmd, cwd=proj, env=env, **quiet)
            return (time.perf_counter() - start) * 1000

        last = len(releases) - 1
        res = {k: {"diff": [], "noop": []} for k in bins}
        for k in range(args.rounds):
            for name in (["A", "B"] if k % 2 == 0 else ["B", "A"]):
                b = bins[name]
                res[name]["diff"].append(timed([b, "diff", "django:v0", f"django:v{last}"]))
                res[name]["noop"].append(
                    timed([b, "commit", "django", "--type", "code", ".", "--run", f"n{name}{k}"]))
        for step in ("diff", "noop"):
            a, b = statistics.median(res["A"][step]), statistics.median(res["B"][step])
            print(f"{step}: A {a:.1f} ms, B {b:.1f} ms, B/A {b / a:.3f}")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
