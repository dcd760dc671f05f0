"""The Python API as a training script uses it; results are checked through the real CLI."""

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import codever

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIXTURES = REPO / "fixtures" / "safelife"


def cli_binary():
    found = os.environ.get("CODEVER_BIN") or shutil.which("codever")
    if found:
        return found
    for profile in ("debug", "release"):
        p = REPO / "target" / profile / "codever"
        if p.exists():
            return str(p)
    pytest.fail("the codever CLI is not built: run `cargo build` first")


def cli(store, *args):
    out = subprocess.run(
        [cli_binary(), "--store", str(store), "--json", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


@pytest.fixture(autouse=True)
def no_current_run():
    """Each test starts outside a run (W&B's init returns the active run)."""
    codever._set_current(None)
    yield
    codever._set_current(None)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A copy of the example repo at v1 as the working directory, with no store around it."""
    work = tmp_path / "safelife"
    shutil.copytree(FIXTURES / "baseline", work)
    monkeypatch.chdir(work)
    monkeypatch.delenv("CODEVER_DIR", raising=False)
    monkeypatch.delenv("CODEVER_RUN_ID", raising=False)
    codever._set_current(None)
    return work


SNIPPET = """
import codever as wandb            # the only line that differs from the W&B version

wandb.init(project="safelife")
rl_algo = wandb.Artifact("ppo", type="rl_algo_code")
rl_algo.add_file("./training/ppo.py")
wandb.run.log_artifact(rl_algo)
model_code = wandb.Artifact("model_code", type="model_code")
model_code.add_file("./training/models.py", name="models.py")
wandb.run.log_artifact(model_code)
"""


def test_the_wandb_snippet_runs_verbatim(repo):
    result = subprocess.run(
        [os.environ.get("PYTHON", "python"), "-c", SNIPPET], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert f"created a store in {repo / '.codever'}" in result.stderr
    store = repo / ".codever"
    listed = cli(store, "list")
    assert listed == [
        {"type": "env", "name": "environment", "versions": 1, "latest": 0,
         "complete": True, "problems": [], "forgotten": False, "forgotten_versions": 0,
         "former_names": []},
        {"type": "model_code", "name": "model_code", "versions": 1, "latest": 0,
         "complete": True, "problems": [], "forgotten": False, "forgotten_versions": 0,
         "former_names": []},
        {"type": "rl_algo_code", "name": "ppo", "versions": 1, "latest": 0,
         "complete": True, "problems": [], "forgotten": False, "forgotten_versions": 0,
         "former_names": []},
    ]
    show = cli(store, "show", "model_code:v0")
    assert [f["path"] for f in show["files"]] == ["models.py"]
    assert show["files"][0]["size"] == (repo / "training/models.py").stat().st_size
    runs = cli(store, "runs")
    assert len(runs) == 1
    assert [(a["name"], a["version"], a["new"]) for a in runs[0]["artifacts"]] == [
        ("environment", 0, True),
        ("ppo", 0, True),
        ("model_code", 0, True),
    ]
    # A second run of the same code links to v0; a changed file makes v1.
    again = subprocess.run(
        [os.environ.get("PYTHON", "python"), "-c", SNIPPET], capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert "ppo:v0 unchanged" in again.stderr
    assert len(cli(store, "versions", "ppo")) == 1
    shutil.copy(FIXTURES / "ppo-lr" / "training" / "ppo.py", repo / "training" / "ppo.py")
    subprocess.run([os.environ.get("PYTHON", "python"), "-c", SNIPPET], check=True)
    assert [v["version"] for v in cli(store, "versions", "ppo")] == [0, 1]
    assert len(cli(store, "versions", "ppo")[0]["runs"]) == 2


def test_versions_dedup_and_revert(repo):
    with codever.init(project="p", config={"lr": 3e-4}) as run:
        def log(path):
            a = codever.Artifact("ppo", type="rl_algo_code")
            a.add_file(path)
            return run.log_artifact(a)

        first = log("training/ppo.py")
        assert (first.version, first.new) == ("v0", True)
        assert len(first.id) == 64
        v2 = FIXTURES / "ppo-lr" / "training" / "ppo.py"
        second = log(str(v2))
        assert (second.version, second.new) == ("v1", True)
        back = log("training/ppo.py")
        assert (back.version, back.new) == ("v0", False)
        assert codever.run is run
    assert codever.run is None
    latest = codever.Api().artifact("rl_algo_code/ppo:latest")
    assert latest.version == "v0"
    assert [a.version for a in codever.Api().artifact_versions("rl_algo_code", "ppo")] == ["v0", "v1"]
    record = cli(repo / ".codever", "runs", "show", run.id)
    assert record["id"] == run.id


def test_delete_forgets_a_version_and_ids_still_read_it(repo, capsys):
    run = codever.init(project="p")
    logged = []
    for v in ("baseline", "ppo-lr", "tuned-ish"):
        a = codever.Artifact("ppo", type="rl_algo_code")
        with a.new_file("ppo.py") as f:
            f.write(f"# {v}\n")
        logged.append(run.log_artifact(a, aliases=["best"] if v == "ppo-lr" else None))
    api = codever.Api()
    v1 = api.artifact("ppo:v1")
    # As in W&B, a version with aliases is refused unless its aliases go too.
    with pytest.raises(codever.InvalidInputError, match="delete_aliases=True"):
        v1.delete()
    v1.delete(delete_aliases=True)
    assert v1.forgotten and v1.version == "v1"
    # Gone from listings, numbers and aliases ...
    assert [a.version for a in api.artifact_versions("rl_algo_code", "ppo")] == ["v0", "v2"]
    with pytest.raises(codever.NotFoundError, match="rl_algo_code/ppo:v1 is forgotten"):
        api.artifact("ppo:v1")
    with pytest.raises(codever.NotFoundError, match="rl_algo_code/ppo:best is forgotten"):
        api.artifact("ppo:best")
    assert [v["version"] for v in cli(repo / ".codever", "versions", "ppo")] == [0, 2]
    assert [(v["version"], v["forgotten"]) for v in cli(repo / ".codever", "versions", "ppo", "--all")] == [
        (0, False), (1, True), (2, False)
    ]
    # ... but nothing is deleted: the object, and the id, still read it.
    assert v1.read("ppo.py") == b"# ppo-lr\n"
    assert logged[1].read("ppo.py") == b"# ppo-lr\n"
    capsys.readouterr()
    by_id = api.artifact(f"rl_algo_code/ppo@{v1.id}")
    assert (by_id.version, by_id.forgotten, [f.name for f in by_id.files()]) == ("v1", True, ["ppo.py"])
    assert "is forgotten (deleted); undelete() brings it back" in capsys.readouterr().err
    # The latest version deleted: latest falls back to the newest one left.
    api.artifact("ppo:latest").delete()
    assert api.artifact("ppo").version == "v0"
    # undelete, or logging the same content again, brings a version back.
    by_id.undelete()
    assert not by_id.forgotten
    assert api.artifact("ppo:best").version == "v1"
    again = codever.Artifact("ppo", type="rl_algo_code")
    with again.new_file("ppo.py") as f:
        f.write("# tuned-ish\n")
    run.log_artifact(again)
    assert (again.version, again.new) == ("v2", False)
    assert "was forgotten; logging it brings it back" in capsys.readouterr().err
    assert [a.version for a in api.artifact_versions("rl_algo_code", "ppo")] == ["v0", "v1", "v2"]
    assert cli(repo / ".codever", "fsck")["ok"] is True


def test_digest_before_logging_matches_wandb(repo):
    a = codever.Artifact("vec", type="t")
    with a.new_file("a.py") as f:
        f.write("print('a')\n")
    with a.new_file("training/b.py") as f:
        f.write("x = 1\n")
    assert a.digest == "74bc2832439434534c7d552dd8787632"
    assert list(a.manifest.entries) == ["a.py", "training/b.py"]
    import base64
    import hashlib

    expected_md5 = base64.b64encode(hashlib.md5(b"print('a')\n").digest()).decode()
    entry = a.manifest.entries["a.py"]
    assert (entry.path, entry.digest, entry.size) == ("a.py", expected_md5, 11)
    assert codever.Artifact("empty", type="t").digest == "64e7c61456b10382e2f3b571ac24b659"
    run = codever.init()
    run.log_artifact(a)
    assert a.digest == "74bc2832439434534c7d552dd8787632"
    assert a.read("training/b.py") == b"x = 1\n"


def test_download_verify_and_add_dir(repo):
    run = codever.init(project="p")
    code = codever.Artifact("safelife", type="code")
    code.add_dir(".")
    run.log_artifact(code, aliases=["best"])
    assert "training/ppo.py" in [f.name for f in code.files()]
    fetched = run.use_artifact("safelife:best")
    assert fetched.version == "v0" and fetched.aliases == ["latest", "best"]
    # The use is recorded with the run, and so are its project and config.
    run.finish()
    reader = codever.init(project="eval", config={"seed": 7}, tags=["eval"], save_env=False)
    reader.use_artifact("code/safelife:v0")
    shown = cli(repo / ".codever", "runs", "show", reader.id)
    assert shown["used"] == [
        {"type": "code", "name": "safelife", "version": 0, "id": fetched.id, "complete": True,
         "forgotten": False}
    ]
    assert shown["artifacts"] == []
    assert (shown["project"], shown["config"], shown["tags"]) == ("eval", {"seed": 7}, ["eval"])
    root = fetched.download()
    assert root == os.path.abspath(os.path.join("artifacts", "safelife:v0"))  # W&B's default
    assert (Path(root) / "training/models.py").read_bytes() == (repo / "training/models.py").read_bytes()
    fetched.verify()
    (Path(root) / "main.py").write_text("edited\n")
    with pytest.raises(codever.CodeverError, match="main.py"):
        fetched.verify()
    # A file moved away is named where it was, not only where it went.
    (Path(root) / "main.py").write_bytes((repo / "main.py").read_bytes())
    (Path(root) / "training/models.py").rename(Path(root) / "models_moved.py")
    with pytest.raises(codever.CodeverError) as e:
        fetched.verify()
    assert str(e.value).endswith(": models_moved.py, training/models.py")


def test_diff_patch_equals_the_cli_and_blame(repo):
    run = codever.init(project="p")
    for v in ("baseline", "ppo-lr"):
        a = codever.Artifact("ppo", type="rl_algo_code")
        a.add_file(str(FIXTURES / v / "training" / "ppo.py"))
        run.log_artifact(a)
    api = codever.Api()
    d = api.diff("ppo:v0", "ppo:v1")
    assert len(d) == 1
    f = d.files[0]
    assert (f["status"], f["additions"], f["deletions"]) == ("modified", 2, 2)
    cli_patch = subprocess.run(
        [cli_binary(), "--store", str(repo / ".codever"), "diff", "ppo:v0", "ppo:v1"],
        check=True,
        capture_output=True,
    ).stdout
    assert d.patch_bytes() == cli_patch
    assert "-    learning_rate = 3e-4" in d.patch()
    html = d._repr_html_()
    # The notebook shows the page `codever diff --html` writes: the same view, its style and
    # script inline, without the document around it.
    page = subprocess.run(
        [cli_binary(), "--store", str(repo / ".codever"), "diff", "ppo:v0", "ppo:v1", "--html"],
        check=True,
        capture_output=True,
    ).stdout.decode()
    view = page[page.index("<main>") + len("<main>") : page.index("</main>")]
    assert html.startswith("<style>") and html.endswith("</script>")
    assert html.count("<style>") == 1 and html.count("<script>") == 1 and "<html" not in html
    assert html[html.index("</style>") + len("</style>") : html.index("<script>")] == view
    assert '<span class="cdv-nfiles">1 file changed</span>' in view
    assert view.count('<tr class="cdv-l cdv-a">') == 2
    assert api.artifact("ppo:v0").diff(api.artifact("ppo:v1")).patch() == d.patch()
    blame = api.blame("ppo:v1", "ppo.py")
    assert [(b.line, b.version) for b in blame[3:7]] == [(4, 0), (5, 1), (6, 0), (7, 1)]
    assert blame[4].text == "    learning_rate = 1e-3"


def test_blame_first_seen_credits_code_that_came_back(repo):
    run = codever.init(project="p")
    for text in ("a\nb\n", "a\n", "a\nb\nc\n"):
        (repo / "m.py").write_text(text)
        a = codever.Artifact("m", type="code")
        a.add_file(str(repo / "m.py"))
        run.log_artifact(a)
    api = codever.Api()
    assert [(b.version, b.text) for b in api.blame("m:v2", "m.py")] == [
        (0, "a"),
        (2, "b"),
        (2, "c"),
    ]
    assert [(b.version, b.text) for b in api.blame("m:v2", "m.py", first_seen=True)] == [
        (0, "a"),
        (0, "b"),
        (2, "c"),
    ]


def test_init_logs_the_environment_as_pip_sees_it(repo):
    import time

    run = codever.init(project="p")
    env = cli(repo / ".codever", "runs", "show", run.id)["artifacts"]
    assert [(a["type"], a["name"], a["version"]) for a in env] == [("env", "environment", 0)]
    files = {f.name: f for f in codever.Api().artifact("env/environment:v0").files()}
    assert sorted(files) == ["command.txt", "python.txt", "requirements.txt"]
    api = codever.Api()
    a = api.artifact("environment:v0")
    root = Path(a.download(str(repo / "env")))
    freeze = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all"], check=True, capture_output=True, text=True
    ).stdout
    # Editable installs are `-e PATH` (pip asks git about a checkout and names its remote and
    # commit instead); every other line is pip's, in pip's order.
    def lines(text):
        return [line for line in text.splitlines() if not line.startswith(("#", "-e "))]

    ours = (root / "requirements.txt").read_text()
    assert lines(ours) == lines(freeze)
    assert ours.endswith("\n") and len(lines(ours)) > 10
    v = sys.version_info
    assert (root / "python.txt").read_text().startswith(
        f"python {v.major}.{v.minor}.{v.micro}\nimplementation cpython\nos {os.uname().sysname} "
    )
    # W&B's readers do not see it among the run's artifacts; `environment()` returns it.
    ran = api.run(run.id)
    assert ran.logged_artifacts() == [] and ran.environment().version == "v0"
    run.finish()
    # Unchanged, a second run links to it; timed, as the issue asks (a few milliseconds).
    second = codever.init(project="p", reinit="create_new")
    t = time.perf_counter()
    second.log_env()
    took = (time.perf_counter() - t) * 1000
    print(f"log_env of an unchanged environment: {took:.1f} ms")
    assert cli(repo / ".codever", "versions", "environment")[0]["runs"] == [run.id, second.id]
    second.finish()
    # save_env=False logs nothing.
    quiet = codever.init(project="p", save_env=False, reinit="create_new")
    assert cli(repo / ".codever", "runs", "show", quiet.id)["artifacts"] == []
    quiet.finish()


def test_a_package_installed_between_runs_is_the_whole_environment_diff(repo, tmp_path, monkeypatch):
    first = codever.init(project="p")
    first.finish()
    # A tiny pure-Python package from PyPI, installed where this interpreter imports from.
    extra = tmp_path / "extra"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(extra), "six==1.16.0"],
        check=True,
    )
    monkeypatch.syspath_prepend(str(extra))
    second = codever.init(project="p", reinit="create_new")
    second.finish()
    versions = cli(repo / ".codever", "versions", "environment")
    assert [(v["version"], v["runs"]) for v in versions] == [(0, [first.id]), (1, [second.id])]
    d = cli(repo / ".codever", "diff", "--runs", first.id, second.id)
    # The command line is the same (this pytest process), so the package is the whole story.
    assert d["environment"] == [{"name": "six", "old": None, "new": "1.16.0"}]


def test_diff_takes_gits_algorithms(repo):
    run = codever.init(project="p")
    for text in ("x = 1\ny = 2\nz = 3\nx = 1\n", "y = 2\nx = 1\nz = 3\n"):
        a = codever.Artifact("cfg", type="code")
        with a.new_file("cfg.py") as f:
            f.write(text)
        run.log_artifact(a)
    api = codever.Api()
    # What `git diff` and `git diff --patience` print for these two versions.
    hunks = {
        "myers": "-x = 1\n y = 2\n-z = 3\n x = 1\n+z = 3\n",
        "patience": "-x = 1\n y = 2\n+x = 1\n z = 3\n-x = 1\n",
    }
    for algorithm, body in hunks.items():
        patch = api.diff("cfg:v0", "cfg:v1", algorithm=algorithm).patch()
        assert patch.endswith("@@ -1,4 +1,3 @@\n" + body), patch
        cli = subprocess.run(
            [cli_binary(), "--store", str(repo / ".codever"), "diff", "cfg:v0", "cfg:v1",
             f"--diff-algorithm={algorithm}"],
            check=True,
            capture_output=True,
        ).stdout
        assert cli.decode() == patch
    assert api.diff("cfg:v0", "cfg:v1").patch() == api.diff("cfg:v0", "cfg:v1", algorithm="myers").patch()
    with pytest.raises(codever.InvalidInputError):
        api.diff("cfg:v0", "cfg:v1", algorithm="fastest")


def test_log_code_honours_gitignore_and_skips_virtualenvs(repo):
    (repo / ".venv" / "lib").mkdir(parents=True)
    (repo / ".venv" / "pyvenv.cfg").write_text("home = /usr\n")
    (repo / ".venv" / "lib" / "torch.py").write_text("x = 1\n")
    (repo / "wandb").mkdir()
    (repo / "wandb" / "debug.py").write_text("y = 1\n")  # ignored by the fixture's .gitignore
    (repo / "notes.txt").write_text("not code\n")
    run = codever.init(project="safelife")
    art = run.log_code()
    assert art.type == "code"
    assert art.name.startswith("source-safelife-")
    names = lambda a: [f.name for f in a.files()]  # noqa: E731
    assert names(art) == ["main.py", "training/dqn.py", "training/models.py", "training/ppo.py"]
    only = run.log_code(name="models-only", include_fn=lambda p: p.endswith("models.py"))
    assert names(only) == ["training/models.py"]
    # exclude_fn gets absolute paths, and wins over the default include.
    seen = []
    rest = run.log_code(
        name="no-training",
        exclude_fn=lambda p: seen.append(p) or os.sep + "training" + os.sep in p,
    )
    assert names(rest) == ["main.py"]
    assert all(os.path.isabs(p) for p in seen) and len(seen) == 4


def test_errors_are_codever_errors_with_the_cli_message(repo):
    with pytest.raises(codever.NotFoundError, match="source not found"):
        codever.Artifact("x", type="t").add_file("missing.py")
    # Names are checked when the artifact is made, as W&B does.
    with pytest.raises(codever.InvalidInputError, match=r"invalid artifact name \"bad name\""):
        codever.Artifact("bad name", type="t")
    run = codever.init()
    with pytest.raises(codever.NotFoundError, match="unknown artifact"):
        codever.Api().artifact("nope:v0")
    a = codever.Artifact("m", type="t")
    a.add_file("main.py")
    run.log_artifact(a)
    with pytest.raises(codever.NotFoundError, match="has no version v9"):
        codever.Api().artifact("m:v9")
    assert issubclass(codever.NotFoundError, codever.CodeverError)


def _flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))


def test_an_unreadable_record_withholds_numbers_and_ids_keep_working(repo):
    logged = []
    for i in range(4):
        run = codever.init(id=f"r{i}", reinit="finish_previous")
        art = codever.Artifact("small", type="t")
        with art.new_file("ppo.py") as f:
            f.write(f"v = {i}\n")
        run.log_artifact(art)
        logged.append(art)
    assert [a.version for a in logged] == ["v0", "v1", "v2", "v3"]
    store = Path(run._store)
    # Flip a byte in v1's commit record: v2 would now be taken for v1, so numbers are refused.
    marked = {m.name for m in (store / "refs" / "t" / "small").iterdir()}
    (record,) = marked & {m.name for m in (store / "runs" / "r1").iterdir()}
    _flip_last_byte(store / "objects" / record[:2] / record[2:])
    api = codever.Api()
    for spec, requested in [("small:v2", "v2"), ("small", "latest"), ("t/small:latest", "latest")]:
        with pytest.raises(
            codever.IncompleteArtifactError,
            match=rf"^refusing t/small:{requested}: 1 record of t/small cannot be read "
            rf"\({record[:12]} corrupt: ",
        ):
            api.artifact(spec)
    assert issubclass(codever.IncompleteArtifactError, codever.CodeverError)
    # By id the same version is still served, and artifacts fetched before keep reading by id.
    v2 = api.artifact(f"small@{logged[2].id[:8]}")
    assert (v2.version, v2.id, v2.read("ppo.py")) == (None, logged[2].id, b"v = 2\n")
    assert logged[3].read("ppo.py") == b"v = 3\n"
    listed = api.artifact_versions("t", "small")
    assert [(a.version, a.id) for a in listed] == [(None, logged[i].id) for i in (0, 2, 3)]
    # Logging still works; the number is withheld.
    again = codever.Artifact("small", type="t")
    with again.new_file("ppo.py") as f:
        f.write("v = 4\n")
    run.log_artifact(again)
    assert (again.version, again.new) == (None, True)
    assert again.read("ppo.py") == b"v = 4\n"
    assert repr(again) == f"<codever.Artifact t/small@{again.id[:12]}>"


def _sweep_worker(args):
    store, i, content = args
    import codever as wandb

    os.environ["CODEVER_DIR"] = store
    wandb.init(project="sweep", id=f"sweep-{i}")
    art = wandb.Artifact("ppo", type="rl_algo_code")
    with art.new_file("ppo.py") as f:
        f.write(content)
    wandb.run.log_artifact(art)
    # A pool process may take several items: finish the run, as a W&B sweep agent does, or the
    # next init() returns this run (W&B's default for an active run).
    wandb.finish()
    return art.version


def test_a_sweep_of_24_processes_keeps_the_guarantees(repo):
    store = str(codever.init()._store)
    work = [
        (store, i, "lr = 3e-4\n" if i < 16 else f"lr = {(i - 16) // 2}\n") for i in range(24)
    ]
    with multiprocessing.get_context("spawn").Pool(24) as pool:
        pending = pool.map_async(_sweep_worker, work)
        try:
            pending.get(timeout=240)
        except multiprocessing.TimeoutError:
            # A worker that died mid-task leaves map waiting forever: say how they ended.
            codes = [w.exitcode for w in pool._pool]
            raise AssertionError(f"the sweep did not finish; worker exit codes: {codes}") from None
    versions = cli(store, "versions", "ppo")
    assert len(versions) == 5
    assert sorted(len(v["runs"]) for v in versions) == [2, 2, 2, 2, 16]
    assert cli(store, "fsck", "--strict")["ok"] is True


def test_a_new_store_goes_to_the_git_repository_root(tmp_path, monkeypatch):
    repo = tmp_path / "proj"
    (repo / "training").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    monkeypatch.chdir(repo / "training")
    monkeypatch.delenv("CODEVER_DIR", raising=False)
    run = codever.init(project="p")
    assert Path(run._store) == repo / ".codever"
    # Found again from anywhere inside, without creating another.
    monkeypatch.chdir(repo)
    assert Path(codever.init()._store) == repo / ".codever"
    assert not (repo / "training" / ".codever").exists()


def test_description_metadata_and_binary_new_files_round_trip(repo):
    run = codever.init()
    a = codever.Artifact("cfg", type="config", description="PPO settings", metadata={"lr": 0.001})
    with a.new_file("weights.bin", mode="wb") as f:
        f.write(b"\x00\x01\xff")
    run.log_artifact(a)
    back = codever.Api().artifact("config/cfg:latest")
    assert back.description == "PPO settings"
    assert back.metadata == {"lr": 0.001}
    assert back.read("weights.bin") == b"\x00\x01\xff"
    with pytest.raises(codever.InvalidInputError, match="is logged"):
        a.add_file("main.py")


def test_native_results_are_the_cli_json(repo):
    """Python reads the very documents `codever --json` prints (one definition serves both)."""
    from codever import _native

    run = codever.init(id="r1")
    a = codever.Artifact("ppo", type="rl_algo_code", description="d", metadata={"k": 1})
    a.add_file("training/ppo.py")
    run.log_artifact(a, aliases=["best"])
    store = run._store
    assert json.loads(_native.versions(store, "ppo")) == cli(store, "versions", "ppo")
    detail = json.loads(_native.resolve(store, "ppo:v0"))
    assert (detail.pop("description"), detail.pop("metadata")) == ("d", '{"k": 1}')
    assert detail == cli(store, "show", "ppo:v0")
    assert json.loads(_native.blame(store, "ppo:v0", "./ppo.py")) == cli(
        store, "blame", "ppo:v0", "./ppo.py"
    )
    out = str(repo / "out")
    checked = json.loads(_native.checkout(store, "ppo:v0", out, False))
    again = cli(store, "checkout", "ppo:v0", "--into", out)  # nothing left to write
    assert (again.pop("written"), again.pop("unchanged")) == ([], ["ppo.py"])
    assert checked == again | {"written": ["ppo.py"], "unchanged": []}
    row = cli(store, "versions", "ppo")[0]
    assert (a.version, a.id, a.aliases) == ("v0", row["id"], row["aliases"])


def test_init_takes_the_run_id_from_codever_run_id(repo, monkeypatch):
    monkeypatch.setenv("CODEVER_RUN_ID", "from-env")
    assert codever.init().id == "from-env"
    codever.finish()
    assert codever.init(id="given").id == "given"
    codever.finish()
    monkeypatch.setenv("CODEVER_RUN_ID", "")
    assert len(codever.init().id) == 8


def test_hints_name_python_options_not_cli_flags(repo):
    run = codever.init()
    a = codever.Artifact("m", type="t")
    a.add_file("main.py")
    run.log_artifact(a)
    root = a.download()
    (Path(root) / "main.py").write_text("edited\n")
    with pytest.raises(codever.CodeverError, match=r"hint: pass force=True to overwrite") as e:
        a.download()
    assert "--force" not in str(e.value)
    a.download(force=True)
    assert (Path(root) / "main.py").read_bytes() == (repo / "main.py").read_bytes()
    # The same file twice is one file (W&B's rule); a file where a directory is needs name=.
    twice = codever.Artifact("m", type="t")
    twice.add_file("main.py")
    twice.add_file("training/../main.py")
    assert list(twice.manifest.entries) == ["main.py"]
    twice.add_file("training/ppo.py", name="main.py/ppo.py")
    with pytest.raises(codever.InvalidInputError, match=r"another name with name=\)$"):
        run.log_artifact(twice)


def test_api_push_and_pull_move_a_store_through_a_remote(repo, tmp_path, capsys):
    remote = tmp_path / "shared" / ".codever"
    run = codever.init(project="safelife")
    store = Path(run._store)
    art = codever.Artifact("ppo", type="rl_algo_code")
    art.add_file("training/ppo.py")
    run.log_artifact(art)
    run.finish()
    subprocess.run([cli_binary(), "--store", str(store), "remote", "add", "team", str(remote)], check=True)
    api = codever.Api(dir=str(repo))
    pushed = api.push()
    assert pushed["remote"] == "team"
    # The run's environment (init logs it) and the artifact.
    assert pushed["new_there"] == [
        {"artifact": "env/environment", "versions": ["v0"]},
        {"artifact": "rl_algo_code/ppo", "versions": ["v0"]},
    ]
    assert pushed["sent"]["files"] > 0 and pushed["refused"] == []
    assert api.push()["sent"] == {"files": 0, "bytes": 0}
    # Another machine: a store that pulls it has the same versions, byte for byte.
    other = tmp_path / "other"
    other.mkdir()
    subprocess.run([cli_binary(), "init", str(other)], check=True, capture_output=True)
    subprocess.run(
        [cli_binary(), "--store", str(other / ".codever"), "remote", "add", "team", str(remote)], check=True
    )
    api2 = codever.Api(dir=str(other))
    pulled = api2.pull(metadata_only=True)
    assert pulled["new_here"] == pushed["new_there"]
    assert pulled["refused"] == [] and pulled["waiting"] == []
    # The same versions; the metadata-only store has no file counts yet (no trees).
    listed = cli(other / ".codever", "versions", "ppo")
    assert [v.pop("counts") for v in listed] == [None]
    assert listed == [{k: v for k, v in row.items() if k != "counts"} for row in cli(store, "versions", "ppo")]
    # The file is fetched when read.
    got = api2.artifact("ppo:v0").file("ppo.py")
    assert Path(got).read_bytes() == (repo / "training" / "ppo.py").read_bytes()
    assert api2.sync()["sent"] == {"files": 0, "bytes": 0}
    with pytest.raises(codever.CodeverError, match=r'unknown remote "nope"'):
        api2.push("nope")


def test_init_sync_pushes_when_the_run_finishes(repo, tmp_path, capsys, monkeypatch):
    remote = tmp_path / "shared" / ".codever"
    store = Path(codever.init()._store)
    codever.finish()
    subprocess.run([cli_binary(), "--store", str(store), "remote", "add", "team", str(remote)], check=True)
    capsys.readouterr()
    with codever.init(project="safelife", sync=True) as run:
        run.log({"loss": 0.5})
        art = codever.Artifact("ppo", type="rl_algo_code")
        art.add_file("training/ppo.py")
        run.log_artifact(art)
        assert not remote.exists()  # nothing is pushed before the run finishes
    err = capsys.readouterr().err
    assert f"codever: pushed run {run.id} to team: " in err, err
    # The remote is a store holding the run, its summary and its version.
    remote_run = cli(remote, "runs", "show", run.id)
    assert remote_run["summary"]["loss"] == 0.5
    assert [v["version"] for v in cli(remote, "versions", "ppo")] == [0]
    # From the environment (a W&B script with only the import changed); a push that fails is a
    # line, never an exception.
    monkeypatch.setenv("CODEVER_SYNC", "nowhere")
    with codever.init(project="safelife") as run:
        run.log({"loss": 0.25})
    err = capsys.readouterr().err
    assert f"codever: could not push run {run.id}: unknown remote \"nowhere\"" in err, err
    monkeypatch.setenv("CODEVER_SYNC", "0")
    with codever.init(project="safelife", sync=False) as run:
        run.log({"loss": 0.1})
    assert "push" not in capsys.readouterr().err
