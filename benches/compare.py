#!/usr/bin/env python3
"""codever against git on a real corpus: five consecutive Django releases (sdists from PyPI).

The releases are replayed into one working directory as an editing user would: only files whose
bytes changed are rewritten, removed files are deleted. After each release both tools snapshot the
same directory. Every figure is a ratio codever/git measured in the same run, interleaved.

Usage: benches/compare.sh [--repeats N] [--cache DIR]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

RELEASES = ["4.1", "4.2", "5.0", "5.1", "5.2"]


def sh(cmd, cwd=None, env=None, capture=False):
    return subprocess.run(
        cmd, cwd=cwd, env=env, check=True, shell=isinstance(cmd, str),
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE if capture else None,
    )


def timed(cmd, cwd, env=None):
    start = time.perf_counter()
    sh(cmd, cwd=cwd, env=env)
    return (time.perf_counter() - start) * 1000


def fetch(cache):
    os.makedirs(cache, exist_ok=True)
    paths = []
    for v in RELEASES:
        have = [f for f in os.listdir(cache) if f.lower().startswith(f"django-{v}.tar")]
        if not have:
            sh([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                f"django=={v}", "-d", cache])
            have = [f for f in os.listdir(cache) if f.lower().startswith(f"django-{v}.tar")]
        paths.append(os.path.join(cache, have[0]))
    return paths


def extract(archive, dest):
    with tarfile.open(archive) as t:
        t.extractall(dest, filter="data")
    (top,) = os.listdir(dest)
    return os.path.join(dest, top)


def files_of(root):
    out = {}
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x not in (".git", ".codever")]
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = p
    return out


def replay(src, dst):
    """Makes dst hold src's files, touching only what changed."""
    new, old = files_of(src), files_of(dst)
    changed = 0
    for rel, p in new.items():
        data = open(p, "rb").read()
        target = os.path.join(dst, rel)
        if rel in old and open(target, "rb").read() == data:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(data)
        shutil.copymode(p, target)
        changed += 1
    for rel in old.keys() - new.keys():
        os.remove(os.path.join(dst, rel))
        changed += 1
    return changed, len(new)


def disk_usage(path, exclude=None):
    """(apparent bytes, bytes of disk blocks) of a directory tree."""
    apparent = blocks = 0
    for d, dirs, files in os.walk(path):
        if exclude:
            dirs[:] = [x for x in dirs if os.path.join(d, x) != exclude]
        for f in files:
            st = os.lstat(os.path.join(d, f))
            apparent += st.st_size
            blocks += st.st_blocks * 512
    return apparent, blocks


