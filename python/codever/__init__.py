"""codever: version the code of machine-learning runs, offline, with W&B's artifact API.

    import codever as wandb            # the only line that differs from the W&B version

    wandb.init(project="safelife")
    rl_algo = wandb.Artifact("ppo", type="rl_algo_code")
    rl_algo.add_file("./training/ppo.py")
    wandb.run.log_artifact(rl_algo)

Everything is done by the Rust library (``codever._native``); this module only shapes its
results into W&B-like objects. Results cross as JSON text, the very shapes of the CLI's --json
(one definition, ``codever::view``, serves both).
"""

import os as _os
import sys as _sys

from . import _native
from ._native import (
    CodeverError,
    CorruptStoreError,
    IncompleteArtifactError,
    InvalidInputError,
    NotFoundError,
    NotYetSyncedError,
)

__all__ = [
    "Api",
    "Artifact",
    "BlameLine",
    "CodeverError",
    "CorruptStoreError",
    "Diff",
    "IncompleteArtifactError",
    "InvalidInputError",
    "NotFoundError",
    "NotYetSyncedError",
    "Run",
    "init",
    "run",
]

#: The current run, set by :func:`init` (``wandb.run``).
run = None


def _loads(text):
    import json  # imported when first needed: keeps `import codever` fast

    return json.loads(text)


def _dumps(value):
    import json

    return json.dumps(value, default=str, sort_keys=True)


def _say(message):
    print(f"codever: {message}", file=_sys.stderr)


def init(project=None, dir=None, id=None, config=None, notes=None, tags=None, **_ignored):
    """Starts a run and returns it (also as ``codever.run``).

    The store is found like the CLI finds it (``dir``, ``CODEVER_DIR``, walking up); if there is
    none, one is created at the root of the enclosing git repository, or in the working directory
    outside one, and a line says where. The run id is ``id``, else ``CODEVER_RUN_ID``, else a
    fresh one, as for the CLI's ``commit --run``: every process of a run started with the same
    ``CODEVER_RUN_ID`` logs to the same run. W&B keyword arguments codever has no use for are
    accepted and ignored.
    """
    global run
    root, created = _native.locate_store(dir, True)
    if created:
        _say(f"created a store in {root}")
    cfg = dict(config or {})
    run_id = _native.start_run(
        root,
        id,
        project or "",
        _dumps(cfg) if cfg else "",
        notes or "",
        [str(t) for t in (tags or [])],
    )
    run = Run(root, run_id, project, cfg, notes, tags)
    return run


class Run:
    """A run: what it logged is recorded in the store under its id."""

    def __init__(self, store, id, project=None, config=None, notes=None, tags=None):
        self._store = store
        self.id = id
        self.project = project
        self.config = dict(config or {})
        self.notes = notes
        self.tags = list(tags or [])

    def __repr__(self):
        return f"<codever.Run {self.id} project={self.project!r}>"

    def log_artifact(self, artifact, aliases=None):
        """Commits the artifact for this run. Unchanged content makes no new version: the run is
        linked to the existing one (and a line says so). Sets ``artifact.version``, ``.id``,
        ``.new`` and returns the artifact."""
        if not isinstance(artifact, Artifact):
            raise InvalidInputError("log_artifact expects a codever.Artifact")
        metadata = _dumps(artifact.metadata) if artifact.metadata else ""
        out = _loads(
            _native.commit(
                self._store,
                artifact.type,
                artifact.name,
                self.id,
                artifact._entries,
                artifact._dirs,
                [str(a) for a in (aliases or [])],
                artifact.description or "",
                metadata,
            )
        )
        artifact._set_logged(self._store, out)
        if out["renamed_from"]:
            _say(
                f"{out['renamed_from']} was renamed to {out['type']}/{out['name']}; "
                "the artifact was logged there"
            )
        if out["revived"]:
            _say(f"{artifact._label()} was forgotten; logging it brings it back")
        if artifact.version is None:
            _say(
                f"some records of {artifact.type}/{artifact.name} cannot be read, so its version "
                "numbers are withheld (artifact.version is None); `codever fsck` says more"
            )
        if not out["new"]:
            _say(
                f"{artifact._label()} unchanged: run {self.id} linked to the "
                "existing version, nothing new stored"
            )
        return artifact

    def use_artifact(self, spec):
        """The artifact version ``spec`` names (``"ppo:v3"``, ``"rl_algo_code/ppo:latest"``),
        recorded as an input of this run (``codever runs show`` lists it under "used")."""
        return Artifact._from_info(self._store, _loads(_native.use_artifact(self._store, self.id, spec)))

    def log_code(self, root=".", name=None, include_fn=None, exclude_fn=None):
        """Logs the code under ``root`` like W&B's Code Tab: ``*.py`` by default, ``.gitignore``
        honoured, never inside virtualenvs or ``.git``. Artifact ``source-<project>-<script>`` of
        type ``code``. ``include_fn``/``exclude_fn`` receive each file's absolute path."""
        root = _os.path.abspath(root)
        include_fn = include_fn or (lambda path: path.endswith(".py"))
        exclude_fn = exclude_fn or (lambda path: False)
        if name is None:
            script = _os.path.basename(_sys.argv[0] or "") or "python"
            name = _sanitize(f"source-{self.project or 'project'}-{script}")
        art = Artifact(name, type="code")
        for rel in _native.code_files(root):
            path = _os.path.join(root, rel)
            if include_fn(path) and not exclude_fn(path):
                art._entries.append((rel, path, None, False))
        return self.log_artifact(art)

    def finish(self):
        """Ends the run (``codever.run`` becomes None)."""
        global run
        if run is self:
            run = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.finish()
        return False


