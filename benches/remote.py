#!/usr/bin/env python3
"""codever push against `rclone copy` and `aws s3 sync` of the same `.codever` directory, on one
moto S3 server (scripts/s3-server.sh), counting every HTTP request in moto's own log.

Two stores: a generated tree of 1,700 Python files committed once, and the five Django releases
of benches/compare.py replayed and committed one after another. Each is pushed to an empty
prefix, then 3 files are edited, committed, and pushed again. The copy tools copy the store
directory without `local/` (this machine's caches) to their own prefixes.

Run through benches/remote.sh (which starts moto and installs rclone if missing).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (the Django sdists: fetch, extract, replay)

ENDPOINT = os.environ["CODEVER_TEST_S3_ENDPOINT"]
BUCKET = os.environ["CODEVER_TEST_S3_BUCKET"]
LOG = os.environ["MOTO_LOG"]
METHODS = ("GET ", "PUT ", "POST ", "HEAD ", "DELETE ")


def requests_so_far():
    """HTTP requests moto has answered (one log line each)."""
    with open(LOG, errors="replace") as f:
        return sum(1 for line in f if any(f'"{m}' in line for m in METHODS))


def measured(cmd, cwd=None, env=None):
    """(requests, seconds) of one command."""
    before = requests_so_far()
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    took = time.perf_counter() - start
    time.sleep(0.3)  # moto writes its log line after answering
    return requests_so_far() - before, took


def rclone_env():
    env = dict(os.environ)
    # The endpoint is plain HTTP on loopback; a CA bundle set for AWS's own endpoints makes
    # rclone's S3 client refuse to start.
    env.pop("AWS_CA_BUNDLE", None)
    env.update(
        RCLONE_CONFIG_MOTO_TYPE="s3",
        RCLONE_CONFIG_MOTO_PROVIDER="Other",
        RCLONE_CONFIG_MOTO_ENDPOINT=ENDPOINT,
        RCLONE_CONFIG_MOTO_ACCESS_KEY_ID=os.environ["AWS_ACCESS_KEY_ID"],
        RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY=os.environ["AWS_SECRET_ACCESS_KEY"],
        RCLONE_CONFIG_MOTO_REGION="us-east-1",
    )
    return env


def generated_tree(root):
    """1,720 Python files in 40 packages, about 2 MB of text."""
    for p in range(40):
        d = os.path.join(root, f"pkg{p:02}")
        os.makedirs(d, exist_ok=True)
        for m in range(43):
            lines = [f"# package {p}, module {m}\n"]
            lines += [f"def f{p}_{m}_{i}(x):\n    return x * {i} + {p * m}\n" for i in range(30)]
            with open(os.path.join(d, f"mod{m:02}.py"), "w") as f:
                f.writelines(lines)


def edit_three(root):
    edited = 0
    for d, _, files in sorted(os.walk(root)):
        if ".codever" in d:
            continue
        for name in sorted(files):
            if name.endswith(".py") and edited < 3:
                with open(os.path.join(d, name), "a") as f:
                    f.write("# edited for the second push\n")
                edited += 1
    assert edited == 3


def run(codever, label, work, commits, rows):
    """`commits`: callables that change `work` before each commit of the history."""
    store = os.path.join(work, ".codever")
    cv = lambda *a: [codever, "--store", store, *a]  # noqa: E731
    subprocess.run([codever, "init", work], check=True, stdout=subprocess.DEVNULL)
    for i, change in enumerate(commits):
        change()
        subprocess.run(cv("commit", "app", "--type", "code", work, "--run", f"r{i}"), check=True,
                       stdout=subprocess.DEVNULL)
    slug = "".join(c if c.isalnum() else "-" for c in label.lower())
    prefix = f"bench-{slug}-{int(time.time() * 1000)}"
    subprocess.run(cv("remote", "add", "bench", f"s3://{BUCKET}/{prefix}/codever", "--endpoint-url", ENDPOINT),
                   check=True, stdout=subprocess.DEVNULL)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(store) if "local" not in d for f in fs)
    files = sum(len(fs) for d, _, fs in os.walk(store) if "local" not in d)
    rows.append((label, f"store: {files} files, {size / 1e6:.1f} MB", "", ""))
    copies = [
        ("rclone copy", lambda dest: ["rclone", "copy", store, f"moto:{BUCKET}/{prefix}/{dest}",
                                       "--exclude", "local/**"], rclone_env()),
    ]
    if shutil.which("aws"):
        copies.append(("aws s3 sync", lambda dest: ["aws", "--endpoint-url", ENDPOINT, "s3", "sync", store,
                                                     f"s3://{BUCKET}/{prefix}/{dest}", "--exclude", "local/*",
                                                     "--only-show-errors"], None))
    for when in ("first", "after a 3-file commit"):
        if when != "first":
            edit_three(work)
            subprocess.run(cv("commit", "app", "--type", "code", work, "--run", "edit"), check=True,
                           stdout=subprocess.DEVNULL)
        n, t = measured(cv("push", "bench"))
        rows.append((label, f"`codever push`, {when}", n, t))
        for name, cmd, env in copies:
            n, t = measured(cmd(name.split()[0]), env=env)
            rows.append((label, f"`{name}`, {when}", n, t))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--codever", required=True)
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/codever-bench"))
    ap.add_argument("--skip-django", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = os.path.join(tmp, "generated")
        os.makedirs(work)
        run(args.codever, "1,720 generated files", work, [lambda: generated_tree(work)], rows)
        if not args.skip_django:
            sdists = compare.fetch(args.cache)
            work = os.path.join(tmp, "django")
            os.makedirs(work)
            extracted = []
            for i, archive in enumerate(sdists):
                dest = os.path.join(tmp, f"sdist{i}")
                os.makedirs(dest)
                extracted.append(compare.extract(archive, dest))
            run(args.codever, "Django, five releases", work,
                [lambda src=src: compare.replay(src, work) for src in extracted], rows)
    print("| store | transfer | requests | time |")
    print("| --- | --- | --- | --- |")
    for label, what, n, t in rows:
        print(f"| {label} | {what} | {n} | {t if t == '' else f'{t:.2f} s'} |")


if __name__ == "__main__":
    main()
