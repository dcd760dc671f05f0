"""codever against the real `wandb` package (offline): the same training script under both, the
same artifacts built with both, and what W&B records in its own run log.

W&B runs here offline (`WANDB_MODE=offline`, every W&B directory in a temp dir): it never
talks to a server. Offline, W&B cannot read artifacts back (`use_artifact` raises, a logged
artifact's `version` and `files()` need `wait()`), so what codever reads back is compared with
what W&B wrote into its run's transaction log (`run-<id>.wandb`, read with W&B's protobufs).
"""

import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import codever
import wandb
from wandb.proto import wandb_internal_pb2

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIXTURES = REPO / "fixtures" / "safelife"
SCRIPT = HERE / "wandb_train.py"


def cli(store, *args):
    binary = os.environ.get("CODEVER_BIN") or str(REPO / "target" / "debug" / "codever")
    out = subprocess.run(
        [binary, "--store", str(store), "--json", *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


def wandb_env(tmp):
    """An environment where W&B stays offline and writes only below `tmp`."""
    env = dict(os.environ)
    for var in ("WANDB_API_KEY", "CODEVER_DIR", "CODEVER_RUN_ID"):
        env.pop(var, None)
    env.update(
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_DIR=str(tmp / "wandb-dir"),
        WANDB_CACHE_DIR=str(tmp / "wandb-cache"),
        WANDB_DATA_DIR=str(tmp / "wandb-data"),
        WANDB_CONFIG_DIR=str(tmp / "wandb-config"),
        WANDB_ARTIFACT_DIR=str(tmp / "wandb-artifacts"),
    )
    return env


def run_script(work, env, *args):
    result = subprocess.run(
        [sys.executable, "train.py", *args], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def wandb_records(run_dir):
    """The records of W&B's transaction log (`run-<id>.wandb`): a LevelDB-style log of 32 KiB
    blocks, each record in chunks with a 7-byte header (CRC, length, type: 1 full, 2 first,
    3 middle, 4 last), after a 7-byte file header."""
    (path,) = Path(run_dir).glob("run-*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, pending, out = 7, 32768, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            out.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind in (3, 4):
            pending += chunk
            if kind == 4:
                out.append(pending)
        elif kind == 0 and length == 0:
            break
    records = []
    for raw in out:
        r = wandb_internal_pb2.Record()
        r.ParseFromString(raw)
        records.append(r)
    return records


def wandb_run_state(records):
    """(config, summary, artifacts) as W&B recorded them: the run's config and its updates,
    the summary folded from its updates, each artifact's record by name."""
    config, summary, artifacts = {}, {}, {}
    for r in records:
        kind = r.WhichOneof("record_type")
        if kind == "run":
            config.update({i.key: json.loads(i.value_json) for i in r.run.config.update})
        elif kind == "config":
            config.update({i.key: json.loads(i.value_json) for i in r.config.update})
        elif kind == "summary":
            for i in r.summary.update:
                keys = list(i.nested_key) or [i.key]
                d = summary
                for k in keys[:-1]:
                    d = d.setdefault(k, {})
                d[keys[-1]] = json.loads(i.value_json)
        elif kind == "artifact":
            artifacts[r.artifact.name] = r.artifact
    for d in (config, summary):
        d.pop("_wandb", None)
    for k in ("_runtime", "_timestamp"):
        summary.pop(k, None)
    return config, summary, artifacts


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The training script run once under W&B (offline) and once under codever, each in its
    own copy of the example repo. Returns both outputs, W&B's run directory and codever's
    working copy."""
    tmp = tmp_path_factory.mktemp("compat")
    env = wandb_env(tmp)
    work_w, work_c = tmp / "with-wandb", tmp / "with-codever"
    for work, import_line in [(work_w, "import wandb"), (work_c, "import codever as wandb")]:
        shutil.copytree(FIXTURES / "baseline", work)
        text = SCRIPT.read_text()
        assert text.count("\nimport wandb\n") == 1
        (work / "train.py").write_text(text.replace("\nimport wandb\n", f"\n{import_line}\n"))
        run_script(work, env, "--out", str(tmp / f"{work.name}.json"))
    (run_dir,) = (tmp / "wandb-dir" / "wandb").glob("offline-run-*")
    outputs = {w.name: json.loads((tmp / f"{w.name}.json").read_text()) for w in (work_w, work_c)}
    return outputs["with-wandb"], outputs["with-codever"], run_dir, work_c, env


def test_a_wandb_training_script_runs_unchanged_and_reads_back_the_same_values(trained):
    w, c, _, work_c, _ = trained
    # The script itself is part of the code it logs, and its import line differs: every
    # other file, and every other value it read back, is the same.
    w_source, c_source = w.pop("source"), c.pop("source")
    assert w == c
    assert w_source["entries"] == c_source["entries"] == [
        "main.py", "train.py", "training/dqn.py", "training/models.py", "training/ppo.py",
    ]
    assert (c_source["name"], c_source["type"]) == (w_source["name"], w_source["type"])
    # codever's digest is W&B's digest of codever's files, computed by W&B itself.
    art = wandb.Artifact("check", type="code")
    for rel in c_source["entries"]:
        art.add_file(str(work_c / rel), name=rel)
    assert c_source["digest"] == art.digest
    # A few of the values, spelled out (the script read them through W&B's API).
    assert c["config"] == {"batch_size": 64, "clip": 0.2, "epochs": 4, "gamma": 0.99, "lr": 0.0003, "seed": 7}
    assert c["summary"]["reward"] == {"last": 0.421899, "max": 0.421899}
    # A step logged with step= stays open until the next step or finish (W&B's rule): read
    # before finish, the summary does not have it yet.
    assert c["summary"]["_step"] == 3 and "eval/accuracy" not in c["summary"]
    assert c["run"]["name"] == "ppo-lr0.0003" and c["run"]["step"] == 9
    assert c["code"]["digest"] == "3a693dd6f9f21e9f656b6f4969088364"


def test_the_run_keeps_the_config_and_summary_wandb_recorded(trained):
    w, _, run_dir, work_c, _ = trained
    config, summary, _ = wandb_run_state(wandb_records(run_dir))
    (row,) = [r for r in cli(work_c / ".codever", "runs") if r["job_type"] == "train"]
    assert row["config"] == config
    mine = {k: v for k, v in row["summary"].items() if k not in ("_runtime", "_timestamp")}
    assert mine == summary
    assert (row["name"], row["group"], row["tags"], row["notes"], row["finished"], row["exit_code"]) == (
        "ppo-lr0.0003", "lr-sweep", ["ppo", "baseline"], "first try", True, 0
    )  # a finish without an exit code records 0, as W&B's exit record does
    assert row["ranges"]["loss"] == {"min": 0.2503, "max": 1.0003}
    assert (row["steps"], row["summary"]["_step"], row["summary"]["eval/accuracy"]) == (10, 9, 0.75)


def test_the_evaluation_stage_downloads_exactly_what_wandb_logged(trained):
    _, _, run_dir, work_c, env = trained
    out = work_c.parent / "eval.json"
    run_script(work_c, env, "--stage", "eval", "--out", str(out))
    ev = json.loads(out.read_text())
    _, _, artifacts = wandb_run_state(wandb_records(run_dir))
    logged = {m.path: m for m in artifacts["ppo"].manifest.contents}
    code = ev["code"]
    assert sorted(code["files"]) == sorted(logged)
    for path, text in code["files"].items():
        md5 = base64.b64encode(hashlib.md5(text.encode()).digest()).decode()
        assert (md5, len(text.encode())) == (logged[path].digest, logged[path].size), path
    assert code["digest"] == artifacts["ppo"].digest
    assert (code["name"], code["version"]) == ("ppo:v0", "v0")
    assert code["aliases"] == ["latest", "best"]
    assert sorted(artifacts["ppo"].aliases) == ["best", "latest"]  # W&B's order is a set's
    assert code["tags"] == ["rl"] == list(artifacts["ppo"].tags)
    assert code["listed"] == [[p, logged[p].size] for p in sorted(logged)]
    models = {m.path: m for m in artifacts["model_code"].manifest.contents}
    md5 = base64.b64encode(hashlib.md5(ev["models"]["entry"].encode()).digest()).decode()
    assert md5 == models["models.py"].digest
    assert ev["models"]["name"] == "model_code:v0"
    assert ev["models"]["hparams"]["lr"] == 0.0003
    assert ev["dqn"] == {"file": (FIXTURES / "baseline/training/dqn.py").read_text(), "logged_by_train": "train"}


# -- artifacts built with both ------------------------------------------------------------------


def _tree(root):
    """A directory like real code folders: nested files, dotfiles, ignored files (by a
    .gitignore), a link to a folder, a link to a file, an empty file, binary and executable
    files, a non-ASCII name."""
    files = {
        "main.py": "print('hi')\n",
        "training/ppo.py": "lr = 3e-4\n",
        "training/models.py": "class Net: pass\n",
        "training/.hidden.py": "x = 1\n",
        ".gitignore": "*.log\nbuild/\n",
        "run.log": "ignored by git\n",
        "build/out.py": "generated\n",
        "configs/base.yaml": "lr: 0.1\n",
        "empty.py": "",
        "données/é.py": "accent = 1\n",
    }
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (root / "weights.bin").write_bytes(bytes(range(256)) * 3)
    (root / "train.sh").write_text("#!/bin/sh\n")
    (root / "train.sh").chmod(0o755)
    shared = root.parent / f"{root.name}-shared"
    (shared / "utils").mkdir(parents=True)
    (shared / "utils" / "common.py").write_text("def f(): pass\n")
    (root / "shared").symlink_to(shared, target_is_directory=True)
    (root / "ppo_link.py").symlink_to(root / "training" / "ppo.py")
    (root / "empty-dir").mkdir()
    return root


def _cases(root):
    """(label, builder): each builder makes an artifact with the module it is given."""
    t = root
    return [
        ("one file", lambda m, a: a.add_file(str(t / "main.py"))),
        ("a file under a name", lambda m, a: a.add_file(str(t / "training/ppo.py"), name="algo/ppo.py")),
        ("two files", lambda m, a: (a.add_file(str(t / "main.py")), a.add_file(str(t / "training/ppo.py")))),
        ("the same file twice", lambda m, a: (a.add_file(str(t / "main.py")), a.add_file(str(t / "main.py")))),
        ("an empty file", lambda m, a: a.add_file(str(t / "empty.py"))),
        ("a binary file", lambda m, a: a.add_file(str(t / "weights.bin"))),
        ("an executable", lambda m, a: a.add_file(str(t / "train.sh"))),
        ("a link to a file", lambda m, a: a.add_file(str(t / "ppo_link.py"))),
        ("a non-ASCII name", lambda m, a: a.add_file(str(t / "données/é.py"), name="données/é.py")),
        ("a new file", lambda m, a: _new_file(a, "notes.txt", "hello\n")),
        ("nothing", lambda m, a: None),
        ("a plain folder", lambda m, a: a.add_dir(str(t / "training"))),
        ("a folder under a name", lambda m, a: a.add_dir(str(t / "training"), name="code/training")),
        ("a folder with ignored files", lambda m, a: a.add_dir(str(t / "build"))),
        ("the whole tree (ignored files, links to folders)", lambda m, a: a.add_dir(str(t))),
        ("the whole tree under a name", lambda m, a: a.add_dir(str(t), name="repo")),
        ("a linked folder", lambda m, a: a.add_dir(str(t / "shared"))),
        ("a folder twice", lambda m, a: (a.add_dir(str(t / "training")), a.add_dir(str(t / "training")))),
        ("a file and its folder", lambda m, a: (a.add_file(str(t / "training/ppo.py"), name="ppo.py"), a.add_dir(str(t / "training")))),
        ("two folders", lambda m, a: (a.add_dir(str(t / "training"), name="t"), a.add_dir(str(t / "configs"), name="c"))),
        ("a folder with only an empty folder", lambda m, a: a.add_dir(str(t / "empty-dir"))),
        ("a file, then a folder replacing it (merge)", lambda m, a: (_new_file(a, "ppo.py", "old\n"), a.add_dir(str(t / "training"), merge=True))),
    ]


def _new_file(a, name, text):
    with a.new_file(name, mode="w") as f:
        f.write(text)


def test_digests_equal_wandbs_on_files_folders_ignored_files_and_links(tmp_path):
    root = _tree(tmp_path / "proj")
    results = []
    for label, build in _cases(root):
        mine, theirs = codever.Artifact("a", type="code"), wandb.Artifact("a", type="code")
        build(codever, mine)
        build(wandb, theirs)
        entries = lambda a: {p: (e.digest, e.size) for p, e in a.manifest.entries.items()}  # noqa: E731
        results.append((label, mine.digest == theirs.digest, entries(mine) == entries(theirs)))
    assert results == [(label, True, True) for label, _ in _cases(root)]
    assert len(results) == 22


def test_gitignore_is_an_explicit_option_of_add_dir(tmp_path):
    root = _tree(tmp_path / "proj")
    a = codever.Artifact("a", type="code")
    a.add_dir(str(root), gitignore=True)
    paths = list(a.manifest.entries)
    assert "run.log" not in paths and "build/out.py" not in paths
    assert "shared/utils/common.py" not in paths  # links to folders are not followed either
    assert "ppo_link.py" in paths and "main.py" in paths


def test_git_and_codever_folders_are_never_stored_and_a_line_says_so(tmp_path, capsys):
    root = _tree(tmp_path / "proj")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    a = codever.Artifact("a", type="code")
    a.add_dir(str(root))
    assert not [p for p in a.manifest.entries if p.startswith(".git/")]
    assert "skipped .git/: codever never stores .git or .codever directories" in capsys.readouterr().err
    w = wandb.Artifact("a", type="code")
    w.add_dir(str(root))
    assert ".git/HEAD" in w.manifest.entries  # W&B stores it: the digests differ, as the line says
    assert a.digest != w.digest


def test_a_changed_file_is_an_error_like_wandb_on_the_same_path(tmp_path):
    (tmp_path / "a.py").write_text("1\n")
    (tmp_path / "b.py").write_text("2\n")
    for m in (codever, wandb):
        art = m.Artifact("a", type="code")
        art.add_file(str(tmp_path / "a.py"))
        with pytest.raises(ValueError, match="Cannot add the same path twice: 'a.py'"):
            art.add_file(str(tmp_path / "b.py"), name="a.py")
        art.add_file(str(tmp_path / "b.py"), name="a.py", overwrite=True)
        assert art.manifest.entries["a.py"].size == 2


def test_names_are_checked_when_the_artifact_is_made(tmp_path):
    with pytest.raises(ValueError):
        wandb.Artifact("bad name", type="t")
    with pytest.raises(ValueError, match='invalid artifact name "bad name"') as e:
        codever.Artifact("bad name", type="t")
    assert isinstance(e.value, codever.InvalidInputError) and isinstance(e.value, codever.CodeverError)
    for kwargs in ({"incremental": False, "use_as": None}, {"storage_region": None}):
        codever.Artifact("ok", type="t", **kwargs)
        wandb.Artifact("ok", type="t", **kwargs)


# -- aliases and names of versions --------------------------------------------------------------


@pytest.fixture
def store_with_versions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CODEVER_DIR", raising=False)
    monkeypatch.delenv("CODEVER_RUN_ID", raising=False)
    codever._set_current(None)
    run = codever.init(project="safelife", dir=str(tmp_path))
    for i, aliases in enumerate(["best", ["prod", "best"]]):
        a = codever.Artifact("ppo", type="rl_algo_code")
        with a.new_file("ppo.py") as f:
            f.write(f"lr = {i}\n")
        run.log_artifact(a, aliases=aliases)
    other = codever.Artifact("safelife", type="ppo")  # a type named like an artifact
    with other.new_file("x.py") as f:
        f.write("x\n")
    run.log_artifact(other)
    yield run
    codever.finish()
    codever._set_current(None)


def test_an_alias_given_as_a_string_is_one_alias(store_with_versions):
    run = store_with_versions
    api = codever.Api()
    v0 = api.artifact("ppo:v0")
    assert v0.aliases == []  # "best" moved to v1, and was never "b", "e", "s", "t"
    assert api.artifact("ppo:best").version == "v1"
    assert api.artifact("ppo:latest").aliases == ["latest", "best", "prod"]
    for bad in ("b", "e", "s", "t"):
        assert not api.artifact_exists(f"ppo:{bad}")
    # use_artifact(aliases=) points them at the version used.
    used = run.use_artifact("ppo:v0", aliases="rollback")
    assert used.aliases == ["rollback"]


def test_wandb_paths_name_the_artifact_not_its_type(store_with_versions):
    api = codever.Api()
    for path in (
        "ppo:best",
        "safelife/ppo:best",
        "me/safelife/ppo:best",
        "rl_algo_code/ppo:best",
    ):
        a = api.artifact(path)
        assert (a.type, a.name, a.version) == ("rl_algo_code", "ppo:v1", "v1"), path
    assert api.artifact("ppo:v0", type="rl_algo_code").version == "v0"
    assert api.artifact("safelife/ppo:v0", type="rl_algo_code").version == "v0"
    # `ppo/safelife` is codever's TYPE/NAME: the store has an artifact safelife of type ppo.
    assert api.artifact("ppo/safelife").type == "ppo"
    with pytest.raises(codever.InvalidInputError, match=r'artifact rl_algo_code/ppo has type "rl_algo_code", not "model"'):
        api.artifact("ppo:v0", type="model")
    with pytest.raises(codever.InvalidInputError, match="expected"):
        api.artifact("a/b/c/ppo:v0")
    assert api.artifact_exists("me/safelife/ppo:v1") and not api.artifact_exists("ppo:v7")
    assert [a.version for a in api.artifacts("rl_algo_code", "ppo")] == ["v0", "v1"]


# -- input checks, as W&B makes them ------------------------------------------------------------


def test_a_bad_path_in_add_file_is_a_value_error_and_the_artifact_stays_usable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CODEVER_DIR", raising=False)
    (tmp_path / "good.txt").write_text("good\n")
    digests = []
    for m, in_run in ((wandb, False), (codever, False), (codever, True)):
        run = codever.init(project="p", dir=str(tmp_path)) if in_run else None
        a = m.Artifact("art", type="dataset")
        a.add_file("good.txt")
        for bad in ("/abs.txt", "../up.txt", "a/../../b.txt"):
            with pytest.raises(ValueError):
                a.add_file("good.txt", name=bad)
            if m is codever:  # W&B's new_file takes it (and fails later)
                with pytest.raises(ValueError):
                    a.new_file(bad)
        a.add_file("good.txt", name="./x/./y.txt")
        assert sorted(a.manifest.entries) == ["good.txt", "x/y.txt"], m
        digests.append(a.digest)
        if run is not None:
            run.log_artifact(a)
            assert (a.version, a.file_count) == ("v0", 2)
            run.finish()
    assert digests[0] == digests[1] == digests[2]
    codever._set_current(None)


CHECKS = """
import os, importlib
W = importlib.import_module(os.environ["IMPL"])
def t(label, f):
    try:
        print(label, "->", repr(f()))
    except Exception as e:
        print(label, "raises", [k.__name__ for k in type(e).__mro__ if k.__module__ == "builtins"][0],
              "wandb.Error" if isinstance(e, W.Error) else "")
run = W.init(project="p", config={"--lr": 0.1, "---seed": 3})
t("config keys", lambda: sorted(W.config.keys()))
t("config.lr", lambda: W.config.lr)
t("log int key", lambda: W.log({1: 2}))
t("log float step", lambda: W.log({"a": 1}, step=12.5))
t("step", lambda: run.step)
t("config object()", lambda: W.config.update({"obj": object()}))
t("config complex", lambda: (W.config.update({"c": 1j}), "c" in W.config)[1])
t("config slice", lambda: (W.config.update({"s": slice(1, 5)}), W.config.s)[1])
t("config --batch", lambda: (W.config.update({"--batch": 8}), W.config.batch)[1])
t("define_metric list", lambda: W.define_metric("m", summary=["min"]))
t("define_metric hidden", lambda: W.define_metric("m", hidden="yes"))
W.finish()
"""


def test_input_checks_raise_what_wandb_raises(tmp_path):
    env = wandb_env(tmp_path)
    (tmp_path / "checks.py").write_text(CHECKS)
    out = {}
    for impl in ("wandb", "codever"):
        work = tmp_path / impl
        work.mkdir()
        r = subprocess.run(
            [sys.executable, str(tmp_path / "checks.py")], cwd=work, env=dict(env, IMPL=impl),
            capture_output=True, text=True, timeout=300,
        )
        assert r.returncode == 0, r.stderr
        out[impl] = [line.rstrip() for line in r.stdout.splitlines()]
    assert out["codever"] == out["wandb"]
    assert out["codever"] == [
        "config keys -> ['lr', 'seed']",
        "config.lr -> 0.1",
        "log int key raises TypeError",
        "log float step raises TypeError",
        "step -> 0",
        "config object() raises TypeError",
        "config complex -> True",
        "config slice -> {'slice_start': 1, 'slice_step': None, 'slice_stop': 5}",
        "config --batch -> 8",
        "define_metric list raises Exception wandb.Error",
        "define_metric hidden raises Exception wandb.Error",
    ]
