"""W&B's API as codever implements it: runs (config, summary, modes, reinit, exit), artifacts
(incremental drafts, downloads of parts, W&B's keywords) and reading back (runs, users of a
version). Each behaviour is W&B's, checked against the real SDK in test_wandb_compat.py where
W&B can run offline."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import codever

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIXTURES = REPO / "fixtures" / "safelife"


def cli(store, *args):
    binary = os.environ.get("CODEVER_BIN") or str(REPO / "target" / "debug" / "codever")
    out = subprocess.run(
        [binary, "--store", str(store), "--json", *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    work = tmp_path / "safelife"
    shutil.copytree(FIXTURES / "baseline", work)
    monkeypatch.chdir(work)
    for var in ("CODEVER_DIR", "CODEVER_RUN_ID", "WANDB_MODE", "WANDB_DISABLED"):
        monkeypatch.delenv(var, raising=False)
    codever._set_current(None)
    yield work
    codever._set_current(None)


def python(code, cwd, **env):
    full = dict(os.environ, **env)
    full.pop("CODEVER_RUN_ID", None)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=full, capture_output=True, text=True)


def test_a_disabled_run_writes_no_store(repo, monkeypatch):
    run = codever.init(mode="disabled", config={"lr": 0.1})
    assert (run.disabled, run.project, run.name) == (True, "dummy", f"dummy-{run.id}")
    run.log({"loss": 1.0})
    a = codever.Artifact("ppo", type="code")
    a.add_file("training/ppo.py")
    assert run.log_artifact(a) is a and a.version is None
    assert run.use_artifact("ppo:latest") is None
    assert run.summary["loss"] == 1.0
    run.finish()
    monkeypatch.setenv("WANDB_MODE", "disabled")
    codever.init().finish()
    assert not (repo / ".codever").exists()
    assert not any(p.name == ".codever" for p in repo.parent.iterdir())


def test_config_takes_namespaces_and_refuses_silent_changes(repo):
    import argparse

    args = argparse.Namespace(lr=3e-4, epochs=5, out="/tmp/x")
    run = codever.init(config=args, config_exclude_keys=["out"])
    assert (codever.config.lr, codever.config["epochs"], "out" in codever.config) == (3e-4, 5, False)
    codever.config.update({"lr": 3e-4, "batch": 32})  # the same value again is no change
    with pytest.raises(codever.ConfigError, match='Attempted to change value of key "lr" from 0.0003 to 0.1'):
        codever.config.lr = 0.1
    codever.config.update({"lr": 0.1}, allow_val_change=True)
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        codever.config.missing
    with pytest.raises(KeyError):
        codever.config["missing"]
    assert dict(codever.config) == {"lr": 0.1, "epochs": 5, "batch": 32}
    run.finish()
    with pytest.raises(codever.UsageError, match=r"You must call codever.init\(\) before wandb.config.lr"):
        codever.config.lr
    with pytest.raises(codever.UsageError, match=r"before wandb.log\(\)"):
        codever.log({"a": 1})
    with pytest.raises(codever.UsageError, match=r"Run \(\w+\) is finished. The call to `log` will be ignored"):
        run.log({"a": 1})
    assert issubclass(codever.UsageError, codever.Error)
    row = cli(repo / ".codever", "runs", "show", run.id)
    assert row["config"] == {"lr": 0.1, "epochs": 5, "batch": 32}


def test_init_returns_the_active_run_unless_told_otherwise(repo):
    first = codever.init(project="a")
    assert codever.init(project="b") is first
    second = codever.init(project="b", reinit="finish_previous")
    assert second is not first and first._finished and codever.run is second
    third = codever.init(project="c", reinit="create_new")
    assert codever.run is second and third.project == "c"
    third.finish()
    second.finish()
    assert codever.run is None


def test_resume_must_and_never(repo):
    codever.init(id="r1").finish()
    with pytest.raises(codever.UsageError, match="resume='must' but run 'r2' does not exist"):
        codever.init(id="r2", resume="must")
    with pytest.raises(codever.UsageError, match="resume='never' but run 'r1' exists"):
        codever.init(id="r1", resume="never")
    assert codever.init(id="r1", resume="must").id == "r1"


def test_log_steps_and_summaries_follow_wandb(repo):
    run = codever.init()
    codever.define_metric("acc", summary="max,mean,first")
    codever.define_metric("val/*", summary="min")
    for acc, loss in [(0.5, 2.0), (1.0, 1.0), (0.75, 1.5)]:
        codever.log({"acc": acc, "loss": loss, "val/loss": loss})
    assert run.step == 3
    codever.log({"late": 1}, step=1)  # behind the current step: ignored, with a warning
    codever.log({"x": 1}, commit=False)
    codever.log({"y": 2}, commit=False)
    assert run.step == 3 and "x" not in run.summary
    codever.log({"z": 3})
    assert run.step == 4
    assert run.summary["acc"] == {"max": 1.0, "mean": 0.75, "first": 0.5}
    assert run.summary["val/loss"] == {"min": 1.0}
    assert (run.summary["loss"], run.summary.loss, run.summary["_step"]) == (1.5, 1.5, 3)
    assert (run.summary["x"], run.summary["y"], run.summary["z"]) == (1, 2, 3)
    assert "late" not in run.summary
    with pytest.raises(TypeError, match="wandb.log must be passed a dictionary"):
        codever.log([1, 2])
    with pytest.raises(codever.UsageError, match="summary op: best"):
        codever.define_metric("r", summary="best")
    run.summary["best"] = {"epoch": 2}
    codever.summary.update({"note": "ok"})
    run.finish(exit_code=3)
    row = cli(repo / ".codever", "runs", "show", run.id)
    summary = {k: v for k, v in row["summary"].items() if k not in ("_runtime", "_timestamp")}
    assert summary == {
        "_step": 3, "acc": {"max": 1.0, "mean": 0.75, "first": 0.5}, "loss": 1.5,
        "val/loss": {"min": 1.0}, "x": 1, "y": 2, "z": 3, "best": {"epoch": 2}, "note": "ok",
    }
    assert row["ranges"] == {
        "acc": {"min": 0.5, "max": 1.0}, "loss": {"min": 1.0, "max": 2.0},
        "val/loss": {"min": 1.0, "max": 2.0}, "x": {"min": 1.0, "max": 1.0},
        "y": {"min": 2.0, "max": 2.0}, "z": {"min": 3.0, "max": 3.0},
    }
    assert (row["steps"], row["finished"], row["exit_code"]) == (4, True, 3)


def test_a_script_that_forgets_to_finish_is_finished_at_exit(repo):
    script = (
        "import codever as wandb\n"
        "wandb.init(id='forgot', config={'lr': 1})\n"
        "wandb.config.update({'seed': 3})\n"
        "wandb.log({'reward': 0.5})\n"
    )
    assert python(script, repo).returncode == 0
    crash = script.replace("forgot", "crashed") + "raise SystemExit(python_error)\n"
    failed = python(crash.replace("SystemExit(python_error)", "RuntimeError('boom')"), repo)
    assert failed.returncode == 1 and "boom" in failed.stderr
    store = repo / ".codever"
    ok = cli(store, "runs", "show", "forgot")
    assert (ok["config"], ok["summary"]["reward"], ok["finished"], ok["exit_code"]) == (
        {"lr": 1, "seed": 3}, 0.5, True, 0
    )
    bad = cli(store, "runs", "show", "crashed")
    assert (bad["summary"]["reward"], bad["exit_code"]) == (0.5, 1)


def _started(script, repo, **env):
    """Starts `script` and waits until it prints `ready` (its state is then what the test
    checks)."""
    full = dict(os.environ, **env)
    full.pop("CODEVER_RUN_ID", None)
    p = subprocess.Popen(
        [sys.executable, "-c", script], cwd=repo, env=full, stdout=subprocess.PIPE, text=True
    )
    assert p.stdout.readline() == "ready\n"
    return p


def test_a_run_killed_by_sigterm_is_finished_with_its_summary(repo):
    import signal

    p = _started(
        "import time, codever as wandb\n"
        "wandb.init(id='preempted', config={'lr': 1})\n"
        "wandb.log({'reward': 0.25})\n"
        "wandb.log({'reward': 0.75})\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n",
        repo,
    )
    p.send_signal(signal.SIGTERM)
    # The process still dies of the signal, as a scheduler expects.
    assert p.wait(timeout=30) == -signal.SIGTERM
    row = cli(repo / ".codever", "runs", "show", "preempted")
    assert (row["summary"]["reward"], row["ranges"]["reward"]) == (0.75, {"min": 0.25, "max": 0.75})
    assert (row["finished"], row["exit_code"]) == (True, 128 + signal.SIGTERM)


def test_a_script_with_its_own_sigterm_handler_keeps_it(repo):
    import signal

    p = _started(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: (print('mine', flush=True), sys.exit(7)))\n"
        "import codever as wandb\n"
        "wandb.init(id='own')\n"
        "wandb.log({'reward': 0.5})\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n",
        repo,
    )
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 7 and p.stdout.read() == "mine\n"
    # Its sys.exit ran atexit, which finished the run as any exit does.
    row = cli(repo / ".codever", "runs", "show", "own")
    assert (row["summary"]["reward"], row["exit_code"]) == (0.5, 7)


def test_a_run_killed_outright_keeps_the_summary_of_its_last_checkpoint(repo):
    import signal

    p = _started(
        "import time, codever as wandb\n"
        "wandb.init(id='oom', config={'lr': 1})\n"
        "for r in (0.1, 0.2, 0.3):\n"
        "    wandb.log({'reward': r})\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n",
        repo,
        CODEVER_CHECKPOINT_SECONDS="0",
    )
    p.send_signal(signal.SIGKILL)
    assert p.wait(timeout=30) == -signal.SIGKILL
    row = cli(repo / ".codever", "runs", "show", "oom")
    assert (row["summary"]["reward"], row["steps"], row["finished"]) == (0.3, 3, False)


def test_a_terminated_worker_does_not_finish_its_parents_run(repo):
    script = (
        "import multiprocessing as mp, time, codever as wandb\n"
        "def work(x):\n"
        "    time.sleep(60)\n"
        "if __name__ == '__main__':\n"
        "    wandb.init(id='parent')\n"
        "    wandb.log({'reward': 0.5})\n"
        "    pool = mp.get_context('fork').Pool(2)\n"
        "    pool.map_async(work, [1, 2])\n"
        "    time.sleep(0.5)\n"
        "    pool.terminate()\n"
        "    pool.join()\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
    )
    p = _started(script, repo)
    try:
        row = cli(repo / ".codever", "runs", "show", "parent")
        assert (row["finished"], row["exit_code"]) == (False, None)
    finally:
        p.kill()
        p.wait()


def test_a_run_that_only_logs_artifacts_is_recorded_finished_with_exit_0(repo):
    # W&B records exit 0 for a run that never called wandb.log, and for an empty `with` block.
    run = codever.init(id="code-only", config={"lr": 1})
    a = codever.Artifact("ppo", type="code")
    a.add_file("training/ppo.py")
    run.log_artifact(a)
    run.finish()
    with codever.init(id="empty", reinit="create_new"):
        pass
    for rid in ("code-only", "empty"):
        row = cli(repo / ".codever", "runs", "show", rid)
        assert (row["finished"], row["exit_code"]) == (True, 0), rid
        assert codever.Api().run(rid).state == "finished"


def test_one_value_that_cannot_be_saved_is_refused_at_the_call_and_loses_nothing(repo):
    import os as _os

    run = codever.init(id="bad-values")
    run.log({"loss": 0.5})
    cyclic = {}
    cyclic["self"] = cyclic
    deep = {}
    d = deep
    for _ in range(2000):
        d["x"] = {}
        d = d["x"]
    for bad in (cyclic, deep):
        with pytest.raises(ValueError, match="key 'bad'"):
            run.log({"bad": bad})
        with pytest.raises(ValueError, match="key 'bad'"):
            run.config.update({"bad": bad})
    # An undecodable file name (a lone surrogate) is saved with it escaped, as text.
    name = _os.fsdecode(b"ckpt-\xff.pt")
    run.log({"path": name, name: 1})
    run.finish()
    row = cli(repo / ".codever", "runs", "show", "bad-values")
    assert (row["finished"], row["summary"]["loss"]) == (True, 0.5)
    assert row["summary"]["path"] == "ckpt-\\udcff.pt"
    assert row["summary"]["ckpt-\\udcff.pt"] == 1


def test_numpy_values_are_saved_as_wandb_saves_them(repo):
    np = pytest.importorskip("numpy")
    run = codever.init(id="np", config={"arr": np.arange(3), "lr": np.float32(0.5)})
    assert run.config.arr == [0, 1, 2] and type(run.config.lr) is float
    for v in (np.float32(0.25), np.float64(0.75)):
        run.log({"acc": v, "seen": {1, 2}, "raw": b"ab"})
    assert type(run.summary["acc"]) is float
    run.finish()
    row = cli(repo / ".codever", "runs", "show", "np")
    assert row["config"] == {"arr": [0, 1, 2], "lr": 0.5}
    assert (row["summary"]["acc"], row["summary"]["seen"], row["summary"]["raw"]) == (0.75, [1, 2], "ab")
    assert row["ranges"]["acc"] == {"min": 0.25, "max": 0.75}


def test_a_forked_worker_commits_without_hanging(repo):
    script = (
        "import multiprocessing as mp, os, codever as wandb\n"
        "def child(i):\n"
        "    os.makedirs(f'd{i}', exist_ok=True)\n"
        "    for j in range(50):\n"
        "        open(f'd{i}/f{j}.py', 'w').write(str(j))\n"
        "    r = wandb.init(project='p', reinit='create_new')\n"
        "    a = wandb.Artifact(f'a{i}', type='code')\n"
        "    a.add_dir(f'd{i}')\n"
        "    r.log_artifact(a)\n"
        "    r.finish()\n"
        "    return a.version\n"
        "if __name__ == '__main__':\n"
        "    wandb.init(project='p')\n"
        "    with mp.get_context('fork').Pool(2) as pool:\n"
        "        print(pool.map(child, [0, 1, 2]))\n"
        "    wandb.finish()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "['v0', 'v0', 'v0']\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_codevers_threads_leave_termination_signals_to_python(repo):
    """SIGTERM (a pool's ``terminate()``, a scheduler), SIGINT and SIGHUP go to one thread that
    does not block them. Python handles them only in its main thread, once it wakes: a signal
    given to one of codever's helper threads left a worker asleep in a blocking call forever.
    Every thread codever starts blocks them, in the process and in a forked child's own pool."""
    script = (
        "import json, os, threading, codever as wandb\n"
        "def masks():\n"
        "    ours = {t.native_id for t in threading.enumerate()} | {os.getpid()}\n"
        "    out = []\n"
        "    for tid in os.listdir('/proc/self/task'):\n"
        "        if int(tid) in ours:\n"
        "            continue\n"
        "        status = open(f'/proc/self/task/{tid}/status').read()\n"
        "        line = [l for l in status.splitlines() if l.startswith('SigBlk:')][0]\n"
        "        out.append(int(line.split()[1], 16))\n"
        "    return out\n"
        "os.makedirs('d', exist_ok=True)\n"
        "for j in range(40):\n"
        "    open(f'd/f{j}.py', 'w').write(str(j))\n"
        "r = wandb.init(project='p')\n"
        "a = wandb.Artifact('a', type='code'); a.add_dir('d'); r.log_artifact(a)\n"
        "r_in, w_out = os.pipe()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    open('d/f0.py', 'w').write('child')\n"
        "    c = wandb.Artifact('c', type='code'); c.add_dir('d'); r.log_artifact(c)\n"
        "    os.write(w_out, json.dumps(masks()).encode()); os._exit(0)\n"
        "os.close(w_out); child = json.loads(os.read(r_in, 1 << 16)); os.waitpid(pid, 0)\n"
        "print(json.dumps({'parent': masks(), 'child': child}))\n"
        "wandb.finish()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    wanted = (1 << 0) | (1 << 1) | (1 << 14)  # SIGHUP, SIGINT, SIGTERM
    for side in ("parent", "child"):
        assert seen[side], f"no helper thread seen in the {side}"
        for mask in seen[side]:
            assert mask & wanted == wanted, f"{side}: a helper thread blocks only {mask:#x}"


def test_log_code_takes_wandbs_files_and_two_argument_functions(repo):
    (repo / "requirements.txt").write_text("torch\n")
    (repo / "Dockerfile.gpu").write_text("FROM python\n")
    (repo / "notes.txt").write_text("no\n")
    (repo / "wandb").mkdir()
    (repo / "wandb" / "x.py").write_text("y\n")
    run = codever.init(project="safelife")
    art = run.log_code()
    assert list(art.manifest.entries) == [
        "Dockerfile.gpu", "main.py", "requirements.txt", "training/dqn.py",
        "training/models.py", "training/ppo.py",
    ]
    seen = []
    only = run.log_code(
        name="two-args",
        include_fn=lambda path, root: seen.append(root) or os.path.relpath(path, root).startswith("training"),
        exclude_fn=lambda path, root: path.endswith("dqn.py"),
    )
    assert list(only.manifest.entries) == ["training/models.py", "training/ppo.py"]
    assert set(seen) == {str(repo)}
    assert run.log_code(name="none", include_fn=lambda p: False) is None


def test_log_code_names_the_artifact_by_the_scripts_path_as_wandb(repo):
    (repo / "scripts").mkdir()
    (repo / "scripts" / "train.py").write_text(
        "import codever as wandb\nrun = wandb.init(project='p')\nprint(run.log_code('.').name)\nwandb.finish()\n"
    )
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    out = subprocess.run([sys.executable, "scripts/train.py"], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "source-p-scripts_train.py"
    inside = subprocess.run([sys.executable, "train.py"], cwd=repo / "scripts", capture_output=True, text=True)
    assert inside.stdout.strip() == "source-p-scripts_train.py"  # relative to the repository


def test_log_artifact_takes_a_path_and_wandbs_keywords(repo):
    run = codever.init(id="r1")
    f = run.log_artifact("training/ppo.py")
    assert (f.type, f._name, list(f.manifest.entries)) == ("unspecified", "run-r1-ppo.py", ["ppo.py"])
    d = codever.log_artifact("training", name="training-code", type="code", aliases="best", tags=["ppo", "sweep 1"])
    assert (d.aliases, d.tags) == (["latest", "best"], ["ppo", "sweep 1"])
    assert list(d.manifest.entries) == ["dqn.py", "models.py", "ppo.py"]
    with pytest.raises(codever.InvalidInputError, match='invalid tag "a/b"'):
        run.log_artifact("training/ppo.py", name="x", tags=["a/b"])
    with pytest.raises(codever.InvalidInputError, match="remote storage"):
        run.log_artifact("s3://bucket/model.pt")


def test_a_file_changed_after_add_file_is_refused_not_logged_silently(repo):
    run = codever.init()
    a = codever.Artifact("m", type="code")
    a.add_file("main.py")
    (repo / "main.py").write_text("changed after add_file\n")
    with pytest.raises(codever.InvalidInputError, match="main.py changed after being added to m"):
        run.log_artifact(a)
    b = codever.Artifact("m", type="code")
    b.add_file("main.py", policy="immutable")  # the user promised not to change it
    (repo / "main.py").write_text("changed again\n")
    run.log_artifact(b)
    assert b.read("main.py") == b"changed again\n"


def test_incremental_artifacts_and_drafts_keep_the_previous_files(repo):
    run = codever.init()
    base = codever.Artifact("data", type="dataset")
    base.add_dir("training")
    run.log_artifact(base)
    more = codever.Artifact("data", type="dataset", incremental=True)
    more.add_file("main.py")
    run.log_artifact(more)
    assert (more.version, list(more.manifest.entries)) == ("v1", ["dqn.py", "main.py", "models.py", "ppo.py"])
    draft = codever.Api().artifact("data:v1").new_draft()
    draft.remove("dqn.py")
    with draft.new_file("ppo.py", mode="w") as f:
        f.write("replaced\n")
    run.log_artifact(draft)
    assert (draft.version, list(draft.manifest.entries)) == ("v2", ["main.py", "models.py", "ppo.py"])
    assert draft.read("ppo.py") == b"replaced\n"
    assert draft.read("models.py") == (repo / "training/models.py").read_bytes()
    with pytest.raises(FileNotFoundError, match="Cannot remove missing entry"):
        codever.Artifact("x", type="t").remove("nope.py")


def test_downloads_of_parts_entries_and_single_files(repo, tmp_path):
    run = codever.init()
    a = codever.Artifact("code", type="code")
    a.add_dir(".", gitignore=True)
    run.log_artifact(a)
    got = codever.Api().artifact("code:latest")
    root = got.download(str(tmp_path / "part"), path_prefix="training/", skip_cache=True, allow_missing_references=True)
    assert sorted(p.name for p in Path(root, "training").iterdir()) == ["dqn.py", "models.py", "ppo.py"]
    assert not Path(root, "main.py").exists()
    path = got.get_path("main.py").download(str(tmp_path / "one"))
    assert Path(path).read_bytes() == (repo / "main.py").read_bytes()
    with pytest.raises(KeyError, match="nope.py"):
        got.get_entry("nope.py")
    with pytest.raises(ValueError, match="more than one file"):
        got.file()
    single = codever.log_artifact("main.py", name="main", type="code")
    assert Path(codever.Api().artifact("main:v0").file(str(tmp_path / "f"))).read_bytes() == (repo / "main.py").read_bytes()
    assert single.wait() is single and single.name == "main:v0"
    f = [x for x in got.files() if x.name == "main.py"][0]
    assert (f.size, f.md5) == ((repo / "main.py").stat().st_size, got.get_entry("main.py").digest)
    with f.download(str(tmp_path / "files")) as fh:
        assert fh.read() == (repo / "main.py").read_text()
    with pytest.raises(ValueError, match="File already exists"):
        f.download(str(tmp_path / "files"))
    f.download(str(tmp_path / "files"), exist_ok=True).close()
    assert got.files(names=["main.py"])[0].name == "main.py"
    # A partial download never writes through a link.
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "training").symlink_to(outside, target_is_directory=True)
    with pytest.raises(codever.CodeverError, match="is a link or not a directory"):
        got.download(str(tmp_path / "linked"), path_prefix="training/")
    assert list(outside.iterdir()) == []


def test_runs_read_back_with_who_logged_and_used_each_version(repo):
    scores = {"run-a": 0.62, "run-b": 0.91, "run-c": 0.75}
    for rid, reward in scores.items():
        run = codever.init(id=rid, name=f"name-{rid}", config={"lr": reward / 10})
        a = codever.Artifact("ppo", type="rl_algo_code")
        with a.new_file("ppo.py") as f:
            f.write(f"lr = {reward / 10}\n")
        run.log_artifact(a)
        run.log({"reward": reward})
        run.finish()
    evaluator = codever.init(id="eval", job_type="eval")
    evaluator.use_artifact("ppo:v1")
    evaluator.finish()
    api = codever.Api()
    v1 = api.artifact("ppo:v1")
    assert v1.logged_by().id == "run-b" and v1.logged_by().name == "name-run-b"
    assert [r.id for r in v1.used_by()] == ["eval"]
    assert [r.id for r in api.runs(order="-summary_metrics.reward")] == ["run-b", "run-c", "run-a", "eval"]
    assert [r.id for r in api.runs(filters={"config.lr": 0.091})] == ["run-b"]
    b = api.run("me/uncategorized/run-b")
    assert (b.summary["reward"], b.config, b.state) == (0.91, {"lr": 0.091}, "finished")
    assert [a.version for a in b.logged_artifacts()] == ["v1"]
    assert [a.name for a in api.run("eval").used_artifacts()] == ["ppo:v1"]


def test_dir_makes_its_store_there(repo, tmp_path):
    run = codever.init(dir=str(tmp_path / "elsewhere"))
    assert Path(run._store) == tmp_path / "elsewhere" / ".codever"
    assert os.path.isdir(run.dir) and run.dir.startswith(run._store)
    saved = run.save(str(repo / "main.py"))
    assert [Path(p).name for p in saved] == ["main.py"]


def test_a_run_interrupted_by_ctrl_c_records_exit_255_and_its_summary(repo):
    import signal

    p = _started(
        "import signal, time, codever as wandb\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "wandb.init(id='interrupted', config={'lr': 1})\n"
        "wandb.log({'reward': 0.25})\n"
        "wandb.log({'reward': 0.75})\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n",
        repo,
    )
    p.send_signal(signal.SIGINT)
    # Python dies of SIGINT after an uncaught KeyboardInterrupt, as a shell expects.
    assert p.wait(timeout=30) == -signal.SIGINT
    row = cli(repo / ".codever", "runs", "show", "interrupted")
    assert (row["summary"]["reward"], row["steps"], row["config"]) == (0.75, 2, {"lr": 1})
    assert (row["finished"], row["exit_code"]) == (True, 255)


def test_tags_and_notes_edited_during_a_run_are_saved_with_it(repo):
    run = codever.init(id="edited", tags=["baseline"], name="first", notes="n0")
    assert run.tags == ("baseline",)
    run.tags = run.tags + ("best",)
    run.name = "renamed"
    run.notes = "edited notes"
    codever.log({"x": 1})
    run.finish()
    row = cli(repo / ".codever", "runs", "show", "edited")
    assert (row["tags"], row["name"], row["notes"]) == (["baseline", "best"], "renamed", "edited notes")
    assert "_codever" not in row["summary"] and row["summary"]["x"] == 1
    back = codever.Api().run("edited")
    assert (back.tags, back.name, back.notes) == (["baseline", "best"], "renamed", "edited notes")
    # W&B's run.tags is a tuple of what it is given: a string gives its letters.
    other = codever.init(id="letters", reinit="create_new")
    other.tags = "xyz"
    assert other.tags == ("x", "y", "z")
    other.notes = None
    other.finish()
    row = cli(repo / ".codever", "runs", "show", "letters")
    assert (row["tags"], row["notes"]) == (["x", "y", "z"], None)
    # A run whose tags are not edited keeps those it started with.
    codever.init(id="plain", tags=["a"], notes="n", reinit="create_new").finish()
    row = cli(repo / ".codever", "runs", "show", "plain")
    assert (row["tags"], row["notes"]) == (["a"], "n")


def test_resuming_a_run_restores_its_config_summary_and_step(repo):
    codever.init(project="p", id="job42", config={"lr": 0.1}, tags=["t"])
    for i in range(10):
        codever.log({"loss": 1 / (i + 1), "acc": i / 10})
    codever.run.summary["best"] = 0.9
    codever.finish(exit_code=143)  # as if preempted
    run = codever.init(project="p", id="job42", resume="must", config={"epochs": 5})
    assert (run.resumed, run.step, run.tags) == (True, 10, ("t",))
    assert dict(run.config) == {"lr": 0.1, "epochs": 5} and codever.config.lr == 0.1
    assert (run.summary["loss"], run.summary["best"], run.summary["_step"]) == (0.1, 0.9, 9)
    codever.log({"loss": 0.05})
    assert run.step == 11
    codever.finish()
    row = cli(repo / ".codever", "runs", "show", "job42")
    assert (row["summary"]["_step"], row["summary"]["loss"], row["summary"]["best"]) == (10, 0.05, 0.9)
    assert (row["steps"], row["exit_code"], row["config"]) == (11, 0, {"lr": 0.1, "epochs": 5})
    assert row["ranges"]["loss"] == {"min": 0.05, "max": 1.0}
    # "allow" resumes an existing run and starts a new one otherwise.
    again = codever.init(id="job42", resume="allow")
    assert (again.step, again.config.epochs) == (11, 5)
    again.finish()
    fresh = codever.init(id="new-one", resume="allow")
    assert (fresh.step, dict(fresh.config), fresh.resumed) == (0, {}, False)
    fresh.finish()


def test_artifact_dirs_verify_projects_and_names_as_wandb(repo, monkeypatch, tmp_path):
    run = codever.init(project="proj")
    art = codever.Artifact("model", type="model")
    art.add_dir("training")
    run.log_artifact(art)
    assert (art.project, art.entity, art.qualified_name) == ("proj", "", "proj/model:v0")
    run.finish()
    scratch = tmp_path / "scratch"
    monkeypatch.setenv("WANDB_ARTIFACT_DIR", str(scratch))
    a = codever.Api().artifact("model:v0")
    assert (a.project, a.entity, a.qualified_name) == ("proj", "", "proj/model:v0")
    assert a.download() == str(scratch / "model:v0")
    assert a.checkout() == str(scratch / "model")  # W&B: without the version
    assert (scratch / "model" / "ppo.py").read_bytes() == (repo / "training" / "ppo.py").read_bytes()
    a.verify(str(scratch / "model"))
    (scratch / "model" / "ppo.py").write_text("tampered\n")
    with pytest.raises(ValueError, match="differs from model:v0: ppo.py") as e:
        a.verify(str(scratch / "model"))
    assert isinstance(e.value, codever.VerifyError) and isinstance(e.value, codever.CodeverError)
    monkeypatch.delenv("WANDB_ARTIFACT_DIR")
    assert a.download() == str(repo / "artifacts" / "model:v0")
    # A project names the project of the runs that logged the version.
    api = codever.Api()
    e = api.artifact("me/proj/model:v0")
    assert (e.entity, e.project, e.qualified_name) == ("me", "proj", "me/proj/model:v0")
    for path in ("otherproj/model:v0", "me/otherproj/model:latest"):
        with pytest.raises(codever.NotFoundError, match="model was logged by runs of project 'proj', not of project 'otherproj'"):
            api.artifact(path)
        assert not api.artifact_exists(path)
    user = codever.init(project="eval", reinit="create_new")
    with pytest.raises(codever.NotFoundError, match="not of project 'eval'"):
        user.use_artifact("eval/model:v0")
    assert user.use_artifact("proj/model:v0").version == "v0"
    user.finish()
    assert [u["name"] for u in cli(repo / ".codever", "runs", "show", user.id)["used"]] == ["model"]
    # codever's TYPE/NAME is not a project.
    assert api.artifact("model/model:v0").project == "proj"
    with pytest.raises(codever.InvalidInputError, match="used prior to logging"):
        codever.Artifact("draft", type="model").qualified_name


def test_runs_filters_and_order_apply_wandbs_queries_or_refuse_them(repo):
    import time

    for i, acc in enumerate([0.5, 0.9, 0.7]):
        codever.init(project="p", name=f"run{i}", config={"lr": 0.1 * (i + 1), "opt": {"name": "adam" if i else "sgd"}},
                     tags=["even"] if i % 2 == 0 else [])
        codever.define_metric("loss", summary="min")
        codever.log({"acc": acc, "loss": 1 - 0.1 * i})
        codever.log({"acc": acc, "loss": 2.0})
        codever.finish()
        time.sleep(0.002)
    api = codever.Api()

    def names(**kw):
        return [r.name for r in api.runs("p", **kw)]

    assert names(filters={"summary_metrics.acc": {"$gt": 0.6}}) == ["run1", "run2"]
    assert names(filters={"summary_metrics.acc": {"$gte": 0.7, "$lt": 0.9}}) == ["run2"]
    assert names(filters={"config.lr.value": 0.1}) == ["run0"]
    assert names(filters={"config.lr": {"$lte": 0.2}}) == ["run0", "run1"]
    assert names(filters={"config.opt.name": "adam"}) == ["run1", "run2"]
    assert names(filters={"config.opt.value.name": {"$ne": "adam"}}) == ["run0"]
    assert names(filters={"config.opt.name": {"$in": ["sgd", "x"]}}) == ["run0"]
    assert names(filters={"config.missing": {"$exists": False}}) == ["run0", "run1", "run2"]
    assert names(filters={"tags": "even"}) == ["run0", "run2"]
    assert names(filters={"$or": [{"display_name": "run1"}, {"summary_metrics.loss.min": 0.8}]}) == ["run1", "run2"]
    assert names(filters={"$and": [{"state": "finished"}, {"config.lr": {"$gt": 0.25}}]}) == ["run2"]
    assert names(order="+summary_metrics.loss.min") == ["run2", "run1", "run0"]
    assert names(order="-summary_metrics.acc") == ["run1", "run2", "run0"]
    assert names(order="-config.lr") == ["run2", "run1", "run0"]
    assert names(order="-created_at") == ["run2", "run1", "run0"]
    for filters, what in [
        ({"summary_metrics.acc": {"$regex": "0.*"}}, "operator '\\$regex' on summary_metrics.acc"),
        ({"config.lr": {"$in": 0.1}}, "config.lr \\$in expects a list"),
        ({"createdAt": {"$gt": "2024"}}, "'createdAt' is not applied"),
        ({"$nor": [{"state": "finished"}]}, "'\\$nor' is not applied"),
        ({"$or": []}, "\\$or expects a non-empty list"),
        ({"config.": 1}, "'config.' is not applied"),
    ]:
        with pytest.raises(ValueError, match=what):
            api.runs("p", filters=filters)
    with pytest.raises(codever.InvalidInputError, match="order '\\+heartbeat_at'"):
        api.runs(order="+heartbeat_at")


def test_editing_a_fetched_version_saves_what_wandb_saves_or_says_why_not(repo):
    (repo / "f.txt").write_text("x\n")
    run = codever.init(project="p")
    a = codever.Artifact("m", type="model", description="old", metadata={"acc": 0.1})
    a.add_file("f.txt")
    run.log_artifact(a, aliases=["staging"], tags=["t0"])
    api = codever.Api()
    v = api.artifact("m:v0")
    v.aliases.append("best")
    v.save()
    assert api.artifact("m:v0").aliases == ["latest", "best", "staging"]  # the store's order
    v = api.artifact("m:v0")
    v.aliases = ["latest", "staging", "best", "prod"]
    v.save()
    assert v.aliases == ["latest", "best", "prod", "staging"]
    assert cli(repo / ".codever", "show", "m:prod")["version"] == 0
    # What codever cannot store is an error, and nothing of the save is written.
    v = api.artifact("m:v0")
    v.aliases = ["prod", "rc"]  # W&B replaces the set: staging and best would go
    with pytest.raises(codever.InvalidInputError, match="cannot take alias\\(es\\) best, staging off a version"):
        v.save()
    assert api.artifact("m:v0").aliases == ["latest", "best", "prod", "staging"]
    for edit, what in [
        (lambda v: v.tags.append("reviewed"), "tags"),
        (lambda v: setattr(v, "description", "new"), "description"),
        (lambda v: v.metadata.update(acc=0.9), "metadata"),
    ]:
        v = api.artifact("m:v0")
        edit(v)
        v.aliases.append("never")
        with pytest.raises(codever.InvalidInputError, match=f"cannot change the {what} of a logged version"):
            v.save()
    assert "never" not in api.artifact("m:v0").aliases
    # The way to add tags the error names: log it again from a draft with them.
    run.log_artifact(api.artifact("m:v0").new_draft(), tags=["reviewed"])
    v = api.artifact("m:v0")
    assert (v.tags, v.description, v.metadata) == (["t0", "reviewed"], "old", {"acc": 0.1})
    with pytest.raises(codever.InvalidInputError, match="invalid alias"):
        v.aliases.append("best model")
        v.save()
    run.finish()