def _sanitize(name):
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
    return "".join(c if c in allowed else "_" for c in name)[:128]


class _NewFile:
    """What ``Artifact.new_file`` yields: a text or binary buffer added when the block ends."""

    def __init__(self, artifact, name, mode, encoding):
        import io

        self._artifact, self._name, self._mode, self._encoding = artifact, name, mode, encoding
        self._buf = io.BytesIO() if "b" in mode else io.StringIO()

    def __enter__(self):
        return self._buf

    def __exit__(self, exc_type, *rest):
        if exc_type is None:
            data = self._buf.getvalue()
            if isinstance(data, str):
                data = data.encode(self._encoding)
            self._artifact._entries.append((self._name, None, data, False))
        return False


class Artifact:
    """A set of files under display paths, logged as a version of (type, name)."""

    def __init__(self, name, type, description=None, metadata=None):
        self.name = name
        self.type = type
        self.description = description
        self.metadata = dict(metadata or {})
        self._entries = []  # (display path, local path, bytes, executable)
        self._dirs = []  # (local path, prefix)
        self._store = None
        self._info = None
        self.version = None
        self.id = None
        self.new = None

    def __repr__(self):
        if self.version:
            v = f":{self.version}"
        elif self.id:
            v = f"@{self.id[:12]}"
        else:
            v = ""
        return f"<codever.Artifact {self.type}/{self.name}{v}>"

    # -- building ---------------------------------------------------------------------------
    def add_file(self, local_path, name=None):
        """Adds a file, stored under ``name`` or its basename (W&B's rule)."""
        self._check_open()
        if not _os.path.isfile(local_path):
            raise NotFoundError(f"source not found: {local_path}")
        name = name or _os.path.basename(local_path)
        self._entries.append((name, _os.path.abspath(local_path), None, False))

    def add_dir(self, local_path, name=None):
        """Adds the files under a directory (``.gitignore`` honoured), under ``name/`` if given."""
        self._check_open()
        if not _os.path.isdir(local_path):
            raise NotFoundError(f"source not found: {local_path}")
        self._dirs.append((_os.path.abspath(local_path), name))

    def new_file(self, name, mode="w", encoding="utf-8"):
        """A context manager whose buffer is added under ``name`` when the block ends."""
        self._check_open()
        return _NewFile(self, name, mode, encoding)

    def _check_open(self):
        if self._info is not None:
            raise InvalidInputError(f"{self!r} is logged; build a new Artifact to change it")

    # -- what it holds --------------------------------------------------------------------------
    def _manifest(self):
        if self._info is not None:
            return {"digest": self._info["digest"], "files": self._info["files"]}
        return _loads(_native.manifest(self._entries, self._dirs))

    @property
    def digest(self):
        """The W&B artifact digest (available before logging)."""
        return self._manifest()["digest"]

    @property
    def manifest(self):
        """The entries: dicts with path, size, md5 (base64) and blake3."""
        return self._manifest()["files"]

    # -- a logged or fetched version ----------------------------------------------------------
    def _set_logged(self, store, out):
        self._store = store
        self.id = out["id"]
        self._info = _loads(_native.resolve(store, self._spec()))
        self.version = _version_name(out["version"])
        self.new = out["new"]

    @classmethod
    def _from_info(cls, store, info):
        """An artifact from a version as ``_native.resolve`` gives it: ``show --json`` plus the
        description and metadata."""
        a = cls(info["name"], info["type"], description=info["description"] or None)
        a._store, a._info = store, info
        a.version, a.id, a.new = _version_name(info["version"]), info["id"], None
        if info["metadata"]:
            a.metadata = _loads(info["metadata"])
        return a

    def _spec(self):
        # By id: an id names one content forever, while a number can move when a merge brings
        # older versions, and is refused while some record of the artifact cannot be read.
        return f"{self.type}/{self.name}@{self.id}"

    def _label(self):
        """``name:v3``, or ``name@<short id>`` while the number is withheld."""
        if self.version:
            return f"{self.name}:{self.version}"
        return f"{self.name}@{self.id[:12]}"

    def _need_logged(self):
        if self._info is None:
            raise InvalidInputError(f"{self!r} has not been logged yet")

    @property
    def aliases(self):
        self._need_logged()
        return list(self._info["aliases"])

    def files(self):
        """Display paths of the version's files."""
        self._need_logged()
        return [f["path"] for f in self._info["files"]]

    def read(self, path):
        """The bytes of one file of the version."""
        self._need_logged()
        return _native.read_file(self._store, self._spec(), path)

    def download(self, root=None, force=False):
        """Writes the files into ``root`` (default ``./artifacts/<name>:vN``, W&B's place) and
        returns it. Never writes outside ``root``; files that differ are kept unless ``force``."""
        self._need_logged()
        root = root or _os.path.join("artifacts", self._label())
        _native.checkout(self._store, self._spec(), root, force)
        return root

    def verify(self, root=None):
        """Checks that ``root`` holds exactly this version; raises CodeverError otherwise."""
        self._need_logged()
        root = root or _os.path.join("artifacts", self._label())
        differ = _native.verify(self._store, self._spec(), root)
        if differ:
            raise CodeverError(f"{root} differs from {self._label()}: {', '.join(differ)}")

    def diff(self, other, context=3):
        """What changed from this version to ``other`` (an Artifact or a spec)."""
        self._need_logged()
        right = other._spec() if isinstance(other, Artifact) else str(other)
        return Api(self._store).diff(self._spec(), right, context=context)

    @property
    def forgotten(self):
        """Whether this version is forgotten (``delete()``d): hidden from listings, numbers and
        aliases, still readable through this object and by id."""
        self._need_logged()
        return bool(self._info["forgotten"])

    def delete(self, delete_aliases=False):
        """W&B's ``Artifact.delete()``: forgets this version (``codever forget``). It disappears
        from ``Api().artifact_versions()``, ``latest``, its number and its aliases, but nothing is
        deleted: this object, and its id, still read it, and ``undelete()`` (``codever
        unforget``) or logging the same content again brings it back. As in W&B, a version with
        aliases is refused unless ``delete_aliases=True`` (its aliases are then withheld while it
        is forgotten)."""
        self._need_logged()
        aliases = [a for a in self._info["aliases"] if a != "latest"]
        if aliases and not delete_aliases:
            raise InvalidInputError(
                f"{self!r} has aliases ({', '.join(aliases)}); pass delete_aliases=True to delete "
                "it anyway"
            )
        _native.set_forgotten(self._store, self._spec(), True)
        self._refresh()

    def undelete(self):
        """Lists a forgotten (``delete()``d) version again (``codever unforget``)."""
        self._need_logged()
        _native.set_forgotten(self._store, self._spec(), False)
        self._refresh()

    def _refresh(self):
        self._info = _loads(_native.resolve(self._store, self._spec()))
        self.version = _version_name(self._info["version"])


