"""`codever.integrations.wandb`: a team keeps W&B (here the real SDK, offline) and one call
makes every code artifact W&B logs a version in the local store too, with W&B's digest, so
`diff`, `blame` and `diff --runs --best/--worst` work offline on what W&B holds."""

import json
import shutil
import subprocess
import sys

import pytest

from test_wandb_compat import FIXTURES, cli, wandb_env, wandb_records, wandb_run_state

SCRIPT = """
import argparse, os, sys
import wandb
from codever.integrations.wandb import track

tracker = track()
p = argparse.ArgumentParser()
p.add_argument("--reward", type=float)
args = p.parse_args()
run = wandb.init(project="safelife", config={"lr": 3e-4}, job_type="train", name=os.environ["RUN_NAME"])
ppo = wandb.Artifact("ppo", type="rl_algo_code")
ppo.add_file("training/ppo.py")
run.log_artifact(ppo, aliases=["candidate"], tags=["rl", os.environ["RUN_NAME"]])
run.log_artifact("training", name="training", type="code")
data = wandb.Artifact("scores", type="dataset")  # not code: W&B only
with data.new_file("scores.csv", mode="w") as f:
    f.write("1,2\\n")
run.log_artifact(data)
run.log_code(".")
for step in range(3):
    wandb.log({"reward": args.reward * (step + 1) / 3})
wandb.finish()
print(repr(tracker.mirrored))
"""


def test_one_call_versions_what_wandb_logs_and_keeps_its_scores(tmp_path):
    env = wandb_env(tmp_path)
    work = tmp_path / "safelife"
    shutil.copytree(FIXTURES / "baseline", work)
    (work / "train.py").write_text(SCRIPT)
    mirrored = []
    for version, reward in [("baseline", 0.62), ("ppo-lr", 0.91)]:
        shutil.copytree(FIXTURES / version, work, dirs_exist_ok=True)
        out = subprocess.run(
            [sys.executable, "train.py", "--reward", str(reward)],
            cwd=work, env=dict(env, RUN_NAME=f"run-{version}"), capture_output=True, text=True, timeout=300,
        )
        assert out.returncode == 0, out.stderr
        mirrored.append(out.stdout.strip().splitlines()[-1])
    assert mirrored == [
        "[('rl_algo_code', 'ppo', 'v0', True), ('code', 'training', 'v0', True), "
        "('code', 'source-safelife-train.py', 'v0', True)]",
        "[('rl_algo_code', 'ppo', 'v1', True), ('code', 'training', 'v1', True), "
        "('code', 'source-safelife-train.py', 'v1', True)]",
    ]
    store = work / ".codever"
    # Every mirrored version has the digest W&B recorded for it, in W&B's own run log.
    # W&B names run folders by the second they started, then a random id: two runs in one
    # second sort at random, so order them by what they logged (the baseline scored lower).
    run_dirs = (tmp_path / "wandb-dir" / "wandb").glob("offline-run-*")
    runs = [wandb_run_state(wandb_records(d)) for d in run_dirs]
    assert len(runs) == 2
    runs.sort(key=lambda state: state[1]["reward"])
    for i, (_, _, artifacts) in enumerate(runs):
        for name in ("ppo", "training", "source-safelife-train.py"):
            v = cli(store, "show", f"{name}:v{i}")
            assert v["digest"] == artifacts[name].digest, (name, i)
        assert "scores" in artifacts
    assert [a["name"] for a in cli(store, "list")] == ["source-safelife-train.py", "training", "ppo"]
    # The runs carry W&B's ids, config and summary.
    rows = cli(store, "runs", "--sort", "-reward")
    assert [(r["name"], r["job_type"], r["summary"]["reward"], r["config"]) for r in rows] == [
        ("run-ppo-lr", "train", 0.91, {"lr": 3e-4}),
        ("run-baseline", "train", 0.62, {"lr": 3e-4}),
    ]
    assert cli(store, "show", "ppo:candidate")["version"] == 1
    # W&B's tags go with each logged version.
    assert [cli(store, "show", f"ppo:v{i}")["tags"] for i in (0, 1)] == [
        ["rl", "run-baseline"], ["rl", "run-ppo-lr"]
    ]
    assert cli(store, "show", "training:v0")["tags"] == []
    # The question, answered offline: what differed in the code of the best and the worst run?
    diff = cli(store, "diff", "--runs", "--best", "reward", "--worst", "reward")
    assert [(f["new_path"], f["additions"], f["deletions"]) for f in diff["files"]] == [
        ("code/source-safelife-train.py/training/ppo.py", 2, 2),
        ("code/training/ppo.py", 2, 2),
        ("rl_algo_code/ppo/ppo.py", 2, 2),
    ]
    # The versions remember the user's files, not W&B's staged copies: diff against the disk.
    assert cli(store, "diff", "ppo:v1")["files"] == []
    assert cli(store, "show", "ppo:v0")["sources"][0]["path"] == str(work / "training" / "ppo.py")
    blame = cli(store, "blame", "ppo:v1", "ppo.py")
    assert [(line["version"], line["run"]) for line in blame["lines"][4:5]] == [(1, rows[0]["id"])]
    assert json.loads(json.dumps(rows[0]["summary"]))["_step"] == 2