def one_round(codever, releases, work):
    proj = os.path.join(work, "proj")
    os.makedirs(proj)
    store = os.path.join(work, "store")
    env = dict(os.environ, CODEVER_DIR=os.path.join(store, ".codever"))
    git_env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b",
                   GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
    sh(["git", "init", "-q", proj])
    sh([codever, "init", store])
    git_commit = "git add -A && git commit -q -m r"
    cv_commit = lambda run: [codever, "commit", "django", "--type", "code", ".", "--run", run]
    r = {"snap_git": [], "snap_cv": [], "changed": []}
    for i, rel in enumerate(releases):
        changed, total = replay(rel, proj)
        r["changed"].append((changed, total))
        # Interleave: codever first on even releases, git first on odd ones.
        order = [("cv", cv_commit(f"r{i}"), env), ("git", git_commit, git_env)]
        if i % 2:
            order.reverse()
        for name, cmd, e in order:
            r[f"snap_{name}"].append(timed(cmd, proj, e))
    # No-op: nothing changed since the last snapshot. Files written less than 2 s before they are
    # read may not be trusted from their stat alone (the racy-clean rule), so wait past that, as
    # a real re-run would. Each codever run is a new run id (a new training run), so it also
    # records the run (and asks git for HEAD and the dirty flag). The two tools alternate run by
    # run so that both see the same machine state; medians of 9.
    time.sleep(2.5)
    noop_cv, noop_git = [], []
    for k in range(9):
        noop_cv.append(timed(cv_commit(f"noop{k}"), proj, env))
        noop_git.append(timed("git add -A && git status --porcelain", proj, git_env))
    r["noop_cv"], r["noop_git"] = statistics.median(noop_cv), statistics.median(noop_git)
    # Full diff, first release to last, alternating likewise.
    last = len(releases) - 1
    diff_cv, diff_git = [], []
    for _ in range(5):
        diff_git.append(timed(f"git diff HEAD~{last} HEAD", proj, git_env))
        diff_cv.append(timed([codever, "diff", "django:v0", f"django:v{last}"], proj, env))
    r["diff_cv"], r["diff_git"] = statistics.median(diff_cv), statistics.median(diff_git)
    # Peak memory of a codever snapshot of the last release into a fresh store.
    fresh = os.path.join(work, "fresh")
    sh([codever, "init", fresh])
    out = subprocess.run(["/usr/bin/time", "-f", "%M", codever, "--store", fresh, "commit", "django",
                          "--type", "code", ".", "--run", "mem"], cwd=proj, check=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    r["peak_kib"] = int(out.stderr.strip().splitlines()[-1])
    # Sizes: git after gc; codever as it is (no separate step), without machine-local files.
    sh("git gc -q --aggressive", proj, git_env)
    r["git_size"] = disk_usage(os.path.join(proj, ".git"))
    cvdir = os.path.join(store, ".codever")
    r["cv_size"] = disk_usage(cvdir, exclude=os.path.join(cvdir, "local"))
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/codever-bench"))
    ap.add_argument("--codever", required=True)
    args = ap.parse_args()
    archives = fetch(args.cache)
    with tempfile.TemporaryDirectory() as tmp:
        releases = [extract(a, os.path.join(tmp, f"rel{i}")) for i, a in enumerate(archives)]
        rounds = []
        for k in range(args.repeats):
            work = os.path.join(tmp, f"round{k}")
            os.makedirs(work)
            rounds.append(one_round(args.codever, releases, work))
            shutil.rmtree(work)
    med = lambda xs: statistics.median(xs)
    print(f"corpus: Django {', '.join(RELEASES)} (sdists); median of {args.repeats} rounds")
    print(f"{'step':44} {'git ms':>9} {'codever ms':>11} {'codever/git':>12}")
    for i in range(len(RELEASES)):
        g = med(r["snap_git"][i] for r in rounds)
        c = med(r["snap_cv"][i] for r in rounds)
        changed, total = rounds[0]["changed"][i]
        label = (f"first snapshot ({total} files)" if i == 0 else
                 f"snapshot {RELEASES[i]} ({changed} files changed)")
        print(f"{label:44} {g:9.1f} {c:11.1f} {c / g:12.2f}")
    for label, gk, ck in [("no-op re-commit (git: add -A && status)", "noop_git", "noop_cv"),
                          (f"full diff {RELEASES[0]} -> {RELEASES[-1]}", "diff_git", "diff_cv")]:
        g, c = med(r[gk] for r in rounds), med(r[ck] for r in rounds)
        print(f"{label:44} {g:9.1f} {c:11.1f} {c / g:12.2f}")
    ga, gb = rounds[0]["git_size"]
    ca, cb = rounds[0]["cv_size"]
    print(f"{'store size, apparent bytes (git after gc)':44} {ga / 1e6:8.1f}M {ca / 1e6:10.1f}M {ca / ga:12.2f}")
    print(f"{'store size, disk blocks (git after gc)':44} {gb / 1e6:8.1f}M {cb / 1e6:10.1f}M {cb / gb:12.2f}")
    print(f"peak memory of a codever snapshot of {RELEASES[-1]}: {med(r['peak_kib'] for r in rounds) / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