class Api:
    """Reading back: artifacts, their versions, diffs and blame."""

    def __init__(self, dir=None):
        self._store = _native.locate_store(dir, False)[0]

    def artifact(self, spec):
        """``[TYPE/]NAME[:vN|:latest|:ALIAS|@IDPREFIX]``. A forgotten (deleted) version is found
        by its id or ``TYPE/NAME@ID``, with a line saying so; numbers and aliases skip it."""
        art = Artifact._from_info(self._store, _loads(_native.resolve(self._store, spec)))
        if art._info["forgotten"]:
            _say(f"{art.type}/{art.name}@{art.id[:12]} is forgotten (deleted); undelete() brings it back")
        return art

    def artifact_versions(self, type, name):
        """Every version not forgotten (deleted), oldest first."""
        rows = _loads(_native.versions(self._store, f"{type}/{name}"))  # `versions --json`
        return [
            Artifact._from_info(
                self._store, _loads(_native.resolve(self._store, f"{type}/{name}@{row['id']}"))
            )
            for row in rows
        ]

    def diff(self, left, right, context=3):
        """The structured diff of two versions; ``.patch()`` is what ``codever diff`` prints."""
        data, patch = _native.diff(self._store, str(left), str(right), context)
        return Diff(_loads(data)["files"], patch)

    def blame(self, spec, path):
        """Every line of ``path`` at ``spec`` with the version and run that introduced it."""
        blamed = _loads(_native.blame(self._store, spec, path))  # `blame --json`
        return [BlameLine(**d) for d in blamed["lines"]]