REFUSED = """
import wandb
from codever.integrations.wandb import track

tracker = track()
run = wandb.init(project="p")
for i in range(2):
    a = wandb.Artifact("ppo", type="rl_algo_code")
    with a.new_file("ppo.py", mode="w") as f:
        f.write(f"lr = {i}\\n")
    run.log_artifact(a, aliases=["best model", "v3", "ok"], tags=["rl"])
wandb.finish()
print(repr(tracker.mirrored))
"""


def test_aliases_codever_refuses_are_left_out_and_the_version_kept(tmp_path):
    env = wandb_env(tmp_path)
    (tmp_path / "train.py").write_text(REFUSED)
    out = subprocess.run(
        [sys.executable, "train.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == (
        "[('rl_algo_code', 'ppo', 'v0', True), ('rl_algo_code', 'ppo', 'v1', True)]"
    )
    said = [line for line in out.stderr.splitlines() if "is not versioned by codever" in line]
    assert sorted(line.split(" (")[0] for line in said) == [  # W&B does not keep their order
        "codever: ppo: W&B's alias 'best model' is not versioned by codever",
        "codever: ppo: W&B's alias 'v3' is not versioned by codever",
    ]
    store = tmp_path / ".codever"
    v1 = cli(store, "show", "ppo:v1")
    assert (v1["aliases"], v1["tags"]) == (["latest", "ok"], ["rl"])
    assert cli(store, "show", "ppo:v0")["aliases"] == []


INTERRUPTED = """
import os, signal, time
signal.signal(signal.SIGINT, signal.default_int_handler)
import wandb
from codever.integrations.wandb import track

if os.environ["TRACK"] == "before":
    track()
run = wandb.init(project="p", config={"lr": 0.1}, tags=["a"])
if os.environ["TRACK"] == "after":
    track()  # after init, as the README allows
for i in range(3):
    wandb.log({"loss": 1 / (i + 1)})
run.tags = run.tags + ("b",)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_wandb_run_interrupted_by_ctrl_c_keeps_its_summary(tmp_path, when):
    import signal

    env = wandb_env(tmp_path)
    (tmp_path / "train.py").write_text(INTERRUPTED)
    p = subprocess.Popen(
        [sys.executable, "train.py"], cwd=tmp_path, env=dict(env, TRACK=when), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    assert p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGINT)
    p.wait(timeout=120)
    (run_dir,) = (tmp_path / "wandb-dir" / "wandb").glob("offline-run-*")
    records = wandb_records(run_dir)
    (exit_code,) = [r.exit.exit_code for r in records if r.WhichOneof("record_type") == "exit"]
    _, summary, _ = wandb_run_state(records)
    (row,) = cli(tmp_path / ".codever", "runs")
    assert (exit_code, summary["loss"]) == (255, 1 / 3)  # W&B's own record
    assert (row["finished"], row["exit_code"], row["summary"]["loss"]) == (True, 255, 1 / 3)
    assert (row["config"], row["steps"], row["tags"]) == ({"lr": 0.1}, 3, ["a", "b"])