class Diff:
    """Files that changed, with status, paths, additions, deletions and hunks."""

    def __init__(self, files, patch):
        self.files = files
        self._patch = patch

    def __len__(self):
        return len(self.files)

    def __bool__(self):
        return bool(self.files)

    def patch(self):
        """The unified patch (git's format), as text."""
        return self._patch.decode("utf-8", "surrogateescape")

    def patch_bytes(self):
        """The unified patch, as bytes (exactly what ``codever diff`` prints)."""
        return bytes(self._patch)

    def __repr__(self):
        return f"<codever.Diff {len(self.files)} file(s)>"

    def _repr_html_(self):
        from html import escape

        colors = {"+": "#e6ffed", "-": "#ffeef0", " ": "transparent"}
        out = ['<div style="font-family:monospace;font-size:12px">']
        for f in self.files:
            title = f["new_path"] or f["old_path"]
            if f["status"] == "renamed":
                title = f"{f['old_path']} → {f['new_path']}"
            out.append(
                f"<div style='margin-top:8px;font-weight:bold'>{escape(title)} "
                f"<span style='color:#22863a'>+{f['additions']}</span> "
                f"<span style='color:#cb2431'>-{f['deletions']}</span> ({f['status']})</div>"
            )
            if f["binary"]:
                out.append("<div>binary file</div>")
                continue
            out.append("<table style='border-collapse:collapse'>")
            for h in f["hunks"]:
                out.append(f"<tr><td colspan=2 style='color:#6a737d'>{escape(h['header'])}</td></tr>")
                for line in h["lines"]:
                    k = line["kind"]
                    out.append(
                        f"<tr style='background:{colors[k]}'><td>{escape(k)}</td>"
                        f"<td style='white-space:pre'>{escape(line['text'])}</td></tr>"
                    )
            out.append("</table>")
        out.append("</div>")
        return "".join(out)


def _version_name(number):
    """``"v3"``, or None while the artifact's numbers are withheld (some record unreadable)."""
    return None if number is None else f"v{number}"


class BlameLine:
    """One line of a blamed file."""

    def __init__(self, line, version, id, run, text):
        self.line, self.version, self.id, self.run, self.text = line, version, id, run, text

    def __repr__(self):
        v = f"v{self.version}" if self.version is not None else f"@{self.id[:12]}"
        return f"<BlameLine {self.line} {v} run={self.run} {self.text!r}>"
